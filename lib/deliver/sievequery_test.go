package deliver

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gannet/lib/config"
	"gannet/lib/sieve"
	"gannet/lib/sievequery"
	"gannet/lib/store"
)

// setScript makes src the active script of the account.
func (f *fixture) setScript(t *testing.T, local, src string) {
	t.Helper()
	ctx := context.Background()
	a := f.acct[local]
	if err := f.st.PutSieveScript(ctx, &store.SieveScript{AccountID: a.ID, Name: "main", Content: src}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.ActivateSieveScript(ctx, a.ID, "main"); err != nil {
		t.Fatal(err)
	}
}

// lookupDB writes the administrator's query database: a note per sender.
func lookupDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lookup.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE notes (addr TEXT PRIMARY KEY, note TEXT NOT NULL)`,
		`INSERT INTO notes VALUES ('friend@remote.test', 'Friends'), ('shop@remote.test', 'Shopping')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// personalQuery is what lib/mda gives users' scripts for cfg.
func personalQuery(t *testing.T, cfg *config.Config) func(context.Context, string, []string) (string, error) {
	t.Helper()
	q, err := sievequery.Personal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if q == nil {
		return nil
	}
	t.Cleanup(func() { q.Close() })
	return q.Query
}

func sieveConfig(queryDB, globalDir string) *config.Config {
	cfg := config.Default()
	cfg.Server.StateDir = "/nonexistent"
	cfg.Sieve.QueryDatabase = queryDB
	cfg.Sieve.GlobalDir = globalDir
	return cfg
}

// fileByNote files a message into the mailbox the query database names
// for its sender, and keeps it when there is none.
const fileByNote = `require ["variables", "vnd.gannet.query", "fileinto", "mailbox", "envelope"];
if envelope :matches "from" "*" { set "from" "${1}"; }
query :set "v" "SELECT note FROM notes WHERE addr = '${from}'";
if not string :is "${v}" "" {
	fileinto :create "${v}";
}
`

func TestSieveQueryDatabase(t *testing.T) {
	f := newFixture(t)
	f.setScript(t, "alice", fileByNote)
	d := f.deliverer(config.Deliver{})
	d.AddFilter(SieveFilter(SieveOptions{Store: f.st, Query: personalQuery(t, sieveConfig(lookupDB(t), ""))}))
	for _, from := range []string{"friend@remote.test", "shop@remote.test", "stranger@remote.test"} {
		r := deliver(t, d, Request{Sender: from, Recipients: []string{"alice@example.test"}, Raw: testMessage("hello")})[0]
		if r.Err != nil {
			t.Fatalf("from %s: %v", from, r.Err)
		}
	}
	for mailbox, want := range map[string]int{"Friends": 1, "Shopping": 1, "INBOX": 1} {
		if got := len(f.list(t, "alice", mailbox)); got != want {
			t.Errorf("%s has %d messages, want %d", mailbox, got, want)
		}
	}
}

// TestSieveQueryArgs: with a header value in :args, a value built to
// change the query's meaning is only a value that matches no row: the
// message is kept. Pasted into the SQL, the same subject would select
// every row and file the message by the first note.
func TestSieveQueryArgs(t *testing.T) {
	f := newFixture(t)
	f.setScript(t, "alice", `require ["variables", "vnd.gannet.query", "fileinto", "mailbox"];
if header :matches "subject" "*" { set "s" "${1}"; }
query :set "v" :args ["${s}"] "SELECT note FROM notes WHERE addr = ?";
if not string :is "${v}" "" {
	fileinto :create "${v}";
}
`)
	d := f.deliverer(config.Deliver{})
	d.AddFilter(SieveFilter(SieveOptions{Store: f.st, Query: personalQuery(t, sieveConfig(lookupDB(t), ""))}))
	for _, subject := range []string{"friend@remote.test", "x' OR '1'='1"} {
		r := deliver(t, d, Request{Sender: "s@remote.test", Recipients: []string{"alice@example.test"}, Raw: testMessage(subject)})[0]
		if r.Err != nil {
			t.Fatalf("subject %s: %v", subject, r.Err)
		}
	}
	// Both messages accounted for: one filed, the other kept.
	for mailbox, want := range map[string]int{"Friends": 1, "INBOX": 1} {
		if got := len(f.list(t, "alice", mailbox)); got != want {
			t.Errorf("%s has %d messages, want %d", mailbox, got, want)
		}
	}
}

// TestSieveQueryNotStore: a user's script cannot read the store, with or
// without a query database: the query fails and the message is kept
// (implicit keep), never filed by a value read from the store.
func TestSieveQueryNotStore(t *testing.T) {
	for _, queryDB := range []string{"", "lookup"} {
		t.Run("query_database="+queryDB, func(t *testing.T) {
			f := newFixture(t)
			if queryDB != "" {
				queryDB = lookupDB(t)
			}
			f.setScript(t, "alice", `require ["variables", "vnd.gannet.query", "fileinto", "mailbox"];
query :set "n" "SELECT count(*) FROM accounts";
fileinto :create "accounts-${n}";
`)
			f.setScript(t, "bob", `require ["variables", "vnd.gannet.query", "fileinto", "mailbox"];
query :set "h" "SELECT password_hash FROM accounts WHERE address = 'alice@example.test'";
fileinto :create "leak-${h}";
`)
			d := f.deliverer(config.Deliver{})
			var logged lockedBuffer
			log := slog.New(slog.NewTextHandler(&logged, nil))
			d.AddFilter(SieveFilter(SieveOptions{Store: f.st, Query: personalQuery(t, sieveConfig(queryDB, "")), Log: log}))
			for _, local := range []string{"alice", "bob"} {
				r := deliver(t, d, Request{Sender: "x@remote.test", Recipients: []string{local + "@example.test"}, Raw: testMessage("hi")})[0]
				if r.Err != nil {
					t.Fatal(r.Err)
				}
				if n := len(f.list(t, local, "INBOX")); n != 1 {
					t.Errorf("%s: INBOX has %d messages, want 1 (implicit keep)", local, n)
				}
				mbs, err := f.st.ListMailboxes(context.Background(), f.acct[local].ID)
				if err != nil {
					t.Fatal(err)
				}
				for _, mb := range mbs {
					if mb.Name != "INBOX" && mb.SpecialUse == "" {
						t.Errorf("%s: the script created mailbox %q", local, mb.Name)
					}
				}
			}
			// The account's owner learns why from the log.
			want := "no such table: accounts"
			if queryDB == "" {
				want = "no query database is configured"
			}
			if !strings.Contains(logged.String(), want) {
				t.Errorf("the log does not say %q:\n%s", want, logged.String())
			}
		})
	}
}

// lockedBuffer collects a log.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestSieveIncludeGlobal(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name+".sieve"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("junk", `require ["fileinto", "mailbox"];
if header :contains "subject" "cheap pills" { fileinto :create "Spammy"; }
`)
	// A global script runs with the rights of the user's script that
	// includes it: no store.
	write("count", `require ["variables", "vnd.gannet.query", "include", "fileinto", "mailbox"];
global "n";
query :set "n" "SELECT count(*) FROM accounts";
`)
	f.setScript(t, "alice", `require ["include", "variables", "fileinto", "mailbox"];
include :global "junk";
if header :contains "subject" "count" {
	include :global "count";
	global "n";
	fileinto :create "count-${n}";
}
include :global :optional "missing";
`)
	cfg := sieveConfig(lookupDB(t), dir)
	d := f.deliverer(config.Deliver{})
	d.AddFilter(SieveFilter(SieveOptions{Store: f.st, Global: GlobalDir(cfg.Sieve.GlobalDir, cfg.Sieve.MaxScriptSize), Query: personalQuery(t, cfg)}))
	send := func(subject string) {
		t.Helper()
		if r := deliver(t, d, Request{Sender: "x@remote.test", Recipients: []string{"alice@example.test"}, Raw: testMessage(subject)})[0]; r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	send("cheap pills")
	send("a count")
	send("hello")
	if n := len(f.list(t, "alice", "Spammy")); n != 1 {
		t.Errorf("Spammy has %d messages, want 1", n)
	}
	if n := len(f.list(t, "alice", "INBOX")); n != 2 {
		t.Errorf("INBOX has %d messages, want 2 (hello, and the count the global script could not make)", n)
	}

	// The administrator edits a global script: the next delivery uses it.
	write("junk", `require ["fileinto", "mailbox"];
if header :contains "subject" "cheap pills" { fileinto :create "Junk2"; }
`)
	send("cheap pills")
	if n := len(f.list(t, "alice", "Junk2")); n != 1 {
		t.Errorf("after the edit, Junk2 has %d messages, want 1", n)
	}

	// Names that are not plain file names are not looked up.
	load := GlobalDir(dir, 1<<20)
	for _, name := range []string{".junk", "../junk", "a/junk", ""} {
		if _, err := load(name); !errors.Is(err, sieve.ErrNotFound) {
			t.Errorf("GlobalDir(%q): %v, want not found", name, err)
		}
	}
	if _, err := GlobalDir(dir, 10)("junk"); err == nil {
		t.Error("a global script over the size limit was loaded")
	}
}
