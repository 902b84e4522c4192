package sqlite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"gannet/lib/store"
)

func TestAddMessagesConcurrentUIDs(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	f := newFixture(t, s, "u")
	const workers, each = 20, 10
	var mu sync.Mutex
	var got []store.Message
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				out, err := s.AddMessages(ctx, []store.NewMessage{newMsg(f.acct.ID, f.inbox.ID, fmt.Sprintf("%d.%d@x", w, i), fmt.Sprintf("body %d %d", w, i))})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				got = append(got, out...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	list, err := s.ListMessages(ctx, f.acct.ID, store.MessageFilter{MailboxID: f.inbox.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != workers*each || len(got) != workers*each {
		t.Fatalf("stored %d, returned %d, want %d", len(list), len(got), workers*each)
	}
	for i, m := range list {
		if m.UID != uint32(i+1) {
			t.Fatalf("UID %d at position %d: UIDs not 1..n", m.UID, i)
		}
		if i > 0 && m.ModSeq <= list[i-1].ModSeq {
			t.Errorf("UID %d has modseq %d <= %d of the UID before: not monotonic", m.UID, m.ModSeq, list[i-1].ModSeq)
		}
	}
	mb, _ := s.GetMailboxByID(ctx, f.acct.ID, f.inbox.ID)
	hi, _ := s.AccountModSeq(ctx, f.acct.ID)
	if mb.UIDNext != workers*each+1 || mb.HighestModSeq != list[len(list)-1].ModSeq || hi != mb.HighestModSeq {
		t.Errorf("mailbox UIDNext %d HighestModSeq %d, account modseq %d; want %d, %d, same",
			mb.UIDNext, mb.HighestModSeq, hi, workers*each+1, list[len(list)-1].ModSeq)
	}
	st := s.Stats()
	if st.Messages != workers*each {
		t.Errorf("Stats.Messages = %d", st.Messages)
	}
	// Twenty goroutines: batches must have formed.
	if st.Batches >= workers*each {
		t.Errorf("%d batches for %d concurrent calls: no group commit", st.Batches, workers*each)
	}
	t.Logf("stats: %+v", st)
}

func TestAddMessagesFields(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	f := newFixture(t, s, "u")
	nm := newMsg(f.acct.ID, f.inbox.ID, "fields@x", "hello")
	nm.Flags = []string{"$Label", `\seen`, "$Label", store.FlagFlagged}
	nm.InternalDate = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	nm.Meta.Date = time.Date(2024, 5, 6, 7, 0, 0, 0, time.FixedZone("x", 3600))
	nm.Meta.HasAttachment = true
	out := f.add(t, nm)
	got, err := s.GetMessage(ctx, f.acct.ID, out.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantFlags := []string{"$Label", `\Flagged`, `\Seen`}
	if !slices.Equal(got.Flags, wantFlags) || !slices.Equal(out.Flags, wantFlags) {
		t.Errorf("flags stored %v, returned %v; want %v", got.Flags, out.Flags, wantFlags)
	}
	if !got.InternalDate.Equal(nm.InternalDate) || !got.Meta.Date.Equal(nm.Meta.Date) || got.SaveDate.IsZero() {
		t.Errorf("dates: internal %v date %v save %v", got.InternalDate, got.Meta.Date, got.SaveDate)
	}
	if got.Size != int64(len(nm.Raw)) || got.BlobID != blobID(nm.Raw) || got.BlobID != out.BlobID {
		t.Errorf("size %d blob %s", got.Size, got.BlobID)
	}
	if got.Meta.Subject != "test" || got.Meta.From != "a@example.org" || !slices.Equal(got.Meta.To, []string{"b@example.test"}) ||
		got.Meta.MessageID != "fields@x" || got.Meta.Preview != "hello" || !got.Meta.HasAttachment ||
		string(got.Meta.Structure) != "structure:fields@x" {
		t.Errorf("meta round trip: %+v", got.Meta)
	}
	if got.ID != out.ID || got.UID != out.UID || got.ModSeq != out.ModSeq || got.ThreadID != out.ThreadID {
		t.Errorf("stored %+v, returned %+v", got, out)
	}
	raw, err := s.ReadBlob(ctx, got.BlobID, 0, -1)
	if err != nil || string(raw) != string(nm.Raw) {
		t.Errorf("ReadBlob = %q, %v", raw, err)
	}

	bad := newMsg(f.acct.ID, f.inbox.ID, "bad@x", "x")
	for _, fl := range []string{`\Recent`, "two words", ""} {
		bad.Flags = []string{fl}
		if _, err := s.AddMessages(ctx, []store.NewMessage{bad}); err == nil {
			t.Errorf("flag %q accepted", fl)
		}
	}
	bad.Flags = nil
	bad.MailboxID = 9999
	if _, err := s.AddMessages(ctx, []store.NewMessage{bad}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown mailbox: err = %v, want ErrNotFound", err)
	}
	other := newFixture(t, s, "v")
	bad.MailboxID = other.inbox.ID
	if _, err := s.AddMessages(ctx, []store.NewMessage{bad}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another account's mailbox: err = %v, want ErrNotFound", err)
	}
}

func TestQuota(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	f := newFixture(t, s, "u")
	m1 := newMsg(f.acct.ID, f.inbox.ID, "1@x", "first")
	f.acct.QuotaBytes = int64(len(m1.Raw)) * 2
	f.acct.QuotaMessages = 3
	if err := s.UpdateAccount(ctx, f.acct); err != nil {
		t.Fatal(err)
	}
	f.add(t, m1)
	before, _ := s.AccountModSeq(ctx, f.acct.ID)
	blobsBefore := countRows(t, s, "blobs")

	// Two more messages exceed the byte quota: neither is stored.
	_, err := s.AddMessages(ctx, []store.NewMessage{newMsg(f.acct.ID, f.inbox.ID, "2@x", "second"), newMsg(f.acct.ID, f.inbox.ID, "3@x", "third")})
	if !errors.Is(err, store.ErrQuotaExceeded) {
		t.Fatalf("over quota: err = %v, want ErrQuotaExceeded", err)
	}
	if u, _ := s.AccountUsage(ctx, f.acct.ID); u.Messages != 1 || u.Bytes != int64(len(m1.Raw)) {
		t.Errorf("usage after refused add: %+v", u)
	}
	if after, _ := s.AccountModSeq(ctx, f.acct.ID); after != before {
		t.Errorf("modseq moved from %d to %d on a refused add", before, after)
	}
	if n := countRows(t, s, "blobs"); n != blobsBefore {
		t.Errorf("refused add left %d blobs, had %d: half-written", n, blobsBefore)
	}
	if mb, _ := s.GetMailboxByID(ctx, f.acct.ID, f.inbox.ID); mb.UIDNext != 2 {
		t.Errorf("UIDNEXT %d after refused add, want 2", mb.UIDNext)
	}

	// IgnoreQuota stores anyway (a DSN to the postmaster, say).
	over := newMsg(f.acct.ID, f.inbox.ID, "4@x", "bounce report, rather long")
	over.IgnoreQuota = true
	f.add(t, newMsg(f.acct.ID, f.inbox.ID, "2@x", "secnd"))
	f.add(t, over)
	if u, _ := s.AccountUsage(ctx, f.acct.ID); u.Messages != 3 {
		t.Errorf("usage %+v, want 3 messages", u)
	}
	// Copies count too; expunging frees space.
	list, _ := s.ListMessages(ctx, f.acct.ID, store.MessageFilter{MailboxID: f.inbox.ID})
	if _, err := s.CopyMessages(ctx, f.acct.ID, []int64{list[0].ID}, f.inbox.ID); !errors.Is(err, store.ErrQuotaExceeded) {
		t.Errorf("copy over quota: err = %v", err)
	}
	if err := s.ExpungeMessages(ctx, f.acct.ID, []int64{list[1].ID, list[2].ID}); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.AccountUsage(ctx, f.acct.ID); u.Messages != 1 || u.Bytes != int64(len(m1.Raw)) {
		t.Errorf("usage after expunge %+v", u)
	}
	// The message count quota.
	f.acct.QuotaBytes = 0
	s.UpdateAccount(ctx, f.acct)
	f.add(t, newMsg(f.acct.ID, f.inbox.ID, "5@x", "5"))
	f.add(t, newMsg(f.acct.ID, f.inbox.ID, "6@x", "6"))
	if _, err := s.AddMessages(ctx, []store.NewMessage{newMsg(f.acct.ID, f.inbox.ID, "7@x", "7")}); !errors.Is(err, store.ErrQuotaExceeded) {
		t.Errorf("message quota: err = %v, want ErrQuotaExceeded", err)
	}
}

func countRows(t testing.TB, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.rdb.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestThreading(t *testing.T) {
	s := openTest(t)
	f := newFixture(t, s, "u")
	id := f.acct.ID
	root := f.add(t, newMsg(id, f.inbox.ID, "root@x", "root"))
	if root.ThreadID != root.ID {
		t.Errorf("new thread id %d, want the message id %d", root.ThreadID, root.ID)
	}
	reply := f.add(t, newMsg(id, f.inbox.ID, "reply@x", "re", "root@x"))
	deep := f.add(t, newMsg(id, f.inbox.ID, "deep@x", "re re", "root@x", "reply@x"))
	other := f.add(t, newMsg(id, f.inbox.ID, "other@x", "unrelated"))
	if reply.ThreadID != root.ID || deep.ThreadID != root.ID {
		t.Errorf("replies in threads %d, %d; want %d", reply.ThreadID, deep.ThreadID, root.ID)
	}
	if other.ThreadID == root.ID || other.ThreadID != other.ID {
		t.Errorf("unrelated message in thread %d", other.ThreadID)
	}
	// A child arriving before its parent: the parent joins the child's thread
	// because the child's References name it.
	child := f.add(t, newMsg(id, f.inbox.ID, "child@x", "early", "late-parent@x"))
	parent := f.add(t, newMsg(id, f.inbox.ID, "late-parent@x", "late"))
	if parent.ThreadID != child.ThreadID {
		t.Errorf("late parent in thread %d, child in %d", parent.ThreadID, child.ThreadID)
	}
	// No Message-ID at all (malformed mail is stored as it is): a thread of
	// its own.
	bare := f.add(t, store.NewMessage{AccountID: id, MailboxID: f.inbox.ID, Raw: []byte("no headers")})
	if bare.ThreadID != bare.ID {
		t.Errorf("message without IDs in thread %d, want its own %d", bare.ThreadID, bare.ID)
	}
	// Threads are per account.
	g := newFixture(t, s, "v")
	elsewhere := g.add(t, newMsg(g.acct.ID, g.inbox.ID, "reply2@x", "re", "root@x"))
	if elsewhere.ThreadID == root.ThreadID {
		t.Error("thread shared across accounts")
	}
	// A copy stays in its thread.
	cp, err := s.CopyMessages(context.Background(), id, []int64{reply.ID}, f.inbox.ID)
	if err != nil || len(cp) != 1 || cp[0].ThreadID != root.ID {
		t.Errorf("copy = %+v, %v", cp, err)
	}
}

func TestUpdateFlags(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	f := newFixture(t, s, "u")
	id := f.acct.ID
	a := f.add(t, newMsg(id, f.inbox.ID, "a@x", "a"))
	b := f.add(t, newMsg(id, f.inbox.ID, "b@x", "b"))
	before, _ := s.AccountModSeq(ctx, id)

	steps := []struct {
		op    store.FlagOp
		flags []string
		want  []string
	}{
		{store.FlagsAdd, []string{store.FlagSeen, "$Work"}, []string{"$Work", `\Seen`}},
		{store.FlagsAdd, []string{store.FlagFlagged, "$Work"}, []string{"$Work", `\Flagged`, `\Seen`}},
		{store.FlagsRemove, []string{"$Work", store.FlagDraft}, []string{`\Flagged`, `\Seen`}},
		{store.FlagsReplace, []string{store.FlagDeleted, store.KeywordJunk}, []string{"$Junk", `\Deleted`}},
		{store.FlagsReplace, nil, []string{}},
	}
	for i, st := range steps {
		out, err := s.UpdateFlags(ctx, id, []int64{a.ID, b.ID, 12345}, st.op, st.flags)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if len(out) != 2 {
			t.Fatalf("step %d: %d results, want 2 (unknown ID left out)", i, len(out))
		}
		for _, m := range out {
			got, _ := s.GetMessage(ctx, id, m.ID)
			if !slices.Equal(m.Flags, st.want) || !slices.Equal(got.Flags, st.want) || got.ModSeq != m.ModSeq {
				t.Errorf("step %d: returned %v (modseq %d), stored %v (modseq %d), want %v", i, m.Flags, m.ModSeq, got.Flags, got.ModSeq, st.want)
			}
		}
	}
	after, _ := s.AccountModSeq(ctx, id)
	if after != before+10 {
		t.Errorf("modseq %d after 5 changes of 2 messages from %d", after, before)
	}
	// No change, no new modseq.
	out, err := s.UpdateFlags(ctx, id, []int64{a.ID}, store.FlagsRemove, []string{store.FlagSeen})
	if err != nil || len(out) != 1 {
		t.Fatal(err)
	}
	if again, _ := s.AccountModSeq(ctx, id); again != after {
		t.Errorf("no-op flag change moved modseq from %d to %d", after, again)
	}
	ch, _ := s.ChangesSince(ctx, id, before, 0)
	if len(ch) != 10 || ch[0].Op != store.OpUpdated || ch[0].ObjectID != a.ID || ch[0].UID != a.UID || ch[0].MailboxID != f.inbox.ID {
		t.Errorf("change log: %d entries, first %+v", len(ch), ch[0])
	}
	mb, _ := s.GetMailboxByID(ctx, id, f.inbox.ID)
	if mb.HighestModSeq != after {
		t.Errorf("mailbox HighestModSeq %d, want %d", mb.HighestModSeq, after)
	}
	if _, err := s.UpdateFlags(ctx, id, []int64{a.ID}, store.FlagsAdd, []string{`\Bogus`}); err == nil {
		t.Error("unknown system flag accepted")
	}
	// SEARCH-style filtering on the stored columns.
	s.UpdateFlags(ctx, id, []int64{b.ID}, store.FlagsAdd, []string{store.FlagSeen, "$Work"})
	var unseen, work int
	s.rdb.QueryRow("SELECT count(*) FROM messages WHERE mailbox_id = ? AND sysflags & 1 = 0", f.inbox.ID).Scan(&unseen)
	s.rdb.QueryRow("SELECT count(*) FROM messages WHERE mailbox_id = ? AND instr(keywords, ' $Work ') > 0", f.inbox.ID).Scan(&work)
	if unseen != 1 || work != 1 {
		t.Errorf("unseen %d, $Work %d; want 1, 1", unseen, work)
	}
}

func TestMoveCopyExpunge(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	f := newFixture(t, s, "u")
	id := f.acct.ID
	archive, _ := s.GetMailbox(ctx, id, "Archive")
	a := f.add(t, newMsg(id, f.inbox.ID, "a@x", "a"))
	b := f.add(t, newMsg(id, f.inbox.ID, "b@x", "b"))
	f.add(t, newMsg(id, archive.ID, "c@x", "c")) // Archive UID 1

	before, _ := s.AccountModSeq(ctx, id)
	moved, err := s.MoveMessages(ctx, id, []int64{a.ID}, archive.ID)
	if err != nil || len(moved) != 1 {
		t.Fatalf("MoveMessages = %+v, %v", moved, err)
	}
	mv := moved[0]
	if mv.ID != a.ID || mv.MailboxID != archive.ID || mv.UID != 2 || mv.ModSeq != before+1 {
		t.Errorf("moved %+v: want same ID, Archive, UID 2, modseq %d", mv, before+1)
	}
	ch, _ := s.ChangesSince(ctx, id, before, 0)
	want := []store.Change{
		{AccountID: id, ModSeq: before + 1, Kind: store.ChangeMessage, ObjectID: a.ID, MailboxID: f.inbox.ID, UID: a.UID, Op: store.OpDestroyed},
		{AccountID: id, ModSeq: before + 1, Kind: store.ChangeMessage, ObjectID: a.ID, MailboxID: archive.ID, UID: 2, Op: store.OpCreated},
	}
	if len(ch) != 2 {
		t.Fatalf("move logged %+v", ch)
	}
	for i := range want {
		ch[i].Time = time.Time{}
		if ch[i] != want[i] {
			t.Errorf("change %d = %+v, want %+v", i, ch[i], want[i])
		}
	}
	for _, mbID := range []int64{f.inbox.ID, archive.ID} {
		if mb, _ := s.GetMailboxByID(ctx, id, mbID); mb.HighestModSeq != before+1 {
			t.Errorf("mailbox %s HighestModSeq %d, want %d", mb.Name, mb.HighestModSeq, before+1)
		}
	}
	if _, err := s.MoveMessages(ctx, id, []int64{b.ID}, 9999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("move to unknown mailbox: err = %v", err)
	}

	// Copy: a new message sharing the blob.
	cp, err := s.CopyMessages(ctx, id, []int64{b.ID}, archive.ID)
	if err != nil || len(cp) != 1 {
		t.Fatalf("CopyMessages = %+v, %v", cp, err)
	}
	if cp[0].ID == b.ID || cp[0].UID != 3 || cp[0].BlobID != b.BlobID || cp[0].MailboxID != archive.ID {
		t.Errorf("copy %+v", cp[0])
	}
	var refs int
	s.rdb.QueryRow("SELECT refs FROM blobs WHERE id = ?", b.BlobID).Scan(&refs)
	if refs != 2 {
		t.Errorf("blob refs %d after copy, want 2", refs)
	}
	if u, _ := s.AccountUsage(ctx, id); u.Messages != 4 {
		t.Errorf("usage %+v after copy, want 4 messages", u)
	}

	// Expunge the original: the blob stays for the copy; expunge the copy:
	// the blob goes.
	m0, _ := s.AccountModSeq(ctx, id)
	if err := s.ExpungeMessages(ctx, id, []int64{b.ID, 777}); err != nil {
		t.Fatal(err)
	}
	if data, err := s.ReadBlob(ctx, b.BlobID, 0, -1); err != nil || len(data) == 0 {
		t.Errorf("blob of the copy gone: %v", err)
	}
	if err := s.ExpungeMessages(ctx, id, []int64{cp[0].ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadBlob(ctx, b.BlobID, 0, -1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("blob after last expunge: err = %v, want ErrNotFound", err)
	}
	if n := countRows(t, s, "blob_chunks WHERE blob_id = '"+b.BlobID+"'"); n != 0 {
		t.Errorf("%d chunks left", n)
	}
	ch, _ = s.ChangesSince(ctx, id, m0, 0)
	if len(ch) != 2 || ch[0].Op != store.OpDestroyed || ch[0].ObjectID != b.ID || ch[0].UID != b.UID ||
		ch[1].ObjectID != cp[0].ID || ch[1].MailboxID != archive.ID {
		t.Errorf("expunge logged %+v", ch)
	}
	if _, err := s.GetMessage(ctx, id, b.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expunged message: err = %v", err)
	}
	if l, _ := s.ListMessages(ctx, id, store.MessageFilter{MailboxID: archive.ID}); len(l) != 2 || l[0].UID != 1 || l[1].UID != 2 {
		t.Errorf("Archive holds %+v", l)
	}
	// Filters.
	if l, _ := s.ListMessages(ctx, id, store.MessageFilter{UIDs: []uint32{2}, MailboxID: archive.ID}); len(l) != 1 || l[0].ID != a.ID {
		t.Errorf("UID filter: %+v", l)
	}
	if l, _ := s.ListMessages(ctx, id, store.MessageFilter{UIDs: []uint32{}}); len(l) != 0 {
		t.Errorf("empty UID filter: %+v", l)
	}
	if l, _ := s.ListMessages(ctx, id, store.MessageFilter{ChangedSince: before}); len(l) != 1 || l[0].ID != a.ID {
		t.Errorf("ChangedSince filter: %+v", l)
	}
	if hi, _ := s.AccountModSeq(ctx, id); hi == m0 {
		t.Error("expunge did not bump modseq")
	}
	if all, _ := s.ChangesSince(ctx, id, 0, 3); len(all) != 3 {
		t.Errorf("ChangesSince limit 3 gave %d", len(all))
	}
}

func TestChangesOtherAccount(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	f := newFixture(t, s, "u")
	if _, err := s.AccountModSeq(ctx, 999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AccountModSeq unknown: err = %v", err)
	}
	a := f.add(t, newMsg(f.acct.ID, f.inbox.ID, "a@x", "a"))
	g := newFixture(t, s, "v")
	if out, err := s.UpdateFlags(ctx, g.acct.ID, []int64{a.ID}, store.FlagsAdd, []string{store.FlagSeen}); err != nil || len(out) != 0 {
		t.Errorf("flags on another account's message: %+v, %v", out, err)
	}
	if err := s.ExpungeMessages(ctx, g.acct.ID, []int64{a.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMessage(ctx, f.acct.ID, a.ID); err != nil {
		t.Errorf("another account expunged the message: %v", err)
	}
	if _, err := s.MoveMessages(ctx, f.acct.ID, []int64{a.ID}, g.inbox.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("move into another account's mailbox: err = %v", err)
	}
}

func TestOnChange(t *testing.T) {
	type ev struct {
		acct   int64
		modseq uint64
	}
	var mu sync.Mutex
	var got []ev
	s := openTest(t, func(o *Options) {
		o.OnChange = func(a int64, m uint64) { mu.Lock(); got = append(got, ev{a, m}); mu.Unlock() }
	})
	f := newFixture(t, s, "u")
	mu.Lock()
	got = nil
	mu.Unlock()
	m := f.add(t, newMsg(f.acct.ID, f.inbox.ID, "a@x", "a"))
	// A refused call announces nothing.
	bad := newMsg(f.acct.ID, 9999, "b@x", "b")
	s.AddMessages(context.Background(), []store.NewMessage{bad})
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != (ev{f.acct.ID, m.ModSeq}) {
		t.Errorf("OnChange calls %+v, want one for account %d modseq %d", got, f.acct.ID, m.ModSeq)
	}
}

// A message with a delivery key seen before for the account is not stored
// again, in the same batch or a later one; another account's key is its
// own; pruned keys are forgotten.
func TestDeliveryKey(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	a, b := newFixture(t, s, "keya"), newFixture(t, s, "keyb")
	m := newMsg(a.acct.ID, a.inbox.ID, "k1@x", "body")
	m.DeliveryKey = "queue/1"
	out, err := s.AddMessages(ctx, []store.NewMessage{m, m})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].ID == 0 || out[1].ID != 0 {
		t.Fatalf("same key twice in one batch: IDs %d, %d; want one stored, one 0", out[0].ID, out[1].ID)
	}
	out, err = s.AddMessages(ctx, []store.NewMessage{m})
	if err != nil || out[0].ID != 0 {
		t.Fatalf("key seen before: ID %d, err %v; want 0, nil", out[0].ID, err)
	}
	mb := newMsg(b.acct.ID, b.inbox.ID, "k1@x", "body")
	mb.DeliveryKey = "queue/1"
	if out, err := s.AddMessages(ctx, []store.NewMessage{mb}); err != nil || out[0].ID == 0 {
		t.Fatalf("the other account's first delivery: ID %d, err %v", out[0].ID, err)
	}
	list, err := s.ListMessages(ctx, a.acct.ID, store.MessageFilter{MailboxID: a.inbox.ID})
	if err != nil || len(list) != 1 {
		t.Fatalf("account a holds %d messages (err %v), want 1", len(list), err)
	}
	n, err := s.PruneDeliveryKeys(ctx, time.Now().Add(time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("PruneDeliveryKeys = %d, %v; want 2", n, err)
	}
	if out, err := s.AddMessages(ctx, []store.NewMessage{m}); err != nil || out[0].ID == 0 {
		t.Fatalf("after pruning the key is new again: ID %d, err %v", out[0].ID, err)
	}
}
