package listen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

func tcpListener(t *testing.T, name string) Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return Listener{Name: name, Listener: l}
}

// client is a line-oriented test connection.
type client struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &client{Conn: c, r: bufio.NewReader(c)}
}

func (c *client) line(t *testing.T) string {
	t.Helper()
	s, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading: %v (got %q)", err, s)
	}
	return strings.TrimSuffix(s, "\n")
}

func (c *client) send(t *testing.T, s string) {
	t.Helper()
	if _, err := fmt.Fprintf(c, "%s\n", s); err != nil {
		t.Fatal(err)
	}
}

// waitRefused polls until a connection to addr is refused.
func waitRefused(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts connections after shutdown began", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServeGracefulStop checks that at shutdown Serve tells systemd it is
// stopping, stops accepting, lets an idle session end at once, waits for the
// transaction in progress to finish and its reply to be sent, and only then
// returns.
func TestServeGracefulStop(t *testing.T) {
	notify := newNotifySocket(t)
	t.Setenv("NOTIFY_SOCKET", notify.Path)
	l := tcpListener(t, "smtp")
	addr := l.Addr().String()

	inflight := make(chan struct{})
	release := make(chan struct{})
	handle := func(ctx context.Context, l Listener, c net.Conn) {
		fmt.Fprintf(c, "220 %s\n", l.Name)
		cmd, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return
		}
		switch strings.TrimSpace(cmd) {
		case "IDLE": // an idle session: ends when shutdown begins
			<-ctx.Done()
			fmt.Fprintf(c, "421 shutting down\n")
		case "DATA": // a transaction in progress: finishes regardless
			close(inflight)
			<-release
			fmt.Fprintf(c, "250 done\n")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, []Listener{l}, handle) }()
	notify.expect(t, "READY=1")

	busy := dial(t, addr)
	if got := busy.line(t); got != "220 smtp" {
		t.Fatalf("greeting %q", got)
	}
	busy.send(t, "DATA")
	<-inflight
	idle := dial(t, addr)
	if got := idle.line(t); got != "220 smtp" {
		t.Fatalf("greeting %q", got)
	}
	idle.send(t, "IDLE")

	cancel()
	notify.expect(t, "STOPPING=1")
	if got := idle.line(t); got != "421 shutting down" {
		t.Fatalf("idle session got %q", got)
	}
	waitRefused(t, addr)
	select {
	case err := <-done:
		t.Fatalf("Serve returned (%v) with a transaction in progress", err)
	default:
	}

	close(release)
	if got := busy.line(t); got != "250 done" {
		t.Fatalf("transaction in progress got %q, want its reply", got)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the last handler")
	}
}

// TestServeDrainTimeout checks a handler that ignores shutdown has its
// connection closed when the drain timeout expires, and Serve returns.
func TestServeDrainTimeout(t *testing.T) {
	l := tcpListener(t, "imap")
	readErr := make(chan error, 1)
	started := make(chan struct{})
	s := &Server{
		Listeners:    []Listener{l},
		DrainTimeout: 200 * time.Millisecond,
		Log:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler: func(ctx context.Context, l Listener, c net.Conn) {
			close(started)
			_, err := c.Read(make([]byte, 1)) // blocks: the client sends nothing
			readErr <- err
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	c := dial(t, l.Addr().String())
	<-started
	stopAt := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the drain timeout")
	}
	if waited := time.Since(stopAt); waited < s.DrainTimeout {
		t.Errorf("Serve returned after %v, before the drain timeout %v", waited, s.DrainTimeout)
	}
	if err := <-readErr; err == nil {
		t.Error("handler's read succeeded; connection not closed")
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("client connection still open")
	}
}

// TestServeListenerFailure checks a listener that fails ends Serve with an
// error naming it.
func TestServeListenerFailure(t *testing.T) {
	l := tcpListener(t, "sieve")
	other := tcpListener(t, "spamd")
	done := make(chan error, 1)
	go func() {
		done <- Serve(context.Background(), []Listener{l, other}, func(context.Context, Listener, net.Conn) {})
	}()
	// Make sure the accept loops run before breaking one.
	dial(t, other.Addr().String())
	l.Close()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "sieve listener") || !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Serve: %v, want an error about the sieve listener", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	waitRefused(t, other.Addr().String())
}

// TestServeHandlerPanic checks one handler's panic is logged and the server
// goes on serving.
func TestServeHandlerPanic(t *testing.T) {
	l := tcpListener(t, "http")
	log, buf := logBuffer()
	s := &Server{
		Listeners: []Listener{l},
		Log:       log,
		Handler: func(ctx context.Context, l Listener, c net.Conn) {
			line, _ := bufio.NewReader(c).ReadString('\n')
			if line == "boom\n" {
				panic("boom")
			}
			fmt.Fprintf(c, "ok\n")
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()

	c1 := dial(t, l.Addr().String())
	c1.send(t, "boom")
	if _, err := c1.r.ReadString('\n'); err == nil {
		t.Fatal("panicking handler's connection not closed")
	}
	c2 := dial(t, l.Addr().String())
	c2.send(t, "hello")
	if got := c2.line(t); got != "ok" {
		t.Fatalf("after a panic: got %q", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "panicked") {
		t.Errorf("panic not logged:\n%s", buf)
	}
}

func TestServeNoListeners(t *testing.T) {
	if err := Serve(context.Background(), nil, func(context.Context, Listener, net.Conn) {}); err == nil {
		t.Fatal("Serve with no listeners did not fail")
	}
}

func TestStatus(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := Ready(); err != nil {
		t.Fatalf("Ready without NOTIFY_SOCKET: %v", err)
	}
	notify := newNotifySocket(t)
	t.Setenv("NOTIFY_SOCKET", notify.Path)
	if err := Status("accepting\non 2 sockets"); err != nil {
		t.Fatal(err)
	}
	notify.expect(t, "STATUS=accepting on 2 sockets")
}

// TestSignalContext checks SIGINT cancels the context (SIGTERM is covered by
// the socket activation tests, in a child process).
func TestSignalContext(t *testing.T) {
	ctx, cancel := SignalContext(context.Background())
	defer cancel()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("context not cancelled by SIGINT")
	}
}
