package mda_test

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"gannet/lib/config"
	"gannet/lib/deliver"
	"gannet/lib/directory"
	"gannet/lib/mda"
	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

// TestSieveConfig: [sieve] query_database and global_dir reach users'
// scripts through the delivery agent the programs build, and the store
// stays out of their queries.
func TestSieveConfig(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	cfg := config.Default()
	cfg.Server.Hostname = "mx.example.test"
	cfg.Server.StateDir = tmp
	cfg.Spam.Enabled = false
	cfg.Sieve.QueryDatabase = filepath.Join(tmp, "lookup.db")
	cfg.Sieve.GlobalDir = filepath.Join(tmp, "sieve")

	db, err := sql.Open("sqlite", cfg.Sieve.QueryDatabase)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE vip (addr TEXT PRIMARY KEY, folder TEXT NOT NULL)`,
		`INSERT INTO vip VALUES ('boss@remote.test', 'Boss')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if err := os.Mkdir(cfg.Sieve.GlobalDir, 0o755); err != nil {
		t.Fatal(err)
	}
	global := `require ["variables", "vnd.gannet.query", "fileinto", "mailbox", "envelope", "include"];
global "folder";
if envelope :matches "from" "*" { set "from" "${1}"; }
query :set "folder" "SELECT folder FROM vip WHERE addr = '${from}'";
`
	if err := os.WriteFile(filepath.Join(cfg.Sieve.GlobalDir, "vip.sieve"), []byte(global), 0o644); err != nil {
		t.Fatal(err)
	}

	st, err := sqlite.Open(ctx, sqlite.Options{Path: cfg.DatabasePath(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := directory.New(st, cfg.Directory)
	if _, err := dir.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	acct := &store.Account{Address: "alice@example.test", PasswordHash: "x"}
	if err := dir.AddAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	script := `require ["include", "variables", "fileinto", "mailbox", "vnd.gannet.query"];
include :global "vip";
global "folder";
if header :contains "subject" "store" {
	query :set "folder" "SELECT 'n' || count(*) FROM accounts";
}
if not string :is "${folder}" "" { fileinto :create "${folder}"; }
`
	if err := st.PutSieveScript(ctx, &store.SieveScript{AccountID: acct.ID, Name: "main", Content: script}); err != nil {
		t.Fatal(err)
	}
	if err := st.ActivateSieveScript(ctx, acct.ID, "main"); err != nil {
		t.Fatal(err)
	}

	d := mda.New(cfg, st, dir, slog.New(slog.DiscardHandler), mda.Options{})
	for _, m := range []struct{ from, subject string }{
		{"boss@remote.test", "report"},
		{"other@remote.test", "hello"},
		{"other@remote.test", "store"},
	} {
		raw := []byte("From: <" + m.from + ">\r\nTo: <alice@example.test>\r\nSubject: " + m.subject + "\r\n\r\nHi.\r\n")
		res, err := d.Deliver(ctx, deliver.Request{Sender: m.from, Recipients: []string{acct.Address}, Raw: raw})
		if err != nil || res[0].Err != nil {
			t.Fatalf("deliver from %s: %v, %+v", m.from, err, res)
		}
	}
	for name, want := range map[string]int{"Boss": 1, "INBOX": 2} {
		mb, err := st.GetMailbox(ctx, acct.ID, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		msgs, err := st.ListMessages(ctx, acct.ID, store.MessageFilter{MailboxID: mb.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != want {
			t.Errorf("%s has %d messages, want %d", name, len(msgs), want)
		}
	}
	if _, err := st.GetMailbox(ctx, acct.ID, "n1"); err == nil {
		t.Error("a user's script counted the store's accounts")
	}
}
