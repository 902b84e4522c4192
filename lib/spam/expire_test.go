package spam

import (
	"context"
	"testing"
	"time"

	"gannet/lib/config"
	"gannet/lib/message"
	"gannet/lib/store"
)

// RunTrainer expires tokens on its first round, and not again the same day.
func TestRunTrainerExpires(t *testing.T) {
	st := openBayesStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Five tokens in the global database, capped at two.
	if _, err := st.LearnMessage(ctx, 0, 1, []uint64{1, 2, 3, 4, 5}, true, false); err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	c.Spam.Bayes.TrainInterval.Duration = 10 * time.Millisecond
	c.Spam.Bayes.MaxTokens = 2
	done := make(chan error, 1)
	go func() { done <- RunTrainer(ctx, Deps{Config: c, Store: st}) }()
	count := func() int {
		t.Helper()
		n := 0
		if err := st.ScanTokens(ctx, 0, 0, func(uint64, store.TokenCount) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// waitFor polls cond for up to ten seconds.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("expiry to the cap", func() bool { return count() == 2 })

	// Training events applied in two later rounds: the round that applied
	// the first has finished when the second is applied, and neither
	// expired again.
	if err := st.CreateDomain(ctx, &store.Domain{Name: "example.org"}); err != nil {
		t.Fatal(err)
	}
	acct := &store.Account{Address: "user@example.org"}
	if err := st.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	inbox, err := st.GetMailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.LearnMessage(ctx, 0, 2, []uint64{6, 7, 8}, true, false); err != nil {
		t.Fatal(err)
	}
	for i, raw := range []string{"Subject: one\r\n\r\nwin a prize now\r\n", "Subject: two\r\n\r\ncheap pills\r\n"} {
		got, err := st.AddMessages(ctx, []store.NewMessage{{AccountID: acct.ID, MailboxID: inbox.ID,
			Raw: []byte(raw), Meta: message.Parse([]byte(raw)).Meta()}})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.AddTrainingEvents(ctx, []store.TrainingEvent{{AccountID: acct.ID, MessageID: got[0].ID,
			BlobID: got[0].BlobID, Spam: true, Source: "imap-move"}}); err != nil {
			t.Fatal(err)
		}
		waitFor("training event", func() bool {
			tot, err := st.BayesTotals(ctx, acct.ID)
			return err == nil && int(tot.Spam) == i+1
		})
	}
	if n := count(); n != 5 {
		t.Errorf("%d global tokens, want 5: the trainer expired twice in a day", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunTrainer returned %v", err)
	}
}
