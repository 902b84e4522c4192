package tests

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"gannet/lib/postfixtest"
	"gannet/lib/smtptest"
)

// spamdConfig makes two phishing signs score high, so that a message with
// a brand in its From display name is spam (10 points) and one that also
// links elsewhere than its link text says is refused (20, over the reject
// threshold of 15).
const spamdConfig = `
[spam.phishing]
display_name_score = 10
link_mismatch_score = 10
`

// Messages for the spam filter: ham, spam (with a forged verdict to be
// removed) and spam to refuse.
var (
	spamdHam = "From: <friend@remote.test>\r\nTo: <" + smtpdUser + ">\r\nSubject: lunch tomorrow\r\n" +
		"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <lunch@remote.test>\r\n" +
		"X-Spam-Flag: YES\r\n\r\nShall we meet at noon at the usual place?\r\n"
	spamdSpam = "From: \"PayPal Service\" <service@evil.test>\r\nTo: <" + smtpdUser + ">\r\nSubject: your account\r\n" +
		"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <acct@evil.test>\r\n" +
		"X-Spam-Flag: NO\r\nX-Spam-Status: No, score=-50.0\r\n\r\nPlease confirm your account details today.\r\n"
	spamdReject = "From: \"PayPal Service\" <service@evil.test>\r\nTo: <" + smtpdUser + ">\r\nSubject: log in now\r\n" +
		"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <login@evil.test>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		"<p>Log in at <a href=\"http://evil.test/login\">www.paypal.com</a> today.</p>\r\n"
	// gtube is SpamAssassin's test string: its spamd scores it 1000.
	gtube = "From: <friend@remote.test>\r\nTo: <" + smtpdUser + ">\r\nSubject: gtube\r\n" +
		"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <gtube@remote.test>\r\n\r\n" +
		"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n"
)

// startSpamd starts spamd socket-activated on a spamd and a milter socket
// and returns their addresses.
func startSpamd(t *testing.T) (*smtpdEnv, map[string]string) {
	t.Helper()
	e := newSmtpdEnv(t, spamdConfig)
	roles := []string{"spamd", "milter"}
	files, addr := e.listenersFor(roles)
	e.startDaemon("spamd", roles, files, addr)
	return e, addr
}

// scoreLine parses spamc -c's "score/threshold" line.
func scoreLine(t *testing.T, out string) float64 {
	t.Helper()
	m := regexp.MustCompile(`^(-?\d+\.\d)/5\.0\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("spamc printed %q, want score/5.0", out)
	}
	f, _ := strconv.ParseFloat(m[1], 64)
	return f
}

// runSpamc runs a spamc (Debian's or Gannet's) with msg on stdin.
func runSpamc(t *testing.T, prog, msg string, args ...string) result {
	t.Helper()
	return runWith(t, runOpts{stdin: msg}, prog, args...)
}

// SpamAssassin's own spamc (Debian's package) against Gannet's spamd.
func TestSpamdDebianSpamc(t *testing.T) {
	spamc := needTool(t, "spamc")
	_, addr := startSpamd(t)
	host, port, _ := net.SplitHostPort(addr["spamd"])
	to := []string{"-d", host, "-p", port}
	sc := func(msg string, args ...string) result {
		t.Helper()
		return runSpamc(t, spamc, msg, append(append([]string{}, to...), args...)...)
	}

	if r := sc("", "-K"); r.status != 0 || r.stdout != "SPAMD/1.5 0\n" {
		t.Errorf("spamc -K: status %d, stdout %q, stderr %q", r.status, r.stdout, r.stderr)
	}

	r := sc(spamdSpam, "-c")
	if score := scoreLine(t, r.stdout); r.status != 1 || score < 10 {
		t.Errorf("spamc -c on spam: status %d, %q; want 1 and a score of 10 or more", r.status, r.stdout)
	}
	r = sc(spamdHam, "-c")
	if score := scoreLine(t, r.stdout); r.status != 0 || score >= 5 {
		t.Errorf("spamc -c on ham: status %d, %q; want 0 and a score below 5", r.status, r.stdout)
	}

	r = sc(spamdSpam, "-y")
	if r.status != 0 || !strings.Contains(r.stdout, "PHISH_DISPLAY_NAME") || strings.ContainsAny(r.stdout, " \n") {
		t.Errorf("spamc -y: status %d, %q; want the names of the tests, comma-separated", r.status, r.stdout)
	}

	r = sc(spamdSpam, "-R")
	if r.status != 0 || !regexp.MustCompile(`^\d+\.\d/5\.0\n`).MatchString(r.stdout) ||
		!strings.Contains(r.stdout, "Content analysis details:") ||
		!regexp.MustCompile(`\n10\.0 PHISH_DISPLAY_NAME +display name`).MatchString(r.stdout) {
		t.Errorf("spamc -R: status %d, stdout\n%s", r.status, r.stdout)
	}
	if r = sc(spamdHam, "-r"); r.status != 0 || r.stdout != "" {
		t.Errorf("spamc -r on ham: status %d, %q; want nothing", r.status, r.stdout)
	}

	// PROCESS: the verdict on top, the forged one gone, the rest as sent.
	r = sc(spamdSpam, "-E")
	header, body, _ := strings.Cut(r.stdout, "\r\n\r\n")
	if r.status != 1 || !strings.HasPrefix(header, "X-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=") ||
		strings.Contains(header, "X-Spam-Flag: NO") || strings.Contains(header, "score=-50") ||
		!strings.Contains(header, "\r\nFrom: \"PayPal Service\" <service@evil.test>\r\n") ||
		body != "Please confirm your account details today.\r\n" {
		t.Errorf("spamc -E on spam: status %d, stdout\n%s", r.status, r.stdout)
	}
	r = sc(spamdHam, "-E")
	if r.status != 0 || !strings.HasPrefix(r.stdout, "X-Spam-Status: No, score=") || strings.Contains(r.stdout, "X-Spam-Flag") ||
		!strings.HasSuffix(r.stdout, "\r\n\r\nShall we meet at noon at the usual place?\r\n") {
		t.Errorf("spamc -E on ham: status %d, stdout\n%s", r.status, r.stdout)
	}

	// The User header picks the account; an unknown user gets the
	// global data.
	for _, u := range []string{smtpdUser, "nobody"} {
		if r = sc(spamdSpam, "-c", "-u", u); r.status != 1 {
			t.Errorf("spamc -c -u %s: status %d, %q", u, r.status, r.stdout)
		}
	}

	// TELL trains the Bayes data.
	if r = sc(spamdSpam, "-L", "spam"); r.status != 0 || r.stdout != "Message successfully un/learned\n" {
		t.Errorf("spamc -L spam: status %d, %q", r.status, r.stdout)
	}
	if r = sc(spamdSpam, "-L", "spam"); r.status != 0 || r.stdout != "Message was already un/learned\n" {
		t.Errorf("spamc -L spam again: status %d, %q", r.status, r.stdout)
	}
	if r = sc(spamdSpam, "-L", "forget"); r.status != 0 || r.stdout != "Message successfully un/learned\n" {
		t.Errorf("spamc -L forget: status %d, %q", r.status, r.stdout)
	}
}

// Gannet's spamc against SpamAssassin's spamd, run privately on a loopback
// port.
func TestSpamcAgainstSpamAssassin(t *testing.T) {
	spamd := "/usr/sbin/spamd"
	if _, err := os.Stat(spamd); err != nil {
		spamd = needTool(t, "spamd")
	}
	dir := t.TempDir()
	_, port, _ := net.SplitHostPort(freePort(t))
	args := []string{"--listen", "127.0.0.1:" + port, "--pidfile", filepath.Join(dir, "spamd.pid"),
		"--allow-tell", "--syslog", "stderr", "--min-children", "1", "--max-children", "2",
		"--local", "--nouser-config", "--helper-home-dir", dir}
	if os.Geteuid() == 0 {
		// spamd refuses to check mail as root.
		args = append(args, "--username", "nobody")
		os.Chmod(dir, 0o755)
	}
	cmd := exec.Command(spamd, args...)
	log := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("SpamAssassin's spamd:\n%s", log)
		}
	})
	// SpamAssassin's spamd compiles its rules before it listens.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			t.Fatalf("spamd exited:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("spamd not listening after a minute:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	to := []string{"-d", "127.0.0.1", "-p", port}
	sc := func(msg string, args ...string) result {
		t.Helper()
		return runSpamc(t, "spamc", msg, append(append([]string{}, to...), args...)...)
	}

	if r := sc("", "-K"); r.status != 0 || r.stdout != "SPAMD/1.5 0\n" {
		t.Errorf("spamc -K: status %d, %q, %q", r.status, r.stdout, r.stderr)
	}
	r := sc(gtube, "-c")
	if m := regexp.MustCompile(`^(\d+\.\d)/5\.0\n$`).FindStringSubmatch(r.stdout); r.status != 1 || m == nil {
		t.Errorf("spamc -c on GTUBE: status %d, %q, %q", r.status, r.stdout, r.stderr)
	} else if f, _ := strconv.ParseFloat(m[1], 64); f < 1000 {
		t.Errorf("spamc -c on GTUBE: score %v, want 1000 or more", f)
	}
	if r = sc(spamdHam, "-c"); r.status != 0 {
		t.Errorf("spamc -c on ham: status %d, %q, %q", r.status, r.stdout, r.stderr)
	}
	// Compress: zlib, as SpamAssassin's spamd inflates it.
	if r = sc(gtube, "-z", "-c"); r.status != 1 {
		t.Errorf("spamc -z -c on GTUBE: status %d, %q, %q", r.status, r.stdout, r.stderr)
	}
	if r = sc(gtube, "-y"); r.status != 0 || !strings.Contains(","+r.stdout+",", ",GTUBE,") {
		t.Errorf("spamc -y: status %d, %q", r.status, r.stdout)
	}
	if r = sc(gtube, "-R"); r.status != 0 || !strings.Contains(r.stdout, "Content analysis details:") || !strings.Contains(r.stdout, " GTUBE ") {
		t.Errorf("spamc -R: status %d, %q", r.status, r.stdout)
	}
	r = sc(gtube, "-E")
	if r.status != 1 || !strings.Contains(r.stdout, "X-Spam-Flag: YES") {
		t.Errorf("spamc -E on GTUBE: status %d, %.500q", r.status, r.stdout)
	}
	r = sc(spamdHam, "-E")
	if r.status != 0 || !strings.Contains(r.stdout, "X-Spam-Status: No") || !strings.Contains(r.stdout, "Shall we meet at noon") {
		t.Errorf("spamc -E on ham: status %d, %.500q", r.status, r.stdout)
	}
	// Whether SpamAssassin learns depends on its Bayes setup; spamc
	// prints one of its two answers either way.
	if r = sc(spamdHam, "-L", "ham"); r.status != 0 ||
		(r.stdout != "Message successfully un/learned\n" && r.stdout != "Message was already un/learned\n") {
		t.Errorf("spamc -L ham: status %d, %q, %q", r.status, r.stdout, r.stderr)
	}
}

// Gannet's spamc without a spamd to ask: the safe fallback and -x, -X, as
// SpamAssassin's spamc; and in its own process with the configuration.
func TestSpamcFallbackAndLocal(t *testing.T) {
	_, port, _ := net.SplitHostPort(freePort(t)) // nothing listens there
	to := []string{"-d", "127.0.0.1", "-p", port}
	for _, tc := range []struct {
		args   []string
		stdout string
		status int
	}{
		{nil, spamdSpam, 0},
		{[]string{"-E"}, spamdSpam, 0},
		{[]string{"-c"}, "0/0\n", 0},
		{[]string{"-R"}, "0/0\n", 0},
		{[]string{"-y"}, "\n", 0},
		{[]string{"-x"}, "", 69},
		{[]string{"-x", "-X"}, "", 75},
		{[]string{"-x", "-c"}, "0/0\n", 69},
		{[]string{"-K"}, "", 69},
		{[]string{"-L", "spam"}, "", 69},
	} {
		r := runSpamc(t, "spamc", spamdSpam, append(append([]string{}, to...), tc.args...)...)
		if r.stdout != tc.stdout || r.status != tc.status {
			t.Errorf("spamc %v without spamd: status %d, stdout %q; want %d, %q", tc.args, r.status, r.stdout, tc.status, tc.stdout)
		}
	}
	// Larger than -s: through unchanged, not asked about.
	if r := runSpamc(t, "spamc", spamdSpam, append(to, "-x", "-s", "100")...); r.status != 0 || r.stdout != spamdSpam {
		t.Errorf("spamc -s 100: status %d, %q", r.status, r.stdout)
	}
	if r := runSpamc(t, "spamc", "", "-s", "0"); r.status != 64 {
		t.Errorf("spamc -s 0: status %d, want 64", r.status)
	}
	if r := runSpamc(t, "spamc", "", "-L", "eggs"); r.status != 64 {
		t.Errorf("spamc -L eggs: status %d, want 64", r.status)
	}

	// In its own process, with the configuration's filter and store.
	e := newSmtpdEnv(t, spamdConfig)
	local := func(msg string, args ...string) result {
		t.Helper()
		return runSpamc(t, "spamc", msg, append([]string{"--config", e.config}, args...)...)
	}
	if r := local(spamdSpam, "-c"); r.status != 1 || scoreLine(t, r.stdout) < 10 {
		t.Errorf("local spamc -c on spam: status %d, %q, %q", r.status, r.stdout, r.stderr)
	}
	r := local(spamdHam, "-E", "-u", smtpdUser)
	if r.status != 0 || !strings.HasPrefix(r.stdout, "X-Spam-Status: No, score=") {
		t.Errorf("local spamc -E on ham: status %d, %q, %q", r.status, r.stdout, r.stderr)
	}
	// The account's own threshold (userctl spam set) decides for it.
	e.userctl("spam", "set", smtpdUser, "--threshold", "-50")
	if r := local(spamdHam, "-c", "-u", smtpdUser); r.status != 1 || !strings.HasSuffix(strings.TrimSpace(r.stdout), "/-50.0") {
		t.Errorf("local spamc -c -u with the account's threshold at -50: status %d, %q, %q", r.status, r.stdout, r.stderr)
	}
	if r := local(spamdHam, "-c"); r.status != 0 {
		t.Errorf("local spamc -c without -u: status %d, %q", r.status, r.stdout)
	}
	e.userctl("spam", "reset", smtpdUser)
	if r := local(spamdSpam, "-L", "spam"); r.status != 0 || r.stdout != "Message successfully un/learned\n" {
		t.Errorf("local spamc -L spam: status %d, %q, %q", r.status, r.stdout, r.stderr)
	}

	// Without a store: a verdict without Bayes, and no store made.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gannet.toml")
	// DNS goes to a closed loopback port: blocklists fail, fast.
	text := fmt.Sprintf("[server]\nhostname = \"mx.example.test\"\nstate_dir = %q\n\n[dns]\nresolver = %q\ntimeout = \"1s\"\n%s",
		dir, freePort(t), spamdConfig)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runSpamc(t, "spamc", spamdSpam, "--config", cfg, "-c"); r.status != 1 || scoreLine(t, r.stdout) < 10 {
		t.Errorf("spamc -c without a store: status %d, %q, %q", r.status, r.stdout, r.stderr)
	}
	if r := runSpamc(t, "spamc", spamdSpam, "--config", cfg, "-x", "-L", "spam"); r.status != 69 {
		t.Errorf("spamc -L without a store: status %d, %q, %q; want 69", r.status, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "gannet.db")); err == nil {
		t.Errorf("spamc made a store")
	}
}

// Gannet's spamc against Gannet's spamd, over TCP with compression and
// over a Unix socket.
func TestSpamcAgainstSpamd(t *testing.T) {
	e, addr := startSpamd(t)
	host, port, _ := net.SplitHostPort(addr["spamd"])
	r := runSpamc(t, "spamc", spamdSpam, "-d", host, "-p", port, "-z", "-c")
	if r.status != 1 || scoreLine(t, r.stdout) < 10 {
		t.Errorf("spamc -z -c: status %d, %q, %q", r.status, r.stdout, r.stderr)
	}

	// A second spamd, not socket-activated, on a Unix socket of its
	// configuration.
	sock := filepath.Join(e.dir, "spamd.sock")
	cfg := filepath.Join(e.dir, "unix.toml")
	text, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	text = append(text, fmt.Sprintf("\n[[spamd.listener]]\nname = \"spamd\"\naddress = %q\n", sock)...)
	if err := os.WriteFile(cfg, text, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, "spamd"), "--config", cfg)
	cmd.Env = cleanEnv()
	log := &lockedBuffer{}
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-done
		if t.Failed() {
			t.Logf("spamd:\n%s", log)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spamd not listening on %s:\n%s", sock, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r = runSpamc(t, "spamc", spamdHam, "-U", sock, "-y")
	if r.status != 0 || strings.Contains(r.stdout, "PHISH") {
		t.Errorf("spamc -U -y on ham: status %d, %q, %q", r.status, r.stdout, r.stderr)
	}
	if r = runSpamc(t, "spamc", "", "-U", sock, "-K"); r.status != 0 || r.stdout != "SPAMD/1.5 0\n" {
		t.Errorf("spamc -U -K: status %d, %q, %q", r.status, r.stdout, r.stderr)
	}
	// SpamAssassin's spamc over the Unix socket too.
	if debian, err := exec.LookPath("spamc"); err == nil {
		if r = runSpamc(t, debian, spamdSpam, "-U", sock, "-c"); r.status != 1 || scoreLine(t, r.stdout) < 10 {
			t.Errorf("SpamAssassin's spamc -U -c: status %d, %q, %q", r.status, r.stdout, r.stderr)
		}
	}
}

// A real Postfix with spamd as its milter (smtpd_milters): ham passes with
// the X-Spam-* fields (a forged one removed), spam is marked, and spam over
// the reject threshold is refused with 550 5.7.1 at the end of DATA.
func TestPostfixSpamdMilter(t *testing.T) {
	_, addr := startSpamd(t)
	sink := smtptest.New(t, smtptest.Options{Hostname: "sink.example.test"})
	pf := postfixtest.New(t, postfixtest.Options{Main: map[string]string{
		"relay_domains":         smtpdDomain,
		"relay_transport":       fmt.Sprintf("smtp:[127.0.0.1]:%d", sink.Port()),
		"smtpd_milters":         "inet:" + addr["milter"],
		"milter_default_action": "tempfail",
	}})

	sendSMTP(t, pf.Addr, "friend@remote.test", []string{smtpdUser}, []byte(spamdHam))
	sendSMTP(t, pf.Addr, "service@evil.test", []string{smtpdUser}, []byte(spamdSpam))

	c := dialSMTP(t, pf.Addr)
	c.cmd("EHLO client.test", "250")
	c.cmd("MAIL FROM:<service@evil.test>", "250")
	c.cmd("RCPT TO:<"+smtpdUser+">", "250")
	c.cmd("DATA", "354")
	c.write(spamdReject + ".\r\n")
	reply := c.expect("550")
	if !strings.HasPrefix(reply, "550 5.7.1 ") {
		t.Errorf("spam over the reject threshold: %q, want 550 5.7.1", reply)
	}
	c.cmd("QUIT", "221")

	waitPostfixLog(t, pf, `milter-reject: END-OF-MESSAGE from .*: 5\.7\.1 `)
	deadline := time.Now().Add(postfixWait)
	for len(sink.Transactions()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	txs := sink.Transactions()
	if len(txs) != 2 {
		t.Fatalf("the sink got %d messages, want 2", len(txs))
	}
	got := map[string]string{}
	for _, tx := range txs {
		got[tx.From] = string(tx.Data)
	}
	ham, spam := got["friend@remote.test"], got["service@evil.test"]
	t.Logf("ham as relayed:\n%s\nspam as relayed:\n%s", ham, spam)
	if !regexp.MustCompile(`\r\nX-Spam-Status: No, score=-?\d+\.\d\d required=5\.00\r\n`).MatchString(ham) ||
		strings.Contains(ham, "X-Spam-Flag") || !strings.Contains(ham, "\r\nX-Spam-Result: ") {
		t.Errorf("ham as relayed:\n%s", ham)
	}
	if !strings.Contains(spam, "\r\nX-Spam-Flag: YES\r\n") || !strings.Contains(spam, "\r\nX-Spam-Status: Yes, score=") ||
		strings.Contains(spam, "X-Spam-Flag: NO") || strings.Contains(spam, "score=-50") ||
		!strings.Contains(spam, "PHISH_DISPLAY_NAME=10.00") {
		t.Errorf("spam as relayed:\n%s", spam)
	}
}

// spamd finds the client in the Received fields (past this site's own
// hops) and asks the IP blocklists about it, as SpamAssassin's spamd
// does: Debian's spamc sees the blocklist's tag for a listed relay only.
func TestSpamdReceivedBlocklist(t *testing.T) {
	spamc := needTool(t, "spamc")
	e := newSmtpdEnv(t, `
[[spam.dnsbl]]
name = "testbl"
zone = "bl.test"
type = "ip"
[[spam.dnsbl.answer]]
code = "127.0.0.2"
tag = "RCVD_IN_TESTBL"
score = 6.0
`)
	e.dns.Add("5.113.0.203.bl.test. 60 IN A 127.0.0.2")
	roles := []string{"spamd"}
	files, addr := e.listenersFor(roles)
	e.startDaemon("spamd", roles, files, addr)
	host, port, _ := net.SplitHostPort(addr["spamd"])

	msg := func(client string) string {
		return "Received: from localhost (localhost [127.0.0.1]) by mx.example.test (Postfix) with ESMTP id 1A; Thu, 01 Jan 2026 00:00:02 +0000\r\n" +
			"Received: from mail.remote.test (mail.remote.test [" + client + "]) by mx.example.test (Postfix) with ESMTP id 1B; Thu, 01 Jan 2026 00:00:01 +0000\r\n" +
			"From: <friend@remote.test>\r\nTo: <" + smtpdUser + ">\r\nSubject: lunch tomorrow\r\n" +
			"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <lunch-" + client + "@remote.test>\r\n\r\n" +
			"Shall we meet at noon at the usual place?\r\n"
	}
	r := runSpamc(t, spamc, msg("203.0.113.5"), "-d", host, "-p", port, "-y")
	if r.status != 0 || !strings.Contains(r.stdout, "RCVD_IN_TESTBL") {
		t.Errorf("spamc -y on mail from a listed relay: status %d, %q; want RCVD_IN_TESTBL", r.status, r.stdout)
	}
	r = runSpamc(t, spamc, msg("198.51.100.9"), "-d", host, "-p", port, "-y")
	if r.status != 0 || strings.Contains(r.stdout, "RCVD_IN_TESTBL") {
		t.Errorf("spamc -y on mail from an unlisted relay: status %d, %q", r.status, r.stdout)
	}
	if n := e.dns.Queries("9.100.51.198.bl.test.", dns.TypeA); n != 1 {
		t.Errorf("the blocklist was asked %d times about 198.51.100.9, want once", n)
	}
}
