package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// subscriberBuffer is the capacity of a subscriber's channel.
	subscriberBuffer = 16
	// maxPending bounds the accounts held for one slow subscriber; past it
	// they collapse into one resync event.
	maxPending = 1024
	// defaultFallbackInterval is how often ListenOptions.Fallback is polled.
	defaultFallbackInterval = time.Second
	// Socket and directory modes.
	sockMode = 0o660
	dirMode  = 0o750
)

// ListenOptions configures ListenWith.
type ListenOptions struct {
	// Dir is the change-feed directory (config.Config.NotifyDir). It is
	// created, mode 0750, if missing.
	Dir string
	// Fallback, if set, is polled every FallbackInterval for a value that
	// changes whenever the database does (such as SQLite's PRAGMA
	// data_version on a connection of the caller's). When the value changes
	// and no datagram arrived since the previous poll, some process wrote
	// without announcing it, and every subscriber gets a resync event.
	Fallback func(ctx context.Context) (uint64, error)
	// FallbackInterval is the polling period; 0 means one second.
	FallbackInterval time.Duration
	// Logger receives the listener's few warnings; nil means slog.Default().
	Logger *slog.Logger
}

// Listener receives the change feed for one process and fans it out to
// subscribers. It is safe for concurrent use.
type Listener struct {
	path      string // the socket's file
	conn      *net.UnixConn
	log       *slog.Logger
	cancel    context.CancelFunc
	stopAfter func() bool
	wg        sync.WaitGroup
	heard     atomic.Bool // a datagram arrived since the last fallback poll

	mu     sync.Mutex
	subs   map[int64]map[*subscriber]struct{}
	closed bool

	closeOnce sync.Once
	closeErr  error
}

// Listen binds a socket in dir and starts receiving the change feed. The
// listener stops when ctx is done or Close is called.
func Listen(ctx context.Context, dir string) (*Listener, error) {
	return ListenWith(ctx, ListenOptions{Dir: dir})
}

// ListenWith is Listen with options, such as a fallback poller.
func ListenWith(ctx context.Context, opts ListenOptions) (*Listener, error) {
	if opts.Dir == "" {
		return nil, errors.New("notify: no directory for the change feed")
	}
	if err := os.MkdirAll(opts.Dir, dirMode); err != nil {
		return nil, fmt.Errorf("notify: creating change feed directory: %w", err)
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	name := fmt.Sprintf("%d-%s%s", os.Getpid(), hex.EncodeToString(rnd[:]), sockSuffix)
	path := filepath.Join(opts.Dir, name)
	var conn *net.UnixConn
	err := withSockPath(opts.Dir, name, func(addr string) error {
		var err error
		conn, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("notify: binding change feed socket: %w", err)
	}
	if err := os.Chmod(path, sockMode); err != nil {
		conn.Close()
		os.Remove(path)
		return nil, fmt.Errorf("notify: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	lctx, cancel := context.WithCancel(ctx)
	l := &Listener{
		path:   path,
		conn:   conn,
		log:    log.With("component", "notify"),
		cancel: cancel,
		subs:   make(map[int64]map[*subscriber]struct{}),
	}
	l.wg.Add(1)
	go l.read(lctx)
	if opts.Fallback != nil {
		interval := opts.FallbackInterval
		if interval <= 0 {
			interval = defaultFallbackInterval
		}
		l.wg.Add(1)
		go l.poll(lctx, opts.Fallback, interval)
	}
	l.stopAfter = context.AfterFunc(ctx, func() { l.shutdown() })
	return l, nil
}

// Subscribe returns a channel of the events for accountID, or of every
// account's events when accountID is 0 (queue and bans events excepted),
// or of the queue's events when it is QueueAccountID, or of the bans'
// events when it is BansAccountID, and a function that ends the
// subscription and closes the channel. Resync events (AccountID 0) reach
// every subscriber. A subscriber that falls behind loses nothing that
// matters: while it is not reading, events are coalesced per account, the
// newest modification sequence kept, so it always sees each account's
// latest eventually. The channel is closed when the listener closes; on a
// closed listener, or for another negative accountID, it is closed at once.
func (l *Listener) Subscribe(accountID int64) (<-chan Event, func()) {
	s := &subscriber{
		account: accountID,
		out:     make(chan Event, subscriberBuffer),
		stop:    make(chan struct{}),
		wg:      &l.wg,
	}
	l.mu.Lock()
	if l.closed || (accountID < 0 && !special(accountID)) {
		l.mu.Unlock()
		close(s.out)
		return s.out, func() {}
	}
	set := l.subs[accountID]
	if set == nil {
		set = make(map[*subscriber]struct{})
		l.subs[accountID] = set
	}
	set[s] = struct{}{}
	l.mu.Unlock()
	return s.out, func() {
		l.mu.Lock()
		if set := l.subs[accountID]; set != nil {
			delete(set, s)
			if len(set) == 0 {
				delete(l.subs, accountID)
			}
		}
		l.mu.Unlock()
		s.close()
	}
}

// Close stops the listener, removes its socket and closes every
// subscriber's channel.
func (l *Listener) Close() error {
	l.stopAfter()
	return l.shutdown()
}

// shutdown is Close, also run when the listener's context is done.
func (l *Listener) shutdown() error {
	l.closeOnce.Do(func() {
		l.cancel()
		var errs []error
		if err := l.conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("notify: closing change feed socket: %w", err))
		}
		if err := os.Remove(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("notify: %w", err))
		}
		l.mu.Lock()
		l.closed = true
		subs := l.subs
		l.subs = nil
		l.mu.Unlock()
		for _, set := range subs {
			for s := range set {
				s.close()
			}
		}
		l.wg.Wait()
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

// read receives datagrams until the socket is closed.
func (l *Listener) read(ctx context.Context) {
	defer l.wg.Done()
	// One byte more than the largest datagram, so that an oversized one
	// shows as too long rather than being read truncated.
	buf := make([]byte, maxDatagram+1)
	for {
		n, err := l.conn.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.log.Warn("change feed receive failed", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		events, err := decode(buf[:n])
		if err != nil {
			l.log.Debug("ignored change feed datagram", "err", err)
			continue
		}
		l.heard.Store(true)
		l.dispatch(events)
	}
}

// poll runs the fallback poller.
func (l *Listener) poll(ctx context.Context, fallback func(context.Context) (uint64, error), interval time.Duration) {
	defer l.wg.Done()
	last, have := uint64(0), false
	check := func() {
		v, err := fallback(ctx)
		if err != nil {
			if ctx.Err() == nil {
				l.log.Warn("change feed fallback poll failed", "err", err)
			}
			return
		}
		heard := l.heard.Swap(false)
		if have && v != last && !heard {
			l.dispatch([]Event{{}})
		}
		last, have = v, true
	}
	check()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			check()
		}
	}
}

// dispatch offers events to the subscribers they concern. It never blocks.
func (l *Listener) dispatch(events []Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range events {
		if ev.AccountID == 0 {
			for _, set := range l.subs {
				for s := range set {
					s.offer(ev)
				}
			}
			continue
		}
		for s := range l.subs[ev.AccountID] {
			s.offer(ev)
		}
		if special(ev.AccountID) {
			continue // not an account's change
		}
		for s := range l.subs[0] {
			s.offer(ev)
		}
	}
}

// subscriber is one Subscribe call. An event goes straight into the
// channel while it has room; only a subscriber that falls behind gets a
// coalescing queue and a goroutine that moves it into the channel as the
// reader takes events, so an idle subscriber costs no goroutine.
type subscriber struct {
	account int64
	out     chan Event
	stop    chan struct{}
	wg      *sync.WaitGroup

	mu      sync.Mutex
	pending *coalescer // nil until the channel first fills
	pumping bool       // a pump goroutine owns pending and will close out
	closed  bool
}

// offer queues ev without blocking.
func (s *subscriber) offer(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if !s.pumping {
		select {
		case s.out <- ev:
			return
		default:
		}
		if s.pending == nil {
			s.pending = newCoalescer(maxPending)
		}
		s.pumping = true
		s.wg.Add(1)
		go s.pump()
	}
	s.pending.add(ev)
}

// pump moves queued events into the channel until the queue is empty or
// the subscription ends (then it closes the channel).
func (s *subscriber) pump() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if s.closed {
			s.pumping = false
			close(s.out)
			s.mu.Unlock()
			return
		}
		ev, ok := s.pending.next()
		if !ok {
			s.pumping = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		select {
		case s.out <- ev:
		case <-s.stop:
		}
	}
}

// close ends the subscription and closes the channel, at once or, when
// a pump goroutine is running, as it stops.
func (s *subscriber) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	close(s.stop)
	if !s.pumping {
		close(s.out)
	}
}
