package listen

import (
	"bufio"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pires/go-proxyproto"
)

// ProxyHeaderTimeout bounds the wait for the PROXY protocol header of a
// connection on a proxy_protocol listener; a proxy sends it at once.
const ProxyHeaderTimeout = 10 * time.Second

// maxPendingProxy bounds the connections whose PROXY header is being read at
// once; beyond it the listener stops accepting until one is done.
const maxPendingProxy = 256

// proxyBufferSize is the read buffer of the header: it must hold a whole
// version 1 line (107 bytes, PROXY protocol specification section 2.1).
const proxyBufferSize = 256

// proxyListener reads the PROXY protocol header (version 1 or 2, as HAProxy's
// send-proxy and send-proxy-v2 write it) of every connection before handing
// it out, so that RemoteAddr of an accepted connection is the client's
// address the proxy reported, and everything that judges a client (bans,
// limits, relay networks, SPF, logs, Received fields) sees the client.
//
// The headers are read in goroutines of their own, never in Accept, so a slow
// or silent peer holds up nobody. A connection from a peer outside the
// trusted networks, or one whose header is missing, late or malformed, is
// closed and logged: the specification (section 2) forbids guessing whether
// a header is present.
type proxyListener struct {
	net.Listener
	name    string
	trusted []netip.Prefix
	log     *slog.Logger

	ready   chan net.Conn // connections whose header was read
	errs    chan error    // errors of the underlying Accept
	pending chan struct{} // a token per header being read
	done    chan struct{} // closed by Close
	once    sync.Once
}

func newProxyListener(nl net.Listener, name string, trusted []netip.Prefix, log *slog.Logger) *proxyListener {
	l := &proxyListener{
		Listener: nl,
		name:     name,
		trusted:  trusted,
		log:      log,
		ready:    make(chan net.Conn),
		errs:     make(chan error),
		pending:  make(chan struct{}, maxPendingProxy),
		done:     make(chan struct{}),
	}
	go l.acceptLoop()
	return l
}

// acceptLoop accepts raw connections and starts reading their headers.
func (l *proxyListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.errs <- err:
			case <-l.done:
				return
			}
			if isClosed(err) {
				return
			}
			continue
		}
		select {
		case l.pending <- struct{}{}:
		case <-l.done:
			c.Close()
			return
		}
		go l.readHeader(c)
	}
}

func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }

// readHeader reads the header of c and hands c to Accept, or closes it.
func (l *proxyListener) readHeader(c net.Conn) {
	defer func() { <-l.pending }()
	peer := c.RemoteAddr()
	if !l.isTrusted(peer) {
		l.log.Warn("PROXY protocol: connection from a peer that is not a trusted proxy refused (server.proxy_trusted_networks)", "listener", l.name, "peer", peer.String())
		c.Close()
		return
	}
	c.SetReadDeadline(time.Now().Add(ProxyHeaderTimeout))
	br := bufio.NewReaderSize(c, proxyBufferSize)
	h, err := proxyproto.Read(br)
	if err != nil {
		l.log.Warn("PROXY protocol error: connection closed", "listener", l.name, "peer", peer.String(), "err", err)
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	pc := &proxyConn{Conn: c, r: br, remote: peer, local: c.LocalAddr()}
	// A LOCAL command (v2: the proxy's own health check) or an UNKNOWN
	// family (v1) carries no client: the connection stays the proxy's
	// (section 2.1 and 2.2).
	if h.Command.IsProxy() && h.SourceAddr != nil {
		pc.remote = h.SourceAddr
		if h.DestinationAddr != nil {
			pc.local = h.DestinationAddr
		}
	}
	l.log.Debug("PROXY protocol header", "listener", l.name, "proxy", peer.String(), "client", pc.remote.String())
	select {
	case l.ready <- pc:
	case <-l.done:
		c.Close()
	}
}

// isTrusted reports whether the peer may send a PROXY header. Unix socket
// peers are trusted: the socket file's permissions say who may connect.
func (l *proxyListener) isTrusted(peer net.Addr) bool {
	ta, ok := peer.(*net.TCPAddr)
	if !ok {
		_, unix := peer.(*net.UnixAddr)
		return unix
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, p := range l.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Accept returns the next connection whose header was read.
func (l *proxyListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: l.Addr().Network(), Addr: l.Addr(), Err: net.ErrClosed}
	}
}

// Close stops accepting; connections whose header is still being read are
// closed.
func (l *proxyListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// proxyConn is a connection whose PROXY header was read: it reports the
// addresses of the header and reads on after the header.
type proxyConn struct {
	net.Conn
	r             *bufio.Reader // what was read past the header; nil once drained
	remote, local net.Addr
}

func (c *proxyConn) Read(b []byte) (int, error) {
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(b)
		}
		c.r = nil
	}
	return c.Conn.Read(b)
}

// RemoteAddr returns the client's address as the proxy reported it.
func (c *proxyConn) RemoteAddr() net.Addr { return c.remote }

// LocalAddr returns the address the client connected to, as the proxy
// reported it.
func (c *proxyConn) LocalAddr() net.Addr { return c.local }
