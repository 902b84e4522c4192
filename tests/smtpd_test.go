package tests

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gannet/lib/dnstest"
	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

const (
	smtpdDomain   = "example.test"
	smtpdUser     = "demo@example.test"
	smtpdPassword = "Sw0rdfish-and-chips"
)

// smtpdEnv is a state directory with a configuration, the domain
// example.test and the account demo@example.test.
type smtpdEnv struct {
	t      *testing.T
	dir    string
	config string
	db     string
	dns    *dnstest.Server // the DNS server the configuration names
}

// newSmtpdEnv writes a configuration (extra is appended to it) and creates
// the directory entries with userctl. DNS goes to a server of the test's
// own, so that the checks on port 25 run without the network.
func newSmtpdEnv(t *testing.T, extra string) *smtpdEnv {
	t.Helper()
	dns := dnstest.New(t)
	dir := t.TempDir()
	e := &smtpdEnv{t: t, dir: dir, config: filepath.Join(dir, "gannet.toml"), db: filepath.Join(dir, "gannet.db"), dns: dns}
	cfg := fmt.Sprintf(`[server]
hostname = "mx.example.test"
state_dir = %q
runtime_dir = %q

[directory.argon2]
time = 1
memory_kib = 1024
threads = 1

[dns]
resolver = %q
timeout = "2s"

[smtpd]
relay_networks = []
%s
`, dir, filepath.Join(dir, "run"), dns.Addr(), extra)
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	e.userctl("domain", "add", smtpdDomain)
	r := runWith(t, runOpts{stdin: smtpdPassword + "\n"}, "userctl", "--config", e.config, "user", "add", "--password-stdin", smtpdUser)
	if r.status != 0 {
		t.Fatalf("userctl user add: %d %s", r.status, r.stderr)
	}
	return e
}

func (e *smtpdEnv) userctl(args ...string) {
	e.t.Helper()
	r := run(e.t, "userctl", append([]string{"--config", e.config}, args...)...)
	if r.status != 0 {
		e.t.Fatalf("userctl %v: %d %s", args, r.status, r.stderr)
	}
}

// smtpdProc is a running smtpd, socket-activated by the test.
type smtpdProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   map[string]string
	stderr *lockedBuffer
	done   chan struct{}
	err    error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var smtpdRoles = []string{"smtp", "submission", "submissions", "lmtp"}

// listeners makes one loopback listener per role; they outlive the
// processes that are passed them, so a restarted smtpd gets the same
// addresses.
func (e *smtpdEnv) listeners() ([]*os.File, map[string]string) {
	e.t.Helper()
	return e.listenersFor(smtpdRoles)
}

// listenersFor makes one loopback listener per role, as listeners does.
func (e *smtpdEnv) listenersFor(roles []string) ([]*os.File, map[string]string) {
	e.t.Helper()
	var files []*os.File
	addr := map[string]string{}
	for _, role := range roles {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			e.t.Fatal(err)
		}
		f, err := l.(*net.TCPListener).File()
		if err != nil {
			e.t.Fatal(err)
		}
		l.Close()
		e.t.Cleanup(func() { f.Close() })
		files = append(files, f)
		addr[role] = l.Addr().String()
	}
	return files, addr
}

// start runs smtpd on the given sockets as systemd would pass them
// (LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID of the process itself), with a
// NOTIFY_SOCKET, and waits for READY=1.
func (e *smtpdEnv) start(files []*os.File, addr map[string]string) *smtpdProc {
	e.t.Helper()
	return e.startDaemon("smtpd", smtpdRoles, files, addr)
}

// startDaemon starts prog socket-activated on files, named by roles, as
// start does for smtpd (imapd_test.go uses it for imapd).
func (e *smtpdEnv) startDaemon(prog string, roles []string, files []*os.File, addr map[string]string) *smtpdProc {
	e.t.Helper()
	notify := filepath.Join(e.dir, fmt.Sprintf("notify-%d.sock", time.Now().UnixNano()))
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { nc.Close() })
	// LISTEN_PID must be smtpd's own pid: the shell sets it and execs.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`,
		filepath.Join(binDir, prog), "--config", e.config)
	cmd.Env = append(cleanEnv(), "LISTEN_FDS="+fmt.Sprint(len(files)),
		"LISTEN_FDNAMES="+strings.Join(roles, ":"), "NOTIFY_SOCKET="+notify)
	cmd.ExtraFiles = files
	p := &smtpdProc{t: e.t, cmd: cmd, addr: addr, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	e.t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		if e.t.Failed() {
			e.t.Logf("%s log:\n%s", prog, p.stderr)
		}
	})
	nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 512)
	for {
		n, err := nc.Read(buf)
		if err != nil {
			e.t.Fatalf("waiting for READY=1: %v\n%s", err, p.stderr)
		}
		if strings.Contains(string(buf[:n]), "READY=1") {
			return p
		}
	}
}

// stop sends SIGTERM and returns the exit status.
func (p *smtpdProc) stop() int {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		p.t.Fatal("smtpd did not stop on SIGTERM")
	}
	return p.cmd.ProcessState.ExitCode()
}

// openStore opens the store smtpd writes to.
func (e *smtpdEnv) openStore() *sqlite.Store {
	e.t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: e.db})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	return st
}

// inbox returns the raw messages in demo's INBOX.
func (e *smtpdEnv) inbox(st store.Store) []string {
	e.t.Helper()
	ctx := context.Background()
	acct, err := st.GetAccount(ctx, smtpdUser)
	if err != nil {
		e.t.Fatal(err)
	}
	mb, err := st.GetMailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		e.t.Fatal(err)
	}
	msgs, err := st.ListMessages(ctx, acct.ID, store.MessageFilter{MailboxID: mb.ID})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		b, err := st.ReadBlob(ctx, m.BlobID, 0, -1)
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// needSwaks makes sure swaks and its TLS support are installed, installing
// them (scripts/test-deps.sh, then Net::SSLeay) when missing.
func needSwaks(t *testing.T) string {
	t.Helper()
	swaksOnce.Do(func() {
		if _, err := exec.LookPath("swaks"); err != nil {
			out, err := exec.Command("bash", filepath.Join(repoRoot, "scripts", "test-deps.sh")).CombinedOutput()
			if err != nil {
				swaksErr = fmt.Errorf("scripts/test-deps.sh: %v\n%s", err, out)
				return
			}
		}
		// swaks does STARTTLS and implicit TLS through Net::SSLeay.
		if exec.Command("perl", "-MNet::SSLeay", "-MIO::Socket::SSL", "-e1").Run() != nil {
			out, err := exec.Command("apt-get", "install", "-y", "-qq", "--no-install-recommends", "libnet-ssleay-perl", "libio-socket-ssl-perl").CombinedOutput()
			if err != nil {
				swaksErr = fmt.Errorf("installing swaks' TLS support (libnet-ssleay-perl, libio-socket-ssl-perl): %v\n%s", err, out)
			}
		}
	})
	if swaksErr != nil {
		t.Fatal(swaksErr)
	}
	p, err := exec.LookPath("swaks")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	swaksOnce sync.Once
	swaksErr  error
)

// swaks runs swaks and returns its transcript and exit status.
func swaks(t *testing.T, args ...string) (string, int) {
	t.Helper()
	path := needSwaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{"--timeout", "20"}, args...)...)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("swaks %v: timed out\n%s", args, out)
	}
	status := 0
	if ee, ok := err.(*exec.ExitError); ok {
		status = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("swaks: %v", err)
	}
	return string(out), status
}

// wantLine fails unless the swaks transcript has a line containing s.
func wantLine(t *testing.T, transcript, s string) {
	t.Helper()
	if !strings.Contains(transcript, s) {
		t.Errorf("transcript lacks %q:\n%s", s, transcript)
	}
}

func TestSmtpdSwaks(t *testing.T) {
	e := newSmtpdEnv(t, "")
	files, addr := e.listeners()
	p := e.start(files, addr)
	st := e.openStore()
	host := func(role string) []string {
		h, port, _ := net.SplitHostPort(addr[role])
		return []string{"--server", h, "--port", port}
	}
	auth := func(mech string) []string {
		return []string{"-a", mech, "--auth-user", smtpdUser, "--auth-password", smtpdPassword}
	}

	t.Run("smtp", func(t *testing.T) {
		out, status := swaks(t, append(host("smtp"), "--to", smtpdUser, "--from", "someone@remote.example", "--header", "Subject: plain")...)
		if status != 0 {
			t.Fatalf("status %d\n%s", status, out)
		}
		wantLine(t, out, "250 2.0.0")
	})
	t.Run("smtp-tls-pipelining", func(t *testing.T) {
		out, status := swaks(t, append(host("smtp"), "--tls", "--pipeline", "--to", smtpdUser, "--from", "someone@remote.example", "--header", "Subject: tls")...)
		if status != 0 {
			t.Fatalf("status %d\n%s", status, out)
		}
		wantLine(t, out, "250-PIPELINING")
		wantLine(t, out, "250-CHUNKING")
		wantLine(t, out, "250-REQUIRETLS")
	})
	t.Run("unknown-user", func(t *testing.T) {
		out, status := swaks(t, append(host("smtp"), "--to", "nobody@example.test", "--from", "someone@remote.example")...)
		if status == 0 {
			t.Fatalf("accepted:\n%s", out)
		}
		wantLine(t, out, "550 5.1.1")
	})
	t.Run("relay-denied", func(t *testing.T) {
		out, status := swaks(t, append(host("smtp"), "--to", "friend@remote.example", "--from", "someone@remote.example")...)
		if status == 0 {
			t.Fatalf("relayed:\n%s", out)
		}
		wantLine(t, out, "554 5.7.1")
	})
	t.Run("submission-plain", func(t *testing.T) {
		args := append(append(host("submission"), "--tls", "--to", "friend@remote.example", "--from", smtpdUser), auth("PLAIN")...)
		out, status := swaks(t, args...)
		if status != 0 {
			t.Fatalf("status %d\n%s", status, out)
		}
		wantLine(t, out, "235 2.7.0")
	})
	t.Run("submission-no-auth", func(t *testing.T) {
		out, status := swaks(t, append(host("submission"), "--tls", "--to", smtpdUser, "--from", smtpdUser)...)
		if status == 0 {
			t.Fatalf("accepted without AUTH:\n%s", out)
		}
		wantLine(t, out, "530 5.7.0")
	})
	t.Run("submission-wrong-sender", func(t *testing.T) {
		args := append(append(host("submission"), "--tls", "--to", smtpdUser, "--from", "boss@example.test"), auth("LOGIN")...)
		out, status := swaks(t, args...)
		if status == 0 {
			t.Fatalf("accepted:\n%s", out)
		}
		wantLine(t, out, "550 5.7.1")
	})
	t.Run("submissions-login", func(t *testing.T) {
		args := append(append(host("submissions"), "--tlsc", "--to", smtpdUser, "--from", smtpdUser, "--header", "Subject: submissions"), auth("LOGIN")...)
		out, status := swaks(t, args...)
		if status != 0 {
			t.Fatalf("status %d\n%s", status, out)
		}
		wantLine(t, out, "235 2.7.0")
	})
	t.Run("lmtp", func(t *testing.T) {
		out, status := swaks(t, append(host("lmtp"), "--protocol", "LMTP", "--to", smtpdUser+",nobody@example.test", "--from", "someone@remote.example", "--header", "Subject: lmtp")...)
		wantLine(t, out, "550 5.1.1")
		wantLine(t, out, "250 2.0.0 <demo@example.test>")
		_ = status // swaks reports the refused recipient in its status
	})
	t.Run("chunking", func(t *testing.T) {
		c := dialSMTP(t, addr["smtp"])
		c.cmd("EHLO client.example", "250")
		c.cmd("MAIL FROM:<someone@remote.example>", "250")
		c.cmd("RCPT TO:<demo@example.test>", "250")
		chunk := "Subject: chunked\r\n\r\nfirst\r\n.\r\nnot the end\r\n"
		c.write(fmt.Sprintf("BDAT %d LAST\r\n%s", len(chunk), chunk))
		c.expect("250")
		c.cmd("QUIT", "221")
	})

	msgs := e.inbox(st)
	subjects := map[string]bool{}
	for _, m := range msgs {
		for _, s := range []string{"plain", "tls", "submissions", "lmtp", "chunked"} {
			if strings.Contains(m, "Subject: "+s+"\r\n") {
				subjects[s] = true
			}
		}
		if !strings.HasPrefix(m, "Return-Path: <") || !strings.Contains(m, "\r\nReceived: from ") {
			t.Errorf("trace fields missing:\n%.300s", m)
		}
	}
	if len(subjects) != 5 {
		t.Errorf("delivered: %v, want plain, tls, submissions, lmtp, chunked", subjects)
	}
	// Mail arriving on port 25 was checked: Authentication-Results on top.
	for _, m := range msgs {
		if strings.Contains(m, "Subject: plain\r\n") && !strings.Contains(m, "\r\nAuthentication-Results: mx.example.test;") {
			t.Errorf("no Authentication-Results:\n%.600s", m)
		}
	}
	q, err := st.ListQueue(context.Background(), store.QueueFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || q[0].Recipients[0].Address != "friend@remote.example" || q[0].AuthAccount == 0 {
		t.Errorf("queue: %+v", q)
	}
	if status := p.stop(); status != 0 {
		t.Errorf("exit status %d after SIGTERM", status)
	}
}

// smtpConn is a raw SMTP client.
type smtpConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialSMTP(t *testing.T, addr string) *smtpConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := &smtpConn{t: t, c: c, r: bufio.NewReader(c)}
	s.expect("220")
	return s
}

func (s *smtpConn) expect(prefix string) string {
	s.t.Helper()
	s.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var all strings.Builder
	for {
		line, err := s.r.ReadString('\n')
		all.WriteString(line)
		if err != nil {
			s.t.Fatalf("want %s: got %q, %v", prefix, all.String(), err)
		}
		if len(line) < 4 || line[3] != '-' {
			break
		}
	}
	if !strings.HasPrefix(all.String(), prefix) {
		s.t.Fatalf("got %q, want %s", all.String(), prefix)
	}
	return all.String()
}

// cmd sends line (CRLF added) and expects a reply starting with prefix.
func (s *smtpConn) cmd(line, prefix string) string {
	s.t.Helper()
	s.write(line + "\r\n")
	return s.expect(prefix)
}

func (s *smtpConn) write(b string) {
	s.t.Helper()
	s.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(s.c, b); err != nil {
		s.t.Fatal(err)
	}
}

// The end-of-data variants of the 2023 SMTP smuggling disclosures, against
// the real program: none may produce a second message.
func TestSmtpdSmuggling(t *testing.T) {
	e := newSmtpdEnv(t, "")
	files, addr := e.listeners()
	e.start(files, addr)
	st := e.openStore()
	variants := []string{
		"\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r", "\r.\r\n", "\n.\r", "\r.\n", "\r\n.\r",
		"\r\n\x00.\r\n", "\r\n.\x00\r\n",
	}
	for _, v := range variants {
		c := dialSMTP(t, addr["smtp"])
		c.cmd("EHLO client.example", "250")
		c.cmd("MAIL FROM:<a@remote.example>", "250")
		c.cmd("RCPT TO:<demo@example.test>", "250")
		c.cmd("DATA", "354")
		c.write("Subject: first\r\n\r\nfirst" + v + "MAIL FROM:<evil@remote.example>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsecond\r\n.\r\n")
		// Every variant holds a bare CR, a bare LF or a NUL: with the
		// default bare_line_endings = "reject" each is refused whole.
		if r := c.expect(""); !strings.HasPrefix(r, "550 5.6.0") {
			t.Errorf("%q: %q, want 550 5.6.0", v, r)
		}
		c.cmd("QUIT", "221") // one reply only: the rest was data
	}
	for _, m := range e.inbox(st) {
		if strings.HasPrefix(strings.SplitN(m, "\r\n\r\n", 2)[0], "Subject: smuggled") ||
			strings.Contains(strings.SplitN(m, "\r\n\r\n", 2)[0], "\r\nSubject: smuggled\r\n") {
			t.Errorf("a smuggled message was delivered:\n%q", m)
		}
	}
	// Message data before the 354: 503 and the connection closed.
	c := dialSMTP(t, addr["smtp"])
	c.cmd("EHLO client.example", "250")
	c.write("MAIL FROM:<a@remote.example>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\nSubject: early\r\n\r\nx\r\n.\r\n")
	c.expect("250")
	c.expect("250")
	c.expect("354")
	c.expect("503 5.5.0")
}

// kill -9 during a load: every message that was answered 250 is in the
// store afterwards.
func TestSmtpdKill9(t *testing.T) {
	e := newSmtpdEnv(t, "")
	files, addr := e.listeners()
	p := e.start(files, addr)

	var mu sync.Mutex
	var acked []string
	stopLoad := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 20; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stopLoad:
					return
				default:
				}
				id := fmt.Sprintf("load-%d-%d", g, n)
				if sendPlain(addr["smtp"], id) == nil {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}
		}()
	}
	// Kill once the load is well under way.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d messages accepted in 30s\n%s", n, p.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	close(stopLoad)
	// Restart on the same sockets: it must come up and take mail,
	// starting with the connections that queued while it was down.
	p2 := e.start(files, addr)
	wg.Wait()
	mu.Lock()
	ids := append([]string(nil), acked...)
	mu.Unlock()

	if err := sendPlain(addr["smtp"], "after-restart"); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	st := e.openStore()
	stored := strings.Join(e.inbox(st), "\n")
	missing := 0
	for _, id := range ids {
		if !strings.Contains(stored, "Subject: "+id+"\r\n") {
			missing++
			if missing < 5 {
				t.Errorf("%s got 250 but is not in the store", id)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged messages lost", missing, len(ids))
	}
	if !strings.Contains(stored, "Subject: after-restart\r\n") {
		t.Error("the message sent after the restart is missing")
	}
	t.Logf("%d messages acknowledged before kill -9, all in the store", len(ids))
	if status := p2.stop(); status != 0 {
		t.Errorf("exit status %d", status)
	}
}

// sendPlain sends one message with net/smtp, without TLS.
func sendPlain(addr, subject string) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c, err := smtp.NewClient(conn, "127.0.0.1")
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if err := c.Mail("load@remote.example"); err != nil {
		return err
	}
	if err := c.Rcpt(smtpdUser); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Subject: %s\r\nFrom: load@remote.example\r\n\r\n%s\r\n", subject, strings.Repeat("load test line\r\n", 60))
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// systemd-socket-activate passes one socket named smtp; smtpd serves it.
func TestSmtpdSocketActivate(t *testing.T) {
	sa := needTool(t, "systemd-socket-activate")
	e := newSmtpdEnv(t, "")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(sa, "-l", addr, "--fdname=smtp", filepath.Join(binDir, "smtpd"), "--config", e.config)
	cmd.Env = cleanEnv()
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	// systemd-socket-activate listens before it runs smtpd; wait for it.
	var c net.Conn
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err = net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listener: %v\n%s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Close()
	if err := sendPlain(addr, "activated"); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if !strings.Contains(strings.Join(e.inbox(e.openStore()), ""), "Subject: activated\r\n") {
		t.Error("message not delivered")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after SIGTERM: %v\n%s", err, stderr.String())
		}
		done <- nil
	case <-time.After(40 * time.Second):
		t.Fatal("did not stop")
	}
}

// Over implicit TLS, STARTTLS is not offered and AUTH is.
func TestSmtpdSubmissionsTLS(t *testing.T) {
	e := newSmtpdEnv(t, "")
	files, addr := e.listeners()
	e.start(files, addr)
	c, err := tls.Dial("tcp", addr["submissions"], &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := &smtpConn{t: t, c: c, r: bufio.NewReader(c)}
	s.expect("220")
	r := s.cmd("EHLO client.example", "250")
	if strings.Contains(r, "STARTTLS") || !strings.Contains(r, "AUTH PLAIN LOGIN") {
		t.Errorf("EHLO over implicit TLS:\n%s", r)
	}
}
