package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"gannet/lib/directory"
	"gannet/lib/reply"
	"gannet/lib/store"
)

// session is one go-smtp session: from HELO/EHLO/LHLO to QUIT, or to
// STARTTLS, after which the client starts a new one over TLS.
type session struct {
	srv  *Server
	c    *conn
	role string
	helo string
	tls  *tls.ConnectionState
	acct *store.Account

	txn *txn
}

// txn is the mail transaction in progress.
type txn struct {
	id     string // names the message in Received and logs
	sender string // after rewriting; "" is the null sender
	opts   gosmtp.MailOptions
	rcpts  []rcpt
}

// rcpt is one accepted RCPT TO.
type rcpt struct {
	given  string // as the client wrote it (LMTP answers per RCPT)
	addr   string // rewritten and normalised
	local  bool   // delivered here; otherwise queued for relay
	notify []string
	orcpt  string
	trap   bool // a spam trap: accepted, its copy thrown away
}

var (
	_ gosmtp.Session     = (*session)(nil)
	_ gosmtp.AuthSession = (*session)(nil)
	_ gosmtp.LMTPSession = (*session)(nil)
)

// newSession is go-smtp's Backend: it runs when the client first says
// HELO, EHLO or LHLO, and again after STARTTLS.
func (s *Server) newSession(gc *gosmtp.Conn) (gosmtp.Session, error) {
	c, tc, err := connOf(gc.Conn())
	if err != nil {
		return nil, err
	}
	sess := &session{srv: s, c: c, role: c.role, helo: headerSafe(gc.Hostname(), 255)}
	if tc != nil {
		c.setUpper(tc)
		st := tc.ConnectionState()
		sess.tls = &st
	} else {
		c.setUpper(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := sess.helloStage(ctx); err != nil {
		return nil, sess.refuse(err)
	}
	if s.Milter != nil {
		if err := sess.milterHelo(ctx); err != nil {
			return nil, sess.refuse(err)
		}
	}
	return sess, nil
}

// envelope describes the session (and transaction) to the hooks.
func (s *session) envelope() *Envelope {
	e := &Envelope{
		SessionID: s.c.id,
		Role:      s.role,
		ClientIP:  s.c.ip,
		Helo:      s.helo,
		TLS:       s.tls,
		Account:   s.acct,
	}
	if s.txn != nil {
		e.Sender = s.txn.sender
		for _, r := range s.txn.rcpts {
			if !r.trap && !slices.Contains(e.Recipients, r.addr) {
				e.Recipients = append(e.Recipients, r.addr)
			}
		}
	}
	return e
}

// AuthMechanisms implements gosmtp.AuthSession. go-smtp offers them only
// over TLS unless smtpd.require_tls_for_auth is false. LMTP has no AUTH.
func (s *session) AuthMechanisms() []string {
	if s.role == RoleLMTP || s.srv.Auth == nil {
		return nil
	}
	mechs := []string{MechPlain, MechLogin}
	if s.srv.SCRAM != nil {
		mechs = append(mechs, MechSCRAMSHA256)
	}
	return mechs
}

// Auth implements gosmtp.AuthSession.
func (s *session) Auth(mech string) (sasl.Server, error) {
	if s.role == RoleLMTP || s.srv.Auth == nil {
		return nil, gosmtp.ErrAuthUnsupported
	}
	if s.txn != nil {
		// RFC 4954 section 4: no AUTH during a mail transaction.
		return nil, &gosmtp.SMTPError{Code: 503, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "AUTH not allowed during a mail transaction"}
	}
	ctx := context.Background()
	switch strings.ToUpper(mech) {
	case MechPlain:
		return newPlainServer(ctx, s.srv.Auth, s.authDone), nil
	case MechLogin:
		return newLoginServer(ctx, s.srv.Auth, s.authDone), nil
	case MechSCRAMSHA256:
		if s.srv.SCRAM != nil {
			return newSCRAMServer(ctx, s.srv.SCRAM, s.authDone)
		}
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

// authDone records the outcome of an AUTH exchange.
func (s *session) authDone(acct *store.Account, username string) {
	log := s.srv.Log.With("session", s.c.id, "client", s.c.clientIP(), "role", s.role, "user", headerSafe(username, 320))
	if acct == nil {
		log.Warn("authentication failed")
		s.reportAuthFailure(username)
		if s.c.countError() {
			s.c.closeAfter("421 4.7.0 Too many errors, closing connection")
		}
		return
	}
	s.acct = acct
	log.Info("authenticated", "account", acct.Address)
}

// Reset implements gosmtp.Session (RSET, a new EHLO, the end of a message).
func (s *session) Reset() {
	if m := s.c.filter(); s.txn != nil && m != nil {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		m.Abort(ctx)
		cancel()
	}
	s.txn = nil
}

// Logout implements gosmtp.Session: the connection closes, or STARTTLS
// begins (the next session runs over TLS).
func (s *session) Logout() error {
	s.txn = nil
	s.c.setUpper(nil)
	return nil
}

// Mail implements gosmtp.Session.
func (s *session) Mail(from string, opts *gosmtp.MailOptions) error {
	if err := s.mail(from, opts); err != nil {
		return s.refuse(err)
	}
	return nil
}

func (s *session) mail(from string, opts *gosmtp.MailOptions) error {
	c := s.c
	switch {
	case c.isDraining():
		c.closeAfter("")
		return reply.New(421, "4.3.2", "server", "Service shutting down, try again later")
	case c.messageCount() >= s.srv.Config.SMTPD.MaxMessagesPerSession:
		c.closeAfter("")
		return reply.New(421, "4.7.0", "limit", "Too many messages in this session, closing connection")
	case (s.role == RoleSubmission || s.role == RoleSubmissions) && s.acct == nil:
		// RFC 4954 section 6.
		return reply.New(530, "5.7.0", "auth", "Authentication required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	sender := from
	if sender != "" {
		if s.srv.Rewriter != nil {
			sender = s.srv.Rewriter.Sender(sender)
		}
		norm, err := directory.Normalize(sender)
		if err != nil {
			// RFC 3463: X.1.7 bad sender's mailbox address syntax.
			return reply.Wrap(err, 553, "5.1.7", "syntax", "Bad sender address syntax")
		}
		sender = norm
	}
	if s.acct != nil && s.srv.Config.SMTPD.SenderValidation {
		ok := false
		if sender != "" {
			var err error
			ok, err = s.srv.Dir.CanSendAs(ctx, s.acct, sender)
			if err != nil {
				return reply.Wrap(err, 451, "4.3.0", "directory", "Temporary lookup failure, try again later")
			}
		}
		if !ok {
			return reply.New(550, "5.7.1", "sender", fmt.Sprintf("Sender address <%s> is not yours (%s)", headerSafe(sender, 320), s.acct.Address))
		}
	}
	if err := s.limitSender(sender); err != nil {
		return err
	}
	sender, err := s.mailStage(ctx, sender)
	if err != nil {
		return err
	}
	s.txn = &txn{sender: sender, opts: *opts}
	if m := s.c.filter(); m != nil {
		if err := m.Mail(ctx, s.envelope()); err != nil {
			s.txn = nil
			return err
		}
	}
	return nil
}

// Rcpt implements gosmtp.Session.
func (s *session) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	if err := s.rcpt(to, opts); err != nil {
		return s.refuse(err)
	}
	return nil
}

func (s *session) rcpt(to string, opts *gosmtp.RcptOptions) error {
	if s.txn == nil {
		return reply.New(503, "5.5.1", "protocol", "MAIL first")
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	addr := to
	if s.srv.Rewriter != nil {
		addr = s.srv.Rewriter.Recipient(addr)
	}
	// The rcpt scripts may replace, add or drop the recipient
	// (sievestage.go); the first address answers for the RCPT.
	addrs, err := s.rcptStage(ctx, addr)
	if err != nil {
		return err
	}
	for i, a := range addrs {
		if i == 0 {
			if err := s.addRcpt(ctx, to, a, opts); err != nil {
				return err
			}
		} else if err := s.addRcpt(ctx, "", a, opts); err != nil {
			s.srv.Log.Warn("recipient added by a sieve script left out", "session", s.c.id, "rcpt", headerSafe(a, 320), "err", err)
		}
	}
	return nil
}

// addRcpt checks one recipient address and adds it to the transaction;
// given is what the client wrote ("" for an address a script added).
func (s *session) addRcpt(ctx context.Context, given, addr string, opts *gosmtp.RcptOptions) error {
	if rf, ok := s.srv.Spam.(RcptFilter); ok && s.acct == nil && rf.IsTrap(addr) {
		// A spam trap takes anything (smtpd accepts it even with no
		// account behind it) and keeps nothing.
		s.txn.rcpts = append(s.txn.rcpts, rcpt{given: given, addr: addr, trap: true})
		return nil
	}
	res, err := s.srv.Dir.Resolve(ctx, addr)
	switch {
	case errors.Is(err, directory.ErrInvalidAddress):
		// RFC 3463: X.1.3 bad destination mailbox address syntax.
		return reply.Wrap(err, 553, "5.1.3", "syntax", "Bad recipient address syntax")
	case errors.Is(err, directory.ErrTooDeep):
		// X.4.6: routing loop detected.
		return reply.Wrap(err, 554, "5.4.6", "directory", "Address expansion loops")
	case err != nil:
		return reply.Wrap(err, 451, "4.3.0", "directory", "Temporary lookup failure, try again later")
	}
	r := rcpt{given: given, addr: res.Address, local: res.Local}
	switch {
	case res.Local && !res.Exists:
		return reply.New(550, "5.1.1", "directory", fmt.Sprintf("<%s>: no such user here", headerSafe(res.Address, 320)))
	case res.Local:
	case s.role == RoleLMTP:
		// LMTP is for final delivery only (RFC 2033 section 4.2).
		return reply.New(550, "5.1.2", "relay", fmt.Sprintf("<%s>: not a local domain", headerSafe(res.Address, 320)))
	case s.acct == nil && !s.srv.relayAllowed(s.c.ip):
		return reply.New(554, "5.7.1", "relay", fmt.Sprintf("<%s>: Relay access denied", headerSafe(res.Address, 320)))
	}
	if err := s.limitDomain(r.addr); err != nil {
		return err
	}
	for _, n := range opts.Notify {
		r.notify = append(r.notify, string(n))
	}
	if opts.OriginalRecipient != "" {
		r.orcpt = string(opts.OriginalRecipientType) + ";" + opts.OriginalRecipient
	}
	if m := s.c.filter(); m != nil {
		if err := m.Rcpt(ctx, s.envelope(), r.addr); err != nil {
			return err
		}
	}
	if rf, ok := s.srv.Spam.(RcptFilter); ok && s.acct == nil && s.role == RoleSMTP && !s.srv.relayAllowed(s.c.ip) {
		if err := rf.Greylist(ctx, s.envelope(), r.addr); err != nil {
			return err
		}
	}
	s.txn.rcpts = append(s.txn.rcpts, r)
	return nil
}

// refuse turns an error into the reply go-smtp sends, and counts it; past
// smtpd.max_errors the session ends with a 421.
func (s *session) refuse(err error) error {
	re := reply.As(err)
	s.reportRefusal(re)
	if re.Err != nil && re.Temporary() {
		// The client sees a 4xx; the operator needs the cause.
		s.srv.Log.Warn("command failed", "session", s.c.id, "client", s.c.clientIP(), "reply", re.Error(), "err", re.Err)
	}
	if re.Code >= 400 && s.c.countError() {
		s.c.closeAfter("")
		return smtpError(reply.New(421, "4.7.0", "limit", "Too many errors, closing connection"))
	}
	return smtpError(re)
}

// smtpError converts a reply to go-smtp's error type.
func smtpError(re *reply.Error) *gosmtp.SMTPError {
	e := &gosmtp.SMTPError{Code: re.Code, Message: re.Message}
	var a, b, c int
	if _, err := fmt.Sscanf(re.Enhanced, "%d.%d.%d", &a, &b, &c); err == nil {
		e.EnhancedCode = gosmtp.EnhancedCode{a, b, c}
	}
	return e
}

// Data implements gosmtp.Session, for DATA and BDAT over SMTP.
func (s *session) Data(r io.Reader) error {
	return s.receive(r, nil)
}

// LMTPData implements gosmtp.LMTPSession: one reply per recipient (RFC
// 2033 section 4.2).
func (s *session) LMTPData(r io.Reader, status gosmtp.StatusCollector) error {
	return s.receive(r, status)
}

// errPipelined is the reply to message bytes sent before the 354.
var errPipelined = reply.New(503, "5.5.0", "protocol", "Improper use of pipelining: message data sent before the 354 reply to DATA")

// receive reads, checks and commits one message.
func (s *session) receive(r io.Reader, lmtp gosmtp.StatusCollector) error {
	c := s.c
	c.setBusy(true)
	defer c.setBusy(false)
	start := time.Now()
	t := s.txn
	if t == nil || len(t.rcpts) == 0 {
		return smtpError(reply.New(503, "5.5.1", "protocol", "No valid recipients"))
	}
	t.id = s.msgID()
	// BDAT chunks come through a pipe; DATA through go-smtp's dot reader.
	_, bdat := r.(*io.PipeReader)
	body, err := s.readMessage(r, !bdat)
	if err == errPipelinedData {
		// RFC 2920 section 3.1: DATA must be the last command of a group.
		// What follows cannot be trusted to be either data or commands:
		// answer and hang up.
		s.log(t, start, 0, errPipelined)
		c.say(errPipelined.Error())
		c.kill()
		return smtpError(errPipelined)
	}
	if err != nil {
		re := reply.As(err)
		if re.Check == "internal" {
			// The client went away or the connection broke mid-message.
			s.log(t, start, len(body), re)
			c.closeAfter("")
			return err
		}
		s.log(t, start, len(body), re)
		if re.Code == 421 {
			c.closeAfter("")
		}
		return s.refuse(re)
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	results, size, err := s.commit(ctx, t, body)
	if errors.Is(err, ErrDiscard) {
		c.countMessage()
		s.log(t, start, size, reply.New(250, "2.0.0", "milter", "discarded"))
		return nil
	}
	if err != nil {
		re := reply.As(err)
		s.log(t, start, size, re)
		return s.refuse(re)
	}
	c.countMessage()
	if lmtp != nil {
		var failed *reply.Error
		for _, rc := range t.rcpts {
			if rc.given == "" {
				continue
			}
			if e := results[rc.addr]; e != nil {
				lmtp.SetStatus(rc.given, smtpError(e))
				failed = e
				continue
			}
			lmtp.SetStatus(rc.given, nil)
		}
		s.log(t, start, size, failed)
		return nil
	}
	s.log(t, start, size, nil)
	return nil
}

// errPipelinedData marks message bytes that arrived before the 354.
var errPipelinedData = errors.New("smtp: message data pipelined after DATA")

// readMessage reads the message, checking line endings and size. For DATA
// (dataCmd) it first makes sure the client waited for the 354: go-smtp
// reads commands through a buffer, so bytes that came in the same read as
// the DATA line are served from that buffer without a new read of the
// socket. A first 1-byte read that does not reach the socket therefore
// means the client sent the message before it could have seen the 354.
func (s *session) readMessage(r io.Reader, dataCmd bool) ([]byte, error) {
	c := s.c
	cfg := &s.srv.Config.SMTPD
	sc := &bodyScanner{normalize: cfg.BareLineEndings == "normalize", buf: make([]byte, 0, 16<<10)}
	idle := s.srv.idleTimeout()
	var eof bool
	if dataCmd {
		before := c.reads.Load()
		var one [1]byte
		n, err := r.Read(one[:])
		if c.reads.Load() == before {
			return nil, errPipelinedData
		}
		sc.write(one[:n])
		switch {
		case err == io.EOF:
			eof = true
		case err != nil:
			return sc.buf, readError(err, cfg.MaxMessageSize)
		}
	}
	buf := make([]byte, 32<<10)
	for !eof && !sc.failed() {
		c.SetReadDeadline(time.Now().Add(idle))
		n, err := r.Read(buf)
		sc.write(buf[:n])
		if int64(len(sc.buf)) > cfg.MaxMessageSize {
			return nil, reply.New(552, "5.3.4", "limit", fmt.Sprintf("Message too big (limit %d bytes)", cfg.MaxMessageSize))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return sc.buf, readError(err, cfg.MaxMessageSize)
		}
	}
	sc.finish()
	switch {
	case sc.nul:
		return nil, reply.New(550, "5.6.0", "syntax", "Message contains NUL characters")
	case sc.bare && !sc.normalize:
		// RFC 5321 section 2.3.8.
		return nil, reply.New(550, "5.6.0", "syntax", "Message contains a bare CR or LF: lines must end with CRLF")
	}
	return sc.buf, nil
}

// readError turns a failure to read the message into a reply.
func readError(err error, max int64) error {
	var se *gosmtp.SMTPError
	switch {
	case errors.As(err, &se) && se.Code == 552:
		return reply.New(552, "5.3.4", "limit", fmt.Sprintf("Message too big (limit %d bytes)", max))
	case errors.Is(err, gosmtp.ErrTooLongLine):
		return reply.New(500, "5.5.2", "limit", "Line too long")
	case isTimeout(err):
		return reply.Wrap(err, 421, "4.4.2", "timeout", "Timeout while reading the message, closing connection")
	}
	return reply.Wrap(err, 451, "4.3.0", "internal", "Connection broke while reading the message")
}

// milterHelo opens the connection's milter conversation if need be and
// passes it the HELO name.
func (s *session) milterHelo(ctx context.Context) error {
	m := s.c.filter()
	if m == nil {
		var err error
		m, err = s.srv.Milter.Open(ctx, s.envelope())
		if err != nil {
			return err
		}
		s.c.setFilter(m)
	}
	return m.Helo(ctx, s.envelope())
}
