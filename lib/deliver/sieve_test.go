package deliver

import (
	"context"
	"slices"
	"strings"
	"testing"

	"gannet/lib/config"
	"gannet/lib/store"
)

const testScript = `require ["fileinto", "imap4flags", "vacation", "reject", "copy", "mailbox", "editheader", "envelope"];
if header :contains "subject" "archive" {
	fileinto :create "Archive/2026";
	keep;
} elsif header :contains "subject" "flagme" {
	addflag "\\Flagged";
	addheader "X-Sieved" "yes";
	keep;
} elsif header :contains "subject" "drop" {
	discard;
} elsif header :contains "subject" "refuse" {
	reject "no thanks";
} elsif header :contains "subject" "forward" {
	redirect :copy "friend@remote.test";
} elsif envelope :is "from" "boss@remote.test" {
	vacation :days 1 :subject "away" "I am away until Monday.";
}
`

func TestSieveFilter(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice := f.acct["alice"]
	if err := f.st.PutSieveScript(ctx, &store.SieveScript{AccountID: alice.ID, Name: "main", Content: testScript}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.ActivateSieveScript(ctx, alice.ID, "main"); err != nil {
		t.Fatal(err)
	}
	d := f.deliverer(config.Deliver{QuotaExceeded: "temporary"})
	enqueued := 0
	d.AddFilter(SieveFilter(SieveOptions{Store: f.st, Hostname: "mx.example.test", OnEnqueue: func() { enqueued++ }}))
	send := func(from, subject string) Result {
		t.Helper()
		return deliver(t, d, Request{Sender: from, Recipients: []string{"alice@example.test"}, Raw: testMessage(subject), AddReturnPath: true})[0]
	}

	for _, s := range []string{"archive this", "please flagme", "drop it", "forward it"} {
		if r := send("sender@remote.test", s); r.Err != nil {
			t.Errorf("%q: %v", s, r.Err)
		}
	}
	if r := send("sender@remote.test", "refuse me"); replyOf(r) != "550 5.7.1" || !strings.Contains(r.Err.Message, "no thanks") {
		t.Errorf("reject: %+v", r.Err)
	}
	// Vacation answers only mail addressed to the account (RFC 5230
	// section 4.5), once per :days per sender.
	boss := []byte("From: boss@remote.test\r\nTo: alice@example.test\r\nSubject: status?\r\nMessage-ID: <s@remote.test>\r\n\r\nWell?\r\n")
	for range 2 {
		if r := deliver(t, d, Request{Sender: "boss@remote.test", Recipients: []string{"alice@example.test"}, Raw: boss, AddReturnPath: true})[0]; r.Err != nil {
			t.Errorf("vacation: %v", r.Err)
		}
	}

	// INBOX: archive's keep, flagme, forward's :copy, two from the boss.
	inbox := f.list(t, "alice", "INBOX")
	if len(inbox) != 5 {
		t.Errorf("INBOX has %d messages, want 5", len(inbox))
	}
	if archive := f.list(t, "alice", "Archive/2026"); len(archive) != 1 {
		t.Errorf("Archive/2026 has %d messages, want 1", len(archive))
	}
	var flagged int
	for _, m := range inbox {
		if slices.Contains(m.Flags, store.FlagFlagged) {
			flagged++
			raw, err := f.st.ReadBlob(ctx, m.BlobID, 0, -1)
			if err != nil || !strings.Contains(string(raw), "X-Sieved: yes") {
				t.Errorf("flagged message without the added header: %q, %v", raw, err)
			}
		}
	}
	if flagged != 1 {
		t.Errorf("%d flagged messages, want 1", flagged)
	}

	// The queue: the redirect with the original sender, one vacation
	// reply (not two) with the null sender.
	q, err := f.st.ListQueue(ctx, store.QueueFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var redirects, replies int
	for _, e := range q {
		switch {
		case e.Sender == "sender@remote.test" && e.Recipients[0].Address == "friend@remote.test":
			redirects++
		case e.Sender == "" && e.Recipients[0].Address == "boss@remote.test":
			replies++
		default:
			t.Errorf("unexpected queue entry %+v", e)
		}
	}
	if redirects != 1 || replies != 1 || enqueued != 2 {
		t.Errorf("queue: %d redirects, %d vacation replies, %d wake-ups; want 1, 1, 2", redirects, replies, enqueued)
	}

	// Another account without a script: untouched.
	r := deliver(t, d, Request{Sender: "x@remote.test", Recipients: []string{"bob@example.test"}, Raw: testMessage("drop it")})[0]
	if r.Err != nil || len(f.list(t, "bob", "INBOX")) != 1 {
		t.Errorf("bob without a script: %v", r.Err)
	}
}

// TestSieveFilterInclude: the active script includes another of the
// account's scripts; changing the included one changes what happens to
// the next message (the compiled script is not kept past the change).
func TestSieveFilterInclude(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	bob := f.acct["bob"]
	put := func(name, content string) {
		t.Helper()
		if err := f.st.PutSieveScript(ctx, &store.SieveScript{AccountID: bob.ID, Name: name, Content: content}); err != nil {
			t.Fatal(err)
		}
	}
	put("main", `require "include"; include :personal "rules";`)
	put("rules", `require ["fileinto", "mailbox"]; fileinto :create "First";`)
	if err := f.st.ActivateSieveScript(ctx, bob.ID, "main"); err != nil {
		t.Fatal(err)
	}
	d := f.deliverer(config.Deliver{QuotaExceeded: "temporary"})
	d.AddFilter(SieveFilter(SieveOptions{Store: f.st}))
	for _, want := range []string{"First", "Second"} {
		if r := deliver(t, d, Request{Sender: "x@remote.test", Recipients: []string{"bob@example.test"}, Raw: testMessage("hi " + want)})[0]; r.Err != nil {
			t.Fatal(r.Err)
		}
		if got := f.list(t, "bob", want); len(got) != 1 {
			t.Errorf("%s holds %d messages, want 1", want, len(got))
		}
		put("rules", `require ["fileinto", "mailbox"]; fileinto :create "Second";`)
	}
}
