package sqlite

import (
	"context"
	"slices"
	"testing"

	"gannet/lib/store"
)

// TestTextIndex covers the full-text index: pending after delivery,
// substring search per field and mailbox, and index rows gone with
// expunge, mailbox deletion and messages expunged before indexing.
func TestTextIndex(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	f := newFixture(t, s, "fts")
	other := &store.Mailbox{AccountID: f.acct.ID, Name: "Other"}
	if err := s.CreateMailbox(ctx, other); err != nil {
		t.Fatal(err)
	}
	m1 := f.add(t, newMsg(f.acct.ID, f.inbox.ID, "1@x", "the quick brown fox"))
	m2 := f.add(t, newMsg(f.acct.ID, f.inbox.ID, "2@x", "Grüße aus München"))
	m3 := f.add(t, newMsg(f.acct.ID, other.ID, "3@x", "another FOX elsewhere"))
	m4 := f.add(t, newMsg(f.acct.ID, f.inbox.ID, "4@x", "gone before indexing"))

	pend, err := s.IndexPending(ctx, 10)
	if err != nil || len(pend) != 4 || pend[0].ID != m1.ID {
		t.Fatalf("IndexPending = %d messages, %v", len(pend), err)
	}
	res, err := s.SearchText(ctx, f.acct.ID, f.inbox.ID, "fox", store.TextBody)
	if err != nil || len(res.Matches) != 0 || !slices.Equal(res.Unindexed, []int64{m1.ID, m2.ID, m4.ID}) {
		t.Fatalf("SearchText before indexing = %+v, %v", res, err)
	}
	if err := s.ExpungeMessages(ctx, f.acct.ID, []int64{m4.ID}); err != nil {
		t.Fatal(err)
	}
	var entries []store.IndexEntry
	for _, m := range pend {
		entries = append(entries, store.IndexEntry{MessageID: m.ID, Header: "Subject: test " + m.Meta.MessageID, Body: m.Meta.Preview})
	}
	if err := s.IndexMessages(ctx, entries); err != nil {
		t.Fatal(err)
	}
	// Indexing twice must not duplicate rows.
	if err := s.IndexMessages(ctx, entries); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s, "message_text_docsize"); n != 3 {
		t.Errorf("index rows = %d, want 3 (the expunged message skipped)", n)
	}
	if n := countRows(t, s, "message_text_pending"); n != 0 {
		t.Errorf("pending rows = %d, want 0", n)
	}
	for _, tc := range []struct {
		mbox  int64
		q     string
		field store.TextField
		want  []int64
	}{
		{f.inbox.ID, "fox", store.TextBody, []int64{m1.ID}},
		{f.inbox.ID, "ICK BRO", store.TextBody, []int64{m1.ID}},
		{f.inbox.ID, "MÜNCHEN", store.TextBody, []int64{m2.ID}},
		{other.ID, "fox", store.TextBody, []int64{m3.ID}},
		{f.inbox.ID, "2@x", store.TextBody, nil},
		{f.inbox.ID, "2@x", store.TextAll, []int64{m2.ID}},
		{f.inbox.ID, `say "hi"`, store.TextAll, nil},
	} {
		res, err := s.SearchText(ctx, f.acct.ID, tc.mbox, tc.q, tc.field)
		if err != nil || !slices.Equal(res.Matches, tc.want) || len(res.Unindexed) != 0 {
			t.Errorf("SearchText(%d, %q, %d) = %+v, %v; want %v", tc.mbox, tc.q, tc.field, res, err, tc.want)
		}
	}
	if _, err := s.SearchText(ctx, f.acct.ID, f.inbox.ID, "ox", store.TextBody); err == nil {
		t.Error("SearchText of 2 characters: no error")
	}

	if err := s.ExpungeMessages(ctx, f.acct.ID, []int64{m1.ID}); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s, "message_text_docsize"); n != 2 {
		t.Errorf("index rows after expunge = %d, want 2", n)
	}
	if err := s.DeleteMailbox(ctx, f.acct.ID, other.ID); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s, "message_text_docsize"); n != 1 {
		t.Errorf("index rows after mailbox deletion = %d, want 1", n)
	}
	res, err = s.SearchText(ctx, f.acct.ID, f.inbox.ID, "fox", store.TextBody)
	if err != nil || len(res.Matches) != 0 {
		t.Errorf("SearchText fox after expunge = %+v, %v", res, err)
	}
}
