package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"gannet/lib/store"
)

const testSCRAMKeys = "SCRAM-SHA-256$4096:QSXCR+Q6sek8bf92QSXCRw==$6FbGLWnUlqV8FtYzMEQy88I+ADw6FbGLWnUlqV8FtYw=:D+CSWLOshSulAsxiupA+qs2/fTED+CSWLOshSulAsxi="

// Account.SCRAMSHA256 is written by CreateAccount and UpdateAccount and
// read back by every lookup.
func TestAccountSCRAMKeys(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if err := s.CreateDomain(ctx, &store.Domain{Name: "example.test"}); err != nil {
		t.Fatal(err)
	}
	a := &store.Account{Address: "alice@example.test", PasswordHash: "h1", SCRAMSHA256: testSCRAMKeys}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	b := &store.Account{Address: "bob@example.test", PasswordHash: "h2"}
	if err := s.CreateAccount(ctx, b); err != nil {
		t.Fatal(err)
	}
	check := func(when, want string) {
		t.Helper()
		got, err := s.GetAccount(ctx, "Alice@Example.test")
		if err != nil || got.SCRAMSHA256 != want {
			t.Errorf("%s: GetAccount keys %q, %v; want %q", when, got.SCRAMSHA256, err, want)
		}
		if got, err := s.GetAccountByID(ctx, a.ID); err != nil || got.SCRAMSHA256 != want {
			t.Errorf("%s: GetAccountByID keys %q, %v; want %q", when, got.SCRAMSHA256, err, want)
		}
		l, err := s.ListAccounts(ctx, "example.test")
		if err != nil || len(l) != 2 || l[0].SCRAMSHA256 != want || l[1].SCRAMSHA256 != "" {
			t.Errorf("%s: ListAccounts = %+v, %v", when, l, err)
		}
	}
	check("created", testSCRAMKeys)
	a.SCRAMSHA256 = "SCRAM-SHA-256$8192:other"
	if err := s.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	check("updated", "SCRAM-SHA-256$8192:other")
	// An update that changes something else keeps the keys it read.
	got, _ := s.GetAccount(ctx, a.Address)
	got.Disabled = true
	if err := s.UpdateAccount(ctx, got); err != nil {
		t.Fatal(err)
	}
	check("disabled", "SCRAM-SHA-256$8192:other")
	a.SCRAMSHA256 = ""
	if err := s.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	check("cleared", "")
}

// A database at schema version 2 (before 003_scram.sql) opens, gets the
// column, and keeps its accounts, which have no keys until set.
func TestMigrateSCRAMFrom002(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gannet.db")
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.version > 2 {
			break
		}
		if _, err := db.ExecContext(ctx, m.sql); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
	}
	for _, q := range []string{
		"PRAGMA user_version = 2",
		"INSERT INTO domains (name, created) VALUES ('example.test', 1)",
		`INSERT INTO accounts (domain_id, address, password_hash, created)
			VALUES ((SELECT id FROM domains), 'old@example.test', '$argon2id$old', 1)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, Options{Path: path, Logger: quietLog})
	if err != nil {
		t.Fatalf("Open of a version 2 database: %v", err)
	}
	defer s.Close()
	var ver int
	if err := s.rdb.QueryRowContext(ctx, "PRAGMA user_version").Scan(&ver); err != nil || ver != SchemaVersion() || ver < 3 {
		t.Errorf("user_version %d, %v; want %d (at least 3)", ver, err, SchemaVersion())
	}
	old, err := s.GetAccount(ctx, "old@example.test")
	if err != nil {
		t.Fatal(err)
	}
	if old.PasswordHash != "$argon2id$old" || old.SCRAMSHA256 != "" {
		t.Errorf("migrated account: hash %q, keys %q; want the old hash and no keys", old.PasswordHash, old.SCRAMSHA256)
	}
	old.SCRAMSHA256 = testSCRAMKeys
	if err := s.UpdateAccount(ctx, old); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetAccount(ctx, old.Address); err != nil || got.SCRAMSHA256 != testSCRAMKeys || got.PasswordHash != "$argon2id$old" {
		t.Errorf("after setting keys: %+v, %v", got, err)
	}
}
