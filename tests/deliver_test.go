package tests

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

// deliverSite is a state directory with a configuration and a directory
// made with userctl, for running deliver against.
type deliverSite struct {
	dir    string
	config string // the configuration file's path
	db     string
}

// newDeliverSite writes a configuration (extra is appended to it) and
// creates example.test with alice, bob, full (one message at most), an
// alias forwarding to a remote address and a group.
func newDeliverSite(t *testing.T, extra string) *deliverSite {
	t.Helper()
	dir := t.TempDir()
	s := &deliverSite{dir: dir, config: filepath.Join(dir, "gannet.toml"), db: filepath.Join(dir, "state", "gannet.db")}
	if err := os.Mkdir(filepath.Join(dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	s.writeConfig(t, s.config, extra)
	for _, args := range [][]string{
		{"domain", "add", "example.test"},
		{"user", "add", "--random-password", "alice@example.test"},
		{"user", "add", "--random-password", "bob@example.test"},
		{"user", "add", "--random-password", "--quota-messages", "1", "full@example.test"},
		{"alias", "add", "fwd@example.test", "someone@remote.test"},
		{"group", "add", "team@example.test", "alice@example.test", "bob@example.test"},
	} {
		if r := s.run(t, "", nil, "userctl", args...); r.status != 0 {
			t.Fatalf("userctl %s: status %d: %s", strings.Join(args, " "), r.status, r.stderr)
		}
	}
	return s
}

// writeConfig writes a configuration for the site's state directory.
func (s *deliverSite) writeConfig(t *testing.T, path, extra string) {
	t.Helper()
	cfg := fmt.Sprintf("[server]\nhostname = \"mx.example.test\"\nstate_dir = %q\nruntime_dir = %q\n%s",
		filepath.Join(s.dir, "state"), filepath.Join(s.dir, "run"), extra)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// run runs a program with the site's configuration in GANNET_CONFIG.
func (s *deliverSite) run(t *testing.T, stdin string, env []string, prog string, args ...string) result {
	t.Helper()
	return runWith(t, runOpts{stdin: stdin, env: append([]string{"GANNET_CONFIG=" + s.config}, env...)}, prog, args...)
}

// mailbox lists the messages in one mailbox of an account, reading the
// store directly, with their raw bytes.
func (s *deliverSite) mailbox(t *testing.T, address, name string) ([]store.Message, [][]byte) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: s.db, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acct, err := st.GetAccount(ctx, address)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := st.GetMailbox(ctx, acct.ID, name)
	if err != nil {
		t.Fatalf("%s %s: %v", address, name, err)
	}
	msgs, err := st.ListMessages(ctx, acct.ID, store.MessageFilter{MailboxID: mb.ID})
	if err != nil {
		t.Fatal(err)
	}
	var raws [][]byte
	for _, m := range msgs {
		raw, err := st.ReadBlob(ctx, m.BlobID, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, raw)
	}
	return msgs, raws
}

// count is how many messages a mailbox holds.
func (s *deliverSite) count(t *testing.T, address, name string) int {
	t.Helper()
	msgs, _ := s.mailbox(t, address, name)
	return len(msgs)
}

const deliverMsg = "From: Sender <s@remote.test>\nTo: alice@example.test\nSubject: %s\n\nHello.\n"

func TestDeliver(t *testing.T) {
	s := newDeliverSite(t, "")
	msg := func(subject string) string { return fmt.Sprintf(deliverMsg, subject) }

	// A message with LF line endings, as from a script.
	r := s.run(t, msg("plain"), nil, "deliver", "-f", "s@remote.test", "alice@example.test")
	if r.status != 0 || r.stderr != "" || r.stdout != "" {
		t.Fatalf("status %d, stdout %q, stderr %q; want 0 and silence", r.status, r.stdout, r.stderr)
	}
	msgs, raws := s.mailbox(t, "alice@example.test", "INBOX")
	// Return-Path, the spam filter's verdict (deliver classifies mail from
	// another MTA), then the message as given.
	verdict := regexp.MustCompile(`^Return-Path: <[^>]*>\r\n(X-Spam-Status: No, score=[-0-9.]+ required=5\.00\r\nX-Spam-Score: [-0-9.]+\r\nX-Spam-Result: [^\r]*\r\n( [^\r]*\r\n)*)`)
	m := verdict.FindSubmatch(raws[0])
	want := strings.ReplaceAll(msg("plain"), "\n", "\r\n")
	if len(msgs) != 1 || m == nil || string(raws[0][len(m[0]):]) != want || msgs[0].Meta.Subject != "plain" {
		t.Fatalf("INBOX holds %d messages, first %q; want Return-Path, X-Spam fields, then %q", len(msgs), raws, want)
	}

	for _, tc := range []struct {
		name   string
		stdin  string
		env    []string
		args   []string
		status int
		stderr string // a regular expression; "" for none
	}{
		{"unknown user", msg("x"), nil, []string{"-f", "s@remote.test", "nobody@example.test"}, 67,
			`^deliver: nobody@example\.test: no such user \(550 5\.1\.1\)\n$`},
		{"not local", msg("x"), nil, []string{"someone@elsewhere.test"}, 67, `not a local address`},
		{"NUL byte", "Subject: x\n\nbad\x00byte\n", nil, []string{"alice@example.test"}, 65, `NUL`},
		{"empty", "", nil, []string{"alice@example.test"}, 65, `empty message`},
		{"no recipient", msg("x"), nil, nil, 64, `no recipient`},
		{"bad sender", msg("x"), nil, []string{"-f", "a b@c", "alice@example.test"}, 64, `invalid envelope sender`},
		{"known and unknown", msg("mixed"), nil, []string{"bob@example.test", "nobody@example.test"}, 67,
			`^deliver: nobody@example\.test: no such user`},
		{"first fills the quota", msg("fill"), nil, []string{"full@example.test"}, 0, ""},
		{"over quota", msg("over"), nil, []string{"full@example.test"}, 75,
			`^deliver: full@example\.test: mailbox full, try again later \(452 4\.2\.2\)\n$`},
		{"temporary beats permanent", msg("both"), nil, []string{"nobody@example.test", "full@example.test", "bob@example.test"}, 75,
			`nobody@example\.test: no such user.*\n.*full@example\.test: mailbox full`},
		{"forward", msg("fwd"), nil, []string{"fwd@example.test"}, 0, ""},
		{"group", msg("team"), nil, []string{"team@example.test"}, 0, ""},
		{"mailbox", msg("archived"), nil, []string{"-m", "Archive", "alice@example.test"}, 0, ""},
		{"missing mailbox", msg("nowhere"), nil, []string{"-m", "No/Such", "alice@example.test"}, 0, ""},
		// Postfix's local(8) runs mailbox_command with these set.
		{"mailbox_command", msg("postfix"),
			[]string{"RECIPIENT=bob+tag@example.test", "SENDER=", "ORIGINAL_RECIPIENT=bob+tag@example.test"}, nil, 0, ""},
		// An mbox From_ line in front (pipe's F flag) names the sender.
		{"From_ line", "From s2@remote.test Thu Jan  1 00:00:00 2026\n" + msg("fromline"), nil,
			[]string{"bob@example.test"}, 0, ""},
		// The MTA's own Return-Path is kept, not doubled.
		{"Return-Path given", "Return-Path: <mta@remote.test>\n" + msg("rp"), []string{"SENDER=mta@remote.test"},
			[]string{"bob@example.test"}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.run(t, tc.stdin, tc.env, "deliver", tc.args...)
			if r.status != tc.status {
				t.Errorf("status %d, want %d; stderr %q", r.status, tc.status, r.stderr)
			}
			if tc.stderr == "" && r.stderr != "" || tc.stderr != "" && !regexp.MustCompile(tc.stderr).MatchString(r.stderr) {
				t.Errorf("stderr %q, want %q", r.stderr, tc.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q", r.stdout)
			}
		})
	}

	// Where the messages went.
	subjects := func(address, mailbox string) string {
		msgs, _ := s.mailbox(t, address, mailbox)
		var out []string
		for _, m := range msgs {
			out = append(out, m.Meta.Subject)
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct{ address, mailbox, want string }{
		{"alice@example.test", "INBOX", "plain team nowhere"},
		{"alice@example.test", "Archive", "archived"},
		{"bob@example.test", "INBOX", "mixed both team postfix fromline rp"},
		{"full@example.test", "INBOX", "fill"},
	} {
		if got := subjects(c.address, c.mailbox); got != c.want {
			t.Errorf("%s %s holds %q, want %q", c.address, c.mailbox, got, c.want)
		}
	}
	_, raws = s.mailbox(t, "bob@example.test", "INBOX")
	for i, prefix := range map[int]string{
		3: "Return-Path: <>\r\n",
		4: "Return-Path: <s2@remote.test>\r\n",
		5: "Return-Path: <mta@remote.test>\r\n",
	} {
		m := verdict.FindSubmatch(raws[i])
		if !bytes.HasPrefix(raws[i], []byte(prefix)) || m == nil || !bytes.HasPrefix(raws[i][len(m[0]):], []byte("From: Sender")) {
			t.Errorf("bob's message %d starts %q, want %q, the verdict, then From", i, raws[i][:min(len(raws[i]), 60)], prefix)
		}
	}

	// The forward is queued for queued to send.
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: s.db, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	q, err := st.ListQueue(ctx, store.QueueFilter{})
	st.Close()
	if err != nil || len(q) != 1 || len(q[0].Recipients) != 1 || q[0].Recipients[0].Address != "someone@remote.test" ||
		q[0].Sender != "" {
		t.Errorf("queue %+v, %v; want one entry for someone@remote.test", q, err)
	}
}

func TestDeliverConfigLimits(t *testing.T) {
	s := newDeliverSite(t, "")
	strict := filepath.Join(s.dir, "strict.toml")
	s.writeConfig(t, strict, "[smtpd]\nmax_message_size = 200\n[deliver]\nquota_exceeded = \"permanent\"\n")
	env := []string{"GANNET_CONFIG=" + strict}
	msg := fmt.Sprintf(deliverMsg, "limits")
	for _, tc := range []struct {
		name   string
		stdin  string
		rcpt   string
		status int
		stderr string
	}{
		{"fills the quota", msg, "full@example.test", 0, ""},
		{"over quota is permanent", msg, "full@example.test", 69, `mailbox full \(552 5\.2\.2\)`},
		{"too large", msg + strings.Repeat("x", 200), "alice@example.test", 69,
			`^deliver: message larger than the limit of 200 bytes \(smtpd\.max_message_size\)\n$`},
		{"at the limit", msg + strings.Repeat("x", 200-len(msg)), "alice@example.test", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.run(t, tc.stdin, env, "deliver", tc.rcpt)
			if r.status != tc.status || tc.stderr == "" && r.stderr != "" ||
				tc.stderr != "" && !regexp.MustCompile(tc.stderr).MatchString(r.stderr) {
				t.Errorf("status %d, stderr %q; want %d, %q", r.status, r.stderr, tc.status, tc.stderr)
			}
		})
	}
	if n := s.count(t, "alice@example.test", "INBOX"); n != 1 {
		t.Errorf("alice has %d messages, want 1 (the one at the limit)", n)
	}
	// A configuration that does not load: temporary, the MTA keeps the mail.
	r := runWith(t, runOpts{stdin: msg, env: []string{"GANNET_CONFIG=" + filepath.Join(s.dir, "missing.toml")}},
		"deliver", "alice@example.test")
	if r.status != 75 {
		t.Errorf("missing configuration: status %d, want 75; stderr %q", r.status, r.stderr)
	}
}

func TestDeliverMbox(t *testing.T) {
	s := newDeliverSite(t, "[smtpd]\nmax_message_size = 2000\n")
	var mbox bytes.Buffer
	const n = 200
	for i := range n {
		fmt.Fprintf(&mbox, "From sender%d@remote.test Mon Feb  3 04:05:%02d 2020\n", i, i%60)
		fmt.Fprintf(&mbox, "From: sender%d@remote.test\nSubject: mbox %d\nMessage-ID: <%d@remote.test>\n", i, i, i)
		if i%10 == 0 {
			mbox.WriteString("Status: RO\n")
		}
		fmt.Fprintf(&mbox, "\nLine one of %d.\n>From the escaped line.\n>>From a doubly escaped one.\n\n", i)
	}
	// One message over the limit is skipped, with a warning.
	mbox.WriteString("From big@remote.test Mon Feb  3 04:05:06 2020\nSubject: big\n\n" + strings.Repeat("y\n", 1500) + "\n")
	file := filepath.Join(s.dir, "old.mbox")
	if err := os.WriteFile(file, mbox.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	r := s.run(t, "", nil, "deliver", "--mbox", file, "-m", "Imported", "alice@example.test")
	if r.status != 65 {
		t.Errorf("status %d, want 65 (one message skipped); stderr %q", r.status, r.stderr)
	}
	if !regexp.MustCompile(`^deliver: .*old\.mbox: mbox message 201 \(From big@remote\.test .*\): \d+ bytes, over the limit of 2000; skipped\n$`).MatchString(r.stderr) {
		t.Errorf("stderr %q: want one warning and no progress bar (not a terminal)", r.stderr)
	}
	m := regexp.MustCompile(`^imported 200 messages \((\d+) bytes\) into alice@example\.test/Imported; skipped 1 over the limit of 2000 bytes\n$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("stdout %q", r.stdout)
	}
	msgs, raws := s.mailbox(t, "alice@example.test", "Imported")
	if len(msgs) != n {
		t.Fatalf("Imported holds %d messages, want %d", len(msgs), n)
	}
	total := 0
	for i, msg := range msgs {
		total += len(raws[i])
		wantBody := fmt.Sprintf("\r\n\r\nLine one of %d.\r\nFrom the escaped line.\r\n>From a doubly escaped one.\r\n", i)
		if msg.Meta.Subject != fmt.Sprintf("mbox %d", i) || !bytes.HasSuffix(raws[i], []byte(wantBody)) {
			t.Fatalf("message %d: subject %q, raw %q", i, msg.Meta.Subject, raws[i])
		}
		if want := time.Date(2020, 2, 3, 4, 5, i%60, 0, time.UTC); !msg.InternalDate.Equal(want) {
			t.Errorf("message %d: internal date %v, want %v", i, msg.InternalDate, want)
		}
		if seen := strings.Contains(strings.Join(msg.Flags, " "), `\Seen`); seen != (i%10 == 0) {
			t.Errorf("message %d: flags %v", i, msg.Flags)
		}
	}
	if fmt.Sprint(total) != m[1] {
		t.Errorf("summary says %s bytes, stored %d", m[1], total)
	}

	// Errors: not an mbox, no such file, unknown recipient.
	plain := filepath.Join(s.dir, "plain.eml")
	os.WriteFile(plain, []byte("Subject: x\n\nbody\n"), 0o644)
	for _, tc := range []struct {
		args   []string
		status int
		stderr string
	}{
		{[]string{"--mbox", plain, "alice@example.test"}, 65, `not an mbox`},
		{[]string{"--mbox", filepath.Join(s.dir, "none"), "alice@example.test"}, 66, `no such file`},
		{[]string{"--mbox", file, "nobody@example.test"}, 67, `nobody@example\.test: no such user`},
		{[]string{"--mbox", file}, 64, `no recipient`},
	} {
		r := s.run(t, "", nil, "deliver", tc.args...)
		if r.status != tc.status || !regexp.MustCompile(tc.stderr).MatchString(r.stderr) {
			t.Errorf("deliver %s: status %d, stderr %q; want %d, %q", strings.Join(tc.args, " "), r.status, r.stderr,
				tc.status, tc.stderr)
		}
	}
	if n := s.count(t, "alice@example.test", "INBOX"); n != 0 {
		t.Errorf("INBOX holds %d messages after the failed imports", n)
	}
}

// deliver reads the client that handed the message to this site from the
// Received fields its MTA wrote, past a content filter's loopback hop: a
// rule on client_ip files mail from that client into Junk, and not mail
// from another.
func TestDeliverClientFromReceived(t *testing.T) {
	s := newDeliverSite(t, `
[[spam.rule]]
name = "LOCAL_BAD_CLIENT"
condition = 'client_ip == "203.0.113.5" and helo == "mail.remote.test"'
score = 10
description = "sent by a client we know to be bad"
`)
	msg := func(client string) string {
		return "Received: from localhost (localhost [127.0.0.1]) by mx.example.test (Postfix) with ESMTP id 2A\n" +
			"Received: from mail.remote.test (mail.remote.test [" + client + "]) by mx.example.test (Postfix) with ESMTP id 1A\n" +
			fmt.Sprintf(deliverMsg, "from "+client)
	}
	for _, tc := range []struct{ client, mailbox string }{{"203.0.113.5", "Junk"}, {"198.51.100.9", "INBOX"}} {
		if r := s.run(t, msg(tc.client), nil, "deliver", "-f", "s@remote.test", "alice@example.test"); r.status != 0 {
			t.Fatalf("deliver: status %d, %s", r.status, r.stderr)
		}
		msgs, raws := s.mailbox(t, "alice@example.test", tc.mailbox)
		found := false
		for i, m := range msgs {
			if m.Meta.Subject == "from "+tc.client {
				found = true
				if tagged := strings.Contains(string(raws[i]), "LOCAL_BAD_CLIENT"); tagged != (tc.mailbox == "Junk") {
					t.Errorf("mail from %s: LOCAL_BAD_CLIENT %v in\n%s", tc.client, tagged, raws[i])
				}
			}
		}
		if !found {
			t.Errorf("mail from %s is not in %s", tc.client, tc.mailbox)
		}
	}
}
