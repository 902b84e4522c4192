package smtp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"gannet/lib/reply"
)

// conn wraps every accepted connection, beneath TLS when there is TLS. It
// gives the server what go-smtp does not: a count of socket reads (to tell
// whether bytes after DATA were already buffered before the 354 went out),
// a hard deadline for the whole session, a way to end idle sessions at
// shutdown with a 421 while letting a message in progress finish, and the
// counters that outlive a go-smtp session (which STARTTLS replaces).
type conn struct {
	net.Conn
	srv   *Server
	role  string
	id    string
	start time.Time
	// end is when the session must be over (smtpd.session_timeout).
	end time.Time
	// ip is the client's address; invalid for a Unix socket.
	ip netip.Addr

	// reads counts Read calls that reached the socket.
	reads atomic.Uint64

	mu sync.Mutex
	// busy is set while a message is read and committed.
	busy bool
	// draining is set when the server shuts down.
	draining bool
	// closing, when set, makes the next Read between transactions send
	// this reply (if not empty) and end the session.
	closing string
	// closed is set once the session was ended by closeWith or kill.
	closed bool
	// upper writes replies: the TLS connection over c once there is one.
	upper io.Writer
	// errors counts rejected commands; messages counts accepted messages.
	errors   int
	messages int

	// milter is the connection's milter conversation, opened at the first
	// HELO; only the goroutine serving the connection uses it.
	milter MilterSession

	// connectRan is set once the connect stage's scripts ran (see Write
	// and helloStage in sievestage.go); refused is their refusal, if any
	// (used by the goroutine serving the connection only).
	connectRan atomic.Bool
	refused    *reply.Error
}

var errSessionEnded = errors.New("smtp: session ended")

func newConn(srv *Server, raw net.Conn, role string) *conn {
	now := time.Now()
	c := &conn{Conn: raw, srv: srv, role: role, id: newID(), start: now}
	c.end = now.Add(srv.sessionTimeout())
	c.upper = raw
	if ap, err := netip.ParseAddrPort(raw.RemoteAddr().String()); err == nil {
		c.ip = ap.Addr().Unmap()
	}
	// Bound even the TLS handshake and the greeting.
	raw.SetDeadline(c.end)
	return c
}

// Read reads from the socket, unless the session is to end: then it sends
// the parting reply (if any) and reports io.EOF, which go-smtp takes for a
// client that left.
func (c *conn) Read(b []byte) (int, error) {
	if msg, stop := c.stop(); stop {
		c.goodbye(msg)
		return 0, io.EOF
	}
	c.reads.Add(1)
	n, err := c.Conn.Read(b)
	if err != nil && isTimeout(err) {
		if msg, stop := c.stop(); stop {
			c.goodbye(msg)
			return n, io.EOF
		}
	}
	return n, err
}

// stop reports whether the session is to end at this Read, and with which
// reply ("" for none).
func (c *conn) stop() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return "", true
	}
	if c.busy {
		return "", false
	}
	switch {
	case c.closing != "":
		return c.closing, true
	case c.draining:
		// RFC 5321 section 3.8: the server may close with a 421.
		return "421 4.3.2 Service shutting down, try again later", true
	case !time.Now().Before(c.end):
		return "421 4.4.2 Session time limit reached, closing connection", true
	}
	return "", false
}

// goodbye writes a parting reply once and marks the session ended.
func (c *conn) goodbye(msg string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	w := c.upper
	c.mu.Unlock()
	if msg != "" && w != nil {
		c.Conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(w, msg+"\r\n")
	}
}

// say writes a reply directly, outside go-smtp's flow: only from the
// goroutine that serves the connection, when go-smtp is not writing.
func (c *conn) say(msg string) {
	c.mu.Lock()
	w := c.upper
	c.mu.Unlock()
	if w != nil {
		c.Conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(w, msg+"\r\n")
	}
}

// kill ends the session now: nothing more is read or answered.
func (c *conn) kill() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.Conn.Close()
}

// closeAfter makes the session end at the next command read, with reply
// msg ("" for none).
func (c *conn) closeAfter(msg string) {
	c.mu.Lock()
	if c.closing == "" {
		c.closing = msg
	}
	if msg == "" {
		c.closed = true
	}
	c.mu.Unlock()
}

// setUpper says where replies go from now on: the TLS connection after
// STARTTLS, nil while that is not known.
func (c *conn) setUpper(w io.Writer) {
	c.mu.Lock()
	c.upper = w
	c.mu.Unlock()
}

// setBusy marks a message in progress (true) or finished (false).
func (c *conn) setBusy(b bool) {
	c.mu.Lock()
	c.busy = b
	c.mu.Unlock()
}

// drain starts the end of the session for a server shutdown: an idle
// session is woken from its read at once; a busy one ends after its reply.
func (c *conn) drain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.draining = true
	if !c.busy {
		c.Conn.SetReadDeadline(time.Unix(1, 0))
	}
}

func (c *conn) isDraining() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.draining
}

// SetReadDeadline caps every deadline go-smtp sets at the end of the
// session, and keeps an ending session's reader awake.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.draining && !c.busy || c.closing != "" && !c.busy {
		t = time.Unix(1, 0)
	}
	if t.IsZero() || t.After(c.end) {
		t = c.end
	}
	return c.Conn.SetReadDeadline(t)
}

// SetWriteDeadline caps the deadline at the end of the session.
func (c *conn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() || t.After(c.end) {
		t = c.end
	}
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline sets both deadlines.
func (c *conn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}

// Close closes the socket and forgets the connection.
func (c *conn) Close() error {
	c.srv.untrack(c)
	c.mu.Lock()
	m := c.milter
	c.milter = nil
	c.mu.Unlock()
	if m != nil {
		m.Close()
	}
	return c.Conn.Close()
}

// filter returns the connection's milter conversation, nil if none.
func (c *conn) filter() MilterSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.milter
}

func (c *conn) setFilter(m MilterSession) {
	c.mu.Lock()
	c.milter = m
	c.mu.Unlock()
}

// countError counts a rejected command and reports whether the session has
// had too many (smtpd.max_errors).
func (c *conn) countError() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errors++
	return c.errors >= c.srv.maxErrors()
}

// countMessage counts an accepted message.
func (c *conn) countMessage() {
	c.mu.Lock()
	c.messages++
	c.mu.Unlock()
}

func (c *conn) messageCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.messages
}

// clientIP is the client's address for logs and headers.
func (c *conn) clientIP() string {
	if c.ip.IsValid() {
		return c.ip.String()
	}
	return "local"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// connOf finds the conn under a go-smtp connection's net.Conn.
func connOf(nc net.Conn) (*conn, *tls.Conn, error) {
	switch c := nc.(type) {
	case *conn:
		return c, nil, nil
	case *tls.Conn:
		if inner, ok := c.NetConn().(*conn); ok {
			return inner, c, nil
		}
	}
	return nil, nil, fmt.Errorf("smtp: connection of unexpected type %T", nc)
}

// listener wraps each accepted connection in a conn, and in TLS for the
// roles with implicit TLS.
type listener struct {
	net.Listener
	srv  *Server
	role string
	tls  *tls.Config
}

func (l *listener) Accept() (net.Conn, error) {
	raw, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := newConn(l.srv, raw, l.role)
	l.srv.track(c)
	if l.tls != nil {
		// No reply can go out until the handshake is over (a write on the
		// tls.Conn from within its handshake would deadlock): the session
		// sets upper when the client says EHLO.
		c.upper = nil
		return tls.Server(c, l.tls), nil
	}
	return c, nil
}
