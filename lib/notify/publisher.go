package notify

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

const (
	// relistInterval is the longest a publisher trusts its cached listing
	// of the directory (it also re-reads when the directory changes).
	relistInterval = time.Second
	// coarseClock covers the kernel's coarse file timestamps: a listing read
	// this soon after the directory's mtime may have missed a socket created
	// in the same clock tick, so the next send re-reads it.
	coarseClock = 50 * time.Millisecond
	// staleAge is how old a socket that refuses connections must be before
	// a publisher removes it. A younger one may be mid-bind in a live process.
	staleAge = 2 * time.Second
	// Retry pacing for a receiver whose queue is full.
	minBackoff = 2 * time.Millisecond
	maxBackoff = 250 * time.Millisecond
	// maxBacklog bounds the accounts held for one slow receiver; past it
	// they collapse into one resync event.
	maxBacklog = 1024
)

// Publisher announces events to every listening process. It is safe for
// concurrent use. Publish never blocks: events are handed to a background
// goroutine that coalesces them (per account, the newest modification
// sequence wins) and sends one datagram per batch to each listener.
type Publisher struct {
	dir string
	log *slog.Logger

	mu      sync.Mutex
	pending *coalescer
	closed  bool

	wake chan struct{}
	quit chan struct{}
	done chan struct{}

	// Owned by the run goroutine.
	dests    map[string]*dest
	listedAt time.Time // when the directory was last read
	mtime    time.Time // the directory's mtime at that read
	relist   bool      // re-read the directory at the next send
	warned   map[string]bool
}

// dest is one listener's socket, connected.
type dest struct {
	name    string
	fd      int
	backlog *coalescer // events a full receiver has not taken yet
	retryAt time.Time
	backoff time.Duration
}

// NewPublisher returns a Publisher sending to the listener sockets in dir.
// dir need not exist yet: until it does there is nobody to tell.
func NewPublisher(dir string) (*Publisher, error) {
	if dir == "" {
		return nil, errors.New("notify: no directory for the change feed")
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("notify: %s is not a directory", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("notify: %w", err)
	}
	p := &Publisher{
		dir:     dir,
		log:     slog.Default().With("component", "notify"),
		pending: newCoalescer(1 << 20),
		wake:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		dests:   make(map[string]*dest),
		warned:  make(map[string]bool),
	}
	go p.run()
	return p, nil
}

// Publish announces ev to every listener, best effort. It never blocks on
// the network or on a receiver. An event with AccountID 0 is a resync (its
// ModSeq is ignored), one with QueueAccountID says the queue changed, one
// with BansAccountID that the bans changed; one with another negative
// AccountID is ignored. Publish after Close does
// nothing.
func (p *Publisher) Publish(ev Event) {
	if ev.AccountID < 0 && !special(ev.AccountID) {
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.pending.add(ev)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Close sends what is pending, once, and releases the sockets. Events a
// full receiver had not yet taken are dropped.
func (p *Publisher) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	close(p.quit)
	<-p.done
	var errs []error
	for name, d := range p.dests {
		if err := syscall.Close(d.fd); err != nil {
			errs = append(errs, fmt.Errorf("notify: closing socket to %s: %w", name, err))
		}
		delete(p.dests, name)
	}
	return errors.Join(errs...)
}

// run is the sending goroutine.
func (p *Publisher) run() {
	defer close(p.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		if at, ok := p.nextRetry(); ok {
			timer.Reset(time.Until(at))
		}
		select {
		case <-p.wake:
		case <-timer.C:
		case <-p.quit:
			p.flush()
			return
		}
		timer.Stop()
		p.flush()
	}
}

// nextRetry returns the earliest time a backlog is due to be retried.
func (p *Publisher) nextRetry() (time.Time, bool) {
	var at time.Time
	for _, d := range p.dests {
		if d.backlog != nil && d.backlog.len() > 0 && (at.IsZero() || d.retryAt.Before(at)) {
			at = d.retryAt
		}
	}
	return at, !at.IsZero()
}

// flush sends the pending batch, and any backlog due, to every listener.
func (p *Publisher) flush() {
	p.mu.Lock()
	batch := p.pending.take()
	p.mu.Unlock()

	now := time.Now()
	if len(batch) > 0 {
		p.maybeRelist(now)
	}
	grams := encode(batch)
	for _, d := range p.dests {
		if d.backlog == nil || d.backlog.len() == 0 {
			if len(grams) > 0 {
				p.sendTo(d, grams, batch, now)
			}
			continue
		}
		for _, ev := range batch {
			d.backlog.add(ev)
		}
		if now.Before(d.retryAt) {
			continue
		}
		events := d.backlog.take()
		p.sendTo(d, encode(events), events, now)
	}
}

// sendTo sends grams (the encoding of events, in order) to d. What a full
// receiver refuses goes to d's backlog; a dead receiver is dropped.
func (p *Publisher) sendTo(d *dest, grams [][]byte, events []Event, now time.Time) {
	for i, g := range grams {
		err := send(d.fd, g)
		switch {
		case err == nil:
			continue
		case err == syscall.EAGAIN || err == syscall.ENOBUFS:
			// The receiver's queue is full: keep the rest, coalesced, and
			// retry later rather than wait.
			if d.backlog == nil {
				d.backlog = newCoalescer(maxBacklog)
			}
			for _, ev := range events[i*maxRecords:] {
				d.backlog.add(ev)
			}
			if d.backoff == 0 {
				d.backoff = minBackoff
			} else {
				d.backoff = min(2*d.backoff, maxBackoff)
			}
			d.retryAt = now.Add(d.backoff)
			return
		case err == syscall.ECONNREFUSED || err == syscall.ECONNRESET ||
			err == syscall.ENOTCONN || err == syscall.EPIPE:
			// The listening process is gone. Its socket file, if left
			// behind, is removed when a fresh connect is refused.
			p.drop(d)
			p.probe(d.name)
			return
		default:
			p.log.Debug("change feed send failed", "socket", d.name, "err", err)
			return
		}
	}
	d.backoff = 0
	d.retryAt = time.Time{}
}

// drop forgets a destination.
func (p *Publisher) drop(d *dest) {
	syscall.Close(d.fd)
	delete(p.dests, d.name)
}

// maybeRelist re-reads the directory when it changed, when the last read
// may have missed a change, or when the cached listing is a second old.
func (p *Publisher) maybeRelist(now time.Time) {
	if !p.relist && now.Sub(p.listedAt) < relistInterval {
		fi, err := os.Stat(p.dir)
		if err == nil && fi.ModTime().Equal(p.mtime) && p.listedAt.Sub(p.mtime) >= coarseClock {
			return
		}
	}
	p.relist = false
	p.listedAt = now
	fi, err := os.Stat(p.dir)
	if err != nil {
		p.mtime = time.Time{}
		p.closeAllExcept(nil)
		if !errors.Is(err, fs.ErrNotExist) {
			p.log.Debug("change feed directory unreadable", "dir", p.dir, "err", err)
		}
		return
	}
	p.mtime = fi.ModTime()
	entries, err := os.ReadDir(p.dir)
	if err != nil {
		p.log.Debug("change feed directory unreadable", "dir", p.dir, "err", err)
		return
	}
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		name := e.Name()
		if !isSockName(name) || e.Type()&fs.ModeSocket == 0 {
			continue
		}
		seen[name] = true
		if p.dests[name] == nil {
			p.probe(name)
		}
	}
	p.closeAllExcept(seen)
}

// closeAllExcept drops every destination whose name is not in keep.
func (p *Publisher) closeAllExcept(keep map[string]bool) {
	for name, d := range p.dests {
		if !keep[name] {
			p.drop(d)
		}
	}
}

// probe connects to the socket name. A socket that refuses the connection
// belongs to a dead process and is removed, unless it is young enough to be
// mid-bind in a live one.
func (p *Publisher) probe(name string) {
	fd, err := dial(p.dir, name)
	switch {
	case err == nil:
		p.dests[name] = &dest{name: name, fd: fd}
		delete(p.warned, name)
	case err == syscall.ENOENT:
		// Gone already.
	case err == syscall.ECONNREFUSED:
		path := filepath.Join(p.dir, name)
		fi, serr := os.Lstat(path)
		if serr != nil {
			return
		}
		if time.Since(fi.ModTime()) < staleAge {
			p.relist = true
			return
		}
		if rerr := os.Remove(path); rerr == nil {
			p.log.Info("removed stale change feed socket", "socket", path)
		} else if !errors.Is(rerr, fs.ErrNotExist) && !p.warned[name] {
			p.warned[name] = true
			p.log.Warn("cannot remove stale change feed socket", "socket", path, "err", rerr)
		}
	default:
		if !p.warned[name] {
			p.warned[name] = true
			p.log.Warn("cannot reach change feed socket", "socket", filepath.Join(p.dir, name), "err", err)
		}
	}
}
