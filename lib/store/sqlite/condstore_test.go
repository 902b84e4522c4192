package sqlite

import (
	"context"
	"slices"
	"testing"

	"gannet/lib/store"
)

// TestUpdateFlagsIf checks the conditional flag update of RFC 7162
// section 3.1.3: messages changed after unchangedSince are left alone
// and listed, the others updated and told apart from the no-ops.
func TestUpdateFlagsIf(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	f := newFixture(t, s, "c")
	a := f.add(t, newMsg(f.acct.ID, f.inbox.ID, "a@x", "a"))
	b := f.add(t, newMsg(f.acct.ID, f.inbox.ID, "b@x", "b"))
	c := f.add(t, newMsg(f.acct.ID, f.inbox.ID, "c@x", "c"))
	if _, err := s.UpdateFlags(ctx, f.acct.ID, []int64{c.ID}, store.FlagsAdd, []string{store.FlagSeen}); err != nil {
		t.Fatal(err)
	}
	// b was stored after a: with a's modseq as the bound, b fails the test.
	u, err := s.UpdateFlagsIf(ctx, f.acct.ID, []int64{a.ID, b.ID, 999}, store.FlagsAdd, []string{store.FlagFlagged}, a.ModSeq)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(u.Changed, []int64{a.ID}) || !slices.Equal(u.Modified, []int64{b.ID}) || len(u.Messages) != 2 {
		t.Fatalf("update: %+v", u)
	}
	if m := u.Messages[0]; m.ModSeq <= c.ModSeq || !slices.Contains(m.Flags, store.FlagFlagged) {
		t.Errorf("changed message: %+v", m)
	}
	if m, _ := s.GetMessage(ctx, f.acct.ID, b.ID); m.ModSeq != b.ModSeq || len(m.Flags) != 0 {
		t.Errorf("modified message was changed: %+v", m)
	}
	// A no-op passes the test but changes nothing.
	hi, _ := s.AccountModSeq(ctx, f.acct.ID)
	u, err = s.UpdateFlagsIf(ctx, f.acct.ID, []int64{c.ID}, store.FlagsAdd, []string{store.FlagSeen}, hi)
	if err != nil || len(u.Changed) != 0 || len(u.Modified) != 0 || len(u.Messages) != 1 {
		t.Errorf("no-op: %v %+v", err, u)
	}
	if hi2, _ := s.AccountModSeq(ctx, f.acct.ID); hi2 != hi {
		t.Errorf("a no-op bumped the modseq from %d to %d", hi, hi2)
	}
	mb, _ := s.GetMailboxByID(ctx, f.acct.ID, f.inbox.ID)
	if mb.HighestModSeq != hi {
		t.Errorf("mailbox HIGHESTMODSEQ %d, account %d", mb.HighestModSeq, hi)
	}
}
