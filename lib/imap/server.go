// Package imap is Gannet's IMAP server: the protocol engine of imapd
// (IMAP4rev2, RFC 9051, after ENABLE IMAP4rev2, else IMAP4rev1, RFC 3501,
// with the extensions the session's capabilities list). It reads commands with lib/imap/wire, keeps each
// session's view of its selected mailbox in step with the store's change
// log, and serves FETCH from the structure stored at ingest (lib/message),
// reading only the bytes of the blob a section needs.
package imap

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"time"

	"gannet/lib/auth"
	"gannet/lib/listen"
	"gannet/lib/notify"
	"gannet/lib/store"
)

// Defaults of the Server's limits.
const (
	// DefaultIdleTimeout is the autologout timer of an authenticated
	// session (RFC 9051 section 5.4: at least 30 minutes).
	DefaultIdleTimeout = 30 * time.Minute
	// PreAuthTimeout is the autologout timer before authentication.
	PreAuthTimeout = 2 * time.Minute
	// DefaultMaxLiteral is the default APPENDLIMIT (RFC 7889).
	DefaultMaxLiteral = 50 << 20
	// maxBadCommands is how many BAD answers in a row end a session.
	maxBadCommands = 20
	// opTimeout bounds the store work of one command.
	opTimeout = 2 * time.Minute
)

// Feed is the change feed a session listens to for changes made by other
// sessions and processes; *notify.Listener is one.
type Feed interface {
	Subscribe(accountID int64) (<-chan notify.Event, func())
}

// Server serves IMAP. Set the fields, then call Serve or ServeConn; they
// must not change afterwards.
type Server struct {
	// Store holds the mailboxes.
	Store store.Store
	// Auth checks passwords (LOGIN, AUTHENTICATE PLAIN).
	Auth *auth.Authenticator
	// SCRAM, when set, offers AUTHENTICATE SCRAM-SHA-256.
	SCRAM auth.SCRAMLookupFunc
	// TLS is the certificate configuration for STARTTLS and imaps; without
	// it nobody can log in (LOGINDISABLED: no password goes in the clear).
	TLS *tls.Config
	// Feed tells sessions of changes; without it a session looks at the
	// change log after every command instead.
	Feed Feed
	// Hostname names the server in its greeting.
	Hostname string
	// MaxLiteral bounds a literal (APPEND size); 0 means DefaultMaxLiteral.
	MaxLiteral int64
	// IdleTimeout is the autologout timer of authenticated sessions; 0
	// means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// DrainTimeout bounds the wait for sessions at shutdown; 0 means
	// listen.DefaultDrainTimeout.
	DrainTimeout time.Duration
	// OnAuthFailure, when set, is told of every failed authentication
	// (the hook for the auto-ban counters).
	OnAuthFailure func(remote net.Addr, username string)
	// OnProtocolError, when set, is told of every BAD answer given before
	// login (the auto-ban's count of protocol errors; see ban.go).
	OnProtocolError func(remote net.Addr)
	// OnTrain, when set, is told of the Junk training events a session
	// has recorded in the store (junk.go), for a trainer in the same
	// process; it must not block.
	OnTrain func(events []store.TrainingEvent)
	// Compress offers COMPRESS=DEFLATE (RFC 4978) after login.
	Compress bool
	// Log receives the server's troubles and one line per session.
	Log *slog.Logger
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

func (s *Server) maxLiteral() int64 {
	if s.MaxLiteral <= 0 {
		return DefaultMaxLiteral
	}
	return s.MaxLiteral
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout <= 0 {
		return DefaultIdleTimeout
	}
	return s.IdleTimeout
}

// Serve accepts sessions on ls until ctx ends: imap listeners speak
// plain IMAP with STARTTLS, imaps listeners implicit TLS (RFC 8314).
func (s *Server) Serve(ctx context.Context, ls []listen.Listener) error {
	srv := &listen.Server{
		Listeners:    ls,
		DrainTimeout: s.DrainTimeout,
		Log:          s.log(),
		Handler: func(ctx context.Context, l listen.Listener, c net.Conn) {
			s.ServeConn(ctx, c, l.Name == listen.IMAPS)
		},
	}
	return srv.Serve(ctx)
}

// ServeConn runs one session on c until the client logs out, the
// connection fails or ctx ends; it does not close c. With implicitTLS the
// TLS handshake comes first.
func (s *Server) ServeConn(ctx context.Context, c net.Conn, implicitTLS bool) {
	sess := newSession(s, c)
	if implicitTLS {
		if s.TLS == nil {
			s.log().Warn("imaps connection without a TLS configuration", "remote", c.RemoteAddr())
			return
		}
		tc := tls.Server(c, s.TLS)
		hctx, cancel := context.WithTimeout(ctx, PreAuthTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			s.log().Debug("TLS handshake failed", "remote", c.RemoteAddr(), "err", err)
			return
		}
		sess.setConn(tc, true)
	}
	sess.run(ctx)
}
