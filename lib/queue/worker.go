package queue

// This file is queued's side: the Worker that leases due entries and
// delivers them, several at once, renewing its leases while it works.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"gannet/lib/config"
	"gannet/lib/deliver"
	"gannet/lib/mta"
	"gannet/lib/notify"
	"gannet/lib/store"
)

// Defaults for a Worker's zero fields.
const (
	// DefaultPollInterval is how often an idle worker looks for entries
	// that fell due (retries), when nothing woke it sooner.
	DefaultPollInterval = time.Second
	// DefaultShutdownTimeout bounds the attempts in progress once Run's
	// context ends; past it they are interrupted (and retried later).
	DefaultShutdownTimeout = 30 * time.Second
	// pruneInterval is how often delivery keys are pruned.
	pruneInterval = time.Hour
	// keyGrace is how long a delivery key outlives give_up_after: an entry
	// may be worked a little after it expired.
	keyGrace = 24 * time.Hour
	// saveTimeout bounds the store calls that save an attempt.
	saveTimeout = 30 * time.Second
)

// Store is what the worker needs of the store: the queue, the blobs of the
// queued messages, and pruning of delivery keys.
type Store interface {
	store.Queue
	store.Blobs
	PruneDeliveryKeys(ctx context.Context, before time.Time) (int64, error)
}

// LocalDomains tells the local domains; *directory.Directory is one.
type LocalDomains interface {
	IsLocalDomain(ctx context.Context, domain string) (bool, error)
}

// LocalDeliverer files messages into local mailboxes; *deliver.Deliverer is
// one.
type LocalDeliverer interface {
	Deliver(ctx context.Context, req deliver.Request) ([]deliver.Result, error)
}

// RemoteDeliverer sends a message to the recipients of one domain over
// SMTP; *mta.Client is one.
type RemoteDeliverer interface {
	Deliver(ctx context.Context, domain string, m *mta.Message) []mta.Result
}

// Signer returns the DKIM-Signature header fields to put before msg for
// domain, or nil when the domain has no key; *StoreSigner is one.
type Signer interface {
	Sign(ctx context.Context, domain string, msg []byte) ([]byte, error)
}

// Worker works the queue: it leases due entries, delivers each to its
// local and remote recipients, saves what came of it (retry time, failures)
// and sends the delivery status notifications due. Several workers, in one
// process or in several, may share one queue: an entry is worked by the
// one that holds its lease.
//
// Set the fields before Run; a Worker runs once.
type Worker struct {
	// Store holds the queue (required).
	Store Store
	// Domains tells local recipients from remote ones (required).
	Domains LocalDomains
	// Local delivers to local recipients (required).
	Local LocalDeliverer
	// Remote delivers to remote recipients (required).
	Remote RemoteDeliverer
	// Signer signs mail whose sender is in a local domain when
	// Config.DKIMSign is set; nil signs nothing.
	Signer Signer
	// Config is the [queued] section: retry schedule, delay warning,
	// give-up time, workers, lease time.
	Config config.Queued
	// Hostname names this server in DSNs (Reporting-MTA, From:
	// MAILER-DAEMON@Hostname) (required).
	Hostname string
	// Owner names the worker in the leases it takes; "" means OwnerID().
	Owner string
	// Log gets a line per recipient per attempt; nil discards.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PollInterval is how often an idle worker looks for due entries; 0
	// means DefaultPollInterval.
	PollInterval time.Duration
	// ShutdownTimeout bounds the attempts in progress once Run's context
	// ends; 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration

	once sync.Once
	wake chan struct{}
}

// OwnerID returns a lease owner name unique to this process:
// hostname:pid:random.
func OwnerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	var b [6]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

func (w *Worker) init() {
	w.once.Do(func() {
		w.wake = make(chan struct{}, 1)
		if w.Owner == "" {
			w.Owner = OwnerID()
		}
		if w.Log == nil {
			w.Log = slog.New(slog.DiscardHandler)
		}
		if w.Now == nil {
			w.Now = time.Now
		}
		if w.PollInterval <= 0 {
			w.PollInterval = DefaultPollInterval
		}
		if w.ShutdownTimeout <= 0 {
			w.ShutdownTimeout = DefaultShutdownTimeout
		}
	})
}

// Wake tells the worker that the queue changed: it looks for due entries
// at once instead of at its next poll. It never blocks.
func (w *Worker) Wake() {
	w.init()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Watch wakes the worker on every queue event (notify.QueueAccountID) and
// resync of the change feed l, until the returned function is called or l
// closes.
func (w *Worker) Watch(l *notify.Listener) (stop func()) {
	w.init()
	events, unsubscribe := l.Subscribe(notify.QueueAccountID)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range events {
			w.Wake()
		}
	}()
	return func() {
		unsubscribe()
		<-done
	}
}

func (w *Worker) workers() int { return max(w.Config.Workers, 1) }

func (w *Worker) leaseTime() time.Duration {
	if d := w.Config.LeaseTime.Duration; d > 0 {
		return d
	}
	return 5 * time.Minute
}

// Run works the queue until ctx ends: it leases due entries, up to
// Config.Workers at a time, and delivers them, looking for more when an
// attempt ends, when Wake is called, and every PollInterval. When ctx
// ends it takes no more entries, lets the attempts in progress finish for
// up to ShutdownTimeout (then interrupts them), saves them, which releases
// their leases, and returns nil. It prunes old delivery keys at start and
// hourly.
func (w *Worker) Run(ctx context.Context) error {
	w.init()
	if err := w.check(); err != nil {
		return err
	}
	// Attempts run under actx, which outlives ctx by ShutdownTimeout.
	actx, cancelAttempts := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelAttempts()
	var grace *time.Timer
	var graceMu sync.Mutex
	stopGrace := context.AfterFunc(ctx, func() {
		graceMu.Lock()
		grace = time.AfterFunc(w.ShutdownTimeout, cancelAttempts)
		graceMu.Unlock()
	})
	defer func() {
		stopGrace()
		graceMu.Lock()
		if grace != nil {
			grace.Stop()
		}
		graceMu.Unlock()
	}()

	n := w.workers()
	// A batch: after an attempt ends, more entries are leased only once
	// this many slots are free (or none is busy), so that a busy queue is
	// leased in batches, not one transaction per entry.
	batch := max(1, n/4)
	done := make(chan struct{}, n)
	var wg sync.WaitGroup
	inflight := 0
	poll := time.NewTimer(0)
	defer poll.Stop()
	prune := time.NewTicker(pruneInterval)
	defer prune.Stop()
	w.prune(ctx)

	lease := true
	var lastErr string
	for ctx.Err() == nil {
		if free := n - inflight; lease && free > 0 {
			entries, err := w.Store.Lease(ctx, w.Owner, free, w.Now(), w.leaseTime())
			switch {
			case err != nil && ctx.Err() == nil:
				if err.Error() != lastErr { // once per kind of trouble
					w.Log.Warn("cannot lease queue entries", "err", err)
				}
				lastErr = err.Error()
			case err == nil:
				lastErr = ""
			}
			for _, e := range entries {
				inflight++
				wg.Go(func() {
					w.attempt(actx, &e)
					done <- struct{}{}
				})
			}
		}
		lease = false
		select {
		case <-ctx.Done():
		case <-done:
			inflight--
			lease = n-inflight >= batch || inflight == 0
		case <-w.wake:
			lease = true
		case <-poll.C:
			poll.Reset(w.PollInterval)
			lease = true
		case <-prune.C:
			w.prune(ctx)
		}
	}
	wg.Wait()
	return nil
}

// RunOnce leases the entries due now (up to Config.Workers), works them
// all, and returns how many it worked. Tests and one-shot runs use it.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	w.init()
	if err := w.check(); err != nil {
		return 0, err
	}
	entries, err := w.Store.Lease(ctx, w.Owner, w.workers(), w.Now(), w.leaseTime())
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for i := range entries {
		wg.Go(func() { w.attempt(ctx, &entries[i]) })
	}
	wg.Wait()
	return len(entries), nil
}

// check reports a required field that is not set.
func (w *Worker) check() error {
	switch {
	case w.Store == nil:
		return errors.New("queue worker: no store")
	case w.Domains == nil:
		return errors.New("queue worker: no directory")
	case w.Local == nil:
		return errors.New("queue worker: no local deliverer")
	case w.Remote == nil:
		return errors.New("queue worker: no remote deliverer")
	case w.Hostname == "":
		return errors.New("queue worker: no hostname")
	}
	return nil
}

// prune forgets delivery keys older than give_up_after and a day: no
// attempt of an entry that old can come again.
func (w *Worker) prune(ctx context.Context) {
	giveUp := w.Config.GiveUpAfter.Duration
	if giveUp <= 0 {
		giveUp = 5 * 24 * time.Hour
	}
	n, err := w.Store.PruneDeliveryKeys(ctx, w.Now().Add(-giveUp-keyGrace))
	switch {
	case err != nil && ctx.Err() == nil:
		w.Log.Warn("cannot prune delivery keys", "err", err)
	case n > 0:
		w.Log.Info("pruned delivery keys", "count", n)
	}
}

// attempt works one leased entry: it renews the lease while it delivers,
// then saves the outcome (which releases the lease).
func (w *Worker) attempt(actx context.Context, e *store.QueueEntry) {
	ctx, cancel := context.WithCancelCause(actx)
	defer cancel(nil)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		w.renew(ctx, e.ID, cancel)
	}()
	a := w.deliver(ctx, e)
	a.interrupted = actx.Err() != nil
	cancel(nil)
	<-renewed
	if errors.Is(context.Cause(ctx), store.ErrLeaseLost) {
		// Someone else holds the entry now, or it was deleted: what this
		// attempt did is logged; saving it would fail.
		w.Log.Warn("queue entry taken over during delivery", "id", e.ID)
		return
	}
	w.save(context.WithoutCancel(actx), e, a)
}

// renew extends the lease on entry id every third of the lease time until
// ctx ends. When the lease is lost it cancels the attempt with
// store.ErrLeaseLost.
func (w *Worker) renew(ctx context.Context, id int64, cancel context.CancelCauseFunc) {
	lt := w.leaseTime()
	t := time.NewTicker(max(lt/3, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := w.Store.RenewLease(ctx, id, w.Owner, w.Now().Add(lt))
		switch {
		case errors.Is(err, store.ErrLeaseLost):
			cancel(err)
			return
		case err != nil && ctx.Err() == nil:
			w.Log.Warn("cannot renew queue lease", "id", id, "err", err)
		}
	}
}
