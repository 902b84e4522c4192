package milter

import (
	"context"
	"errors"
	"net"
	"time"
)

// errTooMuch is returned when a milter sends more than a reply may hold.
var errTooMuch = errors.New("milter sent too much")

// conn wraps the connection go-milter talks over, to give each exchange a
// hard deadline and a byte budget (go-milter sets its own deadline before
// every packet, and would wait for progress packets without end), and to
// speak protocol version 2 when asked.
//
// Its fields are set by the goroutine that uses the session; only Close
// (from context.AfterFunc) runs elsewhere, and net.Conn allows that.
type conn struct {
	net.Conn
	version uint32 // the version to offer in SMFIC_OPTNEG
	wrote   bool
	hard    time.Time // no read or write past this
	budget  int64     // bytes that may still be read in this exchange
}

// Write offers c.version in the first packet, SMFIC_OPTNEG (go-milter
// always offers 6; a filter then answers with the lower of the two).
func (c *conn) Write(p []byte) (int, error) {
	// Packet: 4-octet length, 'O', then version, actions and protocol
	// masks, 4 octets each (milter-protocol.txt, "SMFIC_OPTNEG").
	if !c.wrote && len(p) >= 9 && p[4] == 'O' && c.version != 0 {
		q := append([]byte(nil), p...)
		q[5], q[6], q[7], q[8] = byte(c.version>>24), byte(c.version>>16), byte(c.version>>8), byte(c.version)
		p = q
	}
	c.wrote = true
	if !c.hard.IsZero() && !time.Now().Before(c.hard) {
		return 0, context.DeadlineExceeded
	}
	return c.Conn.Write(p)
}

func (c *conn) Read(p []byte) (int, error) {
	if c.budget <= 0 {
		return 0, errTooMuch
	}
	if int64(len(p)) > c.budget {
		p = p[:c.budget]
	}
	n, err := c.Conn.Read(p)
	c.budget -= int64(n)
	return n, err
}

func (c *conn) clamp(t time.Time) time.Time {
	if !c.hard.IsZero() && (t.IsZero() || t.After(c.hard)) {
		return c.hard
	}
	return t
}

func (c *conn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *conn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(c.clamp(t)) }
func (c *conn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.clamp(t)) }

// begin starts an exchange: until the returned function is called, reads
// and writes end at the exchange's deadline (overall, whatever go-milter
// sets per packet) or when ctx is done, and at most budget bytes are read.
func (c *conn) begin(ctx context.Context, overall time.Duration, budget int64) (end func()) {
	c.hard = time.Now().Add(overall)
	if d, ok := ctx.Deadline(); ok && d.Before(c.hard) {
		c.hard = d
	}
	c.budget = budget
	_ = c.Conn.SetDeadline(c.hard)
	// A cancelled context ends the exchange at once: the connection is
	// closed, and the milter counts as failed.
	stop := context.AfterFunc(ctx, func() { _ = c.Conn.Close() })
	return func() {
		stop()
		c.hard = time.Time{}
		c.budget = 0
	}
}

// dialer is the go-milter Dialer for one connection: it dials with a
// context and keeps the *conn it made.
// The option negotiation that follows the dial is the first exchange; the
// caller ends it with end.
type dialer struct {
	ctx     context.Context
	timeout time.Duration
	overall time.Duration
	version uint32
	conn    *conn
	end     func()
}

func (d *dialer) Dial(network, addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: d.timeout}
	c, err := nd.DialContext(d.ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.conn = &conn{Conn: c, version: d.version}
	d.end = d.conn.begin(d.ctx, d.overall, maxCommandReply)
	return d.conn, nil
}
