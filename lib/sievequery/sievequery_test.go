package sievequery_test

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gannet/lib/config"
	"gannet/lib/sievequery"
	"gannet/lib/store"
	"gannet/lib/store/sqlite"

	_ "modernc.org/sqlite"
)

// notesDB creates an administrator's query database with a notes table.
func notesDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lookup.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE notes (addr TEXT PRIMARY KEY, note TEXT, n INTEGER)`,
		`INSERT INTO notes VALUES ('a@example.org', 'friends', 42), ('b@example.org', NULL, 7)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// mailStore creates a store with one account that has a password.
func mailStore(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gannet.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: path, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	d := &store.Domain{Name: "example.org"}
	if err := st.CreateDomain(ctx, d); err != nil {
		t.Fatal(err)
	}
	a := &store.Account{DomainID: d.ID, Address: "user@example.org", PasswordHash: "$argon2id$secret"}
	if err := st.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	return path
}

func open(t *testing.T, o sievequery.Options) *sievequery.DB {
	t.Helper()
	db, err := sievequery.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestQueryValues(t *testing.T) {
	db := open(t, sievequery.Options{Path: notesDB(t)})
	ctx := context.Background()
	for _, c := range []struct{ q, want string }{
		{"SELECT note FROM notes WHERE addr = 'a@example.org'", "friends"},
		{"select n, note from notes where addr = 'a@example.org'", "42"},
		{"SELECT note FROM notes WHERE addr = 'b@example.org'", ""},
		{"SELECT note FROM notes WHERE addr = 'nobody@example.org'", ""},
		{"-- a comment\nWITH x AS (SELECT 'it''s; fine' AS v) SELECT v FROM x;", "it's; fine"},
		{"SELECT 1.5", "1.5"},
		{"SELECT group_concat(addr, ',') FROM (SELECT addr FROM notes ORDER BY addr)", "a@example.org,b@example.org"},
	} {
		got, err := db.Query(ctx, c.q, nil)
		if err != nil || got != c.want {
			t.Errorf("Query(%q) = %q, %v; want %q", c.q, got, err, c.want)
		}
	}
}

// TestQueryArgs: values bound to parameters are text, never SQL: a quote
// or an injection attempt in a value is matched as written.
func TestQueryArgs(t *testing.T) {
	db := open(t, sievequery.Options{Path: notesDB(t)})
	ctx := context.Background()
	for _, c := range []struct {
		q    string
		args []string
		want string
	}{
		{"SELECT note FROM notes WHERE addr = ?", []string{"a@example.org"}, "friends"},
		{"SELECT n FROM notes WHERE addr = ?2 OR addr = ?1 ORDER BY n", []string{"x", "b@example.org"}, "7"},
		{"SELECT count(*) FROM notes WHERE addr = ?", []string{"x' OR '1'='1"}, "0"},
		{"SELECT ?", []string{"it's"}, "it's"},
	} {
		got, err := db.Query(ctx, c.q, c.args)
		if err != nil || got != c.want {
			t.Errorf("Query(%q, %q) = %q, %v; want %q", c.q, c.args, got, err, c.want)
		}
	}
	for _, c := range []struct {
		q    string
		args []string
	}{
		{"SELECT ?", []string{"a", "b"}},                          // more arguments than parameters
		{"SELECT ? || ?", []string{"a"}},                          // fewer
		{"SELECT note FROM notes WHERE addr = ?", nil},            // none
		{"SELECT note FROM notes WHERE addr = :a", []string{"a"}}, // named
		{"SELECT ?33", make([]string, 33)},                        // past MaxArgs
	} {
		if got, err := db.Query(ctx, c.q, c.args); err == nil {
			t.Errorf("Query(%q, %d arguments) = %q, want an error", c.q, len(c.args), got)
		}
	}
	// Parameters are counted outside quoted text and comments only.
	for _, c := range []struct {
		q    string
		args []string
		want string
	}{
		{"SELECT '?:x' || ? -- ?\n", []string{"y"}, "?:xy"},
		{"SELECT ?1 || ?1", []string{"z"}, "zz"},
	} {
		if got, err := db.Query(ctx, c.q, c.args); err != nil || got != c.want {
			t.Errorf("Query(%q, %q) = %q, %v; want %q", c.q, c.args, got, err, c.want)
		}
	}
	if _, err := db.Query(ctx, "SELECT ?", make([]string, sievequery.MaxArgs+1)); err == nil {
		t.Error("too many arguments: no error")
	}
	if _, err := db.Query(ctx, "SELECT length(?)", []string{strings.Repeat("x", sievequery.MaxValue+1)}); err == nil {
		t.Error("an argument over MaxValue: no error")
	}
}

func TestQueryRefused(t *testing.T) {
	path := notesDB(t)
	storePath := mailStore(t)
	db := open(t, sievequery.Options{Path: path})
	ctx := context.Background()
	for _, q := range []string{
		"DELETE FROM notes",
		"UPDATE notes SET note = 'x'",
		"INSERT INTO notes VALUES ('c', 'c', 1)",
		"SELECT 1; DELETE FROM notes",
		"SELECT 1; SELECT 2",
		"WITH x AS (SELECT 1) DELETE FROM notes",
		"ATTACH DATABASE '" + storePath + "' AS s",
		"PRAGMA writable_schema = 1",
		"CREATE TABLE t (x)",
		"DROP TABLE notes",
		"BEGIN",
		"VACUUM INTO '/tmp/x.db'",
		"SELECT load_extension('/tmp/x.so')",
		"SELECT 'unterminated",
		"",
		"  -- nothing\n",
	} {
		if got, err := db.Query(ctx, q, nil); err == nil {
			t.Errorf("Query(%q) = %q, want an error", q, got)
		} else {
			t.Logf("Query(%q): %v", q, err)
		}
	}
	if got, err := db.Query(ctx, "SELECT count(*) FROM notes WHERE note = 'friends'", nil); got != "1" || err != nil {
		t.Errorf("notes changed: %q, %v", got, err)
	}
}

// TestPersonalCannotReachStore: a DB opened without StorePath gives no way
// to the store, even by naming its file.
func TestPersonalCannotReachStore(t *testing.T) {
	storePath := mailStore(t)
	db := open(t, sievequery.Options{Path: notesDB(t)})
	ctx := context.Background()
	for _, q := range []string{
		"SELECT * FROM accounts",
		"SELECT password_hash FROM store.accounts",
		"SELECT password_hash FROM main.accounts",
		"SELECT count(*) FROM accounts",
		"ATTACH '" + storePath + "' AS store",
		"SELECT password_hash FROM pragma_table_info('accounts')",
	} {
		if got, err := db.Query(ctx, q, nil); err == nil {
			t.Errorf("Query(%q) = %q, want an error", q, got)
		} else {
			t.Logf("Query(%q): %v", q, err)
		}
	}
}

func TestAdminStore(t *testing.T) {
	db := open(t, sievequery.Options{Path: notesDB(t), StorePath: mailStore(t)})
	ctx := context.Background()
	for _, c := range []struct{ q, want string }{
		{"SELECT count(*) FROM accounts", "1"},
		{"SELECT address FROM store.accounts", "user@example.org"},
		{"SELECT note FROM notes WHERE addr = 'a@example.org'", "friends"},
		{"SELECT n.note FROM notes n JOIN accounts a ON a.address <> n.addr WHERE n.addr = 'a@example.org'", "friends"},
	} {
		got, err := db.Query(ctx, c.q, nil)
		if err != nil || got != c.want {
			t.Errorf("Query(%q) = %q, %v; want %q", c.q, got, err, c.want)
		}
	}
	for _, q := range []string{
		"SELECT * FROM accounts",
		"SELECT password_hash FROM accounts",
		"SELECT scram_sha256 FROM store.accounts",
		"SELECT account_id FROM app_passwords",
		"SELECT key_pem FROM certificates",
		"SELECT selector FROM dkim_keys",
		"SELECT data FROM sqlite_dbpage('store')",
		"DELETE FROM store.accounts",
		"DETACH store",
	} {
		if got, err := db.Query(ctx, q, nil); err == nil {
			t.Errorf("Query(%q) = %q, want an error", q, got)
		} else {
			t.Logf("Query(%q): %v", q, err)
		}
	}
	if got, err := db.Query(ctx, "SELECT count(*) FROM accounts WHERE password_hash <> ''", nil); err == nil {
		t.Errorf("filtering on password_hash = %q, want an error", got)
	}
}

// TestAdminStoreOnly: with no query database, main is empty and the store
// is still reached by table name.
func TestAdminStoreOnly(t *testing.T) {
	db := open(t, sievequery.Options{StorePath: mailStore(t)})
	got, err := db.Query(context.Background(), "SELECT count(*) FROM accounts WHERE address LIKE '%@example.org'", nil)
	if err != nil || got != "1" {
		t.Errorf("count = %q, %v; want 1", got, err)
	}
}

func TestQueryBounds(t *testing.T) {
	db := open(t, sievequery.Options{Timeout: 50 * time.Millisecond})
	ctx := context.Background()
	_, err := db.Query(ctx, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c", nil)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("endless query: %v, want interrupted", err)
	}
	if got, err := db.Query(ctx, "SELECT length(zeroblob(65536))", nil); got != "65536" || err != nil {
		t.Errorf("length = %q, %v", got, err)
	}
	for _, q := range []string{
		"SELECT hex(zeroblob(40000))",                 // 80000 bytes: over MaxResult
		"SELECT length(zeroblob(2000000))",            // over MaxValue
		"SELECT '" + strings.Repeat("x", 70000) + "'", // over MaxQuery
	} {
		if got, err := db.Query(ctx, q, nil); err == nil {
			t.Errorf("Query(%.40q...) = %d bytes, want an error", q, len(got))
		}
	}
}

func TestMissingDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.db")
	db := open(t, sievequery.Options{Path: path})
	if _, err := db.Query(context.Background(), "SELECT 1", nil); err == nil {
		t.Error("query of a missing database succeeded")
	}
	if _, err := db.Query(context.Background(), "SELECT 1", nil); err == nil {
		t.Error("query of a missing database succeeded")
	}
}

// TestPersonalNotStoreLink: query_database cannot be the store under
// another name.
func TestPersonalNotStoreLink(t *testing.T) {
	storePath := mailStore(t)
	link := filepath.Join(t.TempDir(), "lookup.db")
	if err := os.Symlink(storePath, link); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Server.StateDir = filepath.Dir(storePath)
	cfg.Sieve.QueryDatabase = link
	if db, err := sievequery.Personal(cfg); err == nil {
		db.Close()
		t.Error("Personal accepted a link to the store")
	}
	cfg.Sieve.QueryDatabase = notesDB(t)
	db, err := sievequery.Personal(cfg)
	if err != nil || db == nil {
		t.Fatalf("Personal: %v, %v", db, err)
	}
	db.Close()
}
