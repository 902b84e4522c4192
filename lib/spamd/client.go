package spamd

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"time"
)

// Client asks a spamd (Gannet's or SpamAssassin's) about messages.
type Client struct {
	// Addresses are tried in order until one accepts the connection, as
	// spamc's -d host1,host2: "host:port" for TCP, or an absolute path for
	// a Unix socket.
	Addresses []string
	// Timeout bounds one whole exchange (spamc -t); 0 means none beyond
	// ctx.
	Timeout time.Duration
	// MaxReply bounds the body of a reply (MaxReplyBody when 0); PROCESS
	// replies with the message, so it must exceed the largest message.
	MaxReply int64
}

// Do sends req and reads the reply. A failure to connect is an *Error with
// ExUnavailable; a timeout one with ExTimeout; a malformed reply one with
// ExProtocol. A reply with a non-zero code is returned as is, not as an
// error.
func (cl *Client) Do(ctx context.Context, req *Request) (*Response, error) {
	if cl.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cl.Timeout)
		defer cancel()
	}
	c, err := cl.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()

	w := bufio.NewWriter(c)
	_, sendErr := req.WriteTo(w)
	if sendErr == nil {
		sendErr = w.Flush()
	}
	if sendErr == nil {
		// spamd/PROTOCOL: "After each side is done writing, it shuts
		// down its side of the connection". SpamAssassin's spamd reads a
		// compressed body up to that end.
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			sendErr = cw.CloseWrite()
		}
	}
	max := cl.MaxReply
	if max <= 0 {
		max = MaxReplyBody
	}
	resp, err := ReadResponse(bufio.NewReader(c), max)
	switch {
	case err == nil:
		// A server may answer before it has read everything (a message
		// over its size limit) and close: its answer is what counts.
		return resp, nil
	case sendErr != nil:
		return nil, ioError(sendErr, "sending the request")
	}
	return nil, ioError(err, "reading the reply")
}

func (cl *Client) dial(ctx context.Context) (net.Conn, error) {
	if len(cl.Addresses) == 0 {
		return nil, errorf(ExUnavailable, "no spamd address given")
	}
	var d net.Dialer
	var errs []error
	for _, a := range cl.Addresses {
		network := "tcp"
		if len(a) > 0 && a[0] == '/' {
			network = "unix"
		}
		c, err := d.DialContext(ctx, network, a)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errorf(ExUnavailable, "connecting to spamd: %v", errors.Join(errs...))
}

// ioError turns a network error into an *Error; an *Error passes through.
func ioError(err error, doing string) error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return errorf(ExTimeout, "%s: timed out", doing)
	}
	return errorf(ExIOErr, "%s: %v", doing, err)
}
