package smtp

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"gannet/lib/config"
	"gannet/lib/deliver"
	"gannet/lib/spam"
	"gannet/lib/store"
)

// subjectChecker tags messages by words in their subject: a stand-in for
// the rules, so the scores here do not depend on the default rule set.
type subjectChecker struct{}

func (subjectChecker) Name() string { return "subject" }

func (subjectChecker) Check(ctx context.Context, m *spam.Message, r *spam.Result) error {
	switch {
	case strings.Contains(m.Subject, "REJECTME"):
		r.Add("TEST_REJECT", 50, "")
	case strings.Contains(m.Subject, "VIAGRA"):
		r.Add("TEST_SPAM", 10, "")
	}
	return nil
}

// spamHarness runs smtpd with the spam filter as cmd/smtpd wires it: the
// filter with every checker the configuration builds plus subjectChecker,
// spam traps, greylisting and Junk filing.
func spamHarness(t *testing.T, greylist bool) (*harness, *spam.Memory) {
	var mem *spam.Memory
	h := newHarness(t, harnessOpts{
		config: func(c *config.Config) {
			c.Spam.Traps = []string{"trap@example.test"}
			c.Spam.Greylist.Enabled = greylist
			c.Spam.Greylist.Delay = config.D(0)
			c.Spam.Bayes.Enabled = false
		},
		// Set before the server starts serving.
		server: func(srv *Server) {
			f, err := spam.New(context.Background(), spam.Deps{Config: srv.Config, Store: srv.Store})
			if err != nil {
				t.Fatal(err)
			}
			f.Checks = append(f.Checks, subjectChecker{})
			mem = spam.NewMemory(srv.Store, srv.Config.Spam, nil)
			srv.Spam = NewSpamFilter(SpamOptions{Filter: f, Memory: mem, Store: srv.Store, Dir: srv.Dir, Log: srv.Log})
			d := deliver.New(srv.Store, srv.Dir, config.Deliver{QuotaExceeded: "temporary"}, nil)
			d.AddFilter(spam.JunkFilter(srv.Store))
			srv.Deliver = NewLocalDelivery(d)
		},
	})
	return h, mem
}

func TestSpamFilter(t *testing.T) {
	h, mem := spamHarness(t, false)
	msg := func(subject, extra string) []byte {
		return []byte(fmt.Sprintf("From: <someone@elsewhere.example>\r\nTo: <demo@example.test>\r\nSubject: %s\r\nMessage-ID: <%s@elsewhere.example>\r\n%s\r\nHello there.\r\n", subject, strings.ReplaceAll(subject, " ", "."), extra))
	}
	// Ham, with a forged verdict that would send it to Junk: stripped.
	if err := sendMail(t, h.addr[RoleSMTP], "someone@elsewhere.example", []string{demo}, msg("hello", "X-Spam-Flag: YES\r\nX-Spam-Score: 99\r\n")); err != nil {
		t.Fatal(err)
	}
	// Spam: into Junk.
	if err := sendMail(t, h.addr[RoleSMTP], "someone@elsewhere.example", []string{demo}, msg("cheap VIAGRA", "")); err != nil {
		t.Fatal(err)
	}
	// Above the reject threshold: refused.
	err := sendMail(t, h.addr[RoleSMTP], "someone@elsewhere.example", []string{demo}, msg("REJECTME", ""))
	wantReply(t, err, 550, "5.7.1")

	inbox, junk := h.mailbox(demo, "INBOX"), h.mailbox(demo, "Junk")
	if len(inbox) != 1 || len(junk) != 1 {
		t.Fatalf("INBOX %d, Junk %d messages; want 1 and 1", len(inbox), len(junk))
	}
	if !strings.Contains(inbox[0], "X-Spam-Status: No, score=") || strings.Contains(inbox[0], "X-Spam-Flag") || strings.Contains(inbox[0], "X-Spam-Score: 99") {
		t.Errorf("ham as stored:\n%s", inbox[0])
	}
	if !strings.Contains(junk[0], "X-Spam-Flag: YES") || !strings.Contains(junk[0], "TEST_SPAM=10.00") || !strings.Contains(junk[0], "Subject: cheap VIAGRA") {
		t.Errorf("spam as stored:\n%s", junk[0])
	}

	// An account's own threshold: above it, a score the configured
	// threshold lets through goes to Junk.
	if err := h.st.SetSpamThresholds(context.Background(), h.demo.ID, &store.SpamThreshold{Spam: -100, Reject: 0}); err != nil {
		t.Fatal(err)
	}
	if err := sendMail(t, h.addr[RoleSMTP], "someone@elsewhere.example", []string{demo}, msg("hello again", "")); err != nil {
		t.Fatal(err)
	}
	if junk := h.mailbox(demo, "Junk"); len(junk) != 2 {
		t.Errorf("with the account's threshold at -100: Junk has %d messages, want 2", len(junk))
	}
	h.st.SetSpamThresholds(context.Background(), h.demo.ID, nil)

	// Spam traps: the trap's copy is thrown away, the other recipient gets
	// hers in Junk, and the sender's reputation counts a spam.
	if err := sendMail(t, h.addr[RoleSMTP], "spammer@bad.example", []string{"trap@example.test", other}, msg("trap", "")); err != nil {
		t.Fatal(err)
	}
	if err := sendMail(t, h.addr[RoleSMTP], "spammer@bad.example", []string{"Trap@Example.Test"}, msg("trap only", "")); err != nil {
		t.Fatal(err)
	}
	if got := h.mailbox(other, "Junk"); len(got) != 1 || !strings.Contains(got[0], "SPAM_TRAP=") {
		t.Errorf("other's Junk after the trap: %q", got)
	}
	mem.Flush(context.Background())
	rep, err := h.st.Reputation(context.Background(), []string{"addr:someone@elsewhere.example", "ip:127.0.0.1", "domain:elsewhere.example"})
	if err != nil {
		t.Fatal(err)
	}
	// Loopback clients have no IP reputation. The From address has the
	// verdicts above: ham, spam, rejected spam, spam by the account's
	// threshold, and two trap hits.
	if _, ok := rep["ip:127.0.0.1"]; ok {
		t.Errorf("loopback got a reputation: %v", rep)
	}
	if c := rep["addr:someone@elsewhere.example"]; c != (store.ReputationCount{Spam: 5, Ham: 1}) {
		t.Errorf("reputation of the sender: %+v", c)
	}
}

func TestSpamTrustedReply(t *testing.T) {
	h, _ := spamHarness(t, false)
	// demo sends a message through submission...
	c, err := gosmtp.DialTLS(h.addr[RoleSubmissions], &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", demo, password)); err != nil {
		t.Fatal(err)
	}
	out := "From: <demo@example.test>\r\nTo: <friend@elsewhere.example>\r\nSubject: lunch?\r\nMessage-ID: <lunch-1@example.test>\r\n\r\nTomorrow?\r\n"
	if err := c.SendMail(demo, []string{"friend@elsewhere.example"}, strings.NewReader(out)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	// ...and the answer is a trusted reply; a message naming another
	// Message-ID is not.
	for _, ref := range []string{"<lunch-1@example.test>", "<other@example.test>"} {
		reply := "From: <friend@elsewhere.example>\r\nTo: <demo@example.test>\r\nSubject: Re: lunch?\r\nIn-Reply-To: " + ref + "\r\n\r\nYes.\r\n"
		if err := sendMail(t, h.addr[RoleSMTP], "friend@elsewhere.example", []string{demo}, []byte(reply)); err != nil {
			t.Fatal(err)
		}
	}
	inbox := h.inbox(demo)
	if len(inbox) != 2 || !strings.Contains(inbox[0], "TRUSTED_REPLY=-3.00") || strings.Contains(inbox[1], "TRUSTED_REPLY") {
		t.Errorf("replies as stored:\n%s", strings.Join(inbox, "\n----\n"))
	}
}

func TestSpamGreylist(t *testing.T) {
	h, _ := spamHarness(t, true)
	body := []byte("From: <a@elsewhere.example>\r\nSubject: hi\r\n\r\nhi\r\n")
	err := sendMail(t, h.addr[RoleSMTP], "a@elsewhere.example", []string{demo}, body)
	wantReply(t, err, 451, "4.7.1")
	// The retry (delay 0 here) passes, and so does the next message.
	for i := range 2 {
		if err := sendMail(t, h.addr[RoleSMTP], "a@elsewhere.example", []string{demo}, body); err != nil {
			t.Fatalf("attempt %d after the first: %v", i+2, err)
		}
	}
	// Another sender starts again; an authenticated client is exempt.
	err = sendMail(t, h.addr[RoleSMTP], "b@elsewhere.example", []string{demo}, body)
	wantReply(t, err, 451, "4.7.1")
	c, err := gosmtp.DialTLS(h.addr[RoleSubmissions], &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", demo, password)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail(demo, []string{other}, strings.NewReader("From: <demo@example.test>\r\nSubject: x\r\n\r\nx\r\n")); err != nil {
		t.Errorf("authenticated submission greylisted: %v", err)
	}
}
