package tests

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// proxyClientIP is the client's source address in the PROXY tests: not the
// proxy's (127.0.0.1), so that what the daemons report tells them apart.
const proxyClientIP = "127.0.0.5"

// proxyListeners is the configuration of the PROXY tests: smtpd's smtp and
// imapd's imaps sockets expect the header, from 127.0.0.1 only.
const proxyListeners = `
[[smtpd.listener]]
name = "smtp"
address = "127.0.0.1:0"
proxy_protocol = true

[[imapd.listener]]
name = "imaps"
address = "127.0.0.1:0"
proxy_protocol = true
`

// trustOnly sets server.proxy_trusted_networks in e's configuration.
func (e *smtpdEnv) trustOnly(nets string) {
	e.t.Helper()
	b, err := os.ReadFile(e.config)
	if err != nil {
		e.t.Fatal(err)
	}
	s := strings.Replace(string(b), "\n[directory.argon2]", "proxy_trusted_networks = "+nets+"\n\n[directory.argon2]", 1)
	if err := os.WriteFile(e.config, []byte(s), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startHAProxy runs haproxy in TCP mode with one frontend per entry of
// backends (frontend name to "address send-proxy[-v2]") and returns the
// frontends' addresses.
func startHAProxy(t *testing.T, backends map[string]string) map[string]string {
	t.Helper()
	bin := needTool(t, "haproxy")
	var cfg strings.Builder
	cfg.WriteString("defaults\n\tmode tcp\n\ttimeout connect 10s\n\ttimeout client 60s\n\ttimeout server 60s\n")
	front := map[string]string{}
	for name, backend := range backends {
		front[name] = freePort(t)
		fmt.Fprintf(&cfg, "\nfrontend f_%s\n\tbind %s\n\tdefault_backend b_%s\n", name, front[name], name)
		fmt.Fprintf(&cfg, "\nbackend b_%s\n\tserver s %s\n", name, backend)
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, cfg.String())
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("haproxy:\n%s", out)
		}
	})
	// Ready once every frontend accepts.
	deadline := time.Now().Add(20 * time.Second)
	for _, addr := range front {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-done:
				t.Fatalf("haproxy exited:\n%s", out)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("haproxy does not listen on %s:\n%s", addr, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return front
}

// dialFrom connects to addr from the local address ip.
func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitLog polls a daemon's log until it holds s.
func waitLog(t *testing.T, p *smtpdProc, s string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.stderr.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("log never shows %q:\n%s", s, p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countLines counts the lines of log holding all of subs.
func countLines(log string, subs ...string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(l, s)
		}
		if all {
			n++
		}
	}
	return n
}

// waitClosed reads from c until the server closes it and returns what came.
func waitClosed(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	buf := make([]byte, 512)
	for {
		n, err := c.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("server did not close the connection; got %q", b.String())
			}
			return b.String()
		}
	}
}

// TestProxyProtocolHAProxy puts a real haproxy in front of smtpd (port 25)
// and imapd (imaps), once with send-proxy (v1) and once with send-proxy-v2,
// and checks that the daemons see the client's address, not the proxy's:
// in the Received field of a delivered message and in the logs. A header
// from a peer that is not a trusted proxy, and a connection without one,
// are refused and logged.
func TestProxyProtocolHAProxy(t *testing.T) {
	needTool(t, "haproxy")
	e := newSmtpdEnv(t, proxyListeners)
	e.trustOnly(`["127.0.0.1/32"]`)
	files, addr := e.listeners()
	smtpd := e.start(files, addr)
	ifiles, iaddr := e.listenersFor(imapdRoles)
	imapd := e.startDaemon("imapd", imapdRoles, ifiles, iaddr)

	front := startHAProxy(t, map[string]string{
		"smtp1":  addr["smtp"] + " send-proxy",
		"smtp2":  addr["smtp"] + " send-proxy-v2",
		"imaps1": iaddr["imaps"] + " send-proxy",
		"imaps2": iaddr["imaps"] + " send-proxy-v2",
	})

	for _, v := range []string{"1", "2"} {
		c := dialFrom(t, proxyClientIP, front["smtp"+v])
		s := &smtpConn{t: t, c: c, r: bufio.NewReader(c)}
		s.expect("220")
		s.cmd("EHLO client.example", "250")
		s.cmd("MAIL FROM:<someone@example.org>", "250")
		s.cmd("RCPT TO:<"+smtpdUser+">", "250")
		s.cmd("DATA", "354")
		s.cmd("From: someone@example.org\r\nTo: "+smtpdUser+"\r\nSubject: through PROXY v"+v+"\r\n\r\nhi\r\n.", "250")
		s.cmd("QUIT", "221")

		tc := tls.Client(dialFrom(t, proxyClientIP, front["imaps"+v]), &tls.Config{InsecureSkipVerify: true})
		r := bufio.NewReader(tc)
		tc.SetDeadline(time.Now().Add(30 * time.Second))
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "* OK") {
			t.Fatalf("imaps v%s greeting: %q %v", v, line, err)
		}
		fmt.Fprintf(tc, "a LOGIN %s %s\r\n", smtpdUser, smtpdPassword)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("imaps v%s LOGIN: %v", v, err)
			}
			if strings.HasPrefix(line, "a ") {
				if !strings.HasPrefix(line, "a OK") {
					t.Fatalf("imaps v%s LOGIN: %q", v, line)
				}
				break
			}
		}
		fmt.Fprintf(tc, "b LOGOUT\r\n")
		tc.Close()
	}

	st := e.openStore()
	msgs := e.inbox(st)
	if len(msgs) != 2 {
		t.Fatalf("%d messages delivered, want 2", len(msgs))
	}
	for _, m := range msgs {
		if !strings.Contains(m, "\r\nReceived: from client.example (["+proxyClientIP+"])\r\n") {
			t.Errorf("Received field does not name the client %s:\n%s", proxyClientIP, m)
		}
	}
	if n := countLines(smtpd.stderr.String(), "msg=message", "client="+proxyClientIP+" "); n != 2 {
		t.Errorf("smtpd logged %d messages from %s, want 2:\n%s", n, proxyClientIP, smtpd.stderr)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n := countLines(imapd.stderr.String(), `msg="logged in"`, "remote="+proxyClientIP+":")
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("imapd logged %d logins from %s, want 2:\n%s", n, proxyClientIP, imapd.stderr)
		}
	}

	// A PROXY header straight from the client, which is no trusted proxy.
	c := dialFrom(t, proxyClientIP, addr["smtp"])
	fmt.Fprintf(c, "PROXY TCP4 192.0.2.9 127.0.0.1 4000 25\r\n")
	if got := waitClosed(t, c); got != "" {
		t.Errorf("untrusted peer got %q, want the connection closed", got)
	}
	waitLog(t, smtpd, "peer="+proxyClientIP+":")
	waitLog(t, smtpd, "not a trusted proxy")
	// The proxy's address, but no header.
	c = dialFrom(t, "127.0.0.1", iaddr["imaps"])
	c.Write([]byte("a CAPABILITY\r\n"))
	if got := waitClosed(t, c); got != "" {
		t.Errorf("connection without a header got %q, want it closed", got)
	}
	waitLog(t, imapd, "PROXY protocol error")
}
