package listen

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Gate admits or refuses connections as they are accepted, before any
// greeting: it is where bans and per-address connection limits apply, in
// every daemon alike. Wrap a daemon's listeners with it (Gate.Wrap) before
// handing them to the protocol server; the server then never sees a refused
// connection. Gate also keeps the open connections of the wrapped listeners,
// so that a new ban can end the sessions of an address (CloseIf).
//
// The hooks are optional; a nil hook admits everything. They are called
// from the accept loops and must be quick (an in-memory lookup).
type Gate struct {
	// Allow reports whether remote may connect at all. A refused
	// connection is closed at once, without a word: a banned client learns
	// nothing.
	Allow func(remote net.Addr) bool
	// Admit reports whether one more connection from remote may open now
	// (the rate and concurrency limits); when it may, release is called
	// once the connection is closed. A connection Admit refuses gets the
	// Busy answer, then is closed.
	Admit func(remote net.Addr) (release func(), ok bool)
	// Busy, when set, writes the answer to a connection Admit refused
	// (SMTP's "421 4.7.0 ..." for the roles without implicit TLS) before
	// it is closed. It runs in a goroutine of its own with a short write
	// deadline.
	Busy func(role string, c net.Conn)
	// Log receives one line per refused connection; nil means
	// slog.Default().
	Log *slog.Logger

	mu    sync.Mutex
	conns map[*gateConn]struct{}
	// busyLogged and busyCount keep a flood of refusals from flooding
	// the log: one line per busyLogEvery.
	busyLogged time.Time
	busyCount  int
}

// busyLogEvery is the least time between two log lines about refused
// connections.
const busyLogEvery = 10 * time.Second

// busyWriteTimeout bounds the write of the Busy answer.
const busyWriteTimeout = 2 * time.Second

// Wrap returns ls with every listener passing its connections through g.
func (g *Gate) Wrap(ls []Listener) []Listener {
	out := make([]Listener, len(ls))
	for i, l := range ls {
		out[i] = Listener{Name: l.Name, Listener: &gateListener{Listener: l.Listener, gate: g, role: l.Name}}
	}
	return out
}

// CloseIf closes the open connections whose remote address match reports
// true, such as those of an address just banned, and returns how many it
// closed. Their handlers see the connection fail at their next read or
// write.
func (g *Gate) CloseIf(match func(remote net.Addr) bool) int {
	g.mu.Lock()
	var victims []*gateConn
	for c := range g.conns {
		if match(c.RemoteAddr()) {
			victims = append(victims, c)
		}
	}
	g.mu.Unlock()
	for _, c := range victims {
		c.Close()
	}
	return len(victims)
}

// Open returns the number of connections open through g.
func (g *Gate) Open() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.conns)
}

func (g *Gate) log() *slog.Logger {
	if g.Log == nil {
		return slog.Default()
	}
	return g.Log
}

func (g *Gate) track(c *gateConn, add bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if add {
		if g.conns == nil {
			g.conns = make(map[*gateConn]struct{})
		}
		g.conns[c] = struct{}{}
	} else {
		delete(g.conns, c)
	}
}

// gateListener is a listener whose Accept hands out only admitted
// connections.
type gateListener struct {
	net.Listener
	gate *Gate
	role string
}

// Accept implements net.Listener.
func (l *gateListener) Accept() (net.Conn, error) {
	g := l.gate
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		remote := c.RemoteAddr()
		if g.Allow != nil && !g.Allow(remote) {
			g.log().Debug("connection refused: banned", "listener", l.role, "remote", addrString(remote))
			c.Close()
			continue
		}
		var release func()
		if g.Admit != nil {
			rel, ok := g.Admit(remote)
			if !ok {
				g.logBusy(l.role, remote)
				go l.busy(c)
				continue
			}
			release = rel
		}
		gc := &gateConn{Conn: c, gate: g, release: release}
		g.track(gc, true)
		return gc, nil
	}
}

// logBusy logs a connection Admit refused, or counts it when a line was
// logged less than busyLogEvery ago.
func (g *Gate) logBusy(role string, remote net.Addr) {
	g.mu.Lock()
	g.busyCount++
	now := time.Now()
	if now.Sub(g.busyLogged) < busyLogEvery {
		g.mu.Unlock()
		return
	}
	n := g.busyCount
	g.busyLogged, g.busyCount = now, 0
	g.mu.Unlock()
	g.log().Warn("connection refused: too many connections from this address", "listener", role, "remote", addrString(remote), "refused_since_last_line", n) // this one included
}

// busy answers and closes a connection Admit refused.
func (l *gateListener) busy(c net.Conn) {
	defer c.Close()
	if l.gate.Busy != nil {
		c.SetWriteDeadline(time.Now().Add(busyWriteTimeout))
		l.gate.Busy(l.role, c)
	}
}

// gateConn is an admitted connection; closing it releases its place.
type gateConn struct {
	net.Conn
	gate    *Gate
	release func()
	once    sync.Once
}

// Close implements net.Conn.
func (c *gateConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.gate.track(c, false)
		if c.release != nil {
			c.release()
		}
	})
	return err
}

// CloseWrite half-closes the connection when the underlying one can.
func (c *gateConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("listen: connection cannot half-close")
}

// RemoteIP returns the address of a remote end, unmapped (an IPv4 client
// of an IPv6 socket is an IPv4 address); invalid for a Unix socket.
func RemoteIP(remote net.Addr) netip.Addr {
	switch a := remote.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case nil:
		return netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(remote.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
