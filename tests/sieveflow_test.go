package tests

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gannet/lib/store"
)

const flowSieve = `require ["fileinto", "mailbox", "vacation", "imap4flags"];
if header :contains "subject" "report" {
	fileinto :create :flags "\\Flagged" "Reports";
	stop;
}
vacation :days 3 :subject "Out of office" "Back on Monday.";
`

// TestSieveFlow: a script put with sievectl runs when smtpd delivers mail
// sent with swaks: a report is filed, flagged, into a mailbox the script
// creates; other mail is kept and its sender gets one vacation reply,
// queued with the null sender, however many messages he sends.
func TestSieveFlow(t *testing.T) {
	e := newSmtpdEnv(t, "")
	file := filepath.Join(e.dir, "main.sieve")
	if err := os.WriteFile(file, []byte(flowSieve), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "sievectl", "put", "main", file, "--activate", "--config", e.config, "--account", smtpdUser); r.status != 0 {
		t.Fatalf("sievectl put: %d %s", r.status, r.stderr)
	}
	sfiles, saddr := e.listeners()
	e.start(sfiles, saddr)
	h, port, _ := net.SplitHostPort(saddr["smtp"])
	send := func(from, subject string) {
		t.Helper()
		out, status := swaks(t, "--server", h, "--port", port, "--from", from, "--to", smtpdUser,
			"--header", "Subject: "+subject, "--body", "Hello.")
		if status != 0 {
			t.Fatalf("swaks %q: status %d\n%s", subject, status, out)
		}
	}
	send("boss@elsewhere.example", "weekly report")
	send("boss@elsewhere.example", "are you there?")
	send("boss@elsewhere.example", "hello?")

	st := e.openStore()
	ctx := context.Background()
	acct, err := st.GetAccount(ctx, smtpdUser)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := st.GetMailbox(ctx, acct.ID, "Reports")
	if err != nil {
		t.Fatalf("the script's mailbox: %v", err)
	}
	msgs, err := st.ListMessages(ctx, acct.ID, store.MessageFilter{MailboxID: mb.ID})
	if err != nil || len(msgs) != 1 || !strings.Contains(strings.Join(msgs[0].Flags, " "), `\Flagged`) {
		t.Errorf("Reports: %+v, %v; want one flagged message", msgs, err)
	}
	if got := len(e.inbox(st)); got != 2 {
		t.Errorf("INBOX holds %d messages, want 2", got)
	}
	q, err := st.ListQueue(ctx, store.QueueFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || q[0].Sender != "" || q[0].Recipients[0].Address != "boss@elsewhere.example" {
		t.Fatalf("queue: %+v; want one vacation reply to boss@elsewhere.example from <>", q)
	}
	raw, err := st.ReadBlob(ctx, q[0].BlobID, 0, -1)
	if err != nil || !strings.Contains(string(raw), "Subject: Out of office") || !strings.Contains(string(raw), "Auto-Submitted: auto-replied") {
		t.Errorf("vacation reply: %v\n%s", err, raw)
	}
}
