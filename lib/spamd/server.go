package spamd

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"gannet/lib/deliver"
	"gannet/lib/directory"
	"gannet/lib/spam"
	"gannet/lib/store"
)

// Defaults of a Server whose fields are zero.
const (
	DefaultMaxSize = 10 << 20
	DefaultTimeout = 60 * time.Second
)

// errorReplyGrace bounds the writing of an error reply.
const errorReplyGrace = 5 * time.Second

// Accounts resolves the address of a User header to local accounts;
// *directory.Directory does.
type Accounts interface {
	Resolve(ctx context.Context, address string) (*directory.Resolution, error)
}

// Class is what TELL says of a message.
type Class int

// The classes of TELL.
const (
	// ClassSpam learns the message as spam (Message-class: spam, Set:
	// local).
	ClassSpam Class = iota + 1
	// ClassHam learns it as ham (Message-class: ham, Set: local).
	ClassHam
	// ClassForget unlearns it (Remove: local).
	ClassForget
)

// String names the class as spamc's -L does.
func (c Class) String() string {
	switch c {
	case ClassSpam:
		return "spam"
	case ClassHam:
		return "ham"
	case ClassForget:
		return "forget"
	}
	return "unknown"
}

// Trainer teaches the Bayes classifier for TELL.
type Trainer interface {
	// Train learns m as class for the account (0: the global model). It
	// reports whether the model changed: false when the message was
	// already learned that way (or, for ClassForget, never was).
	Train(ctx context.Context, accountID int64, m *spam.Message, class Class) (bool, error)
}

// Server answers SPAMD requests with a spam.Filter. Its zero fields take
// defaults; Filter is required.
type Server struct {
	Filter *spam.Filter
	// Accounts resolves the User header (an address) to the account whose
	// model the filter uses; nil, or a user that is not one local
	// account, means the global model.
	Accounts Accounts
	// Thresholds, when set, gives an account's own thresholds (nil: the
	// filter's); userctl spam set makes them.
	Thresholds ThresholdFunc
	// Trainer serves TELL; nil refuses it (EX_UNAVAILABLE), as spamd
	// without --allow-tell.
	Trainer Trainer
	// MaxSize bounds a message (DefaultMaxSize when 0).
	MaxSize int64
	// Timeout bounds a whole exchange: reading the request, checking,
	// writing the reply (DefaultTimeout when 0).
	Timeout time.Duration
	// Hostname names this system in reports.
	Hostname string
	Log      *slog.Logger
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Server) maxSize() int64 {
	if s.MaxSize > 0 {
		return s.MaxSize
	}
	return DefaultMaxSize
}

func (s *Server) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

// ServeConn serves one connection: one request and its reply, as spamd
// (the client closes after it). When ctx ends before the request has been
// read, the connection is dropped; a request being checked is finished.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) {
	start := time.Now()
	deadline := start.Add(s.timeout())
	c.SetDeadline(deadline)
	var reading atomic.Bool
	reading.Store(true)
	stop := context.AfterFunc(ctx, func() {
		if reading.Load() {
			c.SetReadDeadline(time.Now())
		}
	})
	defer stop()

	req, err := ReadRequest(bufio.NewReader(c), s.maxSize())
	reading.Store(false)
	if err != nil {
		var pe *Error
		switch {
		case errors.As(err, &pe):
		case errors.Is(err, io.EOF):
			return // connected and left: a health check
		case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil:
			return // shutting down before the request came
		case errors.Is(err, os.ErrDeadlineExceeded):
			pe = errorf(ExTimeout, "timeout reading the request")
		default:
			pe = errorf(ExProtocol, "%v", err)
		}
		s.log().Info("spamd: bad request", "remote", c.RemoteAddr().String(), "err", pe.Msg)
		// The reply to a late request gets a moment past the deadline.
		c.SetWriteDeadline(time.Now().Add(errorReplyGrace))
		(&Response{Code: pe.Code, Message: "Bad request: " + pe.Msg}).WriteTo(c)
		lingerClose(c)
		return
	}
	// The check runs to its end even when shutdown begins, within the
	// exchange's deadline.
	cctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	resp := s.Answer(cctx, req)
	if resp == nil {
		return // SKIP
	}
	if _, err := resp.WriteTo(c); err != nil {
		s.log().Info("spamd: writing the reply", "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	if tcp, ok := c.(interface{ CloseWrite() error }); ok {
		tcp.CloseWrite()
	}
	s.log().Info("spamd: answered", "command", req.Command, "user", req.User,
		"size", len(req.Body), "code", resp.Code, "spam", resp.Spam, "score", resp.Score,
		"learned", len(resp.DidSet)+len(resp.DidRemove) > 0,
		"elapsed", time.Since(start).Round(time.Millisecond).String())
}

// Answer computes the reply to req, or nil for SKIP. spamc without -d uses
// it in its own process, so both give the same answers.
func (s *Server) Answer(ctx context.Context, req *Request) *Response {
	switch req.Command {
	case Skip:
		return nil
	case Ping:
		return &Response{Code: ExOK, Message: "PONG"}
	case Tell:
		return s.tell(ctx, req)
	}
	acct := s.account(ctx, req.User)
	m, err := s.message(req.Body, spam.Envelope{AccountID: acct})
	if err != nil {
		return &Response{Code: ExDataErr, Message: err.Error()}
	}
	v := s.Filter.Check(ctx, m, s.Thresholds.of(ctx, acct))
	resp := &Response{
		Code: ExOK, HasSpam: true, Spam: v.Spam,
		Score: v.Score, Threshold: v.Thresholds.Spam,
	}
	switch req.Command {
	case Symbols:
		resp.Body = []byte(SymbolList(v))
		if versionBelow(req.Version, 1.3) {
			resp.Body = append(resp.Body, "\r\n"...)
		}
	case Report:
		resp.Body = []byte(ReportText(s.Hostname, v))
	case ReportIfSpam:
		resp.YesNo = true
		if v.Spam {
			resp.Body = []byte(ReportText(s.Hostname, v))
		}
	case Process:
		resp.Body = Rewrite(req.Body, v, false)
	case Headers:
		resp.Body = Rewrite(req.Body, v, true)
	}
	if log := s.log(); log.Enabled(ctx, slog.LevelDebug) {
		log.Debug("spamd: checked", "command", req.Command, "user", req.User, "account", acct,
			"spam", v.Spam, "score", v.Score, "tags", SymbolList(v))
	}
	return resp
}

// message parses raw for the filter: CRLF line endings, and without the
// X-Spam-* fields it came with, which must not sway the verdict. The
// client that handed it to this site comes from its Received fields, as
// SpamAssassin finds its last untrusted relay: the IP blocklists and the
// reputation ask about it.
func (s *Server) message(raw []byte, env spam.Envelope) (*spam.Message, error) {
	m, err := spam.NewMessage(spam.StripFields(deliver.ToCRLF(raw)), env)
	if err != nil {
		return nil, err
	}
	m.ClientFromReceived()
	return m, nil
}

// account resolves a User header: an address that is one local account
// gives that account, anything else the global model (0), as spamd falls
// back on the default preferences for a user it does not know.
func (s *Server) account(ctx context.Context, user string) int64 {
	if s.Accounts == nil || !strings.Contains(user, "@") {
		return 0
	}
	res, err := s.Accounts.Resolve(ctx, user)
	if err != nil {
		s.log().Info("spamd: user not resolved; using the global model", "user", user, "err", err)
		return 0
	}
	if len(res.Accounts) != 1 {
		return 0
	}
	return res.Accounts[0].Account.ID
}

// tell serves TELL (spamd's dotell).
func (s *Server) tell(ctx context.Context, req *Request) *Response {
	if s.Trainer == nil {
		return &Response{Code: ExUnavailable, Message: "Service Unavailable: TELL commands are not enabled"}
	}
	if req.SetLocal && req.RemoveLocal {
		return &Response{Code: ExProtocol, Message: "Bad header line: unable to set local and remove local in the same operation"}
	}
	var class Class
	switch {
	case req.SetLocal && req.MessageClass == "spam":
		class = ClassSpam
	case req.SetLocal && req.MessageClass == "ham":
		class = ClassHam
	case req.SetLocal:
		return &Response{Code: ExProtocol, Message: "Bad header line: Set: local needs a Message-class"}
	case req.RemoveLocal:
		class = ClassForget
	}
	resp := &Response{Code: ExOK}
	if class == 0 {
		// Only remote reporting was asked for: Gannet has none, and
		// says so by setting nothing, as spamd whose reporting fails.
		return resp
	}
	acct := s.account(ctx, req.User)
	m, err := s.message(req.Body, spam.Envelope{AccountID: acct})
	if err != nil {
		return &Response{Code: ExDataErr, Message: err.Error()}
	}
	changed, err := s.Trainer.Train(ctx, acct, m, class)
	if err != nil {
		s.log().Warn("spamd: training failed", "class", class.String(), "account", acct, "err", err)
		return &Response{Code: ExTempFail, Message: "training failed, try again later"}
	}
	if changed {
		if class == ClassForget {
			resp.DidRemove = []string{"local"}
		} else {
			resp.DidSet = []string{"local"}
		}
	}
	s.log().Debug("spamd: told", "class", class.String(), "user", req.User, "account", acct, "changed", changed)
	return resp
}

// BayesTrainer trains the Bayes database of a store (spam.Learn).
type BayesTrainer struct {
	Store store.SpamTokens
}

// Train implements Trainer.
func (t BayesTrainer) Train(ctx context.Context, accountID int64, m *spam.Message, class Class) (bool, error) {
	res, _, err := spam.Learn(ctx, t.Store, accountID, m, class == ClassSpam, class == ClassForget)
	if err != nil {
		return false, err
	}
	switch res {
	case store.Learned, store.Relearned, store.Forgotten:
		return true, nil
	}
	return false, nil
}

// lingerClose ends a connection whose request was refused before it was
// read to its end: it says it is done writing, then drains what the client
// still sends (briefly, bounded), so that closing does not reset the
// connection before the client has read the reply.
func lingerClose(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	io.CopyN(io.Discard, c, 1<<20)
}

// ThresholdFunc returns an account's own spam thresholds, nil when it has
// none.
type ThresholdFunc func(ctx context.Context, accountID int64) *spam.Thresholds

func (f ThresholdFunc) of(ctx context.Context, accountID int64) *spam.Thresholds {
	if f == nil || accountID == 0 {
		return nil
	}
	return f(ctx, accountID)
}

// StoreThresholds reads accounts' own thresholds from the store.
func StoreThresholds(st store.SpamState) ThresholdFunc {
	return func(ctx context.Context, accountID int64) *spam.Thresholds {
		return spam.AccountThresholds(ctx, st, accountID)
	}
}
