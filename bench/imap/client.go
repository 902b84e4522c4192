package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Bounds of what the client reads: a response line outside literals, and
// one literal.
const (
	maxLine    = 4 << 20
	maxLiteral = 64 << 20
)

// cmdTimeout bounds one command, its responses included.
const cmdTimeout = 10 * time.Minute

// client is a bare IMAP client over implicit TLS: it sends commands and
// reads responses line by line, skipping literals (only their sizes are
// counted), so that the cost of reading a response stays well below the
// server's cost of writing it. It keeps no state beyond the capabilities.
type client struct {
	conn  net.Conn
	r     *bufio.Reader
	w     *bufio.Writer
	tag   int
	caps  map[string]bool
	buf   []byte
	lit   int64 // literal bytes read, summed
	bytes int64 // response bytes read outside literals, summed
}

// dial connects to addr with implicit TLS (RFC 8314), reads the greeting
// and asks for the capabilities.
func dial(ctx context.Context, addr string) (*client, error) {
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} // the servers' certificates are self-signed
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	c := newClient(conn)
	conn.SetDeadline(time.Now().Add(cmdTimeout))
	greeting, err := c.readResponse()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: reading the greeting: %w", addr, err)
	}
	if !bytes.HasPrefix(greeting, []byte("* OK")) {
		conn.Close()
		return nil, fmt.Errorf("%s: greeting %q", addr, trim(greeting))
	}
	if err := c.capability(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func newClient(conn net.Conn) *client {
	return &client{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), w: bufio.NewWriterSize(conn, 16<<10)}
}

// Close closes the connection without logging out.
func (c *client) Close() error { return c.conn.Close() }

// capability asks for the capabilities and keeps them, in upper case.
func (c *client) capability(ctx context.Context) error {
	caps := map[string]bool{}
	_, err := c.run(ctx, "CAPABILITY", func(line []byte) {
		if rest, ok := bytes.CutPrefix(line, []byte("* CAPABILITY ")); ok {
			for _, f := range strings.Fields(string(rest)) {
				caps[strings.ToUpper(f)] = true
			}
		}
	})
	if err != nil {
		return err
	}
	c.caps = caps
	return nil
}

// login logs in with LOGIN and reads the capabilities again (they change
// after authentication).
func (c *client) login(ctx context.Context, user, pass string) error {
	if _, err := c.run(ctx, "LOGIN "+quote(user)+" "+quote(pass), nil); err != nil {
		return err
	}
	return c.capability(ctx)
}

// logout logs out and closes the connection.
func (c *client) logout(ctx context.Context) error {
	_, err := c.run(ctx, "LOGOUT", nil)
	c.Close()
	return err
}

// run sends a command and reads responses until its tagged one, passing
// every untagged response to untagged (which must not keep the slice). It
// returns the tagged response, and an error unless it is OK.
func (c *client) run(ctx context.Context, command string, untagged func(line []byte)) (string, error) {
	tag := c.nextTag()
	c.w.WriteString(tag)
	c.w.WriteByte(' ')
	c.w.WriteString(command)
	c.w.WriteString("\r\n")
	return c.finish(ctx, tag, command, untagged)
}

func (c *client) nextTag() string {
	c.tag++
	return "t" + strconv.Itoa(c.tag)
}

// finish flushes what is written and reads the responses to the command
// tagged tag.
func (c *client) finish(ctx context.Context, tag, command string, untagged func(line []byte)) (string, error) {
	stop := c.watch(ctx)
	defer stop()
	if err := c.w.Flush(); err != nil {
		return "", fmt.Errorf("%s: %w", cmdName(command), err)
	}
	for {
		line, err := c.readResponse()
		if err != nil {
			return "", fmt.Errorf("%s: %w", cmdName(command), err)
		}
		if len(line) > len(tag) && line[len(tag)] == ' ' && string(line[:len(tag)]) == tag {
			status := string(trim(line[len(tag)+1:]))
			if !strings.HasPrefix(status, "OK") {
				return status, fmt.Errorf("%s: %s", cmdName(command), status)
			}
			return status, nil
		}
		switch {
		case bytes.HasPrefix(line, []byte("* ")):
			if untagged != nil {
				untagged(line)
			}
		case bytes.HasPrefix(line, []byte("+")):
			return "", fmt.Errorf("%s: unexpected continuation request %q", cmdName(command), trim(line))
		default:
			return "", fmt.Errorf("%s: unexpected response %q", cmdName(command), trim(line))
		}
	}
}

// watch sets the connection's deadline from ctx and cmdTimeout, and makes
// the end of ctx end a read in progress; stop undoes the latter.
func (c *client) watch(ctx context.Context) (stop func()) {
	deadline := time.Now().Add(cmdTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.conn.SetDeadline(deadline)
	after := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Now()) })
	return func() { after() }
}

// appendMsg appends msg to mailbox, with LITERAL+ (RFC 7888) when the
// server has it, and returns the tagged response.
func (c *client) appendMsg(ctx context.Context, mailbox string, msg []byte) (string, error) {
	tag := c.nextTag()
	plus := ""
	if c.caps["LITERAL+"] {
		plus = "+"
	}
	fmt.Fprintf(c.w, "%s APPEND %s {%d%s}\r\n", tag, quote(mailbox), len(msg), plus)
	if plus == "" {
		stop := c.watch(ctx)
		err := c.w.Flush()
		var line []byte
		if err == nil {
			line, err = c.readResponse()
		}
		stop()
		if err != nil {
			return "", fmt.Errorf("APPEND: %w", err)
		}
		if !bytes.HasPrefix(line, []byte("+")) {
			return "", fmt.Errorf("APPEND: %q instead of a continuation request", trim(line))
		}
	}
	c.w.Write(msg)
	c.w.WriteString("\r\n")
	return c.finish(ctx, tag, "APPEND", nil)
}

// idle starts IDLE (RFC 2177) and returns once the server is idling; the
// connection then stays idle until closed.
func (c *client) idle(ctx context.Context) error {
	tag := c.nextTag()
	c.w.WriteString(tag + " IDLE\r\n")
	stop := c.watch(ctx)
	defer stop()
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("IDLE: %w", err)
	}
	for {
		line, err := c.readResponse()
		if err != nil {
			return fmt.Errorf("IDLE: %w", err)
		}
		switch {
		case bytes.HasPrefix(line, []byte("+")):
			c.conn.SetDeadline(time.Time{})
			return nil
		case bytes.HasPrefix(line, []byte("* ")):
		default:
			return fmt.Errorf("IDLE: %q", trim(line))
		}
	}
}

// readResponse reads one response: its lines, the bytes of each literal
// being skipped and counted in c.lit. The returned slice holds the text
// outside literals (a literal's "{N}" marker stays) and is valid until the
// next read.
func (c *client) readResponse() ([]byte, error) {
	c.buf = c.buf[:0]
	for {
		line, err := c.r.ReadSlice('\n')
		c.buf = append(c.buf, line...)
		c.bytes += int64(len(line))
		if len(c.buf) > maxLine {
			return nil, fmt.Errorf("a response line longer than %d bytes", maxLine)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			if err == io.EOF && len(c.buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		n, ok, err := literalAtEnd(c.buf)
		if err != nil {
			return nil, err
		}
		if !ok {
			return c.buf, nil
		}
		if _, err := c.r.Discard(int(n)); err != nil {
			return nil, fmt.Errorf("reading a literal of %d bytes: %w", n, err)
		}
		c.lit += n
	}
}

// literalAtEnd reports whether line (ending in LF) ends with a literal's
// size, {N} or {N+} (RFC 9051 section 4.3; ~{N} for binary, RFC 3516), and
// returns N.
func literalAtEnd(line []byte) (int64, bool, error) {
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false, nil
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false, nil
	}
	digits := bytes.TrimSuffix(line[open+1:len(line)-1], []byte("+"))
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil || n < 0 {
		return 0, false, nil // not a literal: a "}" at the end of text
	}
	if n > maxLiteral {
		return 0, false, fmt.Errorf("a literal of %d bytes (the bound is %d)", n, maxLiteral)
	}
	return n, true, nil
}

// isFetch reports whether an untagged response is FETCH data ("* N FETCH").
func isFetch(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("* "))
	if !ok {
		return false
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	return i > 0 && bytes.HasPrefix(rest[i:], []byte(" FETCH "))
}

// respCode returns the number in a response code such as
// "* OK [HIGHESTMODSEQ 715] ..." for name, and whether it was there.
func respCode(line []byte, name string) (uint64, bool) {
	rest, ok := bytes.CutPrefix(line, []byte("* OK ["+name+" "))
	if !ok {
		return 0, false
	}
	end := bytes.IndexByte(rest, ']')
	if end < 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(rest[:end]), 10, 64)
	return n, err == nil
}

// vanishedCount returns how many UIDs a VANISHED response (RFC 7162
// section 3.2.10) names, and whether line is one.
func vanishedCount(line []byte) (int, bool) {
	rest, ok := bytes.CutPrefix(line, []byte("* VANISHED "))
	if !ok {
		return 0, false
	}
	rest = bytes.TrimPrefix(rest, []byte("(EARLIER) "))
	n := 0
	for r := range strings.SplitSeq(string(bytes.TrimRight(rest, "\r\n")), ",") {
		lo, hi, isRange := strings.Cut(r, ":")
		a, err1 := strconv.Atoi(lo)
		if !isRange {
			if err1 == nil {
				n++
			}
			continue
		}
		b, err2 := strconv.Atoi(hi)
		if err1 == nil && err2 == nil {
			n += max(a, b) - min(a, b) + 1
		}
	}
	return n, true
}

// quote makes s an IMAP quoted string (RFC 9051 section 4.3).
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// cmdName is a command's name, for errors (never its arguments: LOGIN
// carries a password).
func cmdName(command string) string {
	name, _, _ := strings.Cut(command, " ")
	return name
}

// trim drops the line end and bounds what goes into an error message.
func trim(b []byte) []byte {
	b = bytes.TrimRight(b, "\r\n")
	if len(b) > 200 {
		return b[:200]
	}
	return b
}
