package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"gannet/lib/config"
	"gannet/lib/reply"
	"gannet/lib/rewrite"
	"gannet/lib/store"
)

// sendMail sends one message over STARTTLS, as net/smtp.SendMail does,
// without checking the test certificate.
func sendMail(t *testing.T, addr, from string, to []string, msg []byte) error {
	t.Helper()
	c, err := gosmtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail(from, to, strings.NewReader(string(msg))); err != nil {
		return err
	}
	return c.Quit()
}

// wantReply fails unless err is an SMTP reply with code and enhanced code.
func wantReply(t *testing.T, err error, code int, enhanced string) {
	t.Helper()
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want %d %s", err, code, enhanced)
	}
	got := fmt.Sprintf("%d %d.%d.%d", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	if got != fmt.Sprintf("%d %s", code, enhanced) {
		t.Fatalf("got %s %s, want %d %s", got, se.Message, code, enhanced)
	}
}

const testMessage = "From: <demo@example.test>\r\nTo: <other@example.test>\r\nSubject: hello\r\n\r\nHello there.\r\n"

func TestDeliverLocal(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	err := sendMail(t, h.addr[RoleSMTP], "someone@elsewhere.example", []string{"Demo@Example.Test"}, []byte(testMessage))
	if err != nil {
		t.Fatal(err)
	}
	msgs := h.inbox(demo)
	if len(msgs) != 1 {
		t.Fatalf("%d messages in INBOX, want 1", len(msgs))
	}
	m := msgs[0]
	if !strings.HasSuffix(m, testMessage) {
		t.Errorf("message body changed:\n%s", m)
	}
	// RFC 5321 section 4.4: a Received field naming both ends, with "for"
	// for a single recipient; the client used STARTTLS (net/smtp does).
	re := regexp.MustCompile(`(?s)^Return-Path: <someone@elsewhere\.example>\r\nReceived: from localhost \(\[127\.0\.0\.1\]\)\r\n\tby mx\.example\.test \(Gannet\) with ESMTPS id [0-9a-f]{12}\.1\r\n\t\(using TLS1\.3 with cipher \S+\)\r\n\tfor <demo@example\.test>;\r\n\t\w{3}, \d{2} \w{3} \d{4} `)
	if !re.MatchString(m) {
		t.Errorf("header fields not as expected:\n%s", m)
	}
	if q := h.queue(); len(q) != 0 {
		t.Errorf("local mail was queued: %+v", q)
	}
	if !strings.Contains(h.log.String(), "result=accepted") || strings.Contains(h.log.String(), "Hello there") {
		t.Errorf("log line missing, or holds the body:\n%s", h.log)
	}
}

func TestRecipientChecks(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	rc := dialRaw(t, h.addr[RoleSMTP])
	rc.send("EHLO client.example\r\n")
	rc.expect("250")
	rc.send("MAIL FROM:<a@elsewhere.example>\r\n")
	rc.expect("250")
	rc.send("RCPT TO:<nobody@example.test>\r\n")
	rc.expect("550 5.1.1 ")
	rc.send("RCPT TO:<someone@elsewhere.example>\r\n")
	rc.expect("554 5.7.1 ")
	rc.send("RCPT TO:<bad address@example.test>\r\n")
	rc.expect("5")
	rc.send("RCPT TO:<demo+tag@example.test>\r\n")
	rc.expect("250")
	rc.send("QUIT\r\n")
	rc.expect("221")
}

func TestRelayNetworks(t *testing.T) {
	h := newHarness(t, harnessOpts{config: func(c *config.Config) {
		c.SMTPD.RelayNetworks = []string{"127.0.0.0/8"}
	}})
	c, err := gosmtp.Dial(h.addr[RoleSMTP])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@example.test", &gosmtp.MailOptions{Return: gosmtp.DSNReturnHeaders, EnvelopeID: "env-1"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("x@remote.example", &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifyFailure, gosmtp.DSNNotifyDelayed}, OriginalRecipientType: gosmtp.DSNAddressTypeRFC822, OriginalRecipient: "orig@remote.example"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(demo, nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(testMessage))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	q := h.queue()
	if len(q) != 1 || len(q[0].Recipients) != 1 {
		t.Fatalf("queue: %+v", q)
	}
	e := q[0]
	r := e.Recipients[0]
	if e.Sender != "a@example.test" || e.DSNRet != "HDRS" || e.DSNEnvID != "env-1" || r.Address != "x@remote.example" ||
		strings.Join(r.Notify, ",") != "FAILURE,DELAY" || r.ORcpt != "RFC822;orig@remote.example" || e.AuthAccount != 0 {
		t.Errorf("queue entry %+v", e)
	}
	if len(h.inbox(demo)) != 1 {
		t.Error("local recipient did not get the message")
	}
}

func TestEHLOCapabilities(t *testing.T) {
	h := newHarness(t, harnessOpts{server: func(s *Server) { s.SCRAM = testSCRAM(s) }})
	want := []string{"PIPELINING", "SIZE 52428800", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING", "DSN"}
	has := func(r, c string) bool {
		return regexp.MustCompile(`(?m)^250[- ]` + regexp.QuoteMeta(c) + `\r$`).MatchString(r)
	}

	for _, role := range []string{RoleSMTP, RoleSubmission} {
		rc := dialRaw(t, h.addr[role])
		rc.send("EHLO client.example\r\n")
		r := rc.expect("250")
		for _, c := range append(want, "STARTTLS") {
			if !has(r, c) {
				t.Errorf("%s: EHLO lacks %s:\n%s", role, c, r)
			}
		}
		if strings.Contains(r, "AUTH") || strings.Contains(r, "REQUIRETLS") {
			t.Errorf("%s: AUTH or REQUIRETLS offered without TLS:\n%s", role, r)
		}
		rc.startTLS()
		rc.send("EHLO client.example\r\n")
		r = rc.expect("250")
		for _, c := range append(want, "REQUIRETLS", "AUTH PLAIN LOGIN SCRAM-SHA-256") {
			if !has(r, c) {
				t.Errorf("%s over TLS: EHLO lacks %s:\n%s", role, c, r)
			}
		}
		if strings.Contains(r, "STARTTLS") {
			t.Errorf("%s: STARTTLS offered again over TLS", role)
		}
	}
	c, err := gosmtp.DialTLS(h.addr[RoleSubmissions], &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("submissions offers STARTTLS")
	}
	if ok, p := c.Extension("AUTH"); !ok || p != "PLAIN LOGIN SCRAM-SHA-256" {
		t.Errorf("submissions AUTH %q", p)
	}

	rc := dialRaw(t, h.addr[RoleLMTP])
	rc.send("LHLO client.example\r\n")
	r := rc.expect("250")
	if strings.Contains(r, "AUTH") || strings.Contains(r, "STARTTLS") || !has(r, "PIPELINING") || !has(r, "ENHANCEDSTATUSCODES") {
		t.Errorf("LMTP LHLO:\n%s", r)
	}
}

func TestSubmission(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c, err := gosmtp.DialStartTLS(h.addr[RoleSubmission], &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var se *gosmtp.SMTPError
	if err := c.Mail(demo, nil); !errors.As(err, &se) || se.Code != 530 {
		t.Fatalf("MAIL before AUTH: %v, want 530", err)
	}
	if err := c.Auth(sasl.NewPlainClient("", demo, "wrong")); !errors.As(err, &se) || se.Code != 535 || se.EnhancedCode != (gosmtp.EnhancedCode{5, 7, 8}) {
		t.Fatalf("AUTH with a wrong password: %v, want 535 5.7.8", err)
	}
	if err := c.Auth(sasl.NewPlainClient("", demo, password)); err != nil {
		t.Fatal(err)
	}
	// Sender validation: someone else's address is refused.
	if err := c.Mail(other, nil); !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (gosmtp.EnhancedCode{5, 7, 1}) {
		t.Fatalf("MAIL FROM another account: %v, want 550 5.7.1", err)
	}
	if err := c.Mail("demo+lists@example.test", &gosmtp.MailOptions{RequireTLS: true, UTF8: true}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"friend@remote.example", other} {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(testMessage))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	q := h.queue()
	if len(q) != 1 || q[0].AuthAccount != h.demo.ID || !q[0].RequireTLS || !q[0].SMTPUTF8 || q[0].Recipients[0].Address != "friend@remote.example" {
		t.Fatalf("queue: %+v", q)
	}
	msgs := h.inbox(other)
	if len(msgs) != 1 || !strings.Contains(msgs[0], "with UTF8SMTPSA id") {
		t.Errorf("local copy: %q", msgs)
	}
}

func TestSubmissionsLogin(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c, err := gosmtp.DialTLS(h.addr[RoleSubmissions], &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewLoginClient(demo, password)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail(demo, []string{other}, strings.NewReader(testMessage)); err != nil {
		t.Fatal(err)
	}
	if n := len(h.inbox(other)); n != 1 {
		t.Fatalf("%d messages", n)
	}
}

func TestAuthNeedsTLS(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	rc := dialRaw(t, h.addr[RoleSubmission])
	rc.send("EHLO client.example\r\n")
	rc.expect("250")
	rc.send("AUTH PLAIN AGRlbW9AZXhhbXBsZS50ZXN0AGNvcnJlY3QgaG9yc2UgYmF0dGVyeQ==\r\n")
	rc.expect("523 5.7.10")

	h2 := newHarness(t, harnessOpts{config: func(c *config.Config) { c.SMTPD.RequireTLSForAuth = false }})
	rc = dialRaw(t, h2.addr[RoleSubmission])
	rc.send("EHLO client.example\r\n")
	if r := rc.expect("250"); !strings.Contains(r, "AUTH PLAIN LOGIN") {
		t.Errorf("AUTH not offered with require_tls_for_auth = false:\n%s", r)
	}
	rc.send("AUTH PLAIN AGRlbW9AZXhhbXBsZS50ZXN0AGNvcnJlY3QgaG9yc2UgYmF0dGVyeQ==\r\n")
	rc.expect("235")
}

func TestSenderValidationHeader(t *testing.T) {
	h := newHarness(t, harnessOpts{config: func(c *config.Config) { c.SMTPD.SenderValidationHeader = true }})
	send := func(msg string) error {
		c, err := gosmtp.DialTLS(h.addr[RoleSubmissions], &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Auth(sasl.NewPlainClient("", demo, password)); err != nil {
			t.Fatal(err)
		}
		return c.SendMail(demo, []string{other}, strings.NewReader(msg))
	}
	if err := send(testMessage); err != nil {
		t.Fatal(err)
	}
	var se *gosmtp.SMTPError
	err := send("From: Boss <other@example.test>\r\nSubject: x\r\n\r\nbody\r\n")
	if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (gosmtp.EnhancedCode{5, 7, 1}) {
		t.Errorf("From: someone else: %v, want 550 5.7.1", err)
	}
	err = send("Subject: no from\r\n\r\nbody\r\n")
	if !errors.As(err, &se) || se.Code != 550 {
		t.Errorf("no From: %v, want 550", err)
	}
	if n := len(h.inbox(other)); n != 1 {
		t.Errorf("%d messages delivered, want 1", n)
	}
}

func TestLMTPPerRecipient(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	// other's mailbox is full.
	h.other.QuotaMessages = 1
	if err := h.st.UpdateAccount(ctx, h.other); err != nil {
		t.Fatal(err)
	}
	h.dir.Invalidate()
	mb, _ := h.st.GetMailbox(ctx, h.other.ID, "INBOX")
	if _, err := h.st.AddMessages(ctx, []store.NewMessage{{AccountID: h.other.ID, MailboxID: mb.ID, Raw: []byte(testMessage)}}); err != nil {
		t.Fatal(err)
	}
	c, err := gosmtp.Dial(h.addr[RoleLMTP])
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	rc := dialRaw(t, h.addr[RoleLMTP])
	rc.send("LHLO front.example\r\n")
	rc.expect("250")
	rc.send("MAIL FROM:<a@remote.example>\r\n")
	rc.expect("250")
	rc.send("RCPT TO:<demo@example.test>\r\n")
	rc.expect("250")
	rc.send("RCPT TO:<nobody@example.test>\r\n")
	rc.expect("550 5.1.1")
	rc.send("RCPT TO:<other@example.test>\r\n")
	rc.expect("250")
	rc.send("RCPT TO:<x@remote.example>\r\n")
	rc.expect("550 5.1.2")
	rc.send("DATA\r\n")
	rc.expect("354")
	rc.send(testMessage + ".\r\n")
	// RFC 2033 section 4.2: one reply per accepted recipient, in order.
	rc.expect("250 2.0.0 <demo@example.test>")
	rc.expect("452 4.2.2 <other@example.test>")
	rc.send("QUIT\r\n")
	rc.expect("221")
	if n := len(h.inbox(demo)); n != 1 {
		t.Errorf("demo has %d messages", n)
	}
	if m := h.inbox(other); len(m) != 1 {
		t.Errorf("other has %d messages, want the 1 it had", len(m))
	}
	if q := h.queue(); len(q) != 0 {
		t.Errorf("LMTP queued %+v", q)
	}
}

// A local recipient that cannot take the message now, in a transaction
// that delivered to another, is queued for queued to retry: one SMTP reply
// cannot refuse some recipients only.
func TestPartialFailureQueued(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	h.other.QuotaMessages = 1
	h.st.UpdateAccount(ctx, h.other)
	mb, _ := h.st.GetMailbox(ctx, h.other.ID, "INBOX")
	h.st.AddMessages(ctx, []store.NewMessage{{AccountID: h.other.ID, MailboxID: mb.ID, Raw: []byte(testMessage)}})
	if err := sendMail(t, h.addr[RoleSMTP], "a@remote.example", []string{demo, other}, []byte(testMessage)); err != nil {
		t.Fatal(err)
	}
	q := h.queue()
	if len(q) != 1 || len(q[0].Recipients) != 1 || q[0].Recipients[0].Address != other {
		t.Fatalf("queue %+v", q)
	}
	// When nobody took it, the client hears why.
	err := sendMail(t, h.addr[RoleSMTP], "a@remote.example", []string{other}, []byte(testMessage))
	wantReply(t, err, 452, "4.2.2")
}

func TestRewrite(t *testing.T) {
	rw, err := rewrite.New([]config.RewriteRule{{Match: `info@example\.test`, Replace: "demo@example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOpts{server: func(s *Server) { s.Rewriter = rw }})
	if err := sendMail(t, h.addr[RoleSMTP], "a@remote.example", []string{"info@example.test"}, []byte(testMessage)); err != nil {
		t.Fatal(err)
	}
	if n := len(h.inbox(demo)); n != 1 {
		t.Fatalf("%d messages", n)
	}
}

// Hooks: the message checker's header on top, a milter refusing a
// recipient and changing the message, the spam filter adding a field.
type fakeChecker struct{ reject bool }

func (f fakeChecker) CheckMessage(ctx context.Context, env *Envelope, msg []byte) (string, []byte, error) {
	if f.reject {
		return "", nil, reply.New(550, "5.7.1", "dmarc", "DMARC policy says reject")
	}
	return "Authentication-Results: mx.example.test; spf=pass smtp.mailfrom=" + env.Sender, nil, nil
}

type fakeMilter struct{}

func (fakeMilter) Open(ctx context.Context, env *Envelope) (MilterSession, error) {
	return &fakeMilterSession{}, nil
}

type fakeMilterSession struct{}

func (*fakeMilterSession) Helo(ctx context.Context, env *Envelope) error { return nil }
func (*fakeMilterSession) Mail(ctx context.Context, env *Envelope) error { return nil }
func (*fakeMilterSession) Rcpt(ctx context.Context, env *Envelope, rcpt string) error {
	if strings.HasPrefix(rcpt, "other@") {
		return reply.New(550, "5.7.1", "milter", "Milter says no")
	}
	return nil
}
func (*fakeMilterSession) Data(ctx context.Context, env *Envelope, msg []byte) ([]byte, error) {
	return append([]byte("X-Milter: seen\r\n"), msg...), nil
}
func (*fakeMilterSession) Abort(ctx context.Context) {}
func (*fakeMilterSession) Close() error              { return nil }

type fakeSpam struct{}

func (fakeSpam) CheckSpam(ctx context.Context, env *Envelope, msg []byte) ([]byte, error) {
	return append([]byte("X-Spam: no\r\n"), msg...), nil
}

func TestHooks(t *testing.T) {
	h := newHarness(t, harnessOpts{server: func(s *Server) {
		s.Checker = fakeChecker{}
		s.Milter = fakeMilter{}
		s.Spam = fakeSpam{}
	}})
	err := sendMail(t, h.addr[RoleSMTP], "a@remote.example", []string{other}, []byte(testMessage))
	wantReply(t, err, 550, "5.7.1")
	if err := sendMail(t, h.addr[RoleSMTP], "a@remote.example", []string{demo}, []byte(testMessage)); err != nil {
		t.Fatal(err)
	}
	m := h.inbox(demo)[0]
	if !regexp.MustCompile(`^Return-Path: <a@remote\.example>\r\nX-Spam: no\r\nX-Milter: seen\r\nAuthentication-Results: mx\.example\.test; spf=pass smtp\.mailfrom=a@remote\.example\r\nReceived: from `).MatchString(m) {
		t.Errorf("header fields:\n%s", m)
	}

	h2 := newHarness(t, harnessOpts{server: func(s *Server) { s.Checker = fakeChecker{reject: true} }})
	err = sendMail(t, h2.addr[RoleSMTP], "a@remote.example", []string{demo}, []byte(testMessage))
	wantReply(t, err, 550, "5.7.1")
	if n := len(h2.inbox(demo)); n != 0 {
		t.Errorf("refused message delivered")
	}
}
