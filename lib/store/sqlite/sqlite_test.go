package sqlite

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gannet/lib/store"
)

// quietLog drops the store's log lines in tests.
var quietLog = slog.New(slog.DiscardHandler)

// openTest opens a fresh store in a temporary directory, closed at the end
// of the test.
func openTest(t testing.TB, mod ...func(*Options)) *Store {
	t.Helper()
	opts := Options{Path: filepath.Join(t.TempDir(), "gannet.db"), Logger: quietLog}
	for _, m := range mod {
		m(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenPragmas(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	var mode string
	var sync, fk, ver int
	if err := s.wdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := s.wdb.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.QueryRowContext(ctx, "PRAGMA user_version").Scan(&ver); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || sync != 2 || fk != 1 || ver != SchemaVersion() {
		t.Errorf("journal_mode=%s synchronous=%d foreign_keys=%d user_version=%d, want wal 2 1 %d", mode, sync, fk, ver, SchemaVersion())
	}
	if _, err := s.rdb.ExecContext(ctx, "DELETE FROM domains"); err == nil {
		t.Error("read pool accepted a write")
	}
	var n int
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'changes'").Scan(&n); err != nil || n != 1 {
		t.Errorf("changes table: n=%d err=%v (whole migration file applied?)", n, err)
	}
}

// fixture is an account with its INBOX, ready for messages.
type fixture struct {
	s     *Store
	acct  *store.Account
	inbox *store.Mailbox
}

// newFixture creates domain example.test and account name@example.test.
func newFixture(t testing.TB, s *Store, name string) fixture {
	t.Helper()
	ctx := context.Background()
	if _, err := s.GetDomain(ctx, "example.test"); errors.Is(err, store.ErrNotFound) {
		if err := s.CreateDomain(ctx, &store.Domain{Name: "example.test"}); err != nil {
			t.Fatalf("CreateDomain: %v", err)
		}
	}
	a := &store.Account{Address: name + "@example.test", PasswordHash: "$argon2id$x"}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	inbox, err := s.GetMailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatalf("GetMailbox INBOX: %v", err)
	}
	return fixture{s: s, acct: a, inbox: inbox}
}

// newMsg builds a message for mailbox with a given Message-ID and body.
func newMsg(acct, mailbox int64, msgID, body string, refs ...string) store.NewMessage {
	raw := "From: a@example.org\r\nTo: b@example.test\r\nSubject: test\r\nMessage-ID: <" + msgID + ">\r\n"
	if len(refs) > 0 {
		raw += "In-Reply-To: <" + refs[len(refs)-1] + ">\r\nReferences: <" + strings.Join(refs, "> <") + ">\r\n"
	}
	raw += "\r\n" + body + "\r\n"
	var irt []string
	if len(refs) > 0 {
		irt = refs[len(refs)-1:]
	}
	return store.NewMessage{AccountID: acct, MailboxID: mailbox, Raw: []byte(raw), Meta: store.Meta{
		Subject: "test", From: "a@example.org", To: []string{"b@example.test"}, MessageID: msgID,
		InReplyTo: irt, References: refs, Preview: body, Structure: []byte("structure:" + msgID),
	}}
}

// add stores one message and returns it.
func (f fixture) add(t testing.TB, m store.NewMessage) store.Message {
	t.Helper()
	out, err := f.s.AddMessages(context.Background(), []store.NewMessage{m})
	if err != nil {
		t.Fatalf("AddMessages: %v", err)
	}
	return out[0]
}
