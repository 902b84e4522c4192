package smtp

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"gannet/lib/config"
)

// startData opens a transaction to demo and waits for the 354.
func startData(rc *rawClient) {
	rc.t.Helper()
	rc.send("EHLO client.example\r\n")
	rc.expect("250")
	rc.send("MAIL FROM:<a@remote.example>\r\n")
	rc.expect("250")
	rc.send("RCPT TO:<demo@example.test>\r\n")
	rc.expect("250")
	rc.send("DATA\r\n")
	rc.expect("354")
}

// The end-of-data variants of the 2023 SMTP smuggling disclosures: none may
// end the message and let what follows run as a second transaction.
func TestSmuggling(t *testing.T) {
	variants := []string{
		"\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r", "\r.\r\n", "\n.\r", "\r.\n", "\r\n.\r",
		"\r\n\x00.\r\n", "\r\n.\x00\r\n",
	}
	for _, mode := range []string{"reject", "normalize"} {
		h := newHarness(t, harnessOpts{config: func(c *config.Config) { c.SMTPD.BareLineEndings = mode }})
		for i, v := range variants {
			t.Run(fmt.Sprintf("%s/%q", mode, v), func(t *testing.T) {
				before := len(h.inbox(demo))
				rc := dialRaw(t, h.addr[RoleSMTP])
				startData(rc)
				rc.send(fmt.Sprintf("Subject: first %d\r\n\r\nfirst", i) + v +
					"MAIL FROM:<evil@remote.example>\r\nRCPT TO:<other@example.test>\r\nDATA\r\n" +
					"Subject: smuggled\r\n\r\nsecond\r\n.\r\n")
				r := rc.expect("")
				bare := strings.ContainsAny(strings.ReplaceAll(v, "\r\n", ""), "\r\n")
				nul := strings.Contains(v, "\x00")
				switch {
				case nul:
					if !strings.HasPrefix(r, "550 5.6.0") {
						t.Errorf("NUL: got %q, want 550 5.6.0", r)
					}
				case mode == "reject" && bare:
					if !strings.HasPrefix(r, "550 5.6.0") {
						t.Errorf("got %q, want 550 5.6.0", r)
					}
				default:
					if !strings.HasPrefix(r, "250") {
						t.Errorf("got %q, want one message accepted", r)
					}
				}
				// Exactly one reply: the smuggled commands were data.
				rc.send("QUIT\r\n")
				rc.expect("221")
				if n := len(h.inbox(other)); n != 0 {
					t.Fatalf("a second message was delivered")
				}
				msgs := h.inbox(demo)
				if !strings.HasPrefix(r, "250") {
					if len(msgs) != before {
						t.Fatalf("refused message delivered")
					}
					return
				}
				if len(msgs) != before+1 {
					t.Fatalf("%d new messages, want 1", len(msgs)-before)
				}
				m := msgs[len(msgs)-1]
				if !strings.Contains(m, "Subject: smuggled") {
					t.Errorf("the rest of the data is not in the one message:\n%q", m)
				}
				if mode == "normalize" && strings.ContainsAny(strings.ReplaceAll(m, "\r\n", ""), "\r\n") {
					t.Errorf("bare line ending stored:\n%q", m)
				}
			})
		}
	}
}

// RFC 2920 section 3.1: DATA ends a group; a client that sends the message
// before the 354 is answered 503 and hung up on.
func TestPipeliningAfterDATA(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	rc := dialRaw(t, h.addr[RoleSMTP])
	rc.send("EHLO client.example\r\n")
	rc.expect("250")
	// Pipelining up to DATA is fine.
	rc.send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n")
	rc.expect("250")
	rc.expect("250")
	rc.expect("354")
	rc.send("Subject: ok\r\n\r\nfine\r\n.\r\n")
	rc.expect("250")
	// Not past it.
	rc.send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\nSubject: early\r\n\r\nbody\r\n.\r\nMAIL FROM:<b@remote.example>\r\nRCPT TO:<other@example.test>\r\nDATA\r\nSubject: sneaky\r\n\r\nx\r\n.\r\n")
	rc.expect("250")
	rc.expect("250")
	rc.expect("354")
	rc.expect("503 5.5.0")
	if rest, closed := rc.closed(); !closed || rest != "" {
		t.Errorf("after 503: %q, closed %v; want the connection closed", rest, closed)
	}
	msgs := h.inbox(demo)
	if len(msgs) != 1 || len(h.inbox(other)) != 0 {
		t.Fatalf("%d messages for demo (want 1), %d for other (want 0)", len(msgs), len(h.inbox(other)))
	}
}

// Commands sent with STARTTLS, before the TLS handshake, are dropped
// (CVE-2011-0411).
func TestSTARTTLSInjection(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	rc := dialRaw(t, h.addr[RoleSMTP])
	rc.send("EHLO client.example\r\n")
	rc.expect("250")
	rc.send("STARTTLS\r\nRSET\r\n")
	rc.expect("220")
	rc.send("") // nothing more in clear
	tlsUpgrade(rc)
	rc.send("NOOP\r\n")
	if r := rc.expect("250"); !strings.Contains(r, "done nothing") {
		t.Errorf("the injected RSET was answered: %q", r)
	}
}

func TestBDAT(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	rc := dialRaw(t, h.addr[RoleSMTP])
	rc.send("EHLO client.example\r\n")
	rc.expect("250")
	rc.send("MAIL FROM:<a@remote.example>\r\n")
	rc.expect("250")
	rc.send("RCPT TO:<demo@example.test>\r\n")
	rc.expect("250")
	// BDAT counts octets: a dot line inside a chunk is data.
	chunk1 := "Subject: chunked\r\n\r\nline\r\n.\r\nMAIL FROM:<x@y>\r\n"
	chunk2 := "last line\r\n"
	rc.send(fmt.Sprintf("BDAT %d\r\n%s", len(chunk1), chunk1))
	rc.expect("250")
	rc.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(chunk2), chunk2))
	rc.expect("250")
	rc.send("MAIL FROM:<a@remote.example>\r\n")
	rc.expect("250")
	rc.send("RCPT TO:<demo@example.test>\r\n")
	rc.expect("250")
	bad := "Subject: bare\n\nbody\n"
	rc.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(bad), bad))
	rc.expect("550 5.6.0")
	rc.send("QUIT\r\n")
	rc.expect("221")
	msgs := h.inbox(demo)
	if len(msgs) != 1 || !strings.HasSuffix(msgs[0], chunk1+chunk2) {
		t.Fatalf("messages: %q", msgs)
	}
}

func TestNormalizeBareLF(t *testing.T) {
	h := newHarness(t, harnessOpts{config: func(c *config.Config) { c.SMTPD.BareLineEndings = "normalize" }})
	rc := dialRaw(t, h.addr[RoleSMTP])
	startData(rc)
	rc.send("Subject: lf\n\nline one\nline two\rthree\r\n.\r\n")
	rc.expect("250")
	msgs := h.inbox(demo)
	if len(msgs) != 1 || !strings.HasSuffix(msgs[0], "Subject: lf\r\n\r\nline one\r\nline two\r\nthree\r\n") {
		t.Fatalf("%q", msgs)
	}
}

func TestLimits(t *testing.T) {
	h := newHarness(t, harnessOpts{config: func(c *config.Config) {
		c.SMTPD.MaxMessageSize = 2000
		c.SMTPD.MaxRecipients = 2
		c.SMTPD.MaxReceivedHeaders = 3
		c.SMTPD.MaxLineLength = 512
	}})
	t.Run("size", func(t *testing.T) {
		rc := dialRaw(t, h.addr[RoleSMTP])
		rc.send("EHLO client.example\r\n")
		if r := rc.expect("250"); !strings.Contains(r, "SIZE 2000") {
			t.Errorf("EHLO: %q", r)
		}
		rc.send("MAIL FROM:<a@remote.example> SIZE=5000\r\n")
		rc.expect("552 5.3.4")
		rc.send("MAIL FROM:<a@remote.example>\r\n")
		rc.expect("250")
		rc.send("RCPT TO:<demo@example.test>\r\n")
		rc.expect("250")
		rc.send("DATA\r\n")
		rc.expect("354")
		rc.send("Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 70)+"\r\n", 40) + ".\r\n")
		rc.expect("552 5.3.4")
		rc.send("NOOP\r\n")
		rc.expect("250")
	})
	t.Run("recipients", func(t *testing.T) {
		rc := dialRaw(t, h.addr[RoleSMTP])
		rc.send("EHLO client.example\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<demo@example.test>\r\nRCPT TO:<other@example.test>\r\nRCPT TO:<demo+x@example.test>\r\n")
		rc.expect("250")
		rc.expect("250")
		rc.expect("250")
		rc.expect("250")
		rc.expect("452 4.5.3")
	})
	t.Run("hops", func(t *testing.T) {
		rc := dialRaw(t, h.addr[RoleSMTP])
		startData(rc)
		rc.send(strings.Repeat("Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n", 4) + "Subject: loop\r\n\r\nx\r\n.\r\n")
		rc.expect("554 5.4.6")
		rc = dialRaw(t, h.addr[RoleSMTP])
		startData(rc)
		rc.send(strings.Repeat("Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n", 3) + "Subject: ok\r\n\r\nx\r\n.\r\n")
		rc.expect("250")
	})
	t.Run("line", func(t *testing.T) {
		rc := dialRaw(t, h.addr[RoleSMTP])
		rc.send("EHLO " + strings.Repeat("a", 600) + "\r\n")
		rc.expect("500")
		if _, closed := rc.closed(); !closed {
			t.Error("connection left open after a too long line")
		}
	})
	t.Run("nul", func(t *testing.T) {
		rc := dialRaw(t, h.addr[RoleSMTP])
		startData(rc)
		rc.send("Subject: nul\r\n\r\nx\x00y\r\n.\r\n")
		rc.expect("550 5.6.0")
	})
}

func TestSessionLimits(t *testing.T) {
	h := newHarness(t, harnessOpts{config: func(c *config.Config) {
		c.SMTPD.MaxMessagesPerSession = 1
		c.SMTPD.MaxErrors = 3
		c.SMTPD.IdleTimeout = config.D(300 * time.Millisecond)
	}})
	t.Run("messages", func(t *testing.T) {
		rc := dialRaw(t, h.addr[RoleSMTP])
		startData(rc)
		rc.send("Subject: one\r\n\r\nx\r\n.\r\n")
		rc.expect("250")
		rc.send("MAIL FROM:<a@remote.example>\r\n")
		rc.expect("421 4.7.0")
		if _, closed := rc.closed(); !closed {
			t.Error("still open")
		}
	})
	t.Run("errors", func(t *testing.T) {
		rc := dialRaw(t, h.addr[RoleSMTP])
		rc.send("EHLO client.example\r\n")
		rc.expect("250")
		rc.send("MAIL FROM:<a@remote.example>\r\n")
		rc.expect("250")
		rc.send("RCPT TO:<x1@example.test>\r\n")
		rc.expect("550 5.1.1")
		rc.send("RCPT TO:<x2@example.test>\r\n")
		rc.expect("550 5.1.1")
		rc.send("RCPT TO:<x3@example.test>\r\n")
		rc.expect("421 4.7.0")
		if _, closed := rc.closed(); !closed {
			t.Error("still open")
		}
	})
	t.Run("idle", func(t *testing.T) {
		rc := dialRaw(t, h.addr[RoleSMTP])
		rc.expect("421 4.4.2")
		if _, closed := rc.closed(); !closed {
			t.Error("still open")
		}
	})
}

func TestSessionTimeout(t *testing.T) {
	h := newHarness(t, harnessOpts{config: func(c *config.Config) {
		c.SMTPD.SessionTimeout = config.D(500 * time.Millisecond)
	}})
	rc := dialRaw(t, h.addr[RoleSMTP])
	start := time.Now()
	for {
		rc.send("NOOP\r\n")
		r, err := rc.reply()
		if err != nil {
			t.Fatalf("%q %v", r, err)
		}
		if strings.HasPrefix(r, "421 4.4.2") {
			break
		}
		if !strings.HasPrefix(r, "250") || time.Since(start) > 5*time.Second {
			t.Fatalf("got %q after %v", r, time.Since(start))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, closed := rc.closed(); !closed {
		t.Error("still open")
	}
}

// At shutdown an idle session is told 421 at once; a message in progress is
// finished, committed and answered 250.
func TestGracefulStop(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	busy := dialRaw(t, h.addr[RoleSMTP])
	startData(busy)
	busy.send("Subject: in flight\r\n\r\nfirst half\r\n")
	idle := dialRaw(t, h.addr[RoleSubmission])
	idle.send("EHLO client.example\r\n")
	idle.expect("250")
	tc, err := tls.Dial("tcp", h.addr[RoleSubmissions], &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	idleTLS := &rawClient{t: t, c: tc, r: bufio.NewReader(tc)}
	idleTLS.expect("220")
	idleTLS.send("EHLO client.example\r\n")
	idleTLS.expect("250")
	waitFor(t, "the sessions", func() bool { return h.srv.connCount() == 3 })
	waitFor(t, "the message to be read", func() bool { return h.busySessions() == 1 })
	h.cancel()
	for _, c := range []*rawClient{idle, idleTLS} {
		c.expect("421 4.3.2")
		if _, closed := c.closed(); !closed {
			t.Error("idle session still open")
		}
	}
	busy.send("second half\r\n.\r\n")
	busy.expect("250")
	select {
	case err := <-h.done:
		h.done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("server still running after its last session")
	}
	if msgs := h.inbox(demo); len(msgs) != 1 || !strings.Contains(msgs[0], "second half") {
		t.Fatalf("%q", msgs)
	}
}

// tlsUpgrade finishes a STARTTLS the test already got 220 for.
func tlsUpgrade(rc *rawClient) {
	rc.t.Helper()
	rc.startTLSAfter220()
}
