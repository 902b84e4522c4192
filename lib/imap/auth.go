package imap

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"

	"github.com/emersion/go-sasl"

	"gannet/lib/auth"
	"gannet/lib/imap/wire"
	"gannet/lib/store"
)

// cmdLogin is LOGIN (RFC 9051 section 6.2.3), refused without TLS
// (LOGINDISABLED).
func (s *session) cmdLogin(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) != 2 || !args[0].IsString() || !args[1].IsString() {
		return "", bad("LOGIN takes a user name and a password")
	}
	if !s.tls {
		return "", no("PRIVACYREQUIRED", "Use STARTTLS first")
	}
	user, pass := args[0].Value, args[1].Value
	if len(user) > auth.MaxSASLField || len(pass) > auth.MaxSASLField {
		return "", no("AUTHENTICATIONFAILED", "Invalid credentials")
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	acct, err := s.srv.Auth.Login(ctx, user, pass)
	if err != nil {
		return "", s.authFailed(user, err)
	}
	return s.loggedIn(acct)
}

// authFailed turns a login error into the answer, and reports failures.
func (s *session) authFailed(user string, err error) error {
	if errors.Is(err, auth.ErrBadCredentials) {
		s.log.Info("authentication failed", "user", truncate(user))
		if s.srv.OnAuthFailure != nil {
			s.srv.OnAuthFailure(s.raw.RemoteAddr(), user)
		}
		return no("AUTHENTICATIONFAILED", "Invalid credentials")
	}
	s.log.Warn("authentication could not be checked", "user", truncate(user), "err", err)
	return no("UNAVAILABLE", "Temporary authentication failure")
}

// loggedIn enters the authenticated state.
func (s *session) loggedIn(acct *store.Account) (string, error) {
	s.acct = acct
	s.state = stateAuth
	s.log = s.log.With("account", acct.Address)
	s.log.Info("logged in")
	if s.srv.Feed != nil {
		s.feed, s.unsub = s.srv.Feed.Subscribe(acct.ID)
	}
	// RFC 9051 section 6.2.3: the capabilities may change after login.
	return "[CAPABILITY " + s.capabilities() + "] Logged in", nil
}

// cmdAuthenticate is AUTHENTICATE (RFC 9051 section 6.2.2) with SASL-IR
// (RFC 4959).
func (s *session) cmdAuthenticate(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) < 1 || len(args) > 2 || args[0].Kind != wire.Atom {
		return "", bad("AUTHENTICATE takes a mechanism and an optional initial response")
	}
	if !s.tls {
		return "", no("PRIVACYREQUIRED", "Use STARTTLS first")
	}
	var (
		acct *store.Account
		user string
	)
	done := func(a *store.Account, u string) { acct, user = a, u }
	ctx, cancel := s.opCtx()
	defer cancel()
	var srv sasl.Server
	switch strings.ToUpper(args[0].Value) {
	case auth.MechPlain:
		srv = auth.NewPlainServer(ctx, s.srv.Auth, done)
	case auth.MechSCRAMSHA256:
		if s.srv.SCRAM == nil {
			return "", no("", "Unsupported mechanism")
		}
		var err error
		if srv, err = auth.NewSCRAMServer(ctx, s.srv.SCRAM, done); err != nil {
			return "", err
		}
	default:
		return "", no("", "Unsupported mechanism")
	}
	var resp []byte
	if len(args) == 2 {
		if !args[1].IsString() {
			return "", bad("invalid initial response")
		}
		// RFC 4959 section 3: "=" is an empty initial response.
		if args[1].Value != "=" {
			var err error
			if resp, err = base64.StdEncoding.DecodeString(args[1].Value); err != nil {
				return "", bad("initial response is not base64")
			}
		}
	}
	for {
		challenge, fin, err := srv.Next(resp)
		if err != nil {
			return "", s.authFailed(user, err)
		}
		if fin {
			if acct == nil {
				return "", s.authFailed(user, auth.ErrBadCredentials)
			}
			return s.loggedIn(acct)
		}
		if err := s.w.Continuation(base64.StdEncoding.EncodeToString(challenge)); err != nil {
			return "", err
		}
		line, err := s.r.ReadLine()
		if err != nil {
			var se *wire.SyntaxError
			if errors.As(err, &se) {
				return "", bad("%s", se.Msg)
			}
			return "", err
		}
		if line == "*" {
			return "", bad("AUTHENTICATE cancelled") // RFC 9051 section 6.2.2
		}
		if line == "=" {
			line = "" // as in an initial response (RFC 4959 section 3)
		}
		if resp, err = base64.StdEncoding.DecodeString(line); err != nil {
			return "", bad("response is not base64")
		}
	}
}

// cmdEnable is ENABLE (RFC 5161).
func (s *session) cmdEnable(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) == 0 {
		return "", bad("ENABLE takes capability names")
	}
	var enabled []string
	condstore := false
	for _, a := range args {
		if a.Kind != wire.Atom {
			return "", bad("invalid capability name")
		}
		switch strings.ToUpper(a.Value) {
		case "IMAP4REV2":
			// RFC 9051 appendix A: the client asks for IMAP4rev2, which
			// allows UTF-8 in quoted strings (section 4.3).
			if !s.rev2 {
				s.rev2 = true
				s.w.UTF8 = true
				enabled = append(enabled, "IMAP4rev2")
			}
		case "UTF8=ACCEPT":
			if !s.utf8 {
				s.utf8 = true
				s.w.UTF8 = true
				enabled = append(enabled, "UTF8=ACCEPT")
			}
		case "CONDSTORE":
			if !s.condstore && !slices.Contains(enabled, "CONDSTORE") {
				enabled = append(enabled, "CONDSTORE")
				condstore = true
			}
		case "QRESYNC":
			// RFC 7162 section 3.2.3: QRESYNC implies CONDSTORE.
			if !s.qresync {
				s.qresync = true
				enabled = append(enabled, "QRESYNC")
				condstore = true
			}
		}
	}
	s.w.Untagged()
	s.w.Raw("ENABLED")
	for _, e := range enabled {
		s.w.Raw(" " + e)
	}
	s.w.CRLF()
	if condstore {
		s.enableCondstore() // HIGHESTMODSEQ when selected (RFC 7162 section 3.1)
	}
	return "ENABLE completed", nil
}
