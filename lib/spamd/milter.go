package spamd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gomilter "github.com/emersion/go-milter"

	"gannet/lib/deliver"
	"gannet/lib/spam"
)

// Bounds of a milter session beyond the message size.
const (
	// maxMilterRecipients bounds the recipients remembered per message.
	maxMilterRecipients = 1000
	// DefaultMilterTimeout bounds the wait for the MTA's next packet.
	DefaultMilterTimeout = 5 * time.Minute
)

// Milter serves the milter protocol (Sendmail's, as Postfix speaks it with
// smtpd_milters) over the filter: at the end of each message it removes
// the X-Spam-* header fields the message came with, adds the verdict's,
// rejects with 550 5.7.1 from the reject threshold and, when asked,
// quarantines spam (Postfix puts it on hold).
type Milter struct {
	Filter *spam.Filter
	// Accounts resolves the recipient of a message with a single one to
	// the account whose model the filter uses; nil means the global model.
	Accounts Accounts
	// MaxSize bounds a message: a larger one passes unchecked (its forged
	// X-Spam-* fields still removed). DefaultMaxSize when 0.
	MaxSize int64
	// Timeout bounds the wait for each packet of the MTA
	// (DefaultMilterTimeout when 0) and the check of one message
	// (DefaultTimeout).
	Timeout time.Duration
	// Thresholds, when set, gives the account's own thresholds for a
	// message with a single recipient.
	Thresholds ThresholdFunc
	// Quarantine asks the MTA to hold spam that is not rejected.
	Quarantine bool
	Log        *slog.Logger
}

func (m *Milter) log() *slog.Logger {
	if m.Log != nil {
		return m.Log
	}
	return slog.Default()
}

// ServeConn speaks the milter protocol on c until the MTA closes it, or
// until ctx ends and no message is in progress.
func (m *Milter) ServeConn(ctx context.Context, c net.Conn) {
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = DefaultMilterTimeout
	}
	sess := &milterConn{m: m, ctx: ctx, done: make(chan struct{})}
	sess.dc = &deadlineConn{Conn: c, timeout: timeout}
	sess.Conn = sess.dc
	srv := &gomilter.Server{
		// go-milter makes a new Milter after each message's final
		// answer; they all share this connection's state.
		NewMilter: func() gomilter.Milter { return &milterMessage{conn: sess} },
		Actions:   gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptQuarantine,
	}
	l := &oneListener{conn: sess, closed: make(chan struct{})}
	go srv.Serve(l)
	stop := context.AfterFunc(ctx, sess.closeIfIdle)
	defer stop()
	<-sess.done
	l.Close()
}

// milterConn is one MTA connection: what was said at connect and HELO,
// kept across its messages.
type milterConn struct {
	net.Conn
	dc  *deadlineConn
	m   *Milter
	ctx context.Context

	mu       sync.Mutex
	busy     bool
	closed   bool
	done     chan struct{}
	clientIP netip.Addr
	rdns     string // "" when the MTA found no reverse name
	helo     string
}

// Close is called by go-milter when the session ends.
func (c *milterConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	close(c.done)
	return c.Conn.Close()
}

// setBusy marks a message in progress; at its end a shutdown closes the
// connection.
func (c *milterConn) setBusy(b bool) {
	c.mu.Lock()
	c.busy = b
	c.mu.Unlock()
	if !b && c.ctx.Err() != nil {
		c.closeIfIdle()
	}
}

func (c *milterConn) closeIfIdle() {
	c.mu.Lock()
	idle := !c.busy
	c.mu.Unlock()
	if idle {
		// Wakes go-milter's read, which then closes the connection.
		c.dc.stop.Store(true)
		c.dc.SetReadDeadline(time.Now())
	}
}

// deadlineConn sets a read deadline before each read: go-milter sets none.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
	// stop ends the reads: the server is shutting down.
	stop atomic.Bool
}

func (d *deadlineConn) Read(p []byte) (int, error) {
	if d.stop.Load() {
		return 0, os.ErrDeadlineExceeded
	}
	d.Conn.SetReadDeadline(time.Now().Add(d.timeout))
	// closeIfIdle may have set its deadline just before ours: look again
	// (it sets stop first, so either we see it or its deadline wins).
	if d.stop.Load() {
		return 0, os.ErrDeadlineExceeded
	}
	return d.Conn.Read(p)
}

// oneListener hands go-milter's Server one connection.
type oneListener struct {
	mu     sync.Mutex
	conn   net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *oneListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	c := l.conn
	l.conn = nil
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *oneListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *oneListener) Addr() net.Addr { return dummyAddr{} }

type dummyAddr struct{}

func (dummyAddr) Network() string { return "milter" }
func (dummyAddr) String() string  { return "milter" }

// milterMessage collects one message.
type milterMessage struct {
	conn    *milterConn
	from    string
	rcpts   []string
	auth    string
	queueID string
	header  bytes.Buffer
	// seen counts the header fields of each spam field name, to delete
	// them by index at the end (SMFIR_CHGHEADER with an empty value).
	seen   map[string]int
	body   bytes.Buffer
	tooBig bool
}

func (mm *milterMessage) size() int64 { return int64(mm.header.Len() + mm.body.Len()) }

func (mm *milterMessage) maxSize() int64 {
	if mm.conn.m.MaxSize > 0 {
		return mm.conn.m.MaxSize
	}
	return DefaultMaxSize
}

// Connect records the client's address (milter SMFIC_CONNECT).
func (mm *milterMessage) Connect(host, family string, port uint16, addr net.IP, m *gomilter.Modifier) (gomilter.Response, error) {
	if a, ok := netip.AddrFromSlice(addr); ok {
		mm.conn.clientIP = a.Unmap()
	}
	// The MTA names the client by its reverse DNS, or "[address]" when it
	// has none (Postfix, Sendmail).
	if !strings.HasPrefix(host, "[") && host != "unknown" {
		mm.conn.rdns = strings.ToLower(host)
	}
	return gomilter.RespContinue, nil
}

// Helo records the HELO name (SMFIC_HELO).
func (mm *milterMessage) Helo(name string, m *gomilter.Modifier) (gomilter.Response, error) {
	mm.conn.helo = truncate(name, 255)
	return gomilter.RespContinue, nil
}

// MailFrom starts a message (SMFIC_MAIL).
func (mm *milterMessage) MailFrom(from string, m *gomilter.Modifier) (gomilter.Response, error) {
	mm.reset()
	mm.conn.setBusy(true)
	mm.from = truncate(from, 512)
	// Postfix sends {auth_authen} with MAIL FROM (milter_mail_macros).
	mm.auth = m.Macros["{auth_authen}"]
	return gomilter.RespContinue, nil
}

// RcptTo records a recipient (SMFIC_RCPT).
func (mm *milterMessage) RcptTo(rcpt string, m *gomilter.Modifier) (gomilter.Response, error) {
	if len(mm.rcpts) < maxMilterRecipients {
		mm.rcpts = append(mm.rcpts, truncate(rcpt, 512))
	}
	return gomilter.RespContinue, nil
}

// Header collects a header field (SMFIC_HEADER). Postfix folds values with
// a bare LF.
func (mm *milterMessage) Header(name, value string, m *gomilter.Modifier) (gomilter.Response, error) {
	if i := m.Macros["i"]; i != "" {
		mm.queueID = i
	}
	if IsSpamField(name) {
		if mm.seen == nil {
			mm.seen = map[string]int{}
		}
		mm.seen[textproto.CanonicalMIMEHeaderKey(name)]++
		return gomilter.RespContinue, nil
	}
	if mm.tooBig || mm.size()+int64(len(name)+len(value)+4) > mm.maxSize() {
		mm.tooBig = true
		return gomilter.RespContinue, nil
	}
	mm.header.WriteString(name)
	mm.header.WriteString(": ")
	mm.header.WriteString(strings.ReplaceAll(strings.ReplaceAll(value, "\r\n", "\n"), "\n", "\r\n"))
	mm.header.WriteString("\r\n")
	return gomilter.RespContinue, nil
}

// Headers ends the header (SMFIC_EOH).
func (mm *milterMessage) Headers(h textproto.MIMEHeader, m *gomilter.Modifier) (gomilter.Response, error) {
	mm.header.WriteString("\r\n")
	return gomilter.RespContinue, nil
}

// BodyChunk collects the body (SMFIC_BODY), up to the size limit.
func (mm *milterMessage) BodyChunk(chunk []byte, m *gomilter.Modifier) (gomilter.Response, error) {
	if mm.tooBig || mm.size()+int64(len(chunk)) > mm.maxSize() {
		mm.tooBig = true
		return gomilter.RespContinue, nil
	}
	mm.body.Write(chunk)
	return gomilter.RespContinue, nil
}

// Body is the end of the message (SMFIC_BODYEOB): the verdict.
func (mm *milterMessage) Body(m *gomilter.Modifier) (gomilter.Response, error) {
	defer mm.conn.setBusy(false)
	if i := m.Macros["i"]; i != "" {
		mm.queueID = i
	}
	mi := mm.conn.m
	log := mi.log().With("queue_id", mm.queueID, "from", mm.from)
	// Forged verdicts go first, whatever happens next.
	for name, n := range mm.seen {
		// SMFIR_CHGHEADER with an empty value deletes the n-th field
		// of that name (1-based); from the last, so indexes hold.
		for i := n; i >= 1; i-- {
			if err := m.ChangeHeader(i, name, ""); err != nil {
				return nil, fmt.Errorf("milter: removing %s: %w", name, err)
			}
		}
	}
	if mm.tooBig {
		log.Info("milter: message larger than the limit passes unchecked", "limit", mm.maxSize())
		return gomilter.RespAccept, nil
	}
	raw := append(mm.header.Bytes(), deliver.ToCRLF(mm.body.Bytes())...)
	env := spam.Envelope{
		ClientIP:      mm.conn.clientIP,
		HELO:          mm.conn.helo,
		RDNS:          mm.conn.rdns,
		NoRDNS:        mm.conn.clientIP.IsValid() && mm.conn.rdns == "",
		MailFrom:      mm.from,
		Recipients:    mm.rcpts,
		Authenticated: mm.auth,
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(mm.conn.ctx), DefaultTimeout)
	defer cancel()
	if len(mm.rcpts) == 1 {
		env.AccountID = (&Server{Accounts: mi.Accounts, Log: mi.Log}).account(ctx, mm.rcpts[0])
	}
	msg, err := spam.NewMessage(raw, env)
	if err != nil {
		log.Warn("milter: message not parsed; passing it unchecked", "err", err)
		return gomilter.RespAccept, nil
	}
	v := mi.Filter.Check(ctx, msg, mi.Thresholds.of(ctx, env.AccountID))
	log.Info("milter: checked", "spam", v.Spam, "reject", v.Reject, "score", v.Score, "rcpts", len(mm.rcpts))
	if v.Reject {
		// RFC 3463 section 3.8: X.7.1 delivery not authorized, message
		// refused.
		return gomilter.NewResponseStr('y', fmt.Sprintf("550 5.7.1 Message refused as spam (score %.1f)", v.Score)), nil
	}
	for _, f := range parseFields(v.Fields()) {
		if err := m.AddHeader(f[0], f[1]); err != nil {
			return nil, fmt.Errorf("milter: adding %s: %w", f[0], err)
		}
	}
	if v.Spam && mi.Quarantine {
		if err := m.Quarantine(fmt.Sprintf("spam, score %.1f", v.Score)); err != nil {
			return nil, fmt.Errorf("milter: quarantine: %w", err)
		}
	}
	return gomilter.RespAccept, nil
}

// Abort drops the message in progress (SMFIC_ABORT).
func (mm *milterMessage) Abort(m *gomilter.Modifier) error {
	mm.reset()
	mm.conn.setBusy(false)
	return nil
}

func (mm *milterMessage) reset() {
	mm.from, mm.rcpts, mm.auth, mm.queueID, mm.seen, mm.tooBig = "", nil, "", "", nil, false
	mm.header.Reset()
	mm.body.Reset()
}

// parseFields splits header fields ("Name: value\r\n folded\r\n") into
// names and values, the folding kept as CRLF for go-milter to send as LF.
func parseFields(b []byte) [][2]string {
	var out [][2]string
	for _, line := range strings.SplitAfter(string(b), "\r\n") {
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1][1] += "\r\n" + strings.TrimRight(line, "\r\n")
			continue
		}
		name, value, _ := strings.Cut(strings.TrimRight(line, "\r\n"), ":")
		out = append(out, [2]string{name, strings.TrimPrefix(value, " ")})
	}
	return out
}

var _ io.Closer = (*milterConn)(nil)
