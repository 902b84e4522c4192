package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/emersion/go-sasl"
	"github.com/xdg-go/scram"

	"gannet/lib/store"
)

// The SASL servers here are shared by every protocol that authenticates
// (SMTP AUTH, IMAP AUTHENTICATE, ManageSieve). They speak the mechanisms
// only; each protocol frames the challenges and maps the errors to its
// replies: an error wrapping ErrBadCredentials is a failed authentication,
// one wrapping ErrTemporary a temporary failure (the store could not be
// read).

// SASL mechanism names.
const (
	MechPlain       = sasl.Plain      // RFC 4616
	MechLogin       = "LOGIN"         // draft-murchison-sasl-login
	MechSCRAMSHA256 = "SCRAM-SHA-256" // RFC 7677
)

// ErrTemporary is wrapped by the SASL servers' errors when the
// authentication could not be checked (a store error), as opposed to
// ErrBadCredentials.
var ErrTemporary = errors.New("temporary authentication failure")

// MaxSASLField bounds a user name or password in a SASL exchange.
const MaxSASLField = 1024

// SCRAMLookupFunc returns the SCRAM-SHA-256 credentials stored for
// username (RFC 5802 section 3) and the account they belong to; an unknown
// user is an error wrapping store.ErrNotFound. Authenticator.SCRAMLookup is
// one.
type SCRAMLookupFunc func(ctx context.Context, username string) (scram.StoredCredentials, *store.Account, error)

// SASLDone is told the outcome of an exchange: the account on success,
// nil on failure, and the user name the client gave (for logs and
// auto-ban counters).
type SASLDone func(acct *store.Account, username string)

// loginResult turns what Login said into a SASL outcome.
func loginResult(acct *store.Account, err error) (*store.Account, error) {
	switch {
	case err == nil:
		return acct, nil
	case errors.Is(err, ErrBadCredentials):
		return nil, ErrBadCredentials
	default:
		return nil, fmt.Errorf("%w: %v", ErrTemporary, err)
	}
}

// NewPlainServer checks PLAIN (RFC 4616) with a.Login. An authorization
// identity other than the user itself is refused: nobody may act for
// another.
func NewPlainServer(ctx context.Context, a *Authenticator, done SASLDone) sasl.Server {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			done(nil, username)
			return ErrBadCredentials
		}
		acct, err := loginResult(a.Login(ctx, username, password))
		done(acct, username)
		return err
	})
}

// loginServer is the LOGIN mechanism: the server asks for the user name,
// then the password; a client may give the user name as the initial
// response.
type loginServer struct {
	ctx      context.Context
	auth     *Authenticator
	done     SASLDone
	step     int
	username string
}

// NewLoginServer checks the LOGIN mechanism (draft-murchison-sasl-login)
// with a.Login.
func NewLoginServer(ctx context.Context, a *Authenticator, done SASLDone) sasl.Server {
	return &loginServer{ctx: ctx, auth: a, done: done}
}

// Next implements sasl.Server.
func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	if len(response) > MaxSASLField {
		return nil, false, ErrBadCredentials
	}
	switch l.step {
	case 0:
		l.step = 1
		if len(response) == 0 {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.username = string(response)
		l.step = 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		acct, err := loginResult(l.auth.Login(l.ctx, l.username, string(response)))
		l.done(acct, l.username)
		if err != nil {
			return nil, false, err
		}
		return nil, true, nil
	}
	return nil, false, errors.New("auth: LOGIN exchange already over")
}

// scramServer adapts xdg-go/scram's server conversation to sasl.Server.
// The server-final message (the server's proof) goes out as a challenge,
// to which the client answers with an empty response (RFC 4954 section 4,
// RFC 9051 section 6.2.2).
type scramServer struct {
	conv      *scram.ServerConversation
	acct      *store.Account
	lookupErr error
	done      SASLDone
	step      int
}

// fakeSCRAMKey makes the made-up credentials of unknown users the same on
// every attempt within a process, as a real user's would be.
var fakeSCRAMKey = sync.OnceValue(func() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
})

// fakeSCRAMCredentials are credentials no password matches.
func fakeSCRAMCredentials(username string) scram.StoredCredentials {
	m := hmac.New(sha256.New, fakeSCRAMKey())
	m.Write([]byte(username))
	sum := m.Sum(nil)
	random := make([]byte, 64)
	rand.Read(random)
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(sum[:16]), Iters: 4096},
		StoredKey:  random[:32],
		ServerKey:  random[32:],
	}
}

// NewSCRAMServer checks SCRAM-SHA-256 (RFC 7677) with credentials from
// lookup. An unknown user gets made-up credentials, so that the exchange
// fails as for a wrong password and a stranger learns nothing (RFC 5802
// section 5.1).
func NewSCRAMServer(ctx context.Context, lookup SCRAMLookupFunc, done SASLDone) (sasl.Server, error) {
	s := &scramServer{done: done}
	srv, err := scram.SHA256.NewServer(func(username string) (scram.StoredCredentials, error) {
		creds, acct, err := lookup(ctx, username)
		switch {
		case err == nil && acct != nil && !acct.Disabled:
			s.acct = acct
			return creds, nil
		case err == nil, errors.Is(err, store.ErrNotFound):
			return fakeSCRAMCredentials(username), nil
		default:
			s.lookupErr = err
			return scram.StoredCredentials{}, err
		}
	})
	if err != nil {
		return nil, fmt.Errorf("auth: SCRAM server: %w", err)
	}
	s.conv = srv.NewConversation()
	return s, nil
}

// Next implements sasl.Server.
func (s *scramServer) Next(response []byte) ([]byte, bool, error) {
	if len(response) > 4*MaxSASLField {
		return nil, false, ErrBadCredentials
	}
	switch s.step {
	case 0:
		s.step = 1
		if len(response) == 0 {
			// No initial response: ask for the client-first message.
			return []byte{}, false, nil
		}
		fallthrough
	case 1:
		// client-first -> server-first
		s.step = 2
		out, err := s.conv.Step(string(response))
		if err != nil {
			s.done(nil, s.conv.Username())
			if s.lookupErr != nil {
				return nil, false, fmt.Errorf("%w: %v", ErrTemporary, s.lookupErr)
			}
			return nil, false, ErrBadCredentials
		}
		return []byte(out), false, nil
	case 2:
		// client-final -> server-final
		s.step = 3
		out, err := s.conv.Step(string(response))
		// RFC 5802 section 5.1: an authorization identity other than the
		// authenticated one is not supported, so it fails the exchange.
		authz := s.conv.AuthzID()
		if err != nil || !s.conv.Valid() || s.acct == nil ||
			(authz != "" && !strings.EqualFold(authz, s.conv.Username()) && !strings.EqualFold(authz, s.acct.Address)) {
			s.done(nil, s.conv.Username())
			return nil, false, ErrBadCredentials
		}
		return []byte(out), false, nil
	case 3:
		// The client's empty answer to the server-final message.
		s.step = 4
		if len(response) != 0 {
			s.done(nil, s.conv.Username())
			return nil, false, ErrBadCredentials
		}
		s.done(s.acct, s.conv.Username())
		return nil, true, nil
	}
	return nil, false, errors.New("auth: SCRAM exchange already over")
}
