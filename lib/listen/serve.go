package listen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"
)

// DefaultDrainTimeout is how long Serve lets the connections in progress run
// on after shutdown begins, before it closes them. Keep the units'
// TimeoutStopSec= above it.
const DefaultDrainTimeout = 30 * time.Second

// forcedCloseGrace is how long Serve still waits for handlers after closing
// their connections at the end of the drain timeout.
const forcedCloseGrace = 5 * time.Second

// Handler serves one connection accepted on l. It owns c until it returns;
// Serve closes c afterwards.
//
// ctx is cancelled when shutdown begins. A handler then finishes the
// transaction in progress (a durable write should not be abandoned because of
// it: use context.WithoutCancel for the commit) and returns at the next
// command boundary, so that an idle session ends at once and a busy one after
// its reply. Connections still open when the drain timeout expires are closed
// under their handlers.
type Handler func(ctx context.Context, l Listener, c net.Conn)

// Server accepts connections on a set of listeners and stops gracefully.
type Server struct {
	// Listeners to accept on; Serve closes them.
	Listeners []Listener
	// Handler serves each connection in its own goroutine.
	Handler Handler
	// DrainTimeout bounds the wait for connections in progress at shutdown;
	// zero means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Log receives accept errors and handler panics; nil means slog.Default().
	Log *slog.Logger

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Serve accepts on every listener in ls and runs handle for each connection,
// with DefaultDrainTimeout; see Server.Serve.
func Serve(ctx context.Context, ls []Listener, handle func(ctx context.Context, l Listener, c net.Conn)) error {
	s := &Server{Listeners: ls, Handler: handle}
	return s.Serve(ctx)
}

// Serve accepts on every listener and runs the handler for each connection
// until ctx ends. It tells systemd it is ready (READY=1) once accepting.
//
// When ctx ends Serve tells systemd it is stopping (STOPPING=1), closes the
// listeners so no new connection is accepted, cancels the handlers' context
// and waits for them to return, at most DrainTimeout; then it closes the
// connections still open and waits a little more. It returns nil after a
// shutdown, or the error of a listener that failed (which also shuts the
// others down gracefully).
func (s *Server) Serve(ctx context.Context) error {
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	if len(s.Listeners) == 0 {
		return errors.New("listen: serve: no listeners")
	}
	if s.Handler == nil {
		return errors.New("listen: serve: no handler")
	}
	drain := s.DrainTimeout
	if drain <= 0 {
		drain = DefaultDrainTimeout
	}
	s.mu.Lock()
	s.conns = make(map[net.Conn]struct{})
	s.mu.Unlock()

	connCtx, cancelConns := context.WithCancel(ctx)
	defer cancelConns()

	var handlers, accepters sync.WaitGroup
	errc := make(chan error, len(s.Listeners))
	for _, l := range s.Listeners {
		accepters.Add(1)
		go func() {
			defer accepters.Done()
			if err := s.accept(connCtx, l, &handlers, log); err != nil {
				errc <- err
			}
		}()
	}
	if err := Ready(); err != nil {
		log.Warn("telling systemd we are ready", "err", err)
	}

	var result error
	select {
	case <-ctx.Done():
	case result = <-errc:
		log.Error("listener failed; shutting down", "err", result)
	}
	if err := Stopping(); err != nil {
		log.Warn("telling systemd we are stopping", "err", err)
	}
	cancelConns()
	for _, l := range s.Listeners {
		l.Close()
	}
	accepters.Wait() // no handlers.Add after this

	done := make(chan struct{})
	go func() {
		handlers.Wait()
		close(done)
	}()
	timer := time.NewTimer(drain)
	defer timer.Stop()
	select {
	case <-done:
		return result
	case <-timer.C:
	}
	n := s.closeConns()
	log.Warn("drain timeout: closed the connections still open", "connections", n, "timeout", drain)
	grace := time.NewTimer(forcedCloseGrace)
	defer grace.Stop()
	select {
	case <-done:
		return result
	case <-grace.C:
		return errors.Join(result, fmt.Errorf("listen: serve: handlers still running %v after their connections were closed", forcedCloseGrace))
	}
}

// accept runs the accept loop of one listener until ctx ends. It returns an
// error only when the listener fails while it should be accepting.
func (s *Server) accept(ctx context.Context, l Listener, handlers *sync.WaitGroup, log *slog.Logger) error {
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("listen: %s listener %s closed: %w", l.Name, l.Addr(), err)
			}
			// Out of descriptors, aborted handshake...: back off and retry,
			// as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			log.Warn("accept failed; retrying", "listener", l.Name, "err", err, "delay", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			}
			continue
		}
		delay = 0
		if ctx.Err() != nil {
			c.Close()
			return nil
		}
		s.track(c, true)
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			defer s.track(c, false)
			defer c.Close()
			defer func() {
				if r := recover(); r != nil {
					log.Error("connection handler panicked", "listener", l.Name, "remote", c.RemoteAddr(), "panic", r, "stack", string(debug.Stack()))
				}
			}()
			s.Handler(ctx, l, c)
		}()
	}
}

func (s *Server) track(c net.Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
}

func (s *Server) closeConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
	return len(s.conns)
}
