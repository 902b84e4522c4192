package fts

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"gannet/lib/message"
	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

// TestRun delivers a message while the indexer runs and waits for it to
// be indexed and found.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "gannet.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateDomain(ctx, &store.Domain{Name: "example.test"}); err != nil {
		t.Fatal(err)
	}
	a := &store.Account{Address: "u@example.test", PasswordHash: "$argon2id$x"}
	if err := st.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	inbox, err := st.GetMailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	wake := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() { done <- (&Indexer{Store: st, Interval: time.Hour, Wake: wake}).Run(ctx) }()

	raw := "From: a@example.org\r\nSubject: =?UTF-8?B?SsO8cmdlbg==?=\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n\r\nZ=C3=BCrich lake\r\n"
	if _, err := st.AddMessages(ctx, []store.NewMessage{{AccountID: a.ID, MailboxID: inbox.ID,
		Raw: []byte(raw), Meta: message.Parse([]byte(raw)).Meta()}}); err != nil {
		t.Fatal(err)
	}
	wake <- struct{}{}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := st.SearchText(ctx, a.ID, inbox.ID, "zürich", store.TextBody)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Unindexed) == 0 {
			if len(res.Matches) != 1 {
				t.Fatalf("zürich after indexing: %+v", res)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("message not indexed within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for q, want := range map[string]int{"jürgen": 1, "SUBJECT: =?UTF-8?B?": 1, "lake": 1, "ocean": 0} {
		res, err := st.SearchText(ctx, a.ID, inbox.ID, q, store.TextAll)
		if err != nil || len(res.Matches) != want {
			t.Errorf("TEXT %q = %+v, %v; want %d matches", q, res, err, want)
		}
	}
	if res, _ := st.SearchText(ctx, a.ID, inbox.ID, "jürgen", store.TextBody); len(res.Matches) != 0 {
		t.Errorf("BODY jürgen found the subject: %+v", res)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
}
