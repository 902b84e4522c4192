package tests

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

// startTLS says EHLO and STARTTLS on c and returns the connection over TLS
// with the EHLO reply given there.
func startTLS(t *testing.T, c *smtpConn) (*smtpConn, string) {
	t.Helper()
	c.cmd("EHLO client.example", "250")
	c.cmd("STARTTLS", "220")
	tc := tls.Client(c.c, &tls.Config{InsecureSkipVerify: true, ServerName: "mx.example.test"})
	if err := tc.HandshakeContext(context.Background()); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	s := &smtpConn{t: t, c: tc, r: bufio.NewReader(tc)}
	return s, s.cmd("EHLO client.example", "250")
}

// scramAuth runs AUTH SCRAM-SHA-256 (RFC 4954, RFC 7677) on c with an
// xdg-go/scram client, the client-first message as an initial response or
// after an empty 334 challenge. It returns the final reply and whether the
// client accepted the server's proof.
func scramAuth(t *testing.T, c *smtpConn, user, password string, initial bool) (string, bool) {
	t.Helper()
	cl, err := scram.SHA256.NewClient(user, password, "")
	if err != nil {
		t.Fatal(err)
	}
	conv := cl.NewConversation()
	first, err := conv.Step("")
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding
	var reply string
	if initial {
		reply = c.cmd("AUTH SCRAM-SHA-256 "+b64.EncodeToString([]byte(first)), "")
	} else {
		if r := c.cmd("AUTH SCRAM-SHA-256", "334"); strings.TrimSpace(r) != "334" {
			t.Fatalf("first challenge %q, want an empty one", r)
		}
		reply = c.cmd(b64.EncodeToString([]byte(first)), "")
	}
	// Each 334 carries a server message; each answer is one base64 line
	// (RFC 4954 section 4). The last answer, to the server-final message,
	// is empty.
	for range 3 {
		if !strings.HasPrefix(reply, "334 ") {
			return reply, conv.Valid()
		}
		challenge, err := b64.DecodeString(strings.TrimSpace(reply[4:]))
		if err != nil {
			t.Fatalf("challenge %q: %v", reply, err)
		}
		if conv.Done() {
			t.Fatalf("challenge %q after the exchange ended", challenge)
		}
		answer, err := conv.Step(string(challenge))
		if err != nil {
			// The client refuses the server's proof: cancel (RFC 4954).
			return c.cmd("*", ""), false
		}
		reply = c.cmd(b64.EncodeToString([]byte(answer)), "")
	}
	t.Fatalf("AUTH did not end: %q", reply)
	return "", false
}

// sendAuthenticated sends one message from demo to demo on an
// authenticated session.
func sendAuthenticated(c *smtpConn, subject string) {
	c.cmd("MAIL FROM:<"+smtpdUser+">", "250")
	c.cmd("RCPT TO:<"+smtpdUser+">", "250")
	c.cmd("DATA", "354")
	c.write("From: " + smtpdUser + "\r\nTo: " + smtpdUser + "\r\nSubject: " + subject + "\r\n\r\nsent after SCRAM-SHA-256\r\n.\r\n")
	c.expect("250")
}

func TestSmtpdSCRAM(t *testing.T) {
	e := newSmtpdEnv(t, "")
	files, addr := e.listeners()
	p := e.start(files, addr)
	st := e.openStore()

	t.Run("ehlo", func(t *testing.T) {
		_, ehlo := startTLS(t, dialSMTP(t, addr["submission"]))
		if !strings.Contains(ehlo, "250-AUTH PLAIN LOGIN SCRAM-SHA-256\r\n") && !strings.Contains(ehlo, "250 AUTH PLAIN LOGIN SCRAM-SHA-256\r\n") {
			t.Errorf("EHLO over STARTTLS does not offer SCRAM-SHA-256:\n%s", ehlo)
		}
	})
	t.Run("right-password", func(t *testing.T) {
		for _, initial := range []bool{false, true} {
			c, _ := startTLS(t, dialSMTP(t, addr["submission"]))
			reply, valid := scramAuth(t, c, smtpdUser, smtpdPassword, initial)
			if !strings.HasPrefix(reply, "235 2.") {
				t.Fatalf("initial response %v: %q, want 235", initial, reply)
			}
			if !valid {
				t.Errorf("initial response %v: the client did not verify the server's proof", initial)
			}
			subject := "scram"
			if initial {
				subject = "scram-initial"
			}
			sendAuthenticated(c, subject)
			c.cmd("QUIT", "221")
		}
	})
	t.Run("wrong-password", func(t *testing.T) {
		for _, initial := range []bool{false, true} {
			c, _ := startTLS(t, dialSMTP(t, addr["submission"]))
			reply, _ := scramAuth(t, c, smtpdUser, "not-"+smtpdPassword, initial)
			if !strings.HasPrefix(reply, "535 5.7.8") {
				t.Errorf("initial response %v: %q, want 535 5.7.8", initial, reply)
			}
			c.cmd("MAIL FROM:<"+smtpdUser+">", "530")
		}
	})
	t.Run("unknown-user", func(t *testing.T) {
		c, _ := startTLS(t, dialSMTP(t, addr["submission"]))
		if reply, _ := scramAuth(t, c, "nobody@example.test", smtpdPassword, true); !strings.HasPrefix(reply, "535 5.7.8") {
			t.Errorf("unknown user: %q, want 535 5.7.8", reply)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		e.userctl("user", "disable", smtpdUser)
		c, _ := startTLS(t, dialSMTP(t, addr["submission"]))
		reply, _ := scramAuth(t, c, smtpdUser, smtpdPassword, true)
		e.userctl("user", "enable", smtpdUser)
		if !strings.HasPrefix(reply, "535 5.7.8") {
			t.Errorf("disabled account: %q, want 535 5.7.8", reply)
		}
	})
	// An account whose password was set before Gannet kept SCRAM keys:
	// SCRAM fails, PLAIN works, and a new password brings SCRAM back.
	t.Run("no-keys", func(t *testing.T) {
		ctx := context.Background()
		acct, err := st.GetAccount(ctx, smtpdUser)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(acct.SCRAMSHA256, "SCRAM-SHA-256$4096:") {
			t.Fatalf("userctl user add stored keys %q", acct.SCRAMSHA256)
		}
		if strings.Contains(acct.SCRAMSHA256, smtpdPassword) || strings.Contains(acct.PasswordHash, smtpdPassword) {
			t.Fatal("the password is stored in the clear")
		}
		acct.SCRAMSHA256 = ""
		if err := st.UpdateAccount(ctx, acct); err != nil {
			t.Fatal(err)
		}
		if r := run(t, "userctl", "--config", e.config, "user", "show", smtpdUser); r.status != 0 || !strings.Contains(r.stdout, "no SCRAM-SHA-256 keys") {
			t.Errorf("user show of an account without keys: %d\n%s%s", r.status, r.stdout, r.stderr)
		}
		c, _ := startTLS(t, dialSMTP(t, addr["submission"]))
		if reply, _ := scramAuth(t, c, smtpdUser, smtpdPassword, true); !strings.HasPrefix(reply, "535 5.7.8") {
			t.Errorf("account without keys: %q, want 535 5.7.8", reply)
		}
		plain := base64.StdEncoding.EncodeToString([]byte("\x00" + smtpdUser + "\x00" + smtpdPassword))
		c.cmd("AUTH PLAIN "+plain, "235")

		r := runWith(t, runOpts{stdin: smtpdPassword + "\n"}, "userctl", "--config", e.config, "user", "passwd", "--password-stdin", smtpdUser)
		if r.status != 0 {
			t.Fatalf("userctl user passwd: %d %s", r.status, r.stderr)
		}
		c, _ = startTLS(t, dialSMTP(t, addr["submission"]))
		if reply, valid := scramAuth(t, c, smtpdUser, smtpdPassword, false); !strings.HasPrefix(reply, "235 2.") || !valid {
			t.Errorf("after user passwd: %q (server proof verified: %v), want 235", reply, valid)
		}
	})

	inbox := strings.Join(e.inbox(st), "\n")
	for _, s := range []string{"scram", "scram-initial"} {
		if !strings.Contains(inbox, "Subject: "+s+"\r\n") {
			t.Errorf("message %q sent after SCRAM-SHA-256 not delivered", s)
		}
	}
	if status := p.stop(); status != 0 {
		t.Errorf("exit status %d after SIGTERM", status)
	}
}
