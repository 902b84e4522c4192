package mta

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// quitTimeout bounds QUIT when a connection is closed.
const quitTimeout = 2 * time.Second

// poolKey says which connections can carry a delivery: same host, port,
// security level and AUTH identity.
type poolKey struct {
	host string // the host name in lower case, or the literal address
	port int
	sec  secLevel
	user string
}

// conn is one SMTP connection.
type conn struct {
	c     *Client
	nc    net.Conn
	br    *bufio.Reader
	bw    *bufio.Writer
	key   poolKey
	label string // "name[ip]", for results and logs
	name  string // the host name certificates are checked against

	esmtp    bool
	ext      map[string]string // EHLO keywords (upper case) to their parameters
	tls      bool
	verified bool
	opened   time.Time
	msgs     int

	// ctx is the context of the delivery using the connection.
	ctx      context.Context
	mu       sync.Mutex
	canceled bool
	unwatch  func() bool
	timer    *time.Timer // the idle timer while pooled
}

// hostLabel returns "name[ip]" (or "[ip]" for a literal).
func hostLabel(name string, ip netip.Addr) string {
	return name + "[" + ip.String() + "]"
}

// watch makes ctx's end abort whatever the connection is waiting for,
// until unwatch is called.
func (cn *conn) watch(ctx context.Context) {
	cn.ctx = ctx
	cn.unwatch = context.AfterFunc(ctx, func() {
		cn.mu.Lock()
		cn.canceled = true
		cn.nc.SetDeadline(time.Unix(1, 0))
		cn.mu.Unlock()
	})
}

// release stops watching the context; it reports whether the connection
// is still usable (the context did not end while it was in use).
func (cn *conn) release() bool {
	if cn.unwatch != nil && !cn.unwatch() {
		return false
	}
	cn.unwatch = nil
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return !cn.canceled
}

// setDeadline bounds the next exchange by d and by ctx's deadline.
func (cn *conn) setDeadline(ctx context.Context, d time.Duration) error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.canceled {
		return context.Cause(ctx)
	}
	t := time.Now().Add(d)
	if dl, ok := ctx.Deadline(); ok && dl.Before(t) {
		t = dl
	}
	return cn.nc.SetDeadline(t)
}

// read reads one reply within d.
func (cn *conn) read(ctx context.Context, d time.Duration) (*response, error) {
	if err := cn.setDeadline(ctx, d); err != nil {
		return nil, err
	}
	r, err := readResponse(cn.br)
	return r, cn.ioErr(ctx, err)
}

// write sends lines (each without its CRLF) in one write.
func (cn *conn) write(ctx context.Context, lines ...string) error {
	for _, l := range lines {
		cn.bw.WriteString(l)
		cn.bw.WriteString("\r\n")
	}
	return cn.ioErr(ctx, cn.bw.Flush())
}

// cmd sends one command and reads its reply.
func (cn *conn) cmd(ctx context.Context, line string) (*response, error) {
	if err := cn.write(ctx, line); err != nil {
		return nil, err
	}
	return cn.read(ctx, cn.c.commandTimeout())
}

// ioErr reports the context's end rather than the deadline it caused.
func (cn *conn) ioErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", context.Cause(ctx), err)
	}
	return err
}

// close closes the connection without QUIT.
func (cn *conn) close() { cn.nc.Close() }

// quit sends QUIT (RFC 5321 section 4.1.1.10), waits briefly for its
// reply and closes the connection.
func (cn *conn) quit() {
	cn.nc.SetDeadline(time.Now().Add(quitTimeout))
	if _, err := cn.nc.Write([]byte("QUIT\r\n")); err == nil {
		readResponse(cn.br)
	}
	cn.nc.Close()
}

// stopIdle stops the idle timer of a pooled connection.
func (cn *conn) stopIdle() {
	if cn.timer != nil {
		cn.timer.Stop()
		cn.timer = nil
	}
}

// has reports whether the server offered the EHLO keyword.
func (cn *conn) has(kw string) bool {
	_, ok := cn.ext[kw]
	return ok
}

// dial connects to addr of h and readies the session: greeting, EHLO,
// STARTTLS as rt asks, AUTH for a relay host. With plain set it does not
// try STARTTLS (the retry after a failed opportunistic handshake). The
// connection watches ctx until release.
func (d *delivery) dial(ctx context.Context, rt *route, h *host, ip netip.Addr, plain bool) (*conn, *failure) {
	c := d.c
	label := hostLabel(h.name, ip)
	dialer := net.Dialer{Timeout: c.connectTimeout()}
	nc, err := dialer.DialContext(ctx, "tcp", netip.AddrPortFrom(ip, uint16(h.port)).String())
	if err != nil {
		return nil, &failure{Code: 451, Enhanced: "4.4.1", Text: "connect to " + label + ": " + netErrText(err)}
	}
	cn := &conn{
		c: c, nc: nc, label: label, name: h.name, opened: time.Now(),
		key: poolKey{host: strings.ToLower(h.name), port: h.port, sec: rt.sec},
	}
	if h.name == "" {
		cn.key.host = ip.String()
		cn.name = ip.String()
	}
	if rt.relay != nil {
		cn.key.user = rt.relay.Username
	}
	cn.setReader(nc)
	cn.watch(ctx)
	f := cn.open(ctx, rt, plain)
	if f != nil {
		cn.release()
		if f.quit {
			cn.quit()
		} else {
			cn.close()
		}
		return nil, f
	}
	return cn, nil
}

// setReader puts the buffered reader and writer on nc (the TCP or, after
// the handshake, the TLS connection).
func (cn *conn) setReader(nc net.Conn) {
	cn.nc = nc
	cn.br = bufio.NewReaderSize(nc, MaxReplyLine)
	cn.bw = bufio.NewWriterSize(connWriter{cn}, 32<<10)
}

// connWriter writes to the connection, each write bounded by the command
// timeout (RFC 5321 section 4.5.3.2.5 asks 3 minutes per data block) and
// by the delivery's context.
type connWriter struct{ cn *conn }

func (w connWriter) Write(p []byte) (int, error) {
	if err := w.cn.setDeadline(w.cn.ctx, w.cn.c.commandTimeout()); err != nil {
		return 0, err
	}
	return w.cn.nc.Write(p)
}

// open runs the session up to the point where MAIL can be sent.
func (cn *conn) open(ctx context.Context, rt *route, plain bool) *failure {
	c := cn.c
	if rt.sec == secImplicit {
		if f := cn.handshake(ctx, rt); f != nil {
			return f
		}
	}
	// RFC 5321 section 3.1 and 4.3.2: the session opens with 220; 554
	// (or anything else) says no service here: try the next host, as
	// Postfix does with smtp_skip_5xx_greeting.
	r, err := cn.read(ctx, c.connectTimeout())
	if err != nil {
		return cn.lost(err, "greeting")
	}
	if r.Code != 220 {
		return &failure{Code: 451, Enhanced: "4.4.2", Text: "host " + cn.label + " refused to talk: " + printable(r.String(), 300), Host: cn.label, quit: true}
	}
	if f := cn.hello(ctx); f != nil {
		return f
	}

	// RFC 3207: STARTTLS when offered (or required).
	if rt.sec == secMay || rt.sec == secVerify {
		switch {
		case cn.has("STARTTLS") && !plain:
			r, err := cn.cmd(ctx, "STARTTLS")
			if err != nil {
				return cn.lost(err, "STARTTLS")
			}
			if r.Code != 220 {
				if rt.sec == secMay {
					break // RFC 3207 section 4: 454 and the like; go on in plaintext
				}
				return cn.tlsFailure(rt, "STARTTLS refused: "+printable(r.String(), 300))
			}
			// A reply that arrived with the 220 was injected before
			// the handshake (CVE-2011-0411's mirror image): refuse it.
			if cn.br.Buffered() > 0 {
				return &failure{Code: 451, Enhanced: "4.7.0", Text: "host " + cn.label + " sent data after its STARTTLS reply", Host: cn.label}
			}
			if f := cn.handshake(ctx, rt); f != nil {
				return f
			}
			// RFC 3207 section 4.2: forget what was learnt, EHLO again.
			// With TLS 1.3 the server's verdict on the handshake (a
			// client certificate it wants, say) comes with this reply: a
			// broken connection here is a failed handshake too.
			if f := cn.hello(ctx); f != nil {
				f.retryPlain = rt.sec == secMay && f.broken
				return f
			}
		case rt.sec == secVerify:
			return cn.tlsFailure(rt, "TLS is required, but host "+cn.label+" did not offer STARTTLS")
		}
	}

	if rt.requireTLS {
		// RFC 8689 section 4.2.1: verified TLS (checked by the handshake
		// at secVerify) and REQUIRETLS in the EHLO reply after it.
		if !cn.tls || !cn.verified {
			return requireTLSFailure("host "+cn.label+" offers no verified TLS").at(cn.label, true)
		}
		if !cn.has("REQUIRETLS") {
			return requireTLSFailure("host "+cn.label+" does not offer REQUIRETLS").at(cn.label, true)
		}
	}

	if rh := rt.relay; rh != nil && rh.Username != "" {
		if f := cn.auth(ctx, rt); f != nil {
			return f
		}
	}
	return nil
}

// hello sends EHLO, and HELO when EHLO is refused with 5xx (RFC 5321
// section 3.2 and 4.1.4).
func (cn *conn) hello(ctx context.Context) *failure {
	name := cn.c.Hostname
	r, err := cn.cmd(ctx, "EHLO "+name)
	if err != nil {
		return cn.lost(err, "EHLO")
	}
	cn.ext = map[string]string{}
	switch {
	case r.Code == 250:
		cn.esmtp = true
		for _, l := range r.Lines[1:] {
			kw, params, _ := strings.Cut(l, " ")
			cn.ext[strings.ToUpper(kw)] = params
		}
		return nil
	case r.Code >= 500:
		r, err = cn.cmd(ctx, "HELO "+name)
		if err != nil {
			return cn.lost(err, "HELO")
		}
		if r.Code == 250 {
			cn.esmtp = false
			return nil
		}
	}
	return &failure{Code: 451, Enhanced: "4.4.2", Text: "host " + cn.label + " refused our EHLO: " + printable(r.String(), 300), Host: cn.label, quit: r.Code != 421}
}

// tlsConfig returns the TLS client configuration for the route: verified
// against the host's name (RFC 8461 section 4.2, RFC 6125) for secVerify
// and secImplicit; for secMay any certificate is accepted, but whether
// it verifies is noted.
func (cn *conn) tlsConfig(rt *route) *tls.Config {
	c := cn.c
	cfg := &tls.Config{RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}
	if _, err := netip.ParseAddr(cn.name); err != nil {
		cfg.ServerName = cn.name
	}
	if rt.sec != secMay {
		cfg.ServerName = cn.name // an IP is checked against the IP SANs
		return cfg
	}
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return nil
		}
		inter := x509.NewCertPool()
		for _, ic := range cs.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: cn.name, Roots: c.RootCAs, Intermediates: inter})
		cn.verified = err == nil
		return nil
	}
	return cfg
}

// handshake runs the TLS handshake on the connection.
func (cn *conn) handshake(ctx context.Context, rt *route) *failure {
	tc := tls.Client(cn.nc, cn.tlsConfig(rt))
	if err := cn.setDeadline(ctx, cn.c.commandTimeout()); err != nil {
		return cn.lost(err, "TLS handshake")
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		f := cn.tlsFailure(rt, "TLS handshake with "+cn.label+" failed: "+printable(err.Error(), 300))
		f.retryPlain = rt.sec == secMay
		f.quit = false
		return f
	}
	cn.setReader(tc)
	cn.tls = true
	if rt.sec != secMay {
		cn.verified = true
	}
	return nil
}

// tlsFailure is the failure of a host that cannot give the TLS the route
// needs: temporary (4.7.5, RFC 3463 "cryptographic failure") for MTA-STS
// and relay hosts, permanent 5.7.30 for REQUIRETLS.
func (cn *conn) tlsFailure(rt *route, text string) *failure {
	if rt.requireTLS {
		return requireTLSFailure(text).at(cn.label, true)
	}
	return &failure{Code: 451, Enhanced: "4.7.5", Text: text, Host: cn.label, quit: true}
}

// requireTLSFailure is a message with REQUIRETLS that cannot go: RFC 8689
// section 5 returns it as undeliverable, with the enhanced status code
// X.7.30 "REQUIRETLS support required" that it registers (section 7.3).
func requireTLSFailure(text string) *failure {
	return &failure{Code: 550, Enhanced: "5.7.30", Text: "REQUIRETLS support required: " + text, Permanent: true}
}

// auth authenticates to a relay host with AUTH PLAIN (RFC 4954, RFC
// 4616), only over TLS unless the relay host is configured without it.
func (cn *conn) auth(ctx context.Context, rt *route) *failure {
	rh := rt.relay
	if !cn.tls && rt.sec != secNone {
		return &failure{Code: 451, Enhanced: "4.7.0", Text: "not sending the password to " + cn.label + " without TLS", Host: cn.label, quit: true}
	}
	mechs := strings.Fields(strings.ToUpper(cn.ext["AUTH"]))
	if !cn.has("AUTH") || !contains(mechs, "PLAIN") {
		return &failure{Code: 451, Enhanced: "4.7.0", Text: "relay host " + cn.label + " does not offer AUTH PLAIN", Host: cn.label, quit: true}
	}
	cred := base64.StdEncoding.EncodeToString([]byte("\x00" + rh.Username + "\x00" + rh.Password))
	r, err := cn.cmd(ctx, "AUTH PLAIN "+cred)
	if err != nil {
		return cn.lost(err, "AUTH")
	}
	if r.Code != 235 {
		// Postfix defers on a failed login (smtp_sasl_auth_soft_bounce):
		// a wrong password is the administrator's to fix, not a bounce.
		return &failure{Code: 451, Enhanced: "4.7.8", Text: "authentication to " + cn.label + " failed: " + printable(r.String(), 300), Host: cn.label, quit: r.Code != 421}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// lost is the failure of a connection that broke (or a reply that did not
// parse) during stage.
func (cn *conn) lost(err error, stage string) *failure {
	text := "lost connection with " + cn.label + " during " + stage + ": " + netErrText(err)
	if errors.Is(err, errProtocol) {
		text = "bad reply from " + cn.label + " to " + stage + ": " + printable(err.Error(), 200)
	}
	return &failure{Code: 451, Enhanced: "4.4.2", Text: text, Host: cn.label, broken: true}
}

// netErrText shortens a network error for a result.
func netErrText(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		err = oe.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	return printable(err.Error(), 200)
}
