package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Group commit.
//
// A caller of grouped puts its function on a queue. While no batch runs, the
// first arrival starts a runner goroutine; while a batch is committing, new
// arrivals wait on the queue, and when the commit finishes the whole queue
// (up to GroupCommitMax) becomes the next batch. No timer is needed: the
// batch size adapts to the arrival rate and the fsync latency.
//
// A batch is one BEGIN IMMEDIATE transaction. Each function runs inside its
// own SAVEPOINT, so a function that fails rolls back only its own writes and
// gets its own error; the others commit together with one fsync.

// States of a groupReq. Only the runner moves a request out of reqPending,
// except that its caller may abandon it (reqPending to reqAbandoned) when
// its context ends before the runner claims it.
const (
	reqPending int32 = iota
	reqClaimed
	reqAbandoned
	reqDone
)

// groupReq is one grouped call.
type groupReq struct {
	ctx   context.Context
	fn    func(tx *sql.Tx) error
	state atomic.Int32
	err   error      // written by the runner before it sends on done
	done  chan error // buffered, receives err once
}

// errBatchBroken means a function's failure took the whole transaction with
// it (for example an interrupt from a cancelled context rolls back the
// transaction); the other functions of the batch are run again.
var errBatchBroken = errors.New("group commit: transaction lost")

// grouped runs fn in a shared write transaction (see above) and returns once
// that transaction is committed (nil) or fn failed (fn's error). A fn that
// has not started when ctx ends is dropped and ctx's error returned; a fn
// that has started is waited for. fn may run more than once if the batch is
// retried, and must tolerate that.
func (s *Store) grouped(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &groupReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	s.gmu.Lock()
	s.queue = append(s.queue, r)
	if !s.running {
		s.running = true
		go s.runBatches()
	}
	s.gmu.Unlock()

	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqPending, reqAbandoned) {
			return ctx.Err()
		}
		return <-r.done
	}
}

// runBatches takes batches off the queue until it is empty.
func (s *Store) runBatches() {
	for {
		batch := s.takeBatch(nil)
		if len(batch) == 0 {
			return
		}
		if w := s.opts.GroupCommitWindow; w > 0 && len(batch) < s.opts.GroupCommitMax {
			t := time.NewTimer(w)
			select {
			case <-t.C:
			case <-s.base.Done():
				t.Stop()
			}
			batch = s.takeBatch(batch)
		}
		s.runBatch(batch)
	}
}

// takeBatch appends queued requests to batch, up to GroupCommitMax. When
// there are none and batch is empty it marks the runner stopped, under the
// same lock as grouped checks it, so no request is left behind.
func (s *Store) takeBatch(batch []*groupReq) []*groupReq {
	s.gmu.Lock()
	defer s.gmu.Unlock()
	n := min(len(s.queue), s.opts.GroupCommitMax-len(batch))
	batch = append(batch, s.queue[:n]...)
	rest := copy(s.queue, s.queue[n:])
	clear(s.queue[rest:])
	s.queue = s.queue[:rest]
	if len(batch) == 0 {
		s.running = false
	}
	return batch
}

// runBatch commits one batch, retrying on SQLITE_BUSY until every request
// is settled or abandoned, then wakes the callers.
func (s *Store) runBatch(batch []*groupReq) {
	var err error
	for attempt := 0; ; attempt++ {
		err = s.batchOnce(batch)
		if err == nil {
			break
		}
		retry := isBusy(err) || errors.Is(err, errBatchBroken)
		for _, r := range batch {
			if r.state.Load() == reqClaimed {
				if retry {
					r.state.Store(reqPending) // its caller may now give up
				} else {
					r.err = err
					r.state.Store(reqDone)
				}
			}
		}
		if !retry || !anyPending(batch) {
			break
		}
		if isBusy(err) {
			s.busyRetries.Add(1)
			if berr := s.backoff(s.base, attempt); berr != nil {
				err = fmt.Errorf("%w (after %v)", berr, err)
				break
			}
		}
	}
	for _, r := range batch {
		if r.state.CompareAndSwap(reqPending, reqDone) {
			r.err = err
		}
		if r.state.Load() == reqDone {
			r.done <- r.err
		}
	}
}

func anyPending(batch []*groupReq) bool {
	for _, r := range batch {
		if r.state.Load() == reqPending {
			return true
		}
	}
	return false
}

// batchOnce runs the pending requests of batch in one transaction. It
// returns nil when the transaction committed (each request then reqDone with
// its result), or the error that ended the transaction (requests that ran
// remain reqClaimed, except one whose own failure broke the transaction).
func (s *Store) batchOnce(batch []*groupReq) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.pending = s.pending[:0]
	tx, err := s.wdb.BeginTx(s.base, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	ran := 0
	for _, r := range batch {
		if !r.state.CompareAndSwap(reqPending, reqClaimed) {
			continue
		}
		if err := r.ctx.Err(); err != nil {
			r.err = err
			r.state.Store(reqDone)
			continue
		}
		mark := len(s.pending)
		if _, err := tx.Exec("SAVEPOINT g"); err != nil {
			tx.Rollback()
			s.pending = s.pending[:0]
			return fmt.Errorf("savepoint: %w", err)
		}
		ferr := r.fn(tx)
		if ferr == nil {
			if _, err := tx.Exec("RELEASE g"); err != nil {
				tx.Rollback()
				s.pending = s.pending[:0]
				return fmt.Errorf("release savepoint: %w", err)
			}
			ran++
			continue
		}
		s.pending = s.pending[:mark]
		if isBusy(ferr) {
			tx.Rollback()
			s.pending = s.pending[:0]
			return ferr
		}
		r.err = ferr
		r.state.Store(reqDone)
		if _, err := tx.Exec("ROLLBACK TO g; RELEASE g"); err != nil {
			tx.Rollback()
			s.pending = s.pending[:0]
			return fmt.Errorf("%w: %v", errBatchBroken, err)
		}
	}
	if err := tx.Commit(); err != nil {
		s.pending = s.pending[:0]
		return fmt.Errorf("commit: %w", err)
	}
	s.commits.Add(1)
	s.batches.Add(1)
	s.groupedCalls.Add(int64(ran))
	for _, r := range batch {
		if r.state.Load() == reqClaimed {
			r.err = nil
			r.state.Store(reqDone)
		}
	}
	s.flushChanges()
	return nil
}
