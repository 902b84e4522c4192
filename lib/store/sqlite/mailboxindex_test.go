package sqlite

import (
	"context"
	"slices"
	"testing"

	"gannet/lib/store"
)

func TestMailboxIndex(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	f := newFixture(t, s, "idx")
	id := f.acct.ID
	a := f.add(t, newMsg(id, f.inbox.ID, "a@x", "a"))
	b := f.add(t, newMsg(id, f.inbox.ID, "b@x", "b"))
	c := f.add(t, newMsg(id, f.inbox.ID, "c@x", "c"))
	upd, err := s.UpdateFlags(ctx, id, []int64{b.ID}, store.FlagsAdd, []string{store.FlagSeen, "$Work"})
	if err != nil {
		t.Fatal(err)
	}
	// The listing agrees with ListMessages on what it holds.
	full, err := s.ListMessages(ctx, id, store.MessageFilter{MailboxID: f.inbox.ID})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := s.MailboxIndex(ctx, id, f.inbox.ID, nil)
	if err != nil || len(idx) != 3 || len(full) != 3 {
		t.Fatalf("MailboxIndex: %+v, %v (ListMessages %d)", idx, err, len(full))
	}
	for i, e := range idx {
		m := full[i]
		if e.ID != m.ID || e.UID != m.UID || e.ModSeq != m.ModSeq || !slices.Equal(e.Flags, m.Flags) {
			t.Errorf("entry %d: %+v, want %d %d %d %q", i, e, m.ID, m.UID, m.ModSeq, m.Flags)
		}
	}
	if want := []string{"$Work", store.FlagSeen}; !slices.Equal(idx[1].Flags, want) || idx[1].ModSeq != upd[0].ModSeq {
		t.Errorf("flagged entry %+v, want flags %q modseq %d", idx[1], want, upd[0].ModSeq)
	}
	// Restricted to UIDs (unknown ones left out); an empty list lists none.
	idx, err = s.MailboxIndex(ctx, id, f.inbox.ID, []uint32{c.UID, a.UID, 999})
	if err != nil || len(idx) != 2 || idx[0].ID != a.ID || idx[1].ID != c.ID {
		t.Errorf("MailboxIndex of UIDs: %+v, %v", idx, err)
	}
	if idx, err := s.MailboxIndex(ctx, id, f.inbox.ID, []uint32{}); err != nil || len(idx) != 0 {
		t.Errorf("MailboxIndex of no UIDs: %+v, %v", idx, err)
	}
	// Another account sees nothing of this mailbox.
	other := newFixture(t, s, "other")
	if idx, err := s.MailboxIndex(ctx, other.acct.ID, f.inbox.ID, nil); err != nil || len(idx) != 0 {
		t.Errorf("MailboxIndex of another account: %+v, %v", idx, err)
	}
}
