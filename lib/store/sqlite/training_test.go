package sqlite

import (
	"context"
	"errors"
	"testing"

	"gannet/lib/store"
)

func TestTrainingEvents(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	acct := sqlAccount(t, s, "train@example.org")
	evs := []store.TrainingEvent{
		{AccountID: acct, MessageID: 7, BlobID: "aa", Spam: true, Source: "imap-move"},
		{AccountID: acct, MessageID: 8, BlobID: "bb", Spam: false, Source: "imap-store"},
	}
	if err := s.AddTrainingEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if evs[0].ID == 0 || evs[1].ID <= evs[0].ID || evs[0].Time.IsZero() {
		t.Errorf("IDs and times not set: %+v", evs)
	}
	got, err := s.ListTrainingEvents(ctx, 0, 10)
	if err != nil || len(got) != 2 || got[0] != evs[0] || got[1] != evs[1] {
		t.Fatalf("ListTrainingEvents: %+v, %v; want %+v", got, err, evs)
	}
	if got, err := s.ListTrainingEvents(ctx, evs[0].ID, 10); err != nil || len(got) != 1 || got[0].MessageID != 8 {
		t.Errorf("ListTrainingEvents after the first: %+v, %v", got, err)
	}
	// An unknown account is refused; a deleted account takes its events.
	err = s.AddTrainingEvents(ctx, []store.TrainingEvent{{AccountID: acct + 100, BlobID: "cc", Source: "x"}})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("event of unknown account: %v", err)
	}
	if err := s.DeleteAccount(ctx, "train@example.org"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ListTrainingEvents(ctx, 0, 10); err != nil || len(got) != 0 {
		t.Errorf("events after DeleteAccount: %+v, %v", got, err)
	}
}
