package tests

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"gannet/lib/postfixtest"
	"gannet/lib/store"
)

// postfixWait bounds each wait for a line in Postfix's log.
const postfixWait = 20 * time.Second

// addAccount creates an account with userctl: the password is smtpdPassword
// and flags (e.g. --quota-bytes) go before the address.
func (e *smtpdEnv) addAccount(address string, flags ...string) {
	e.t.Helper()
	args := append([]string{"--config", e.config, "user", "add", "--password-stdin"}, flags...)
	r := runWith(e.t, runOpts{stdin: smtpdPassword + "\n"}, "userctl", append(args, address)...)
	if r.status != 0 {
		e.t.Fatalf("userctl user add %s: %d %s", address, r.status, r.stderr)
	}
}

// accountInbox returns the raw messages in the INBOX of any account (inbox
// is demo's).
func (e *smtpdEnv) accountInbox(st store.Store, address string) []string {
	e.t.Helper()
	ctx := context.Background()
	acct, err := st.GetAccount(ctx, address)
	if err != nil {
		e.t.Fatalf("account %s: %v", address, err)
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

// withSubject returns the messages that have the header line
// "Subject: subject".
func withSubject(msgs []string, subject string) []string {
	var out []string
	for _, m := range msgs {
		if strings.Contains(m, "\r\nSubject: "+subject+"\r\n") || strings.HasPrefix(m, "Subject: "+subject+"\r\n") {
			out = append(out, m)
		}
	}
	return out
}

// waitPostfixLog waits for a line of Postfix's log that matches re and
// returns it.
func waitPostfixLog(t *testing.T, pf *postfixtest.Instance, re string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), postfixWait)
	defer cancel()
	line, err := pf.WaitLog(ctx, regexp.MustCompile(re))
	if err != nil {
		t.Fatal(err)
	}
	return line
}

// postfixDelivery is the regular expression of Postfix's log line for a
// delivery attempt to rcpt by Postfix's program (smtp or lmtp) to
// 127.0.0.1 on hostport's port, ending with status and the start of the
// reply in parentheses (both regular expressions).
func postfixDelivery(program, rcpt, hostport, status, reply string) string {
	_, port, _ := net.SplitHostPort(hostport)
	return fmt.Sprintf(`postfix/%s\[\d+\]: [0-9A-F]+: to=<%s>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%s, .*status=%s \(%s`,
		program, regexp.QuoteMeta(rcpt), port, status, reply)
}

// sendSMTP sends msg (CRLF line endings) over plain SMTP with BODY=8BITMIME
// and fails the test unless every recipient and the message are accepted.
// It does not ask for SMTPUTF8 (as net/smtp would), so that Postfix relays
// the message as an ordinary 8BITMIME one.
func sendSMTP(t *testing.T, addr, from string, to []string, msg []byte) {
	t.Helper()
	c := dialSMTP(t, addr)
	c.cmd("EHLO client.test", "250")
	c.cmd("MAIL FROM:<"+from+"> BODY=8BITMIME", "250")
	for _, r := range to {
		c.cmd("RCPT TO:<"+r+">", "250")
	}
	c.cmd("DATA", "354")
	// RFC 5321 section 4.5.2: a line beginning with a dot gets another.
	data := strings.ReplaceAll("\r\n"+string(msg), "\r\n.", "\r\n..")[2:]
	c.write(data + ".\r\n")
	c.expect("250")
	c.cmd("QUIT", "221")
}

// testMessage is a message with the header fields Postfix would otherwise
// add (From, Date, Message-ID), so that what arrives can be compared
// byte for byte.
func testMessage(from, to, subject, body string) []byte {
	return []byte("From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: " + subject +
		"\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", "-") + "@remote.test>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body)
}

// Postfix as the front end, handing mail to smtpd's LMTP listener as its
// virtual_transport: one transaction to two accounts, an unknown address
// and a full mailbox. LMTP answers for each recipient, so Postfix delivers
// to the two accounts and bounces the other two, each with its own code:
// the unknown one at RCPT (550 5.1.1), the full one after the data
// (552 5.2.2, one of the per-recipient replies to DATA).
func TestPostfixLMTP(t *testing.T) {
	e := newSmtpdEnv(t, "\n[deliver]\nquota_exceeded = \"permanent\"\n")
	e.addAccount("second@example.test")
	e.addAccount("full@example.test", "--quota-bytes", "100")
	files, addr := e.listeners()
	e.start(files, addr)
	st := e.openStore()

	pf := postfixtest.New(t, postfixtest.Options{Main: map[string]string{
		"virtual_mailbox_domains": smtpdDomain,
		// Empty maps: Postfix accepts every address of the domain and
		// leaves recipient validation to Gannet.
		"virtual_mailbox_maps": "",
		"virtual_transport":    "lmtp:inet:" + addr["lmtp"],
	}})

	rcpts := []string{smtpdUser, "second@example.test", "nobody@example.test", "full@example.test"}
	msg := testMessage("sender@remote.test", smtpdUser, "through postfix lmtp",
		strings.Repeat("A line of text to go over the full mailbox's quota.\r\n", 10))
	sendSMTP(t, pf.Addr, "sender@remote.test", rcpts, msg)

	for _, r := range []string{smtpdUser, "second@example.test"} {
		line := waitPostfixLog(t, pf, postfixDelivery("lmtp", r, addr["lmtp"], "sent", `250 2\.`))
		t.Log(line)
	}
	line := waitPostfixLog(t, pf, postfixDelivery("lmtp", "nobody@example.test", addr["lmtp"], "bounced", `host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.1\.1 .*in reply to RCPT TO command`))
	t.Log(line)
	if !strings.Contains(line, "dsn=5.1.1") {
		t.Errorf("unknown recipient's DSN code: %s", line)
	}
	line = waitPostfixLog(t, pf, postfixDelivery("lmtp", "full@example.test", addr["lmtp"], "bounced", `host 127\.0\.0\.1\[127\.0\.0\.1\] said: 552 5\.2\.2 .*in reply to end of DATA command`))
	t.Log(line)

	for _, r := range []string{smtpdUser, "second@example.test"} {
		got := withSubject(e.accountInbox(st, r), "through postfix lmtp")
		if len(got) != 1 {
			t.Fatalf("%s's INBOX holds %d copies of the message, want 1", r, len(got))
		}
		if !strings.HasPrefix(got[0], "Return-Path: <sender@remote.test>\r\n") ||
			!regexp.MustCompile(`\r\nReceived: from postfix\.test \(.*\)\r\n\tby mx\.example\.test \(Gannet\) with LMTP id `).MatchString(got[0]) {
			t.Errorf("%s's copy lacks Return-Path or an LMTP Received field:\n%.600s", r, got[0])
		}
	}
	if got := e.accountInbox(st, "full@example.test"); len(got) != 0 {
		t.Errorf("the full mailbox took %d messages", len(got))
	}
}

// Postfix as a relay in front of smtpd's port 25 (the MX role): a long
// message with an 8-bit body arrives byte for byte, over STARTTLS, and an
// unknown recipient is refused at RCPT, which Postfix turns into a bounce.
//
// Postfix 3.7's SMTP client never sends BDAT, so this covers DATA with
// dot-stuffing only; CHUNKING is covered by TestSmtpdSwaks.
func TestPostfixMX(t *testing.T) {
	e := newSmtpdEnv(t, "")
	files, addr := e.listeners()
	e.start(files, addr)
	st := e.openStore()

	host, port, _ := net.SplitHostPort(addr["smtp"])
	pf := postfixtest.New(t, postfixtest.Options{Main: map[string]string{
		// Postfix relays example.test to smtpd's port 25 as it would to
		// the domain's MX.
		"relay_domains":   smtpdDomain,
		"relay_transport": fmt.Sprintf("smtp:[%s]:%s", host, port),
		// smtpd has a self-signed certificate: opportunistic TLS.
		"smtp_tls_security_level": "may",
		"smtp_tls_loglevel":       "1",
	}})

	t.Run("8bit-long", func(t *testing.T) {
		// About 200 KB of 8-bit text, with lines that need dot-stuffing,
		// a lone dot, trailing blanks, empty lines and long lines (under
		// the 998 octets of RFC 5321 section 4.5.3.1.6).
		var body strings.Builder
		for i := 0; body.Len() < 200<<10; i++ {
			switch i % 50 {
			case 7:
				body.WriteString(".\r\n")
			case 13:
				body.WriteString("..leading dots, stuffed twice\r\n")
			case 21:
				body.WriteString("\r\n\r\n")
			case 33:
				body.WriteString(strings.Repeat("ü", 450) + "\r\n") // 900 octets
			case 42:
				body.WriteString("trailing blanks \t \r\n")
			default:
				fmt.Fprintf(&body, "Zeile %05d: Grüße aus Köln, ñandú, 日本語のテキスト, €, ½\r\n", i)
			}
		}
		body.WriteString("the end\r\n")
		msg := testMessage("sender@remote.test", smtpdUser, "eight bit via postfix", body.String())
		sendSMTP(t, pf.Addr, "sender@remote.test", []string{smtpdUser}, msg)

		line := waitPostfixLog(t, pf, postfixDelivery("smtp", smtpdUser, addr["smtp"], "sent", `250 2\.`))
		t.Log(line)
		line = waitPostfixLog(t, pf, `postfix/smtp\[\d+\]: \w+ TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:`)
		t.Log(line)

		got := withSubject(e.inbox(st), "eight bit via postfix")
		if len(got) != 1 {
			t.Fatalf("INBOX holds %d copies of the message, want 1", len(got))
		}
		header, gotBody, ok := strings.Cut(got[0], "\r\n\r\n")
		if !ok {
			t.Fatalf("stored message has no header/body separator:\n%.600s", got[0])
		}
		if gotBody != body.String() {
			i := 0
			for i < len(gotBody) && i < body.Len() && gotBody[i] == body.String()[i] {
				i++
			}
			t.Fatalf("body differs from octet %d (got %d octets, sent %d): got %q", i, len(gotBody), body.Len(), gotBody[max(i-40, 0):min(i+40, len(gotBody))])
		}
		// Gannet's fields on top of Postfix's Received, then the header
		// as sent.
		sentHeader, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
		if !strings.HasSuffix(header, "\r\n"+string(sentHeader)) {
			t.Errorf("header as sent is not at the end of the stored header:\n%s", header)
		}
		for _, re := range []string{
			`^Return-Path: <sender@remote\.test>\r\n`,
			`\r\nAuthentication-Results: mx\.example\.test;`,
			`\r\nReceived: from postfix\.test \(.*\)\r\n\tby mx\.example\.test \(Gannet\) with ESMTPS id `,
			`\r\nReceived: from client\.test \(.*\)\r\n\tby postfix\.test \(Postfix\)`,
		} {
			if !regexp.MustCompile(re).MatchString(header) {
				t.Errorf("stored header does not match %q:\n%s", re, header)
			}
		}
	})

	t.Run("unknown-user", func(t *testing.T) {
		msg := testMessage("sender@remote.test", "nobody@example.test", "to nobody via postfix", "hello\r\n")
		sendSMTP(t, pf.Addr, "sender@remote.test", []string{"nobody@example.test"}, msg)
		line := waitPostfixLog(t, pf, postfixDelivery("smtp", "nobody@example.test", addr["smtp"], "bounced",
			`host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.1\.1 <nobody@example\.test>: .*\(in reply to RCPT TO command\)`))
		t.Log(line)
		if !strings.Contains(line, "dsn=5.1.1") {
			t.Errorf("DSN code: %s", line)
		}
		if got := withSubject(e.inbox(st), "to nobody via postfix"); len(got) != 0 {
			t.Errorf("the message for nobody reached demo's INBOX")
		}
	})
}
