package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"gannet/lib/store"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (s *Store) queued() int {
	s.gmu.Lock()
	defer s.gmu.Unlock()
	return len(s.queue)
}

// holdBatch makes the next n grouped calls form one batch: it holds the
// write lock while a first call occupies the runner and the n calls queue
// behind it. start launches the n calls; release lets everything run.
func holdBatch(t *testing.T, s *Store, n int, start func()) {
	t.Helper()
	s.wmu.Lock()
	first := make(chan error, 1)
	go func() { first <- s.grouped(context.Background(), func(*sql.Tx) error { return nil }) }()
	waitFor(t, "the runner to take the first call", func() bool {
		s.gmu.Lock()
		defer s.gmu.Unlock()
		return len(s.queue) == 0 && s.running
	})
	start()
	waitFor(t, fmt.Sprintf("%d calls to queue", n), func() bool { return s.queued() == n })
	s.wmu.Unlock()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

func TestGroupedSavepoints(t *testing.T) {
	s := openTest(t)
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	batches := s.Stats().Batches
	holdBatch(t, s, n, func() {
		for i := range n {
			wg.Go(func() {
				errs[i] = s.grouped(context.Background(), func(tx *sql.Tx) error {
					if _, err := tx.Exec("INSERT INTO domains (name, created) VALUES (?, 1)", fmt.Sprintf("d%d.test", i)); err != nil {
						return err
					}
					if i%2 == 1 {
						return fmt.Errorf("fn %d fails", i)
					}
					return nil
				})
			})
		}
	})
	wg.Wait()
	if got := s.Stats().Batches - batches; got != 2 {
		t.Errorf("%d batches, want 2 (the first call, then all %d together)", got, n)
	}
	for i, err := range errs {
		_, gerr := s.GetDomain(context.Background(), fmt.Sprintf("d%d.test", i))
		if i%2 == 1 {
			if err == nil || err.Error() != fmt.Sprintf("fn %d fails", i) {
				t.Errorf("fn %d: err = %v, want its own error", i, err)
			}
			if !errors.Is(gerr, store.ErrNotFound) {
				t.Errorf("fn %d failed but its write stayed: %v", i, gerr)
			}
		} else {
			if err != nil {
				t.Errorf("fn %d: err = %v", i, err)
			}
			if gerr != nil {
				t.Errorf("fn %d succeeded but its write is missing: %v", i, gerr)
			}
		}
	}
}

// A function that destroys the transaction costs only itself: the rest of
// the batch runs again in a new one.
func TestGroupedBrokenTransaction(t *testing.T) {
	s := openTest(t)
	const n = 4
	errs := make([]error, n)
	runs := make([]int, n)
	var wg sync.WaitGroup
	holdBatch(t, s, n, func() {
		for i := range n {
			wg.Go(func() {
				errs[i] = s.grouped(context.Background(), func(tx *sql.Tx) error {
					runs[i]++
					if i == 1 {
						if _, err := tx.Exec("ROLLBACK"); err != nil {
							return err
						}
						return errors.New("broke it")
					}
					_, err := tx.Exec("INSERT INTO domains (name, created) VALUES (?, 1)", fmt.Sprintf("d%d.test", i))
					return err
				})
			})
			// Queue in index order, so that fn 0 runs before the breaker.
			waitFor(t, "queued", func() bool { return s.queued() == i+1 })
		}
	})
	wg.Wait()
	for i := range n {
		_, gerr := s.GetDomain(context.Background(), fmt.Sprintf("d%d.test", i))
		if i == 1 {
			if errs[i] == nil || runs[i] != 1 {
				t.Errorf("breaking fn: err %v, ran %d times", errs[i], runs[i])
			}
			continue
		}
		if errs[i] != nil || gerr != nil {
			t.Errorf("fn %d: err %v, stored: %v", i, errs[i], gerr)
		}
	}
	if runs[0] != 2 {
		t.Errorf("fn 0 ran %d times, want 2 (its first transaction was lost)", runs[0])
	}
}

// A call whose context ends while it waits in the queue returns the
// context's error, and its function never runs.
func TestGroupedCancelWhileQueued(t *testing.T) {
	s := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	ran := false
	done := make(chan error, 1)
	holdBatch(t, s, 1, func() {
		go func() {
			done <- s.grouped(ctx, func(*sql.Tx) error { ran = true; return nil })
		}()
		waitFor(t, "queued", func() bool { return s.queued() == 1 })
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
	// Let the runner drain; the function must not have run.
	if err := s.grouped(context.Background(), func(*sql.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if ran {
		t.Error("abandoned function ran")
	}
}
