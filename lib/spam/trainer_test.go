package spam

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"gannet/lib/config"
	"gannet/lib/message"
	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

// Training events queued by imapd end up in the account's database, each
// applied once even with several trainers at work, and the queue empties.
func TestApplyTrainingEvents(t *testing.T) {
	st, acct, inbox := trainerAccount(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 5))
	var evs []store.TrainingEvent
	for i := range 30 {
		spam := i%2 == 0
		m := corpusMessage(t, r, spam, i)
		got := storeMessage(t, st, inbox, m.Raw)
		evs = append(evs, store.TrainingEvent{AccountID: acct.ID, MessageID: got.ID,
			BlobID: got.BlobID, Spam: spam, Source: "imap-move"})
	}
	// An event whose message is gone is dropped.
	evs = append(evs, store.TrainingEvent{AccountID: acct.ID, MessageID: 999, BlobID: "00ff", Spam: true, Source: "imap-move"})
	if err := st.AddTrainingEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	d := Deps{Config: config.Default(), Store: st}
	var wg sync.WaitGroup
	var mu sync.Mutex
	applied := 0
	for w := range 3 {
		wg.Go(func() {
			n, err := ApplyTrainingEvents(ctx, d, fmt.Sprintf("owner-%d", w))
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			applied += n
			mu.Unlock()
		})
	}
	wg.Wait()
	// A trainer that found the queue leased to another comes back later.
	n, err := ApplyTrainingEvents(ctx, d, "owner-late")
	if err != nil {
		t.Fatal(err)
	}
	applied += n
	if applied != len(evs) {
		t.Errorf("applied %d events, want %d", applied, len(evs))
	}
	tot, err := st.BayesTotals(ctx, acct.ID)
	if err != nil || tot.Spam != 15 || tot.Ham != 15 {
		t.Errorf("account totals %+v, %v; want 15 spam, 15 ham", tot, err)
	}
	if left, err := st.ListTrainingEvents(ctx, 0, 100); err != nil || len(left) != 0 {
		t.Errorf("events left: %d, %v", len(left), err)
	}
}

// A lease held by a process that died passes to another once it runs out.
func TestTrainingLease(t *testing.T) {
	st, acct, _ := trainerAccount(t)
	ctx := context.Background()
	if err := st.AddTrainingEvents(ctx, []store.TrainingEvent{{AccountID: acct.ID, BlobID: "aa", Source: "x"}}); err != nil {
		t.Fatal(err)
	}
	if evs, err := st.ClaimTrainingEvents(ctx, "dead", 10, 50*time.Millisecond); err != nil || len(evs) != 1 {
		t.Fatalf("first claim: %v, %v", evs, err)
	}
	if evs, err := st.ClaimTrainingEvents(ctx, "other", 10, time.Minute); err != nil || len(evs) != 0 {
		t.Fatalf("claim under a live lease: %v, %v", evs, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var evs []store.TrainingEvent
	for len(evs) == 0 && time.Now().Before(deadline) {
		var err error
		evs, err = st.ClaimTrainingEvents(ctx, "other", 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(evs) != 1 {
		t.Fatal("the lease never ran out")
	}
	if err := st.FinishTrainingEvents(ctx, "dead", evs[0].ID); err == nil {
		t.Error("the dead owner finished events it lost")
	}
	if err := st.FinishTrainingEvents(ctx, "other", evs[0].ID); err != nil {
		t.Error(err)
	}
}

// RunTrainer applies events until its context ends, then returns nil.
func TestRunTrainer(t *testing.T) {
	st, acct, inbox := trainerAccount(t)
	c := config.Default()
	c.Spam.Bayes.TrainInterval.Duration = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunTrainer(ctx, Deps{Config: c, Store: st}) }()
	got := storeMessage(t, st, inbox, []byte("From: a@b.example\r\nSubject: win\r\n\r\nwin a prize now\r\n"))
	if err := st.AddTrainingEvents(ctx, []store.TrainingEvent{{AccountID: acct.ID, MessageID: got.ID, BlobID: got.BlobID, Spam: true, Source: "imap-move"}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		tot, err := st.BayesTotals(ctx, acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		if tot.Spam == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the trainer did not apply the event")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunTrainer returned %v", err)
	}
}

// TestTrainingEventOrder: a message moved into Junk and out again, and
// another moved into Junk twice, in one batch: the last verdict wins and a
// message counts once.
func TestTrainingEventOrder(t *testing.T) {
	st, acct, inbox := trainerAccount(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 7))
	var stored []store.Message
	for i := range 2 {
		m := corpusMessage(t, r, true, i)
		got := storeMessage(t, st, inbox, m.Raw)
		stored = append(stored, got)
	}
	ev := func(m store.Message, spam bool) store.TrainingEvent {
		return store.TrainingEvent{AccountID: acct.ID, MessageID: m.ID, BlobID: m.BlobID, Spam: spam, Source: "imap-move"}
	}
	evs := []store.TrainingEvent{ev(stored[0], true), ev(stored[1], true), ev(stored[0], false), ev(stored[1], true)}
	if err := st.AddTrainingEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if n, err := ApplyTrainingEvents(ctx, Deps{Config: config.Default(), Store: st}, "owner"); err != nil || n != len(evs) {
		t.Fatalf("applied %d, %v", n, err)
	}
	tot, err := st.BayesTotals(ctx, acct.ID)
	if err != nil || tot.Spam != 1 || tot.Ham != 1 {
		t.Errorf("account totals %+v, %v; want 1 spam (the second message, once) and 1 ham (the first, moved back)", tot, err)
	}
}

// trainerAccount opens a store with the account user@example.org and
// returns it with the account and its INBOX.
func trainerAccount(t *testing.T) (*sqlite.Store, *store.Account, *store.Mailbox) {
	t.Helper()
	st := openBayesStore(t)
	ctx := context.Background()
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
	return st, acct, inbox
}

// storeMessage stores raw in mailbox mb.
func storeMessage(t *testing.T, st *sqlite.Store, mb *store.Mailbox, raw []byte) store.Message {
	t.Helper()
	got, err := st.AddMessages(context.Background(), []store.NewMessage{{AccountID: mb.AccountID, MailboxID: mb.ID,
		Raw: raw, Meta: message.Parse(raw).Meta()}})
	if err != nil {
		t.Fatal(err)
	}
	return got[0]
}
