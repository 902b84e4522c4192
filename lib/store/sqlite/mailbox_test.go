package sqlite

import (
	"context"
	"errors"
	"slices"
	"testing"

	"gannet/lib/store"
)

// names lists the account's mailbox names.
func names(t *testing.T, s *Store, accountID int64) []string {
	t.Helper()
	mbs, err := s.ListMailboxes(context.Background(), accountID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range mbs {
		out = append(out, m.Name)
	}
	return out
}

func TestMailboxCRUD(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	f := newFixture(t, s, "u")
	id := f.acct.ID
	before, _ := s.AccountModSeq(ctx, id)

	m := &store.Mailbox{AccountID: id, Name: "Work", Subscribed: true}
	if err := s.CreateMailbox(ctx, m); err != nil {
		t.Fatal(err)
	}
	if m.ID == 0 || m.UIDValidity == 0 || m.UIDNext != 1 || m.HighestModSeq != before+1 {
		t.Errorf("created %+v, want ID, UIDValidity, UIDNext 1, HighestModSeq %d", m, before+1)
	}
	if err := s.CreateMailbox(ctx, &store.Mailbox{AccountID: id, Name: "Work"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate mailbox: err = %v, want ErrExists", err)
	}
	if err := s.CreateMailbox(ctx, &store.Mailbox{AccountID: id, Name: "inbox"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("inbox in lower case: err = %v, want ErrExists (INBOX is case-insensitive)", err)
	}
	for _, bad := range []string{"", "/a", "a/", "a//b", "a\x01b"} {
		if err := s.CreateMailbox(ctx, &store.Mailbox{AccountID: id, Name: bad}); err == nil {
			t.Errorf("mailbox name %q accepted", bad)
		}
	}
	if err := s.CreateMailbox(ctx, &store.Mailbox{AccountID: 999, Name: "X"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("mailbox of unknown account: err = %v, want ErrNotFound", err)
	}
	if got, err := s.GetMailbox(ctx, id, "inbox"); err != nil || got.ID != f.inbox.ID {
		t.Errorf("GetMailbox(inbox) = %+v, %v", got, err)
	}
	if got, err := s.GetMailboxByID(ctx, id, m.ID); err != nil || got.Name != "Work" || got.UIDValidity != m.UIDValidity {
		t.Errorf("GetMailboxByID = %+v, %v", got, err)
	}
	other := newFixture(t, s, "v")
	if _, err := s.GetMailboxByID(ctx, other.acct.ID, m.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another account's mailbox: err = %v, want ErrNotFound", err)
	}

	if err := s.SetMailboxSubscribed(ctx, id, m.ID, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetMailboxByID(ctx, id, m.ID); got.Subscribed {
		t.Error("still subscribed")
	}

	// Delete and create again: a new UIDVALIDITY (RFC 9051 section 2.3.1.1).
	if err := s.DeleteMailbox(ctx, id, m.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMailbox(ctx, id, "Work"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted mailbox: err = %v", err)
	}
	m2 := &store.Mailbox{AccountID: id, Name: "Work"}
	if err := s.CreateMailbox(ctx, m2); err != nil {
		t.Fatal(err)
	}
	if m2.UIDValidity == m.UIDValidity || m2.ID == m.ID {
		t.Errorf("recreated mailbox reuses UIDVALIDITY %d / ID %d", m2.UIDValidity, m2.ID)
	}
	if err := s.DeleteMailbox(ctx, id, f.inbox.ID); err == nil {
		t.Error("INBOX deleted")
	}

	ch, err := s.ChangesSince(ctx, id, before, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, c := range ch {
		if c.Kind != store.ChangeMailbox {
			t.Errorf("change %+v: want a mailbox change", c)
		}
		ops = append(ops, string(c.Op))
	}
	if want := []string{"created", "updated", "destroyed", "created"}; !slices.Equal(ops, want) {
		t.Errorf("change log ops %v, want %v", ops, want)
	}
}

func TestRenameMailbox(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	f := newFixture(t, s, "u")
	id := f.acct.ID
	ids := map[string]int64{}
	for _, n := range []string{"a", "a/b", "a/b/c", "ab", "x"} {
		m := &store.Mailbox{AccountID: id, Name: n}
		if err := s.CreateMailbox(ctx, m); err != nil {
			t.Fatal(err)
		}
		ids[n] = m.ID
	}
	msg := f.add(t, newMsg(id, ids["a/b"], "m@x", "in a/b"))

	if err := s.RenameMailbox(ctx, id, ids["a"], "x"); !errors.Is(err, store.ErrExists) {
		t.Errorf("rename onto existing: err = %v, want ErrExists", err)
	}
	if err := s.RenameMailbox(ctx, id, ids["a"], "a/b/z"); err == nil {
		t.Error("rename under itself accepted")
	}
	before, _ := s.AccountModSeq(ctx, id)
	if err := s.RenameMailbox(ctx, id, ids["a"], "n/m"); err != nil {
		t.Fatal(err)
	}
	got := names(t, s, id)
	want := []string{"Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash", "ab", "n/m", "n/m/b", "n/m/b/c", "x"}
	if !slices.Equal(got, want) {
		t.Errorf("after rename: %v, want %v", got, want)
	}
	mb, err := s.GetMailbox(ctx, id, "n/m/b")
	if err != nil || mb.ID != ids["a/b"] {
		t.Errorf("child keeps its ID: %+v, %v", mb, err)
	}
	if m, err := s.GetMessage(ctx, id, msg.ID); err != nil || m.MailboxID != ids["a/b"] || m.UID != msg.UID {
		t.Errorf("message after rename: %+v, %v", m, err)
	}
	ch, _ := s.ChangesSince(ctx, id, before, 0)
	if len(ch) != 3 {
		t.Errorf("rename logged %d changes, want 3 (the mailbox and two children)", len(ch))
	}
	if err := s.RenameMailbox(ctx, id, 9999, "q"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rename unknown: err = %v", err)
	}

	// Renaming INBOX moves its messages into a new mailbox.
	in := f.add(t, newMsg(id, f.inbox.ID, "inbox@x", "in inbox"))
	if err := s.RenameMailbox(ctx, id, f.inbox.ID, "Old"); err != nil {
		t.Fatal(err)
	}
	old, err := s.GetMailbox(ctx, id, "Old")
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := s.GetMessage(ctx, id, in.ID); m == nil || m.MailboxID != old.ID || m.UID != 1 {
		t.Errorf("INBOX message after rename: %+v", m)
	}
	if st, _ := s.MailboxStatus(ctx, id, f.inbox.ID); st.Messages != 0 {
		t.Errorf("INBOX still holds %d messages", st.Messages)
	}

	// A mailbox with children cannot be deleted; its messages go with it.
	if err := s.DeleteMailbox(ctx, id, ids["a/b"]); !errors.Is(err, store.ErrExists) {
		t.Errorf("delete with children: err = %v, want ErrExists", err)
	}
	if err := s.DeleteMailbox(ctx, id, ids["a/b/c"]); err != nil {
		t.Fatal(err)
	}
	before, _ = s.AccountModSeq(ctx, id)
	if err := s.DeleteMailbox(ctx, id, ids["a/b"]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMessage(ctx, id, msg.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("message outlived its mailbox: %v", err)
	}
	ch, _ = s.ChangesSince(ctx, id, before, 0)
	if len(ch) != 2 || ch[0].Kind != store.ChangeMessage || ch[0].Op != store.OpDestroyed || ch[0].ObjectID != msg.ID ||
		ch[1].Kind != store.ChangeMailbox || ch[1].Op != store.OpDestroyed {
		t.Errorf("delete logged %+v", ch)
	}
	if u, _ := s.AccountUsage(ctx, id); u.Messages != 1 {
		t.Errorf("usage after delete: %+v, want 1 message", u)
	}
}

func TestMailboxStatus(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	f := newFixture(t, s, "u")
	a := newMsg(f.acct.ID, f.inbox.ID, "a@x", "one")
	a.Flags = []string{store.FlagSeen}
	b := newMsg(f.acct.ID, f.inbox.ID, "b@x", "two")
	b.Flags = []string{store.FlagDeleted}
	c := newMsg(f.acct.ID, f.inbox.ID, "c@x", "three")
	if _, err := s.AddMessages(ctx, []store.NewMessage{a, b, c}); err != nil {
		t.Fatal(err)
	}
	st, err := s.MailboxStatus(ctx, f.acct.ID, f.inbox.ID)
	want := store.MailboxStatus{Messages: 3, Unseen: 2, Deleted: 1, Size: int64(len(a.Raw) + len(b.Raw) + len(c.Raw))}
	if err != nil || st != want {
		t.Errorf("MailboxStatus = %+v, %v; want %+v", st, err, want)
	}
	if _, err := s.MailboxStatus(ctx, f.acct.ID, 999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("status of unknown mailbox: err = %v", err)
	}
}
