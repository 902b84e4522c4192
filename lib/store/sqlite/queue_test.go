package sqlite

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gannet/lib/store"
)

// queueMsg is a small distinct raw message.
func queueMsg(i int) []byte {
	return fmt.Appendf(nil, "From: a@example.org\r\nSubject: message %d\r\n\r\nbody %d\r\n", i, i)
}

// enqueueN queues n entries to one recipient each and returns their IDs.
func enqueueN(t testing.TB, s *Store, n int) []int64 {
	t.Helper()
	entries := make([]store.NewQueueEntry, n)
	for i := range entries {
		entries[i] = store.NewQueueEntry{
			Sender:     "a@example.org",
			Recipients: []store.QueueRecipient{{Address: fmt.Sprintf("r%d@example.net", i)}},
			Raw:        queueMsg(i),
		}
	}
	ids, err := s.Enqueue(context.Background(), entries)
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	if len(ids) != n {
		t.Fatalf("Enqueue returned %d IDs for %d entries", len(ids), n)
	}
	return ids
}

func TestQueueEnqueueRoundTrip(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	raw := queueMsg(1)
	before := time.Now().Add(-time.Millisecond)
	ids, err := s.Enqueue(ctx, []store.NewQueueEntry{{
		Sender: "Sender@Example.org",
		Recipients: []store.QueueRecipient{
			{Address: "one@example.net", Notify: []string{"SUCCESS", "FAILURE"}, ORcpt: "rfc822;one@example.net"},
			{Address: "two@Example.COM"},
		},
		Raw:         raw,
		DSNRet:      "hdrs",
		DSNEnvID:    "env-1",
		RequireTLS:  true,
		SMTPUTF8:    true,
		AuthAccount: 7,
	}, {
		Sender:     "",
		Recipients: []store.QueueRecipient{{Address: "postmaster"}},
		Raw:        raw, // same bytes: same blob
	}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.GetQueueEntry(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	want := []store.QueueRecipient{
		{Address: "one@example.net", Notify: []string{"SUCCESS", "FAILURE"}, ORcpt: "rfc822;one@example.net", Status: store.RcptPending},
		{Address: "two@Example.COM", Status: store.RcptPending},
	}
	if e.Sender != "Sender@Example.org" || e.Status != store.QueueActive || e.Size != int64(len(raw)) ||
		e.DSNRet != "HDRS" || e.DSNEnvID != "env-1" || !e.RequireTLS || !e.SMTPUTF8 || e.AuthAccount != 7 ||
		e.LeaseOwner != "" || !e.LeaseUntil.IsZero() || e.Attempts != 0 {
		t.Errorf("entry = %+v", e)
	}
	if e.Created.Before(before) || e.NextAttempt.Before(before) || e.NextAttempt.After(time.Now()) {
		t.Errorf("created %v next attempt %v, want about now", e.Created, e.NextAttempt)
	}
	if !slices.EqualFunc(e.Recipients, want, queueRcptEqual) {
		t.Errorf("recipients = %+v, want %+v", e.Recipients, want)
	}
	got, err := s.ReadBlob(ctx, e.BlobID, 0, -1)
	if err != nil || string(got) != string(raw) {
		t.Fatalf("ReadBlob = %q, %v", got, err)
	}
	e2, err := s.GetQueueEntry(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if e2.BlobID != e.BlobID || e2.Sender != "" {
		t.Errorf("second entry: blob %s sender %q", e2.BlobID, e2.Sender)
	}

	// Deleting one entry keeps the shared blob; deleting both drops it.
	if err := s.DeleteQueueEntry(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetQueueEntry(ctx, ids[0]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetQueueEntry after delete: %v, want ErrNotFound", err)
	}
	if _, err := s.ReadBlob(ctx, e.BlobID, 0, -1); err != nil {
		t.Errorf("blob gone while another entry holds it: %v", err)
	}
	if err := s.DeleteQueueEntry(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadBlob(ctx, e.BlobID, 0, -1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReadBlob after last reference deleted: %v, want ErrNotFound", err)
	}
	if err := s.DeleteQueueEntry(ctx, ids[1]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteQueueEntry: %v, want ErrNotFound", err)
	}
}

func queueRcptEqual(a, b store.QueueRecipient) bool {
	return a.Address == b.Address && slices.Equal(a.Notify, b.Notify) && a.ORcpt == b.ORcpt &&
		a.Status == b.Status && a.LastError == b.LastError && a.Attempts == b.Attempts
}

func TestQueueEnqueueRejects(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	bad := []store.NewQueueEntry{
		{Sender: "a@b", Raw: []byte("x")},
		{Sender: "a@b", Recipients: []store.QueueRecipient{{Address: ""}}, Raw: []byte("x")},
		{Sender: "a@b", Recipients: []store.QueueRecipient{{Address: "c@d", Status: "lost"}}, Raw: []byte("x")},
		{Sender: "a@b", Recipients: []store.QueueRecipient{{Address: "c@d"}}, Raw: []byte("x"), DSNRet: "ALL"},
	}
	for i, e := range bad {
		if _, err := s.Enqueue(ctx, []store.NewQueueEntry{e}); err == nil {
			t.Errorf("entry %d accepted", i)
		}
	}
	if l, err := s.ListQueue(ctx, store.QueueFilter{}); err != nil || len(l) != 0 {
		t.Errorf("queue after rejects: %d entries, %v", len(l), err)
	}
}

// TestQueueEnqueueConcurrent checks that concurrent Enqueue calls (sharing
// group commits) each get their own entries.
func TestQueueEnqueueConcurrent(t *testing.T) {
	s := openTest(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int64]bool{}
	errs := make(chan error, 20)
	for g := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				ids, err := s.Enqueue(context.Background(), []store.NewQueueEntry{{
					Sender:     "a@example.org",
					Recipients: []store.QueueRecipient{{Address: "b@example.org"}},
					Raw:        queueMsg(g*100 + i),
				}})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, id := range ids {
					if seen[id] {
						errs <- fmt.Errorf("ID %d returned twice", id)
					}
					seen[id] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	l, err := s.ListQueue(context.Background(), store.QueueFilter{})
	if err != nil || len(l) != 100 || len(seen) != 100 {
		t.Errorf("queue holds %d entries (%v), %d IDs returned; want 100", len(l), err, len(seen))
	}
}

// leaseAll leases from s as owner, a few at a time, until nothing is left,
// calling got for each entry.
func leaseAll(ctx context.Context, s *Store, owner string, got func(store.QueueEntry) error) error {
	for i := 0; ; i++ {
		es, err := s.Lease(ctx, owner, 1+i%4, time.Now(), time.Hour)
		if err != nil {
			return err
		}
		if len(es) == 0 {
			return nil
		}
		for _, e := range es {
			if e.LeaseOwner != owner || e.LeaseUntil.Before(time.Now().Add(50*time.Minute)) {
				return fmt.Errorf("entry %d leased to %q until %v", e.ID, e.LeaseOwner, e.LeaseUntil)
			}
			// The work: read the message back.
			raw, err := s.ReadBlob(ctx, e.BlobID, 0, -1)
			if err != nil {
				return err
			}
			if int64(len(raw)) != e.Size || len(e.Recipients) != 1 {
				return fmt.Errorf("entry %d: %d bytes of %d, %d recipients", e.ID, len(raw), e.Size, len(e.Recipients))
			}
			if err := got(e); err != nil {
				return err
			}
		}
		// The rest of a delivery: SQLite's busy handler is not fair, and a
		// worker that did nothing but lease in a tight loop would starve
		// the other of the write lock.
		time.Sleep(time.Duration(len(es)) * time.Millisecond)
	}
}

// checkLeases checks that the workers' IDs are disjoint and together all.
func checkLeases(t *testing.T, all []int64, byWorker map[string][]int64) {
	t.Helper()
	owner := map[int64]string{}
	for w, ids := range byWorker {
		t.Logf("%s leased %d entries", w, len(ids))
		if len(ids) == 0 {
			t.Errorf("%s leased nothing: no concurrency tested", w)
		}
		for _, id := range ids {
			if prev, dup := owner[id]; dup {
				t.Errorf("entry %d leased by %s and %s", id, prev, w)
			}
			owner[id] = w
		}
	}
	for _, id := range all {
		if _, ok := owner[id]; !ok {
			t.Errorf("entry %d leased by nobody", id)
		}
	}
	if len(owner) != len(all) {
		t.Errorf("%d distinct entries leased, want %d", len(owner), len(all))
	}
}

// TestQueueLeaseGoroutines has two goroutines, each with its own
// connection to the same file, lease 200 entries concurrently.
func TestQueueLeaseGoroutines(t *testing.T) {
	s := openTest(t)
	all := enqueueN(t, s, 200)
	s2, err := Open(context.Background(), Options{Path: s.opts.Path})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	byWorker := map[string][]int64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	start := make(chan struct{})
	for i, st := range []*Store{s, s2} {
		owner := fmt.Sprintf("worker-%d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- leaseAll(ctx, st, owner, func(e store.QueueEntry) error {
				mu.Lock()
				byWorker[owner] = append(byWorker[owner], e.ID)
				mu.Unlock()
				return nil
			})
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	checkLeases(t, all, byWorker)
}

// Environment of the helper process of TestQueueLeaseProcesses.
const (
	envLeaseDB    = "GANNET_TEST_LEASE_DB"
	envLeaseOwner = "GANNET_TEST_LEASE_OWNER"
	envLeaseGo    = "GANNET_TEST_LEASE_GO"
)

// TestQueueLeaseHelperProcess is the worker TestQueueLeaseProcesses runs in
// another process (the test binary run again); on its own it does nothing.
// It prints "ready", waits for the go file to exist, then prints "leased ID"
// for each entry it leases and "done".
func TestQueueLeaseHelperProcess(t *testing.T) {
	path := os.Getenv(envLeaseDB)
	if path == "" {
		t.Skip("helper process for TestQueueLeaseProcesses")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := Open(ctx, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	out.Flush()
	for {
		if _, err := os.Stat(os.Getenv(envLeaseGo)); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("go file never appeared")
		}
		time.Sleep(time.Millisecond)
	}
	err = leaseAll(ctx, s, os.Getenv(envLeaseOwner), func(e store.QueueEntry) error {
		_, err := fmt.Fprintf(out, "leased %d\n", e.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(out, "done")
	out.Flush()
}

// TestQueueLeaseProcesses has two OS processes lease 200 entries at once.
func TestQueueLeaseProcesses(t *testing.T) {
	s := openTest(t)
	all := enqueueN(t, s, 200)
	goFile := filepath.Join(t.TempDir(), "go")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	type result struct {
		owner string
		ids   []int64
		done  bool
		err   error
	}
	results := make(chan result, 2)
	ready := make(chan string, 2)
	for i := range 2 {
		owner := fmt.Sprintf("process-%d", i)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestQueueLeaseHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), envLeaseDB+"="+s.opts.Path, envLeaseOwner+"="+owner, envLeaseGo+"="+goFile)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			r := result{owner: owner}
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				line := sc.Text()
				switch {
				case line == "ready":
					ready <- owner
				case line == "done":
					r.done = true
				case strings.HasPrefix(line, "leased "):
					id, err := strconv.ParseInt(strings.TrimPrefix(line, "leased "), 10, 64)
					if err != nil {
						r.err = err
					}
					r.ids = append(r.ids, id)
				}
			}
			if err := cmd.Wait(); err != nil && r.err == nil {
				r.err = fmt.Errorf("%s: %w", owner, err)
			}
			results <- r
		}()
	}
	for range 2 {
		select {
		case <-ready:
		case r := <-results:
			t.Fatalf("%s ended before it was ready: %v", r.owner, r.err)
		case <-ctx.Done():
			t.Fatal("helper processes not ready in time")
		}
	}
	if err := os.WriteFile(goFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	byWorker := map[string][]int64{}
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		if !r.done {
			t.Fatalf("%s did not finish", r.owner)
		}
		byWorker[r.owner] = r.ids
	}
	checkLeases(t, all, byWorker)
}

func TestQueueLeaseExpiryAndLoss(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	ids, err := s.Enqueue(ctx, []store.NewQueueEntry{{
		Sender: "a@example.org",
		Recipients: []store.QueueRecipient{
			{Address: "x@example.net"}, {Address: "y@example.net"},
		},
		Raw: queueMsg(1),
	}})
	if err != nil {
		t.Fatal(err)
	}
	id := ids[0]
	t0 := time.Now()

	a, err := s.Lease(ctx, "A", 10, t0, time.Minute)
	if err != nil || len(a) != 1 || a[0].ID != id {
		t.Fatalf("A's Lease = %v, %v", a, err)
	}
	if b, err := s.Lease(ctx, "B", 10, t0.Add(30*time.Second), time.Minute); err != nil || len(b) != 0 {
		t.Fatalf("B leased a held lease: %v, %v", b, err)
	}
	if err := s.RenewLease(ctx, id, "A", t0.Add(90*time.Second)); err != nil {
		t.Fatalf("A's RenewLease: %v", err)
	}
	if b, err := s.Lease(ctx, "B", 10, t0.Add(80*time.Second), time.Minute); err != nil || len(b) != 0 {
		t.Fatalf("B leased a renewed lease: %v, %v", b, err)
	}
	// A's lease runs out; B takes the entry over.
	t1 := t0.Add(2 * time.Minute)
	b, err := s.Lease(ctx, "B", 10, t1, time.Minute)
	if err != nil || len(b) != 1 || b[0].ID != id || b[0].LeaseOwner != "B" {
		t.Fatalf("B's Lease after expiry = %+v, %v", b, err)
	}
	if err := s.RenewLease(ctx, id, "A", t1.Add(time.Hour)); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("A's RenewLease after takeover: %v, want ErrLeaseLost", err)
	}
	ea := a[0]
	ea.Recipients[0].Status = store.RcptDelivered
	ea.Recipients[1].Status = store.RcptDelivered
	if err := s.UpdateQueueEntry(ctx, &ea, "A"); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("A's UpdateQueueEntry after takeover: %v, want ErrLeaseLost", err)
	}
	if e, err := s.GetQueueEntry(ctx, id); err != nil || e.Recipients[0].Status != store.RcptPending {
		t.Fatalf("A's lost update changed the entry: %+v, %v", e, err)
	}

	// B delivers to x, defers y.
	eb := b[0]
	eb.Recipients[0].Status = store.RcptDelivered
	eb.Recipients[0].Attempts = 1
	eb.Recipients[1].LastError = "451 4.7.1 try later"
	eb.Recipients[1].Attempts = 1
	eb.Attempts = 1
	eb.NextAttempt = t1.Add(10 * time.Minute)
	eb.LastError = "451 4.7.1 try later"
	eb.DelayNotified = true
	if err := s.UpdateQueueEntry(ctx, &eb, "B"); err != nil {
		t.Fatalf("B's UpdateQueueEntry: %v", err)
	}
	if eb.LeaseOwner != "" || eb.Status != store.QueueActive {
		t.Errorf("after update: owner %q status %s", eb.LeaseOwner, eb.Status)
	}
	// The lease is released: B cannot update or renew again.
	if err := s.RenewLease(ctx, id, "B", t1.Add(time.Hour)); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("RenewLease after release: %v, want ErrLeaseLost", err)
	}
	e, err := s.GetQueueEntry(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if e.Attempts != 1 || !e.NextAttempt.Equal(eb.NextAttempt.Truncate(time.Millisecond)) ||
		e.LastError != eb.LastError || !e.DelayNotified || e.LeaseOwner != "" || !e.LeaseUntil.IsZero() ||
		e.Status != store.QueueActive {
		t.Errorf("saved entry = %+v", e)
	}
	if !slices.EqualFunc(e.Recipients, eb.Recipients, queueRcptEqual) {
		t.Errorf("saved recipients = %+v, want %+v", e.Recipients, eb.Recipients)
	}
	// Not due yet; due later.
	if l, err := s.Lease(ctx, "C", 10, t1.Add(5*time.Minute), time.Minute); err != nil || len(l) != 0 {
		t.Errorf("leased before next attempt: %v, %v", l, err)
	}
	c, err := s.Lease(ctx, "C", 10, t1.Add(11*time.Minute), time.Minute)
	if err != nil || len(c) != 1 {
		t.Fatalf("C's Lease = %v, %v", c, err)
	}
	if !slices.EqualFunc(c[0].Recipients, eb.Recipients, queueRcptEqual) {
		t.Errorf("leased recipients = %+v", c[0].Recipients)
	}
	// A wrong recipient count is refused.
	short := c[0]
	short.Recipients = short.Recipients[:1]
	if err := s.UpdateQueueEntry(ctx, &short, "C"); err == nil {
		t.Error("update with a recipient missing accepted")
	}
	// y fails for good: every recipient settled, the entry and blob go.
	ec := c[0]
	ec.Recipients[1].Status = store.RcptFailed
	ec.Recipients[1].LastError = "550 5.1.1 no such user"
	if err := s.UpdateQueueEntry(ctx, &ec, "C"); err != nil {
		t.Fatal(err)
	}
	if ec.Status != store.QueueDone {
		t.Errorf("settled entry status %s, want done", ec.Status)
	}
	if _, err := s.GetQueueEntry(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("settled entry still there: %v", err)
	}
	if _, err := s.ReadBlob(ctx, ec.BlobID, 0, -1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("settled entry's blob still there: %v", err)
	}
	err = s.RenewLease(ctx, id, "C", t1.Add(time.Hour))
	if !errors.Is(err, store.ErrLeaseLost) || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RenewLease on a deleted entry: %v, want ErrLeaseLost and ErrNotFound", err)
	}
}

func TestQueueHoldRelease(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	ids := enqueueN(t, s, 3)
	now := time.Now()

	if err := s.SetQueueStatus(ctx, ids[0], store.QueueHeld, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetQueueStatus(ctx, ids[1], store.QueueActive, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	l, err := s.Lease(ctx, "w", 10, now.Add(time.Second), time.Minute)
	if err != nil || len(l) != 1 || l[0].ID != ids[2] {
		t.Fatalf("Lease = %+v, %v; want only entry %d", l, err, ids[2])
	}
	// Held while being worked: the worker's update keeps it held.
	if err := s.SetQueueStatus(ctx, ids[2], store.QueueHeld, time.Time{}); err != nil {
		t.Fatal(err)
	}
	e := l[0]
	e.Attempts = 1
	e.NextAttempt = now
	if err := s.UpdateQueueEntry(ctx, &e, "w"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetQueueEntry(ctx, ids[2]); err != nil || got.Status != store.QueueHeld || got.Attempts != 1 {
		t.Errorf("entry held during work: %+v, %v", got, err)
	}
	if l, err := s.Lease(ctx, "w", 10, now.Add(2*time.Hour), time.Minute); err != nil || len(l) != 1 || l[0].ID != ids[1] {
		t.Fatalf("Lease later = %+v, %v; want only entry %d", l, err, ids[1])
	}
	// Release the first: it is due again (next attempt unchanged).
	if err := s.SetQueueStatus(ctx, ids[0], store.QueueActive, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if l, err := s.Lease(ctx, "w", 10, now.Add(time.Second), time.Minute); err != nil || len(l) != 1 || l[0].ID != ids[0] {
		t.Fatalf("Lease after release = %+v, %v; want entry %d", l, err, ids[0])
	}
	// Done settles: the entry is deleted.
	if err := s.SetQueueStatus(ctx, ids[2], store.QueueDone, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetQueueEntry(ctx, ids[2]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("settled entry: %v, want ErrNotFound", err)
	}
	if err := s.SetQueueStatus(ctx, 9999, store.QueueHeld, time.Time{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetQueueStatus on a missing entry: %v", err)
	}
	if err := s.SetQueueStatus(ctx, ids[0], "paused", time.Time{}); err == nil {
		t.Error("unknown status accepted")
	}
}

func TestQueueListFilters(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	rc := func(addrs ...string) []store.QueueRecipient {
		var out []store.QueueRecipient
		for _, a := range addrs {
			out = append(out, store.QueueRecipient{Address: a})
		}
		return out
	}
	ids, err := s.Enqueue(ctx, []store.NewQueueEntry{
		{Sender: "alice@example.org", Recipients: rc("bob@example.net", "carol@example.com"), Raw: queueMsg(0)},
		{Sender: "bob@example.net", Recipients: rc("alice@example.org"), Raw: queueMsg(1)},
		{Sender: "", Recipients: rc("Alice@Example.ORG", "dave@example.net"), Raw: queueMsg(2)},
		{Sender: "alice@example.org", Recipients: rc("erin@sub.example.net"), Raw: queueMsg(3)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetQueueStatus(ctx, ids[3], store.QueueHeld, time.Time{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		f    store.QueueFilter
		want []int64
	}{
		{store.QueueFilter{}, ids},
		{store.QueueFilter{Sender: "ALICE@example.org"}, []int64{ids[0], ids[3]}},
		{store.QueueFilter{Recipient: "alice@example.org"}, []int64{ids[1], ids[2]}},
		{store.QueueFilter{Domain: "example.net"}, []int64{ids[0], ids[2]}},
		{store.QueueFilter{Domain: "@EXAMPLE.net"}, []int64{ids[0], ids[2]}},
		{store.QueueFilter{Domain: "sub.example.net"}, []int64{ids[3]}},
		{store.QueueFilter{Status: store.QueueHeld}, []int64{ids[3]}},
		{store.QueueFilter{Status: store.QueueActive}, ids[:3]},
		{store.QueueFilter{Status: store.QueueDone}, nil},
		{store.QueueFilter{Sender: "alice@example.org", Domain: "example.com"}, []int64{ids[0]}},
		{store.QueueFilter{Sender: "alice@example.org", Status: store.QueueActive}, []int64{ids[0]}},
		{store.QueueFilter{Recipient: "nobody@example.org"}, nil},
	}
	for _, tt := range tests {
		l, err := s.ListQueue(ctx, tt.f)
		if err != nil {
			t.Fatalf("ListQueue(%+v): %v", tt.f, err)
		}
		var got []int64
		for _, e := range l {
			got = append(got, e.ID)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("ListQueue(%+v) = %v, want %v", tt.f, got, tt.want)
		}
	}
	// Listed entries carry all their recipients, not only the matching one.
	l, err := s.ListQueue(ctx, store.QueueFilter{Recipient: "dave@example.net"})
	if err != nil || len(l) != 1 || len(l[0].Recipients) != 2 || l[0].Recipients[0].Address != "Alice@Example.ORG" {
		t.Errorf("ListQueue by recipient = %+v, %v", l, err)
	}
}
