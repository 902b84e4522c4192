package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

// openStore opens a fresh SQLite store in the test's temporary directory.
func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "gannet.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// enqueue queues one message from sender to rcpts and returns its ID.
func enqueue(t *testing.T, st store.Store, sender string, rcpts ...string) int64 {
	t.Helper()
	e := store.NewQueueEntry{Sender: sender, Raw: []byte("Subject: test\r\n\r\nbody\r\n")}
	for _, r := range rcpts {
		e.Recipients = append(e.Recipients, store.QueueRecipient{Address: r})
	}
	ids, err := st.Enqueue(context.Background(), []store.NewQueueEntry{e})
	if err != nil {
		t.Fatal(err)
	}
	return ids[0]
}

// defer1 makes entry id deferred, as queued leaves an entry after a failed
// attempt: one attempt, a last error, the next attempt in an hour.
func defer1(t *testing.T, st store.Store, id int64) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	leased, err := st.Lease(ctx, "test", 100, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range leased {
		if e.ID != id {
			// Give the others back untouched.
			e.NextAttempt = now.Add(-time.Second)
		} else {
			e.Attempts = 1
			e.NextAttempt = now.Add(time.Hour)
			e.LastError = "451 4.7.1 try again later"
			e.Recipients[0].Attempts = 1
			e.Recipients[0].LastError = e.LastError
		}
		if err := st.UpdateQueueEntry(ctx, &e, "test"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseID(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"1", 1}, {"123", 123}, {" 42 ", 42}, {"17*", 17}, {"17!", 17},
		{"", 0}, {"0", 0}, {"-1", 0}, {"+1", 0}, {"x", 0}, {"1x", 0}, {"*", 0},
		{"99999999999999999999", 0}, {"1 2", 0},
	} {
		got, err := ParseID(c.in)
		if got != c.want || (c.want == 0) != (err != nil) {
			t.Errorf("ParseID(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
		if err != nil && !errors.Is(err, ErrBadID) {
			t.Errorf("ParseID(%q): error %v does not wrap ErrBadID", c.in, err)
		}
	}
}

func TestEachID(t *testing.T) {
	type call struct {
		text string
		id   int64
		bad  bool
	}
	collect := func(args []string, stdin string) ([]call, error) {
		var got []call
		err := EachID(args, strings.NewReader(stdin), func(text string, id int64, err error) error {
			got = append(got, call{text, id, err != nil})
			return nil
		})
		return got, err
	}
	got, err := collect([]string{"3", "-", "x", "-", "4"}, "10\n\n  11*  \nbad\r\n12!\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []call{{"3", 3, false}, {"10", 10, false}, {"11*", 11, false}, {"bad", 0, true}, {"12!", 12, false}, {"x", 0, true}, {"4", 4, false}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}

	// A line too long is an error, after the lines before it.
	got, err = collect([]string{"-"}, "5\n"+strings.Repeat("1", 5000)+"\n6\n")
	if err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("long line: err %v", err)
	}
	if len(got) != 1 || got[0].id != 5 {
		t.Errorf("long line: calls %v", got)
	}

	// fn's error stops it.
	stop := errors.New("stop")
	n := 0
	err = EachID([]string{"1", "2"}, strings.NewReader(""), func(string, int64, error) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("err %v after %d calls; want stop after 1", err, n)
	}
}

func TestParseStatus(t *testing.T) {
	for in, want := range map[string]store.QueueStatus{
		"": "", "active": store.QueueActive, "Held": store.QueueHeld, "hold": store.QueueHeld, "deferred": StatusDeferred,
	} {
		if got, err := ParseStatus(in); got != want || err != nil {
			t.Errorf("ParseStatus(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"done", "bogus"} {
		if _, err := ParseStatus(in); err == nil {
			t.Errorf("ParseStatus(%q) succeeded", in)
		}
	}
}

func TestSummary(t *testing.T) {
	for _, c := range []struct {
		sizes []int64
		want  string
	}{
		{nil, "Mail queue is empty"},
		{[]int64{1023}, "-- 0 Kbytes in 1 Request."},
		{[]int64{1024}, "-- 1 Kbytes in 1 Request."},
		{[]int64{1500, 1600}, "-- 3 Kbytes in 2 Requests."},
	} {
		var entries []store.QueueEntry
		for _, s := range c.sizes {
			entries = append(entries, store.QueueEntry{Size: s})
		}
		if got := Summarize(entries).String(); got != c.want {
			t.Errorf("%v: %q, want %q", c.sizes, got, c.want)
		}
	}
}

func TestFormatAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                    "0s",
		0:                               "0s",
		45 * time.Second:                "45s",
		time.Minute:                     "1m",
		12*time.Minute + 5*time.Second:  "12m5s",
		3*time.Hour + 12*time.Minute:    "3h12m",
		3*time.Hour + 30*time.Second:    "3h",
		52 * time.Hour:                  "2d4h",
		5 * 24 * time.Hour:              "5d",
		59*time.Minute + 59*time.Second: "59m59s",
	} {
		if got := FormatAge(d); got != want {
			t.Errorf("FormatAge(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestListFilters(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	a := &Admin{Queue: st}
	alice := enqueue(t, st, "Alice@Example.org", "bob@remote.test", "carol@other.test")
	bounce := enqueue(t, st, "", "alice@example.org")
	held := enqueue(t, st, "dave@example.org", "erin@remote.test")
	deferred := enqueue(t, st, "dave@example.org", "frank@other.test")
	if _, err := a.Apply(ctx, Hold, held); err != nil {
		t.Fatal(err)
	}
	defer1(t, st, deferred)

	for _, c := range []struct {
		name string
		f    ListFilter
		want []int64
	}{
		{"all", ListFilter{}, []int64{alice, bounce, held, deferred}},
		{"sender any case", ListFilter{Sender: "alice@example.ORG"}, []int64{alice}},
		{"sender in brackets", ListFilter{Sender: "<alice@example.org>"}, []int64{alice}},
		{"null sender", ListFilter{Sender: "<>"}, []int64{bounce}},
		{"recipient", ListFilter{Recipient: "Carol@other.test"}, []int64{alice}},
		{"domain", ListFilter{Domain: "remote.test"}, []int64{alice, held}},
		{"@domain", ListFilter{Domain: "@other.test"}, []int64{alice, deferred}},
		{"active", ListFilter{Status: store.QueueActive}, []int64{alice, bounce, deferred}},
		{"held", ListFilter{Status: store.QueueHeld}, []int64{held}},
		{"deferred", ListFilter{Status: StatusDeferred}, []int64{deferred}},
		{"two filters", ListFilter{Sender: "dave@example.org", Status: StatusDeferred}, []int64{deferred}},
		{"no match", ListFilter{Recipient: "nobody@remote.test"}, nil},
	} {
		entries, err := a.List(ctx, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := IDs(entries); !slices.Equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}

	entries, err := a.List(ctx, ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	states := map[int64]string{}
	for i := range entries {
		states[entries[i].ID] = State(&entries[i])
	}
	if want := map[int64]string{alice: "active", bounce: "active", held: "held", deferred: "deferred"}; fmt.Sprint(states) != fmt.Sprint(want) {
		t.Errorf("states %v, want %v", states, want)
	}
}

func TestDelivering(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	id := enqueue(t, st, "a@example.org", "b@remote.test")
	now := time.Now()
	if _, err := st.Lease(ctx, "queued@mx", 1, now, time.Minute); err != nil {
		t.Fatal(err)
	}
	e, err := st.GetQueueEntry(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !Delivering(e, now) {
		t.Errorf("leased entry is not being delivered")
	}
	if Delivering(e, now.Add(2*time.Minute)) {
		t.Errorf("entry whose lease ran out is still being delivered")
	}
}

func TestApply(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	now := time.Now()
	a := &Admin{Queue: st, Now: func() time.Time { return now }}
	id := enqueue(t, st, "a@example.org", "b@remote.test")

	status := func() store.QueueStatus {
		t.Helper()
		e, err := st.GetQueueEntry(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return e.Status
	}
	step := func(act Action, wantChanged bool, want store.QueueStatus) {
		t.Helper()
		changed, err := a.Apply(ctx, act, id)
		if err != nil {
			t.Fatalf("%v: %v", act, err)
		}
		if changed != wantChanged {
			t.Errorf("%v: changed %v, want %v", act, changed, wantChanged)
		}
		if got := status(); got != want {
			t.Errorf("%v: status %s, want %s", act, got, want)
		}
	}
	step(Release, false, store.QueueActive) // not held: nothing to do
	step(Hold, true, store.QueueHeld)
	step(Hold, false, store.QueueHeld)
	step(Release, true, store.QueueActive)

	// Retry makes a deferred entry due now...
	defer1(t, st, id)
	if leased, _ := st.Lease(ctx, "w", 10, now, time.Minute); len(leased) != 0 {
		t.Fatalf("deferred entry was due")
	}
	step(Retry, true, store.QueueActive)
	leased, err := st.Lease(ctx, "w", 10, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(leased) != 1 || leased[0].ID != id {
		t.Fatalf("after retry, Lease took %v; want entry %d", IDs(leased), id)
	}
	leased[0].NextAttempt = now.Add(time.Hour)
	if err := st.UpdateQueueEntry(ctx, &leased[0], "w"); err != nil {
		t.Fatal(err)
	}
	// ...and, named explicitly, releases a held one (postsuper -r).
	step(Hold, true, store.QueueHeld)
	step(Retry, true, store.QueueActive)
	if leased, _ := st.Lease(ctx, "w", 10, now, time.Minute); len(leased) != 1 {
		t.Errorf("held entry retried by name is not due")
	}

	if changed, err := a.Apply(ctx, Delete, id); !changed || err != nil {
		t.Fatalf("delete: %v, %v", changed, err)
	}
	for _, act := range []Action{Retry, Hold, Release, Delete} {
		if _, err := a.Apply(ctx, act, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%v on a deleted entry: %v, want ErrNotFound", act, err)
		}
	}
}

func TestApplyAll(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	now := time.Now()
	a := &Admin{Queue: st, Now: func() time.Time { return now }}
	one := enqueue(t, st, "a@example.org", "b@remote.test")
	two := enqueue(t, st, "a@example.org", "c@remote.test")
	held := enqueue(t, st, "a@example.org", "d@remote.test")
	if _, err := a.Apply(ctx, Hold, held); err != nil {
		t.Fatal(err)
	}
	defer1(t, st, two)

	all := func(act Action) int {
		t.Helper()
		entries, err := a.List(ctx, act.AllFilter())
		if err != nil {
			t.Fatal(err)
		}
		n, err := a.ApplyAll(ctx, act, IDs(entries))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Retry --all flushes the active entries and leaves the held one.
	if n := all(Retry); n != 2 {
		t.Errorf("retry --all changed %d, want 2", n)
	}
	leased, err := st.Lease(ctx, "w", 10, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got := IDs(leased); !slices.Equal(got, []int64{one, two}) {
		t.Errorf("due after retry --all: %v, want %v", got, []int64{one, two})
	}
	for i := range leased {
		if err := st.UpdateQueueEntry(ctx, &leased[i], "w"); err != nil {
			t.Fatal(err)
		}
	}
	// An entry held after the listing is left held by retry --all.
	entries, err := a.List(ctx, Retry.AllFilter())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(ctx, Hold, one); err != nil {
		t.Fatal(err)
	}
	if n, err := a.ApplyAll(ctx, Retry, IDs(entries)); n != 1 || err != nil {
		t.Errorf("retry --all with one held meanwhile: %d, %v; want 1", n, err)
	}
	if e, _ := st.GetQueueEntry(ctx, one); e.Status != store.QueueHeld {
		t.Errorf("entry held meanwhile is %s after retry --all", e.Status)
	}

	if n := all(Release); n != 2 {
		t.Errorf("release --all changed %d, want 2", n)
	}
	if n := all(Hold); n != 3 {
		t.Errorf("hold --all changed %d, want 3", n)
	}
	// Entries gone since the listing are skipped.
	entries, err = a.List(ctx, Delete.AllFilter())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteQueueEntry(ctx, two); err != nil {
		t.Fatal(err)
	}
	if n, err := a.ApplyAll(ctx, Delete, IDs(entries)); n != 2 || err != nil {
		t.Errorf("delete --all: %d, %v; want 2", n, err)
	}
	if left, _ := a.List(ctx, ListFilter{}); len(left) != 0 {
		t.Errorf("%d entries left after delete --all", len(left))
	}
}

func TestActionDone(t *testing.T) {
	for _, c := range []struct {
		act  Action
		n    int
		want string
	}{
		{Delete, 1, "Deleted: 1 message"},
		{Delete, 2, "Deleted: 2 messages"},
		{Hold, 3, "Placed on hold: 3 messages"},
		{Release, 1, "Released from hold: 1 message"},
		{Retry, 4, "Requeued: 4 messages"},
	} {
		if got := c.act.Done(c.n); got != c.want {
			t.Errorf("%q, want %q", got, c.want)
		}
	}
}

// blobs is a store.Blobs over one message, for ReadHeaders.
type blobs map[string]string

func (b blobs) ReadBlob(_ context.Context, id string, offset, length int64) ([]byte, error) {
	return nil, errors.New("not used")
}

func (b blobs) OpenBlob(_ context.Context, id string) (io.ReadCloser, error) {
	s, ok := b[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return io.NopCloser(strings.NewReader(s)), nil
}

func TestReadHeaders(t *testing.T) {
	long := "X-Long: " + strings.Repeat("a", 10000) + "\r\n"
	for _, c := range []struct {
		name, msg string
		max       int
		want      string
		truncated bool
	}{
		{"crlf", "Subject: a\r\nFrom: b\r\n\r\nbody\r\n\r\nmore\r\n", 1000, "Subject: a\r\nFrom: b\r\n", false},
		{"lf", "Subject: a\n\nbody\n", 1000, "Subject: a\n", false},
		{"no body", "Subject: a\r\n", 1000, "Subject: a\r\n", false},
		{"no final newline", "Subject: a", 1000, "Subject: a", false},
		{"long line", long + "\r\nbody", 100000, long, false},
		{"cut short", "Subject: " + strings.Repeat("b", 100) + "\r\n\r\nbody", 20, "Subject: bbbbbbbbbbb", true},
		{"exactly max", "Subject: a\r\n\r\nbody", 12, "Subject: a\r\n", false},
	} {
		hdr, truncated, err := ReadHeaders(context.Background(), blobs{"m": c.msg}, "m", c.max)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if string(hdr) != c.want || truncated != c.truncated {
			t.Errorf("%s: %q, %v; want %q, %v", c.name, hdr, truncated, c.want, c.truncated)
		}
	}
	if _, _, err := ReadHeaders(context.Background(), blobs{}, "missing", 100); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing blob: %v", err)
	}
}
