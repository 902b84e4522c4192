package smtp

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
	gosmtp "github.com/emersion/go-smtp"
	"github.com/xdg-go/scram"

	"gannet/lib/auth"
	"gannet/lib/store"
)

// SASL mechanism names.
const (
	MechPlain       = sasl.Plain      // RFC 4616
	MechLogin       = "LOGIN"         // draft-murchison-sasl-login
	MechSCRAMSHA256 = "SCRAM-SHA-256" // RFC 7677
)

// SCRAMLookup returns the SCRAM-SHA-256 credentials stored for username
// (RFC 5802 section 3: salt, iteration count, StoredKey, ServerKey) and the
// account they belong to. An unknown user is an error wrapping
// store.ErrNotFound; the server then carries on with made-up credentials so
// that a stranger learns nothing from the exchange (RFC 5802 section 5.1).
type SCRAMLookup func(ctx context.Context, username string) (scram.StoredCredentials, *store.Account, error)

// maxSASLField bounds a user name or password given over LOGIN.
const maxSASLField = 1024

var errAuthTemporary = &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure"}

// loginResult turns what Authenticator.Login said into a SASL outcome.
func loginResult(acct *store.Account, err error) (*store.Account, error) {
	switch {
	case err == nil:
		return acct, nil
	case errors.Is(err, auth.ErrBadCredentials):
		return nil, gosmtp.ErrAuthFailed // 535 5.7.8, RFC 4954 section 6
	default:
		return nil, errAuthTemporary
	}
}

// newPlainServer checks AUTH PLAIN (RFC 4616). An authorization identity
// other than the user itself is refused: nobody may act for another.
func newPlainServer(ctx context.Context, a *auth.Authenticator, done func(*store.Account, string)) sasl.Server {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return gosmtp.ErrAuthFailed
		}
		acct, err := loginResult(a.Login(ctx, username, password))
		if err != nil {
			done(nil, username)
			return err
		}
		done(acct, username)
		return nil
	})
}

// loginServer is the LOGIN mechanism: the server asks for the user name,
// then the password, each in a 334 challenge; a client may give the user
// name as the initial response.
type loginServer struct {
	ctx      context.Context
	auth     *auth.Authenticator
	done     func(*store.Account, string)
	step     int
	username string
}

func newLoginServer(ctx context.Context, a *auth.Authenticator, done func(*store.Account, string)) sasl.Server {
	return &loginServer{ctx: ctx, auth: a, done: done}
}

// Next implements sasl.Server.
func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	if len(response) > maxSASLField {
		return nil, false, gosmtp.ErrAuthFailed
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
	return nil, false, errors.New("smtp: LOGIN exchange already over")
}

// scramServer adapts xdg-go/scram's server conversation to sasl.Server.
// The server-final message (the server's proof) goes out in a 334
// challenge, to which the client answers with an empty line (RFC 4954
// section 4 allows this when success data cannot go with the 235).
type scramServer struct {
	conv      *scram.ServerConversation
	acct      *store.Account
	lookupErr error
	done      func(*store.Account, string)
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

func newSCRAMServer(ctx context.Context, lookup SCRAMLookup, done func(*store.Account, string)) (sasl.Server, error) {
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
		return nil, fmt.Errorf("smtp: SCRAM server: %w", err)
	}
	s.conv = srv.NewConversation()
	return s, nil
}

// Next implements sasl.Server.
func (s *scramServer) Next(response []byte) ([]byte, bool, error) {
	if len(response) > 4*maxSASLField {
		return nil, false, gosmtp.ErrAuthFailed
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
				return nil, false, errAuthTemporary
			}
			return nil, false, gosmtp.ErrAuthFailed
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
			return nil, false, gosmtp.ErrAuthFailed
		}
		return []byte(out), false, nil
	case 3:
		// The client's empty answer to the server-final message.
		s.step = 4
		if len(response) != 0 {
			s.done(nil, s.conv.Username())
			return nil, false, gosmtp.ErrAuthFailed
		}
		s.done(s.acct, s.conv.Username())
		return nil, true, nil
	}
	return nil, false, errors.New("smtp: SCRAM exchange already over")
}
