// Package smtp is smtpd's session policy on top of emersion/go-smtp: the four
// roles (smtp for other MTAs, submission and submissions for users, lmtp for
// a front-end MTA), AUTH, relay control, sender validation, limits, the
// message checks at the end of DATA, and the commit of every message
// (local recipients straight into their mailboxes through lib/deliver,
// others into the queue) before the 250 is sent.
//
// go-smtp ends DATA only on CRLF.CRLF; this package rejects (or, if so
// configured, normalises) bare CR and LF and refuses NUL, so that no
// variant of the 2023 SMTP smuggling can make one transaction into two. It
// also refuses message bytes pipelined after DATA, before the 354 (RFC 2920
// section 3.1), which go-smtp would otherwise take for the message.
package smtp

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"gannet/lib/auth"
	"gannet/lib/config"
	"gannet/lib/directory"
	"gannet/lib/listen"
	"gannet/lib/message"
	"gannet/lib/reply"
	"gannet/lib/store"
)

// Roles, as the listener (socket) names give them.
const (
	RoleSMTP        = listen.SMTP
	RoleSubmission  = listen.Submission
	RoleSubmissions = listen.Submissions
	RoleLMTP        = listen.LMTP
)

// DefaultDrainTimeout is how long Serve lets messages in progress finish
// after shutdown begins.
const DefaultDrainTimeout = listen.DefaultDrainTimeout

// opTimeout bounds a lookup made while answering one command.
const opTimeout = 30 * time.Second

// commitTimeout bounds the delivery and queueing of one message.
const commitTimeout = 2 * time.Minute

// Server receives mail on a set of listeners. Set the fields, then call
// Serve; the fields must not change afterwards.
type Server struct {
	// Config is the whole configuration: server.hostname names the server
	// in greetings and Received fields, [smtpd] sets the policy.
	Config *config.Config
	// Store receives queued messages.
	Store store.Store
	// Dir resolves recipients and checks senders.
	Dir *directory.Directory
	// Auth checks passwords for AUTH PLAIN and LOGIN.
	Auth *auth.Authenticator
	// Deliver puts messages for local recipients into their mailboxes.
	Deliver LocalDelivery
	// TLS is the server certificate configuration; nil means no STARTTLS
	// and no submissions listener.
	TLS *tls.Config
	// Log receives one line per transaction and the server's troubles.
	Log *slog.Logger
	// DrainTimeout bounds the wait for messages in progress at shutdown;
	// zero means DefaultDrainTimeout.
	DrainTimeout time.Duration

	// Hooks; each is optional.

	// SCRAM looks up SCRAM-SHA-256 credentials; without it SCRAM-SHA-256
	// is not offered.
	SCRAM SCRAMLookup
	// Rewriter rewrites envelope addresses before the directory sees them
	// (lib/rewrite).
	Rewriter Rewriter
	// Checker checks SPF, DKIM, DMARC, ARC and iprev of mail arriving on
	// the smtp role (lib/msgauth).
	Checker MessageChecker
	// Milter is the milter chain (lib/milter).
	Milter Milter
	// Spam is the spam filter (issue 6).
	Spam SpamFilter
	// OnEnqueue is called after each message put into the queue, e.g. to
	// tell queued over the change feed that there is work.
	OnEnqueue func()
	// Guard is told of failed AUTH and of abuse, and limits the messages
	// per sender and per recipient domain (lib/ban; see ban.go).
	Guard Guard
	// Sieve are the administrator's scripts run at the stages of each
	// session (smtpd.sieve; see sievestage.go).
	Sieve []StageScript

	relay []netip.Prefix

	mu       sync.Mutex
	conns    map[*conn]struct{}
	draining bool
}

// LocalDelivery puts a message into the mailboxes of local recipients
// (lib/deliver does; see DeliverFunc). It returns when the message is
// durable, with one result per recipient.
type LocalDelivery interface {
	DeliverLocal(ctx context.Context, m *LocalMessage) ([]LocalResult, error)
}

// DeliverFunc adapts a function to LocalDelivery.
type DeliverFunc func(ctx context.Context, m *LocalMessage) ([]LocalResult, error)

// DeliverLocal calls f.
func (f DeliverFunc) DeliverLocal(ctx context.Context, m *LocalMessage) ([]LocalResult, error) {
	return f(ctx, m)
}

// LocalMessage is a message for local recipients.
type LocalMessage struct {
	// Sender is the envelope sender ("" for the null sender).
	Sender string
	// Recipients are normalised local addresses, each once.
	Recipients []string
	// Raw is the message to store, beginning with the Return-Path field
	// and the server's other header fields.
	Raw []byte
	// Parsed is Raw parsed (lib/message), so delivery does not parse again.
	Parsed *message.Parsed
}

// LocalResult is the outcome for one recipient.
type LocalResult struct {
	Recipient string
	// Forward are remote addresses the recipient forwards to (aliases,
	// lists); the server queues the message for them.
	Forward []string
	// Err is nil when the message is in every mailbox the recipient
	// stands for.
	Err *reply.Error
}

// Serve accepts on every listener, each in the role its name gives, until
// ctx ends; then it stops accepting, ends idle sessions with a 421, lets the
// messages in progress finish (at most DrainTimeout) and returns. It tells
// systemd it is ready once every listener accepts.
func (s *Server) Serve(ctx context.Context, ls []listen.Listener) error {
	if err := s.check(ls); err != nil {
		closeListeners(ls)
		return err
	}
	s.relay = s.Config.SMTPD.RelayPrefixes()
	s.mu.Lock()
	s.conns = make(map[*conn]struct{})
	s.draining = false
	s.mu.Unlock()

	servers := make([]*gosmtp.Server, len(ls))
	wrapped := make([]*listener, len(ls))
	errc := make(chan error, len(ls))
	var wg sync.WaitGroup
	for i, l := range ls {
		gs := s.goServer(l.Name)
		servers[i] = gs
		wl := &listener{Listener: l.Listener, srv: s, role: l.Name}
		if l.Name == RoleSubmissions {
			wl.tls = s.TLS
		}
		wrapped[i] = wl
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := gs.Serve(wl); err != nil {
				errc <- fmt.Errorf("smtp: %s listener %s: %w", l.Name, l.Addr(), err)
			}
		}()
		s.Log.Info("listening", "role", l.Name, "address", l.Addr().String())
	}
	if err := listen.Ready(); err != nil {
		s.Log.Warn("telling systemd we are ready", "err", err)
	}

	var result error
	select {
	case <-ctx.Done():
		s.Log.Info("shutting down: finishing the messages in progress")
	case result = <-errc:
		s.Log.Error("listener failed; shutting down", "err", result)
	}
	if err := listen.Stopping(); err != nil {
		s.Log.Warn("telling systemd we are stopping", "err", err)
	}
	drain := s.DrainTimeout
	if drain <= 0 {
		drain = DefaultDrainTimeout
	}
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	var sd sync.WaitGroup
	for _, gs := range servers {
		sd.Add(1)
		go func() {
			defer sd.Done()
			gs.Shutdown(dctx) // closes the listener, waits for sessions
		}()
	}
	// Shutdown closes the listeners go-smtp has seen; one whose Serve has
	// not begun yet is closed here, so that its Serve returns at once.
	for _, wl := range wrapped {
		wl.Close()
	}
	s.drainAll()
	sd.Wait()
	if dctx.Err() != nil {
		n := s.connCount()
		for _, gs := range servers {
			gs.Close()
		}
		s.Log.Warn("drain timeout: closed the sessions still open", "sessions", n, "timeout", drain)
	}
	wg.Wait()
	return result
}

// check refuses listeners the server cannot serve.
func (s *Server) check(ls []listen.Listener) error {
	switch {
	case s.Config == nil:
		return errors.New("smtp: no configuration")
	case s.Store == nil || s.Dir == nil || s.Deliver == nil:
		return errors.New("smtp: store, directory and delivery are required")
	case len(ls) == 0:
		return errors.New("smtp: no listeners")
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	for _, l := range ls {
		switch l.Name {
		case RoleSMTP, RoleSubmission, RoleLMTP:
		case RoleSubmissions:
			if s.TLS == nil {
				return fmt.Errorf("smtp: listener %s (%s) needs TLS, and there is no TLS configuration", l.Name, l.Addr())
			}
		default:
			return fmt.Errorf("smtp: listener %s (%s): not an smtpd role (smtp, submission, submissions, lmtp)", l.Name, l.Addr())
		}
	}
	return nil
}

// goServer makes the go-smtp server for one role.
func (s *Server) goServer(role string) *gosmtp.Server {
	cfg := &s.Config.SMTPD
	gs := gosmtp.NewServer(gosmtp.BackendFunc(s.newSession))
	gs.Domain = s.Config.Server.Hostname
	gs.MaxRecipients = cfg.MaxRecipients
	gs.MaxMessageBytes = cfg.MaxMessageSize
	gs.MaxLineLength = cfg.MaxLineLength
	gs.ReadTimeout = s.idleTimeout()
	gs.WriteTimeout = s.idleTimeout()
	gs.AllowInsecureAuth = !cfg.RequireTLSForAuth
	gs.EnableSMTPUTF8 = true   // RFC 6531
	gs.EnableREQUIRETLS = true // RFC 8689; go-smtp offers it over TLS only
	gs.EnableDSN = true        // RFC 3461
	gs.ErrorLog = errorLog{s.Log.With("role", role)}
	switch role {
	case RoleLMTP:
		gs.LMTP = true
	default:
		gs.TLSConfig = s.TLS
	}
	return gs
}

func (s *Server) idleTimeout() time.Duration {
	if d := s.Config.SMTPD.IdleTimeout.Duration; d > 0 {
		return d
	}
	return 5 * time.Minute
}

func (s *Server) sessionTimeout() time.Duration {
	if d := s.Config.SMTPD.SessionTimeout.Duration; d > 0 {
		return d
	}
	return 30 * time.Minute
}

func (s *Server) maxErrors() int {
	if n := s.Config.SMTPD.MaxErrors; n > 0 {
		return n
	}
	return 20
}

func (s *Server) track(c *conn) {
	s.mu.Lock()
	s.conns[c] = struct{}{}
	draining := s.draining
	s.mu.Unlock()
	if draining {
		c.drain()
	}
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) connCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// drainAll starts the end of every session.
func (s *Server) drainAll() {
	s.mu.Lock()
	s.draining = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.drain()
	}
}

// relayAllowed reports whether the client's address is in relay_networks.
func (s *Server) relayAllowed(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	for _, p := range s.relay {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func closeListeners(ls []listen.Listener) {
	for _, l := range ls {
		l.Close()
	}
}

// newID returns a random session identifier (12 hex digits).
func newID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// errorLog passes go-smtp's internal errors to slog.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Printf(format string, v ...any) {
	l.log.Debug("smtp connection", "detail", fmt.Sprintf(format, v...))
}

func (l errorLog) Println(v ...any) {
	l.log.Debug("smtp connection", "detail", fmt.Sprint(v...))
}
