package tests

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gannet/lib/store"

	_ "modernc.org/sqlite"
)

// TestSmtpdSieveQuery runs smtpd with [sieve] query_database and
// global_dir: an administrator's mail-stage script queries the store
// (read-only), and demo's own script, through a global script it
// includes, files mail by a lookup in the query database; a user's query
// of the store fails and the message is kept.
func TestSmtpdSieveQuery(t *testing.T) {
	tmp := t.TempDir()
	lookup := filepath.Join(tmp, "lookup.db")
	db, err := sql.Open("sqlite", lookup)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE folders (sender TEXT PRIMARY KEY, folder TEXT NOT NULL)`,
		`INSERT INTO folders VALUES ('boss@remote.example', 'Boss')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	globalDir := filepath.Join(tmp, "global")
	if err := os.Mkdir(globalDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path, src string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(globalDir, "folders.sieve"), `require ["variables", "vnd.gannet.query", "envelope", "include"];
global "folder";
if envelope :matches "from" "*" { set "from" "${1}"; }
query :set "folder" "SELECT folder FROM folders WHERE sender = '${from}'";
`)
	mail := filepath.Join(tmp, "mail.sieve")
	write(mail, `require ["variables", "vnd.gannet.query", "reject", "envelope"];
if envelope :domain :is "from" "census.example" {
	query :set "n" "SELECT count(*) FROM accounts";
	reject "We have ${n} account";
}
`)
	e := newSmtpdEnv(t, `
[[smtpd.sieve]]
stage = "mail"
script = "`+mail+`"

[sieve]
query_database = "`+lookup+`"
query_timeout = "2s"
global_dir = "`+globalDir+`"
`)
	st := e.openStore()
	ctx := context.Background()
	acct, err := st.GetAccount(ctx, smtpdUser)
	if err != nil {
		t.Fatal(err)
	}
	personal := `require ["include", "variables", "fileinto", "mailbox", "vnd.gannet.query"];
include :global "folders";
global "folder";
if header :contains "subject" "peek" {
	query :set "folder" "SELECT address FROM accounts LIMIT 1";
}
if not string :is "${folder}" "" { fileinto :create "${folder}"; }
`
	if err := st.PutSieveScript(ctx, &store.SieveScript{AccountID: acct.ID, Name: "main", Content: personal}); err != nil {
		t.Fatal(err)
	}
	if err := st.ActivateSieveScript(ctx, acct.ID, "main"); err != nil {
		t.Fatal(err)
	}
	files, addr := e.listeners()
	p := e.start(files, addr)

	c := dialSMTP(t, addr["smtp"])
	c.cmd("EHLO client.example", "250")
	c.cmd("MAIL FROM:<x@census.example>", "550 5.7.1 We have 1 account")
	for _, m := range []struct{ from, subject string }{
		{"boss@remote.example", "report"},
		{"someone@remote.example", "peek"},
	} {
		c.cmd("MAIL FROM:<"+m.from+">", "250")
		c.cmd("RCPT TO:<"+smtpdUser+">", "250")
		c.cmd("DATA", "354")
		c.write("From: <" + m.from + ">\r\nTo: <" + smtpdUser + ">\r\nSubject: " + m.subject + "\r\n\r\nHello.\r\n.\r\n")
		c.expect("250")
	}
	c.cmd("QUIT", "221")

	mb, err := st.GetMailbox(ctx, acct.ID, "Boss")
	if err != nil {
		t.Fatalf("the Boss mailbox: %v", err)
	}
	if msgs, err := st.ListMessages(ctx, acct.ID, store.MessageFilter{MailboxID: mb.ID}); err != nil || len(msgs) != 1 {
		t.Errorf("Boss has %d messages (%v), want 1", len(msgs), err)
	}
	inbox := e.inbox(st)
	if len(inbox) != 1 || !strings.Contains(inbox[0], "Subject: peek\r\n") {
		t.Errorf("INBOX has %d messages, want the one whose script could not query the store", len(inbox))
	}
	if _, err := st.GetMailbox(ctx, acct.ID, smtpdUser); err == nil {
		t.Error("a user's script read the store's accounts")
	}
	if status := p.stop(); status != 0 {
		t.Errorf("exit status %d after SIGTERM", status)
	}
}
