package smtp

import (
	"context"
	"errors"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"gannet/lib/auth"
	"gannet/lib/store"
)

// The SASL mechanisms themselves live in lib/auth, shared with imapd; this
// file maps their outcomes to SMTP replies (RFC 4954 section 6).

// SASL mechanism names.
const (
	MechPlain       = auth.MechPlain       // RFC 4616
	MechLogin       = auth.MechLogin       // draft-murchison-sasl-login
	MechSCRAMSHA256 = auth.MechSCRAMSHA256 // RFC 7677
)

// SCRAMLookup returns the SCRAM-SHA-256 credentials stored for username
// (RFC 5802 section 3: salt, iteration count, StoredKey, ServerKey) and the
// account they belong to. An unknown user is an error wrapping
// store.ErrNotFound; the server then carries on with made-up credentials so
// that a stranger learns nothing from the exchange (RFC 5802 section 5.1).
type SCRAMLookup = auth.SCRAMLookupFunc

// maxSASLField bounds a user name or password given over LOGIN.
const maxSASLField = auth.MaxSASLField

var errAuthTemporary = &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure"}

// smtpSASL maps a lib/auth SASL server's errors to SMTP replies.
type smtpSASL struct{ sasl.Server }

// Next implements sasl.Server.
func (s smtpSASL) Next(response []byte) ([]byte, bool, error) {
	ch, done, err := s.Server.Next(response)
	return ch, done, saslError(err)
}

// saslError is the SMTP reply for a SASL server's error: 535 5.7.8 for bad
// credentials, 454 4.7.0 when they could not be checked.
func saslError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, auth.ErrBadCredentials):
		return gosmtp.ErrAuthFailed
	case errors.Is(err, auth.ErrTemporary):
		return errAuthTemporary
	}
	return err
}

// newPlainServer checks AUTH PLAIN (RFC 4616).
func newPlainServer(ctx context.Context, a *auth.Authenticator, done func(*store.Account, string)) sasl.Server {
	return smtpSASL{auth.NewPlainServer(ctx, a, done)}
}

// loginServer is the LOGIN mechanism (auth.NewLoginServer), made on first
// use.
type loginServer struct {
	ctx   context.Context
	auth  *auth.Authenticator
	done  func(*store.Account, string)
	inner sasl.Server
}

func newLoginServer(ctx context.Context, a *auth.Authenticator, done func(*store.Account, string)) sasl.Server {
	return &loginServer{ctx: ctx, auth: a, done: done}
}

// Next implements sasl.Server.
func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	if l.inner == nil {
		l.inner = auth.NewLoginServer(l.ctx, l.auth, l.done)
	}
	ch, fin, err := l.inner.Next(response)
	return ch, fin, saslError(err)
}

// newSCRAMServer checks SCRAM-SHA-256 (auth.NewSCRAMServer). The
// server-final message goes out in a 334 challenge, to which the client
// answers with an empty line (RFC 4954 section 4).
func newSCRAMServer(ctx context.Context, lookup SCRAMLookup, done func(*store.Account, string)) (sasl.Server, error) {
	s, err := auth.NewSCRAMServer(ctx, lookup, done)
	if err != nil {
		return nil, err
	}
	return smtpSASL{s}, nil
}
