package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// imapLoginScript logs in with Python's imaplib from a source address of
// the test's choosing (argv: server address, source address, user,
// password) and prints OK, NO, or DROPPED when the server closed the
// connection without a greeting.
const imapLoginScript = `
import imaplib, socket, ssl, sys

class FromSource(imaplib.IMAP4):
    def __init__(self, host, port, source):
        self.source = source
        super().__init__(host, port)
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), 20, source_address=(self.source, 0))

host, port = sys.argv[1].rsplit(":", 1)
try:
    M = FromSource(host, int(port), sys.argv[2])
except (imaplib.IMAP4.abort, ConnectionError, EOFError, OSError) as e:
    print("DROPPED", e)
    sys.exit(0)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
M.starttls(ssl_context=ctx)
try:
    typ, _ = M.login(sys.argv[3], sys.argv[4])
    print(typ)
    M.logout()
except imaplib.IMAP4.error as e:
    print("NO", e)
`

// imapLogin runs imapLoginScript and returns its first word.
func imapLogin(t *testing.T, addr, source, user, password string) string {
	t.Helper()
	python := needTool(t, "python3")
	out, err := exec.Command(python, "-c", imapLoginScript, addr, source, user, password).CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
	word, _, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	return word
}

// greeting connects to addr from source and returns the first line the
// server sends, or "" when it closes the connection without a word.
func greetingFrom(t *testing.T, addr, source string) string {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, source, err)
	}
	defer c.Close()
	return readLine(t, c)
}

// readLine reads one line from c; "" when c is closed first.
func readLine(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var b []byte
	buf := make([]byte, 1)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			b = append(b, buf[0])
			if buf[0] == '\n' {
				return string(b)
			}
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("no answer from %s within 20s", c.RemoteAddr())
			}
			if err != io.EOF && len(b) == 0 {
				return "" // reset
			}
			return string(b)
		}
	}
}

// eventually polls cond until it holds or 10 seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// banctl runs banctl on e's configuration.
func (e *smtpdEnv) banctl(args ...string) result {
	e.t.Helper()
	return run(e.t, "banctl", append([]string{"--config", e.config}, args...)...)
}

// banEntry is an entry of banctl list --json.
type banEntry struct {
	Kind   string         `json:"kind"`
	Key    string         `json:"key"`
	Reason string         `json:"reason"`
	Since  time.Time      `json:"since"`
	Until  time.Time      `json:"until"`
	Source string         `json:"source"`
	Counts map[string]int `json:"counts"`
}

func (e *smtpdEnv) banList(args ...string) []banEntry {
	e.t.Helper()
	r := e.banctl(append(args, "--json")...)
	if r.status != 0 {
		e.t.Fatalf("banctl %v --json: %d %s", args, r.status, r.stderr)
	}
	var out []banEntry
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		e.t.Fatalf("banctl %v --json: %v\n%s", args, err, r.stdout)
	}
	return out
}

// banConfig lets addresses on loopback be banned: only 127.0.0.99 is
// allow-listed.
const banConfig = `
[ban]
allow = ["127.0.0.99/32"]
`

// TestBanAuthFailures: wrong passwords over IMAP (imaplib) and SMTP
// (swaks) count together across both daemons; at the threshold the
// address is dropped at accept by both and its open session is closed;
// banctl shows it, and unban restores it.
func TestBanAuthFailures(t *testing.T) {
	e := newSmtpdEnv(t, banConfig+"auth_failures = 3\nlogin_failures = 100\n")
	sfiles, saddr := e.listeners()
	e.start(sfiles, saddr)
	ifiles, iaddr := e.listenersFor(imapdRoles)
	e.startDaemon("imapd", imapdRoles, ifiles, iaddr)

	// A session opened before the ban.
	held, err := net.Dial("tcp", iaddr["imap"])
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if l := readLine(t, held); !strings.HasPrefix(l, "* OK") {
		t.Fatalf("greeting %q", l)
	}

	for range 2 {
		if got := imapLogin(t, iaddr["imap"], "127.0.0.1", smtpdUser, "wrong-password"); got != "NO" {
			t.Fatalf("imaplib with a wrong password: %s", got)
		}
	}
	h, port, _ := net.SplitHostPort(saddr["submission"])
	out, status := swaks(t, "--server", h, "--port", port, "--tls", "-a", "PLAIN", "--auth-user", smtpdUser,
		"--auth-password", "wrong-password", "--to", smtpdUser, "--from", smtpdUser)
	// The failure that bans the address also closes its own session: the
	// client sees the 535 or the connection closing, whichever is first.
	if status == 0 || !strings.Contains(out, "535 5.7.8") && !strings.Contains(out, "closed connection") {
		t.Fatalf("swaks with a wrong password: status %d\n%s", status, out)
	}

	// The third failure, in smtpd, reaches imapd over the change feed:
	// the open IMAP session is closed, new connections are dropped.
	if l := readLine(t, held); l != "" {
		t.Errorf("the open session got %q instead of being closed", l)
	}
	for _, a := range []string{iaddr["imap"], saddr["smtp"], saddr["submission"]} {
		if l := greetingFrom(t, a, "127.0.0.1"); l != "" {
			t.Errorf("banned client greeted by %s: %q", a, l)
		}
	}
	if got := imapLogin(t, iaddr["imap"], "127.0.0.1", smtpdUser, smtpdPassword); got != "DROPPED" {
		t.Errorf("imaplib from the banned address: %s, want DROPPED", got)
	}
	// Other addresses are served.
	if l := greetingFrom(t, iaddr["imap"], "127.0.0.2"); !strings.HasPrefix(l, "* OK") {
		t.Errorf("another address: %q", l)
	}

	list := e.banList("list")
	if len(list) != 1 || list[0].Kind != "ip" || list[0].Key != "127.0.0.1" || list[0].Counts["auth"] != 3 ||
		!strings.Contains(list[0].Reason, "authentication failures") || list[0].Until.IsZero() || list[0].Since.IsZero() {
		t.Errorf("banctl list --json = %+v", list)
	}
	if r := e.banctl("list"); r.status != 0 || !strings.Contains(r.stdout, "127.0.0.1") || !strings.Contains(r.stdout, "auth=3") {
		t.Errorf("banctl list: %d\n%s%s", r.status, r.stdout, r.stderr)
	}
	if r := e.banctl("show", "127.0.0.1"); r.status != 0 || !strings.Contains(r.stdout, "state: banned") || !strings.Contains(r.stdout, "counter auth: 3") {
		t.Errorf("banctl show: %d\n%s%s", r.status, r.stdout, r.stderr)
	}

	if r := e.banctl("unban", "127.0.0.1"); r.status != 0 {
		t.Fatalf("banctl unban: %d %s", r.status, r.stderr)
	}
	eventually(t, "imapd serving 127.0.0.1 again", func() bool {
		return strings.HasPrefix(greetingFrom(t, iaddr["imap"], "127.0.0.1"), "* OK")
	})
	eventually(t, "smtpd serving 127.0.0.1 again", func() bool {
		return strings.HasPrefix(greetingFrom(t, saddr["smtp"], "127.0.0.1"), "220 ")
	})
	if got := imapLogin(t, iaddr["imap"], "127.0.0.1", smtpdUser, smtpdPassword); got != "OK" {
		t.Errorf("imaplib after unban: %s", got)
	}
	if list := e.banList("list"); len(list) != 0 {
		t.Errorf("after unban: %+v", list)
	}
}

// TestBanDistributedLogin: failures for one login from several addresses
// lock its password everywhere, in both daemons, while an app password
// still logs in; banctl shows and lifts the lock.
func TestBanDistributedLogin(t *testing.T) {
	e := newSmtpdEnv(t, banConfig+"auth_failures = 100\nlogin_failures = 4\n")
	var ap struct {
		Password string `json:"password"`
	}
	ar := run(t, "userctl", "--config", e.config, "user", "app-password", "add", smtpdUser, "--label", "phone", "--json")
	if ar.status != 0 || json.Unmarshal([]byte(ar.stdout), &ap) != nil || ap.Password == "" {
		t.Fatalf("userctl app-password add: %d %s %s", ar.status, ar.stdout, ar.stderr)
	}
	sfiles, saddr := e.listeners()
	e.start(sfiles, saddr)
	ifiles, iaddr := e.listenersFor(imapdRoles)
	e.startDaemon("imapd", imapdRoles, ifiles, iaddr)

	for i := 2; i <= 5; i++ {
		if got := imapLogin(t, iaddr["imap"], fmt.Sprintf("127.0.0.%d", i), smtpdUser, "guess-"+fmt.Sprint(i)); got != "NO" {
			t.Fatalf("wrong password from 127.0.0.%d: %s", i, got)
		}
	}
	// The right password is refused now, from a fresh address too.
	if got := imapLogin(t, iaddr["imap"], "127.0.0.6", smtpdUser, smtpdPassword); got != "NO" {
		t.Errorf("right password on a locked login: %s, want NO", got)
	}
	// The app password still works.
	if got := imapLogin(t, iaddr["imap"], "127.0.0.7", smtpdUser, ap.Password); got != "OK" {
		t.Errorf("app password on a locked login: %s, want OK", got)
	}
	// smtpd refuses the password too (it hears of the lock on the feed),
	// and takes the app password.
	h, port, _ := net.SplitHostPort(saddr["submission"])
	submit := func(source, password string) (string, int) {
		return swaks(t, "--server", h, "--port", port, "--local-interface", source, "--tls", "-a", "PLAIN",
			"--auth-user", smtpdUser, "--auth-password", password, "--to", smtpdUser, "--from", smtpdUser, "--quit-after", "AUTH")
	}
	eventually(t, "smtpd refusing the locked password", func() bool {
		out, _ := submit("127.0.0.8", smtpdPassword)
		return strings.Contains(out, "535 5.7.8")
	})
	if out, status := submit("127.0.0.9", ap.Password); status != 0 || !strings.Contains(out, "235 2.7.0") {
		t.Errorf("swaks with the app password: %d\n%s", status, out)
	}

	list := e.banList("list")
	if len(list) != 1 || list[0].Kind != "login" || list[0].Key != smtpdUser || list[0].Counts["auth"] < 4 {
		t.Errorf("banctl list --json = %+v", list)
	}
	if r := e.banctl("show", smtpdUser); r.status != 0 || !strings.Contains(r.stdout, "state: locked") {
		t.Errorf("banctl show: %d\n%s%s", r.status, r.stdout, r.stderr)
	}
	// No address was banned.
	if l := greetingFrom(t, iaddr["imap"], "127.0.0.2"); !strings.HasPrefix(l, "* OK") {
		t.Errorf("an attacking address banned: %q", l)
	}

	if r := e.banctl("unban", smtpdUser); r.status != 0 {
		t.Fatalf("banctl unban: %d %s", r.status, r.stderr)
	}
	eventually(t, "imapd taking the password again", func() bool {
		return imapLogin(t, iaddr["imap"], "127.0.0.6", smtpdUser, smtpdPassword) == "OK"
	})
}

// TestBanAbuseAndLimits: unknown recipients ban an address; per-address
// connection limits answer 421 4.7.0 and per-sender message limits 451
// 4.7.1.
func TestBanAbuseAndLimits(t *testing.T) {
	e := newSmtpdEnv(t, banConfig+"rcpt_failures = 2\nprotocol_errors = 3\n\n[limits]\nconnections_per_ip = 2\nmessages_per_sender = 1\n")
	files, addr := e.listeners()
	e.start(files, addr)
	ifiles, iaddr := e.listenersFor(imapdRoles)
	e.startDaemon("imapd", imapdRoles, ifiles, iaddr)

	// Junk before login (a scanner speaking HTTP to the IMAP port) bans.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.6")}}
	junk, err := d.Dial("tcp", iaddr["imap"])
	if err != nil {
		t.Fatal(err)
	}
	defer junk.Close()
	readLine(t, junk)
	fmt.Fprintf(junk, "GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: scanner\r\n")
	for readLine(t, junk) != "" {
	}
	if l := greetingFrom(t, iaddr["imap"], "127.0.0.6"); l != "" {
		t.Errorf("address banned for protocol errors greeted: %q", l)
	}
	h, port, _ := net.SplitHostPort(addr["smtp"])
	send := func(source, to, from string) (string, int) {
		return swaks(t, "--server", h, "--port", port, "--local-interface", source, "--to", to, "--from", from)
	}

	out, _ := send("127.0.0.3", "nobody@example.test", "someone@remote.example")
	wantLine(t, out, "550 5.1.1")
	// The second bans the address and closes its session, before or after
	// the 550.
	out, status := send("127.0.0.3", "nobody@example.test", "someone-else@remote.example")
	if status == 0 || !strings.Contains(out, "550 5.1.1") && !strings.Contains(out, "closed connection") {
		t.Fatalf("second unknown recipient: status %d\n%s", status, out)
	}
	if l := greetingFrom(t, addr["smtp"], "127.0.0.3"); l != "" {
		t.Errorf("address banned for unknown recipients greeted: %q", l)
	}

	// Two connections at once from 127.0.0.4; the third is told why.
	var open []net.Conn
	for range 2 {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.4")}}
		c, err := d.Dial("tcp", addr["smtp"])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if l := readLine(t, c); !strings.HasPrefix(l, "220 ") {
			t.Fatalf("greeting %q", l)
		}
		open = append(open, c)
	}
	if l := greetingFrom(t, addr["smtp"], "127.0.0.4"); !strings.HasPrefix(l, "421 4.7.0 ") {
		t.Errorf("third connection: %q, want 421 4.7.0", l)
	}
	for _, c := range open {
		c.Close()
	}
	eventually(t, "a place freed", func() bool {
		return strings.HasPrefix(greetingFrom(t, addr["smtp"], "127.0.0.4"), "220 ")
	})

	out, status = send("127.0.0.5", smtpdUser, "sender@remote.example")
	if status != 0 {
		t.Fatalf("first message: %d\n%s", status, out)
	}
	out, status = send("127.0.0.5", smtpdUser, "sender@remote.example")
	if status == 0 {
		t.Fatalf("second message from the same sender accepted:\n%s", out)
	}
	wantLine(t, out, "451 4.7.1")
	if out, status := send("127.0.0.5", smtpdUser, "other@remote.example"); status != 0 {
		t.Errorf("another sender: %d\n%s", status, out)
	}
}

// TestBanctl works the command line: bans by hand with --for, networks,
// the allow-list, JSON, and the errors.
func TestBanctl(t *testing.T) {
	e := newSmtpdEnv(t, "")
	if r := e.banctl("ban", "--for", "2h", "--reason", "spam run", "198.51.100.0/24", "192.0.2.7"); r.status != 0 {
		t.Fatalf("ban: %d %s", r.status, r.stderr)
	}
	if r := e.banctl("ban", "mallory@example.test"); r.status != 0 {
		t.Fatalf("ban login: %d %s", r.status, r.stderr)
	}
	list := e.banList("list")
	if len(list) != 3 {
		t.Fatalf("list = %+v", list)
	}
	keys := map[string]banEntry{}
	for _, b := range list {
		keys[b.Key] = b
	}
	net24 := keys["198.51.100.0/24"]
	if net24.Kind != "ip" || net24.Reason != "spam run" || net24.Until.Sub(net24.Since) < 119*time.Minute {
		t.Errorf("network entry %+v", net24)
	}
	if m := keys["mallory@example.test"]; m.Kind != "login" || !m.Until.IsZero() {
		t.Errorf("login entry %+v", m)
	}
	if r := e.banctl("show", "198.51.100.9"); r.status != 0 || !strings.Contains(r.stdout, "ban: 198.51.100.0/24") || !strings.Contains(r.stdout, "state: banned") {
		t.Errorf("show inside a network: %d\n%s", r.status, r.stdout)
	}
	// Loopback is allow-listed by default: a ban on it has no effect, and
	// banctl says so.
	if r := e.banctl("ban", "127.0.0.5"); r.status != 0 || !strings.Contains(r.stderr, "allow-list") {
		t.Errorf("ban of loopback: %d %q", r.status, r.stderr)
	}
	if r := e.banctl("allow", "add", "--reason", "office", "203.0.113.0/24"); r.status != 0 {
		t.Fatalf("allow add: %d %s", r.status, r.stderr)
	}
	allow := e.banList("allow", "list")
	if len(allow) != 3 || allow[0].Source != "config" || allow[2].Key != "203.0.113.0/24" || allow[2].Reason != "office" {
		t.Errorf("allow list = %+v", allow)
	}
	if r := e.banctl("allow", "remove", "203.0.113.0/24"); r.status != 0 {
		t.Errorf("allow remove: %d %s", r.status, r.stderr)
	}
	if r := e.banctl("allow", "remove", "203.0.113.0/24"); r.status != 1 || !strings.Contains(r.stderr, "203.0.113.0/24") {
		t.Errorf("allow remove twice: %d %q", r.status, r.stderr)
	}
	if r := e.banctl("unban", "198.51.100.0/24", "192.0.2.99"); r.status != 1 || !strings.Contains(r.stderr, "192.0.2.99") {
		t.Errorf("unban of one banned and one not: %d %q", r.status, r.stderr)
	}
	if got := len(e.banList("list")); got != 3 { // 192.0.2.7, mallory, 127.0.0.5
		t.Errorf("after unban: %d entries", got)
	}
	for _, args := range [][]string{{"ban"}, {"ban", "--for", "soon", "192.0.2.1"}, {"show"}, {"list", "x"}, {"allow", "add"}} {
		if r := e.banctl(args...); r.status != 2 {
			t.Errorf("banctl %v: status %d, want 2 (%s)", args, r.status, r.stderr)
		}
	}
	if r := e.banctl("allow", "add", "not-a-network"); r.status != 1 {
		t.Errorf("allow add of a name: status %d, want 1", r.status)
	}
}
