package tests

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

// queueSite is a configuration and a store with queued mail, for driving
// queuectl from a shell as an administrator would.
type queueSite struct {
	*deliverSite
	t  *testing.T
	st *sqlite.Store
}

// newQueueSite writes a configuration (extra appended) and opens its
// store. The store's busy timeout is short, so that a test of a locked
// store ends quickly.
func newQueueSite(t *testing.T) *queueSite {
	t.Helper()
	dir := t.TempDir()
	s := &deliverSite{dir: dir, config: filepath.Join(dir, "gannet.toml"), db: filepath.Join(dir, "state", "gannet.db")}
	if err := os.Mkdir(filepath.Join(dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	s.writeConfig(t, s.config, "[log]\nlevel = \"warn\"\n\n[store]\nbusy_timeout = \"100ms\"\n")
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: s.db, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &queueSite{deliverSite: s, t: t, st: st}
}

// enqueue queues a message as smtpd would and returns its ID and raw bytes.
func (q *queueSite) enqueue(e store.NewQueueEntry, subject string, size int) (int64, []byte) {
	q.t.Helper()
	head := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\n", e.Sender, e.Recipients[0].Address, subject)
	e.Raw = []byte(head + strings.Repeat("x", max(size-len(head)-2, 0)) + "\r\n")
	ids, err := q.st.Enqueue(context.Background(), []store.NewQueueEntry{e})
	if err != nil {
		q.t.Fatal(err)
	}
	return ids[0], e.Raw
}

// sh runs script with bash, queuectl on the PATH and the site's
// configuration in GANNET_CONFIG.
func (q *queueSite) sh(stdin, script string) result {
	q.t.Helper()
	bash := needTool(q.t, "bash")
	return runWith(q.t, runOpts{stdin: stdin, env: []string{
		"GANNET_CONFIG=" + q.config, "PATH=" + binDir + ":" + os.Getenv("PATH"),
	}}, bash, "-c", "set -o pipefail\n"+script)
}

// ok runs script and fails the test unless it exits 0; it returns stdout.
func (q *queueSite) ok(script string) string {
	q.t.Helper()
	r := q.sh("", script)
	if r.status != 0 {
		q.t.Fatalf("%s: status %d\nstdout: %s\nstderr: %s", script, r.status, r.stdout, r.stderr)
	}
	return r.stdout
}

// entry reads entry id from the store.
func (q *queueSite) entry(id int64) *store.QueueEntry {
	q.t.Helper()
	e, err := q.st.GetQueueEntry(context.Background(), id)
	if err != nil {
		q.t.Fatalf("entry %d: %v", id, err)
	}
	return e
}

// gone checks that entries are no longer in the queue.
func (q *queueSite) gone(ids ...int64) {
	q.t.Helper()
	for _, id := range ids {
		if _, err := q.st.GetQueueEntry(context.Background(), id); err == nil {
			q.t.Errorf("entry %d is still queued", id)
		}
	}
}

// jsonEntry is what list --json prints per line (the fields checked here).
type jsonEntry struct {
	ID          int64     `json:"id"`
	Status      string    `json:"status"`
	Sender      string    `json:"sender"`
	Size        int64     `json:"size"`
	Created     time.Time `json:"created"`
	NextAttempt time.Time `json:"next_attempt"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error"`
	DSNRet      string    `json:"dsn_ret"`
	DSNEnvID    string    `json:"dsn_envid"`
	RequireTLS  bool      `json:"requiretls"`
	Recipients  []struct {
		Address string   `json:"address"`
		Status  string   `json:"status"`
		Notify  []string `json:"notify"`
		ORcpt   string   `json:"orcpt"`
	} `json:"recipients"`
	Headers *string `json:"headers"`
	Message *string `json:"message"`
}

func parseJSONLines(t *testing.T, out string) []jsonEntry {
	t.Helper()
	var entries []jsonEntry
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var e jsonEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		entries = append(entries, e)
	}
	return entries
}

func TestQueuectlShell(t *testing.T) {
	q := newQueueSite(t)

	// An empty queue says so, like mailq, and lists nothing as JSON.
	if out := q.ok("queuectl list"); out != "Mail queue is empty\n" {
		t.Errorf("empty queue: %q", out)
	}
	if out := q.ok("queuectl list --json | wc -l"); strings.TrimSpace(out) != "0" {
		t.Errorf("empty queue --json: %q lines", out)
	}

	alice, aliceRaw := q.enqueue(store.NewQueueEntry{
		Sender: "alice@example.test",
		Recipients: []store.QueueRecipient{
			{Address: "bob@remote.test", Notify: []string{"FAILURE", "DELAY"}, ORcpt: "rfc822;bob@remote.test"},
			{Address: "carol@other.test"},
		},
		DSNRet: "HDRS", DSNEnvID: "env-42", RequireTLS: true,
	}, "lunch", 3000)
	bounce, _ := q.enqueue(store.NewQueueEntry{Recipients: []store.QueueRecipient{{Address: "postmaster@remote.test"}}}, "bounce", 1500)
	dave, _ := q.enqueue(store.NewQueueEntry{Sender: "dave@example.test", Recipients: []store.QueueRecipient{{Address: "x@other.test"}}}, "report", 700)
	total := int64(3000 + 1500 + 700)

	// One JSON object per line, with the envelope.
	entries := parseJSONLines(t, q.ok("queuectl list --json"))
	if len(entries) != 3 {
		t.Fatalf("list --json: %d entries, want 3", len(entries))
	}
	a := entries[0]
	if a.ID != alice || a.Status != "active" || a.Sender != "alice@example.test" || a.Size != 3000 ||
		a.DSNRet != "HDRS" || a.DSNEnvID != "env-42" || !a.RequireTLS || len(a.Recipients) != 2 ||
		a.Recipients[0].Address != "bob@remote.test" || a.Recipients[0].Status != "pending" ||
		strings.Join(a.Recipients[0].Notify, ",") != "FAILURE,DELAY" || a.Recipients[0].ORcpt != "rfc822;bob@remote.test" ||
		a.Created.IsZero() || a.NextAttempt.IsZero() || a.Headers != nil {
		t.Errorf("list --json, first entry: %+v", a)
	}
	if entries[1].ID != bounce || entries[1].Sender != "" {
		t.Errorf("list --json, the bounce: %+v", entries[1])
	}

	// The last line sums up the queue as Postfix does.
	want := fmt.Sprintf("-- %d Kbytes in 3 Requests.", total/1024)
	if out := q.ok("queuectl list | tail -1"); strings.TrimSpace(out) != want {
		t.Errorf("list | tail -1: %q, want %q", out, want)
	}
	out := q.ok("queuectl list")
	for _, want := range []string{"-Queue ID-", "alice@example.test\n", "bob@remote.test\n", "<>\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}

	// Filters.
	for script, want := range map[string]string{
		"queuectl list --sender '<>' --json | wc -l":                  "1",
		"queuectl list --sender ALICE@example.test --json | wc -l":    "1",
		"queuectl list --domain other.test --json | wc -l":            "2",
		"queuectl list --recipient postmaster@remote.test | tail -1":  "-- 1 Kbytes in 1 Request.",
		"queuectl list --status deferred":                             "Mail queue is empty",
		"queuectl list --recipient nobody@remote.test --json | wc -l": "0",
	} {
		if out := q.ok(script); strings.TrimSpace(out) != want {
			t.Errorf("%s: %q, want %q", script, out, want)
		}
	}

	// hold, then the status shows, and list marks it with "!".
	r := q.sh("", fmt.Sprintf("queuectl hold %d", alice))
	if r.status != 0 || r.stderr != "queuectl: Placed on hold: 1 message\n" {
		t.Errorf("hold: status %d, stderr %q", r.status, r.stderr)
	}
	if q.entry(alice).Status != store.QueueHeld {
		t.Errorf("entry %d is not held", alice)
	}
	held := parseJSONLines(t, q.ok("queuectl list --status held --json"))
	if len(held) != 1 || held[0].ID != alice || held[0].Status != "held" {
		t.Errorf("list --status held: %+v", held)
	}
	if out := q.ok("queuectl list"); !strings.Contains(out, "\n"+strconv.FormatInt(alice, 10)+"! ") {
		t.Errorf("list does not mark the held entry:\n%s", out)
	}

	// show: the envelope and the headers, not the body; --body the message
	// exactly; an ID that is not there fails as postsuper's do.
	out = q.ok(fmt.Sprintf("queuectl show %d", alice))
	for _, want := range []string{"status:", "held", "<alice@example.test>", "RET=HDRS ENVID=env-42", "requiretls:    yes",
		"bob@remote.test  pending  attempts=0  NOTIFY=FAILURE,DELAY  ORCPT=rfc822;bob@remote.test", "\nSubject: lunch\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "xxxx") {
		t.Errorf("show printed the body:\n%s", out)
	}
	if out := q.ok(fmt.Sprintf("queuectl show --body %d", alice)); out != string(aliceRaw) {
		t.Errorf("show --body is not the message as queued: %q", out)
	}
	shown := parseJSONLines(t, q.ok(fmt.Sprintf("queuectl show %d --json", alice)))
	if len(shown) != 1 || shown[0].Headers == nil || !strings.Contains(*shown[0].Headers, "Subject: lunch\r\n") || shown[0].Message != nil {
		t.Errorf("show --json: %+v", shown)
	}
	r = q.sh("", "queuectl show 999999")
	if r.status != 1 || r.stderr != "queuectl: 999999: no such queue entry\n" || r.stdout != "" {
		t.Errorf("show of a missing ID: status %d, stdout %q, stderr %q", r.status, r.stdout, r.stderr)
	}

	// retry --all flushes the queue but leaves held mail held; release
	// keeps it where it was.
	deferEntry(t, q.st, dave)
	if e := q.entry(dave); !e.NextAttempt.After(time.Now()) {
		t.Fatalf("entry %d is not deferred", dave)
	}
	if out := q.ok("queuectl list --status deferred --json | wc -l"); strings.TrimSpace(out) != "1" {
		t.Errorf("list --status deferred: %s lines", out)
	}
	before := time.Now()
	r = q.sh("", "queuectl retry --all")
	if r.status != 0 || r.stderr != "queuectl: Requeued: 2 messages\n" {
		t.Errorf("retry --all: status %d, stderr %q", r.status, r.stderr)
	}
	if e := q.entry(dave); e.NextAttempt.After(time.Now()) || e.NextAttempt.Before(before.Add(-time.Second)) {
		t.Errorf("after retry --all the deferred entry is due at %v (now %v)", e.NextAttempt, time.Now())
	}
	if q.entry(alice).Status != store.QueueHeld {
		t.Errorf("retry --all released a held entry")
	}
	r = q.sh("", fmt.Sprintf("queuectl release %d %d", alice, bounce))
	if r.status != 0 || r.stderr != "queuectl: Released from hold: 1 message\n" || q.entry(alice).Status != store.QueueActive {
		t.Errorf("release: status %d, stderr %q", r.status, r.stderr)
	}

	// IDs on standard input, as postsuper -d - reads them; a missing or
	// bad ID is reported and the others are still deleted, with status 1.
	r = q.sh("", fmt.Sprintf("echo %d | queuectl delete -", bounce))
	if r.status != 0 || r.stderr != "queuectl: Deleted: 1 message\n" {
		t.Errorf("echo ID | delete -: status %d, stderr %q", r.status, r.stderr)
	}
	q.gone(bounce)
	r = q.sh("", fmt.Sprintf("printf '999999\\nbogus\\n%d*\\n' | queuectl delete -", dave))
	if r.status != 1 || r.stderr != "queuectl: 999999: no such queue entry\nqueuectl: \"bogus\": not a queue ID\nqueuectl: Deleted: 1 message\n" {
		t.Errorf("delete with a missing ID: status %d, stderr %q", r.status, r.stderr)
	}
	q.gone(dave)
	if out := q.ok("queuectl list --json | wc -l"); strings.TrimSpace(out) != "1" {
		t.Errorf("after deleting two of three, %s lines", out)
	}

	// A pipeline from list to hold, as with mailq and postsuper -h -.
	for i := range 3 {
		q.enqueue(store.NewQueueEntry{Sender: "list@example.test", Recipients: []store.QueueRecipient{{Address: "m@remote.test"}}}, "news "+strconv.Itoa(i), 500)
	}
	r = q.sh("", `queuectl list --sender list@example.test --json | sed -n 's/^{"id":\([0-9]*\),.*/\1/p' | queuectl hold -`)
	if r.status != 0 || r.stderr != "queuectl: Placed on hold: 3 messages\n" {
		t.Errorf("list | hold -: status %d, stderr %q", r.status, r.stderr)
	}
	if out := q.ok("queuectl list --status held --json | wc -l"); strings.TrimSpace(out) != "3" {
		t.Errorf("%s held after list | hold -, want 3", out)
	}

	// delete --all asks on a terminal and does nothing without a yes...
	if script := needScript(t); script != "" {
		r = q.sh("n\n", script+" -qec 'queuectl delete --all' /dev/null")
		if r.status != 1 || !strings.Contains(r.stdout, "delete all 4 messages") || !strings.Contains(r.stdout, "nothing deleted") {
			t.Errorf("delete --all on a terminal, answered n: status %d, output %q", r.status, r.stdout)
		}
		if out := q.ok("queuectl list --json | wc -l"); strings.TrimSpace(out) != "4" {
			t.Errorf("after a no, %s entries left, want 4", out)
		}
	}
	// ...and does not ask a script.
	r = q.sh("", "queuectl delete --all </dev/null")
	if r.status != 0 || r.stderr != "queuectl: Deleted: 4 messages\n" {
		t.Errorf("delete --all: status %d, stderr %q", r.status, r.stderr)
	}
	if out := q.ok("queuectl list"); out != "Mail queue is empty\n" {
		t.Errorf("after delete --all: %q", out)
	}
}

// needScript returns util-linux's script(1), which gives a command a
// terminal, or "" (skipping that part) when it is missing.
func needScript(t *testing.T) string {
	t.Helper()
	return needTool(t, "script")
}

// deferEntry makes entry id look as queued leaves it after a failed
// attempt: tried once, due again in an hour.
func deferEntry(t *testing.T, st store.Store, id int64) {
	t.Helper()
	ctx := context.Background()
	leased, err := st.Lease(ctx, "test", 100, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for i := range leased {
		e := &leased[i]
		if e.ID == id {
			e.Attempts, e.NextAttempt, e.LastError = 1, time.Now().Add(time.Hour), "451 4.7.1 try again later"
		}
		if err := st.UpdateQueueEntry(ctx, e, "test"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestQueuectlUsageAndBusy(t *testing.T) {
	q := newQueueSite(t)
	id, _ := q.enqueue(store.NewQueueEntry{Sender: "a@example.test", Recipients: []store.QueueRecipient{{Address: "b@remote.test"}}}, "hi", 500)

	// A malformed command line is EX_USAGE (64) and changes nothing.
	for _, script := range []string{
		"queuectl show", "queuectl show 1 2", "queuectl show x", "queuectl delete",
		fmt.Sprintf("queuectl delete --all %d", id), "queuectl hold --bogus 1",
		"queuectl list --status done", "queuectl list extra", "queuectl frobnicate",
		"queuectl bounce", fmt.Sprintf("queuectl bounce --all %d", id),
	} {
		r := q.sh("", script)
		if r.status != 64 || r.stdout != "" || !strings.HasPrefix(r.stderr, "queuectl: ") {
			t.Errorf("%s: status %d, stdout %q, stderr %q; want 64", script, r.status, r.stdout, r.stderr)
		}
	}
	q.entry(id)

	// (bounce itself is tested with queued running, in queued_test.go.)

	// Another process holds the store's write lock: queuectl gives up with
	// EX_TEMPFAIL (75) once the wait is over, and changes nothing.
	db, err := sql.Open("sqlite", q.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	r := q.sh("", fmt.Sprintf("queuectl hold %d", id))
	if r.status != 75 || !strings.Contains(r.stderr, "busy") {
		t.Errorf("hold while locked: status %d, stderr %q; want 75", r.status, r.stderr)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if q.entry(id).Status != store.QueueActive {
		t.Errorf("the entry changed while the store was locked")
	}
	r = q.sh("", fmt.Sprintf("queuectl hold %d", id))
	if r.status != 0 {
		t.Errorf("hold after the lock: status %d, stderr %q", r.status, r.stderr)
	}

	// No configuration: EX_CONFIG.
	r = runWith(t, runOpts{env: []string{"GANNET_CONFIG=" + filepath.Join(q.dir, "missing.toml")}}, "queuectl", "list")
	if r.status != 78 {
		t.Errorf("missing configuration: status %d, stderr %q; want 78", r.status, r.stderr)
	}
}
