// Package managesieve speaks ManageSieve (RFC 5804): the server sieved
// runs, with which users upload, check and activate their Sieve scripts,
// and a client (sievectl's --server). Scripts live in the store
// (store.SieveScripts); Account applies the quotas and the syntax check
// both sides share.
package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"

	"gannet/lib/auth"
	"gannet/lib/listen"
	"gannet/lib/store"
)

// Defaults and bounds of a session.
const (
	// DefaultIdleTimeout ends an authenticated session idle this long.
	DefaultIdleTimeout = 10 * time.Minute
	// PreAuthTimeout ends a session that has not authenticated within it
	// of its last command.
	PreAuthTimeout = time.Minute
	// DefaultMaxScriptSize bounds a script when Limits.MaxScriptSize is 0.
	DefaultMaxScriptSize = 1 << 20
	// maxBadCommands is how many malformed or unknown commands in a row
	// end a session.
	maxBadCommands = 10
	// maxAuthFailures is how many failed AUTHENTICATEs end a session.
	maxAuthFailures = 3
	// opTimeout bounds the store work of one command.
	opTimeout = time.Minute
	// writeTimeout bounds the sending of one response.
	writeTimeout = 2 * time.Minute
	// Implementation is the IMPLEMENTATION capability (RFC 5804 section
	// 1.7).
	Implementation = "Gannet"
)

// Server serves ManageSieve. Set the fields, then call Serve or ServeConn;
// they must not change afterwards.
type Server struct {
	// Scripts stores the scripts.
	Scripts store.SieveScripts
	// Auth checks passwords (AUTHENTICATE PLAIN).
	Auth *auth.Authenticator
	// SCRAM, when set, offers AUTHENTICATE SCRAM-SHA-256.
	SCRAM auth.SCRAMLookupFunc
	// TLS, when set, offers STARTTLS (RFC 5804 section 2.2).
	TLS *tls.Config
	// TrustLoopback lets PLAIN be used without TLS on loopback and Unix
	// socket connections, as Dovecot's disable_plaintext_auth does; on
	// other connections PLAIN needs TLS first.
	TrustLoopback bool
	// Check checks a script uploaded to an account (SieveCheck in
	// sieved); nil accepts any UTF-8 script. Its error text goes to the
	// client, its warnings in an OK (WARNINGS) answer.
	Check CheckFunc
	// Extensions are the Sieve extensions the server's interpreter
	// supports (the SIEVE capability).
	Extensions []string
	// NotifyMethods are the enotify methods (the NOTIFY capability); nil
	// means "mailto" when Extensions has enotify.
	NotifyMethods []string
	// MaxRedirects is the MAXREDIRECTS capability, redirects per run; 0
	// leaves it out.
	MaxRedirects int
	// Limits are the quotas on each account's scripts; a zero
	// MaxScriptSize means DefaultMaxScriptSize.
	Limits Limits
	// IdleTimeout ends an authenticated session idle this long; 0 means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// DrainTimeout bounds the wait for sessions at shutdown; 0 means
	// listen.DefaultDrainTimeout.
	DrainTimeout time.Duration
	// OnAuthFailure, when set, is told of every failed authentication
	// (the hook for the auto-ban counters).
	OnAuthFailure func(remote net.Addr, username string)
	// Log receives the server's troubles and one line per session.
	Log *slog.Logger
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

func (s *Server) limits() Limits {
	l := s.Limits
	if l.MaxScriptSize <= 0 {
		l.MaxScriptSize = DefaultMaxScriptSize
	}
	return l
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout <= 0 {
		return DefaultIdleTimeout
	}
	return s.IdleTimeout
}

// Serve accepts sessions on ls until ctx ends.
func (s *Server) Serve(ctx context.Context, ls []listen.Listener) error {
	srv := &listen.Server{
		Listeners:    ls,
		DrainTimeout: s.DrainTimeout,
		Log:          s.log(),
		Handler: func(ctx context.Context, l listen.Listener, c net.Conn) {
			s.ServeConn(ctx, c)
		},
	}
	return srv.Serve(ctx)
}

// session is one connection's state.
type session struct {
	srv    *Server
	conn   net.Conn
	r      *reader
	w      *bufio.Writer
	log    *slog.Logger
	tls    bool
	acct   *store.Account
	bad    int // malformed or unknown commands in a row
	failed int // failed authentications

	mu   sync.Mutex
	idle bool // waiting for a command: shutdown may interrupt the read
}

// ServeConn runs one session on c until the client logs out, the
// connection fails or ctx ends; it does not close c.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) {
	sess := &session{srv: s, log: s.log().With("remote", c.RemoteAddr().String())}
	sess.setConn(c)
	stop := context.AfterFunc(ctx, func() {
		sess.mu.Lock()
		defer sess.mu.Unlock()
		if sess.idle {
			sess.conn.SetReadDeadline(time.Now())
		}
	})
	defer stop()
	sess.run(ctx)
}

func (s *session) setConn(c net.Conn) {
	s.conn = c
	s.r = &reader{
		br:         bufio.NewReaderSize(c, MaxLineLength),
		maxLiteral: s.srv.limits().MaxScriptSize,
		// A script a little over the limit is read and refused with
		// QUOTA/MAXSIZE; a far larger one ends the session.
		maxDiscard: 4*s.srv.limits().MaxScriptSize + 4096,
	}
	s.w = bufio.NewWriter(c)
}

// secure reports whether a password may be sent: over TLS, or from this
// machine when TrustLoopback is set.
func (s *session) secure() bool {
	if s.tls {
		return true
	}
	if !s.srv.TrustLoopback {
		return false
	}
	switch a := s.conn.RemoteAddr().(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	return false
}

// run is the command loop.
func (s *session) run(ctx context.Context) {
	// RFC 5804 section 1.7: the server greets with its capabilities.
	s.capabilities()
	s.ok("", "Gannet ManageSieve ready")
	if s.flush() != nil {
		return
	}
	for {
		toks, err := s.readCommand(ctx)
		var se *syntaxError
		if errors.As(err, &se) {
			s.badCommand(se.msg)
			toks, err = nil, s.flush()
		}
		if err != nil {
			s.readFailed(ctx, err)
			return
		}
		if len(toks) == 0 {
			if s.bad >= maxBadCommands {
				s.bye("", "Too many bad commands")
				s.flush()
				return
			}
			continue // an empty line, or a malformed one answered
		}
		done := s.dispatch(ctx, toks)
		if err := s.flush(); err != nil || done {
			return
		}
		if s.bad >= maxBadCommands {
			s.bye("", "Too many bad commands")
			s.flush()
			return
		}
	}
}

// readCommand waits for the next command; shutdown ends the wait.
func (s *session) readCommand(ctx context.Context) ([]token, error) {
	timeout := PreAuthTimeout
	if s.acct != nil {
		timeout = s.srv.idleTimeout()
	}
	s.mu.Lock()
	if ctx.Err() != nil {
		s.mu.Unlock()
		return nil, ctx.Err()
	}
	s.idle = true
	s.conn.SetReadDeadline(time.Now().Add(timeout))
	s.mu.Unlock()
	// Once the command has begun it is read whole, shutdown or not.
	_, err := s.r.br.Peek(1)
	s.mu.Lock()
	s.idle = false
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	s.conn.SetReadDeadline(time.Now().Add(timeout))
	return s.r.readTokens()
}

// readFailed ends the session after a failed read, saying why when the
// client may still listen.
func (s *session) readFailed(ctx context.Context, err error) {
	switch {
	case ctx.Err() != nil:
		s.bye(CodeTryLater, "Server shutting down")
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.bye("", "Disconnected for inactivity")
	case errors.Is(err, errLineTooLong):
		s.bye("", "Line too long")
	case errors.Is(err, errLiteralTooLarge):
		s.bye(CodeQuotaMaxSize, "Literal too large")
	default:
		s.log.Debug("read failed", "err", err)
		return
	}
	s.flush()
}

// dispatch runs one command and reports whether the session is over.
func (s *session) dispatch(ctx context.Context, toks []token) bool {
	if toks[0].kind != tokAtom {
		s.badCommand("Expected a command name")
		return false
	}
	name := strings.ToUpper(toks[0].value)
	args := toks[1:]
	if needsAuth[name] && s.acct == nil {
		s.badCommand("Authenticate first")
		return false
	}
	opCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	var err error
	switch name {
	case "CAPABILITY": // RFC 5804 section 2.4
		if err = wantArgs(args); err == nil {
			s.capabilities()
			s.ok("", "Capability completed")
		}
	case "LOGOUT": // section 2.3
		if err = wantArgs(args); err == nil {
			s.ok("", "Logout completed")
			return true
		}
	case "NOOP": // section 2.15
		err = s.cmdNoop(args)
	case "STARTTLS": // section 2.2
		if err = wantArgs(args); err == nil {
			return s.cmdStartTLS(ctx)
		}
	case "AUTHENTICATE": // section 2.1
		return s.cmdAuthenticate(ctx, args)
	case "UNAUTHENTICATE": // section 2.14
		if err = wantArgs(args); err == nil {
			s.log.Info("unauthenticated", "account", s.acct.Address)
			s.acct = nil
			s.ok("", "Unauthenticate completed")
		}
	case "HAVESPACE": // section 2.5
		var n int64
		if err = wantArgs(args, tokString, tokAtom); err == nil {
			if n, err = strconv.ParseInt(args[1].value, 10, 64); err != nil || n < 0 || n > 1<<32-1 {
				err = &syntaxError{"HAVESPACE takes a script name and a number"}
			} else {
				err = s.scripts().HaveSpace(opCtx, args[0].value, n)
				s.result(err, "Putscript would succeed")
			}
		}
	case "PUTSCRIPT": // section 2.6
		if err = wantArgs(args, tokString, tokString); err == nil {
			err = s.cmdPutScript(opCtx, args)
		}
	case "CHECKSCRIPT": // section 2.12
		if err = wantArgs(args, tokString); err == nil {
			if args[0].tooBig {
				s.result(no(CodeQuotaMaxSize, "Script is larger than %d octets", s.srv.limits().MaxScriptSize), "")
			} else {
				warnings, err := s.scripts().check(opCtx, []byte(args[0].value))
				s.resultWarn(err, warnings, "Script is valid")
			}
		}
	case "LISTSCRIPTS": // section 2.7
		if err = wantArgs(args); err == nil {
			s.cmdListScripts(opCtx)
		}
	case "SETACTIVE": // section 2.8
		if err = wantArgs(args, tokString); err == nil {
			s.result(s.scripts().SetActive(opCtx, args[0].value), "Setactive completed")
		}
	case "GETSCRIPT": // section 2.9
		if err = wantArgs(args, tokString); err == nil {
			var content []byte
			content, err = s.scripts().GetScript(opCtx, args[0].value)
			if err == nil {
				// The script goes as a string, then OK (section 2.9).
				s.w.WriteString(quote(string(content), false) + "\r\n")
			}
			s.result(err, "Getscript completed")
			err = nil
		}
	case "DELETESCRIPT": // section 2.10
		if err = wantArgs(args, tokString); err == nil {
			s.result(s.scripts().DeleteScript(opCtx, args[0].value), "Deletescript completed")
		}
	case "RENAMESCRIPT": // section 2.11
		if err = wantArgs(args, tokString, tokString); err == nil {
			s.result(s.scripts().RenameScript(opCtx, args[0].value, args[1].value), "Renamescript completed")
		}
	default:
		s.badCommand("Unknown command " + truncate(name))
		return false
	}
	var se *syntaxError
	if errors.As(err, &se) {
		s.badCommand(se.msg)
		return false
	}
	s.bad = 0
	return false
}

// needsAuth lists the commands of the authenticated state (RFC 5804
// section 2).
var needsAuth = map[string]bool{
	"HAVESPACE": true, "PUTSCRIPT": true, "LISTSCRIPTS": true, "SETACTIVE": true,
	"GETSCRIPT": true, "DELETESCRIPT": true, "RENAMESCRIPT": true, "CHECKSCRIPT": true,
	"UNAUTHENTICATE": true,
}

// wantArgs checks the number and kinds of a command's arguments.
func wantArgs(args []token, kinds ...tokenKind) error {
	if len(args) != len(kinds) {
		return &syntaxError{fmt.Sprintf("expected %d arguments, got %d", len(kinds), len(args))}
	}
	for i, k := range kinds {
		if args[i].kind != k {
			if k == tokString {
				return &syntaxError{fmt.Sprintf("argument %d must be a string", i+1)}
			}
			return &syntaxError{fmt.Sprintf("argument %d must be a number", i+1)}
		}
		if args[i].tooBig && i != len(kinds)-1 {
			return &syntaxError{fmt.Sprintf("argument %d is too long", i+1)}
		}
	}
	return nil
}

// scripts is the authenticated account's scripts.
func (s *session) scripts() *Account {
	return &Account{Store: s.srv.Scripts, AccountID: s.acct.ID, Limits: s.srv.limits(), Check: s.srv.Check}
}

// badCommand answers a malformed, unknown or misplaced command.
func (s *session) badCommand(msg string) {
	s.bad++
	s.no("", msg)
}

// result answers a script command: OK with okText, or the refusal.
func (s *session) result(err error, okText string) {
	var e *Error
	switch {
	case err == nil:
		s.ok("", okText)
	case errors.As(err, &e):
		s.no(e.Code, e.Msg)
	default:
		s.log.Warn("store failure", "account", s.acct.Address, "err", err)
		s.no(CodeTryLater, "Temporary failure; try again later")
	}
}

// resultWarn is result for PUTSCRIPT and CHECKSCRIPT: an accepted script
// with warnings is answered OK (WARNINGS) with the warnings, one a line,
// as the human-readable text (RFC 5804 section 1.3).
func (s *session) resultWarn(err error, warnings []string, okText string) {
	if err == nil && len(warnings) > 0 {
		s.ok(CodeWarnings, strings.Join(warnings, "\r\n"))
		return
	}
	s.result(err, okText)
}

func (s *session) cmdNoop(args []token) error {
	switch {
	case len(args) == 0:
		s.ok("", "Done")
	case len(args) == 1 && args[0].kind == tokString && !args[0].tooBig:
		// RFC 5804 section 2.15: the string comes back in a TAG code.
		s.ok("TAG "+quote(args[0].value, false), "Done")
	default:
		return &syntaxError{"NOOP takes an optional string"}
	}
	return nil
}

func (s *session) cmdPutScript(ctx context.Context, args []token) error {
	if args[0].tooBig {
		return &syntaxError{"script name too long"}
	}
	name, script := args[0].value, args[1]
	if script.tooBig {
		// The octets were thrown away on reading (RFC 5804 section 2.6:
		// QUOTA/MAXSIZE).
		s.result(no(CodeQuotaMaxSize, "Script is larger than %d octets", s.srv.limits().MaxScriptSize), "")
		return nil
	}
	warnings, err := s.scripts().put(ctx, name, []byte(script.value))
	if err == nil {
		s.log.Info("script stored", "account", s.acct.Address, "script", truncate(name), "size", len(script.value), "warnings", len(warnings))
	}
	s.resultWarn(err, warnings, "Putscript completed")
	return nil
}

func (s *session) cmdListScripts(ctx context.Context) {
	list, err := s.scripts().ListScripts(ctx)
	if err == nil {
		for _, sc := range list {
			s.w.WriteString(quote(sc.Name, false))
			if sc.Active {
				s.w.WriteString(" ACTIVE") // RFC 5804 section 2.7
			}
			s.w.WriteString("\r\n")
		}
	}
	s.result(err, "Listscripts completed")
}

// cmdStartTLS upgrades the connection and re-issues the capabilities (RFC
// 5804 section 2.2). It reports whether the session is over.
func (s *session) cmdStartTLS(ctx context.Context) bool {
	switch {
	case s.srv.TLS == nil:
		s.badCommand("STARTTLS is not available")
		return false
	case s.tls:
		s.badCommand("TLS is already active")
		return false
	case s.acct != nil:
		s.badCommand("STARTTLS is not allowed after authentication")
		return false
	}
	// Nothing may follow STARTTLS in the same packet: it would be read as
	// plaintext injected before the handshake (CVE-2011-0411's class).
	if s.r.br.Buffered() > 0 {
		s.bye("", "Data after STARTTLS")
		return true
	}
	s.ok("", "Begin TLS negotiation now")
	if s.flush() != nil {
		return true
	}
	tc := tls.Server(s.conn, s.srv.TLS)
	hctx, cancel := context.WithTimeout(ctx, PreAuthTimeout)
	defer cancel()
	s.conn.SetDeadline(time.Time{})
	if err := tc.HandshakeContext(hctx); err != nil {
		s.log.Debug("TLS handshake failed", "err", err)
		return true
	}
	s.mu.Lock()
	s.setConn(tc)
	s.tls = true
	s.mu.Unlock()
	s.capabilities()
	s.ok("", "TLS negotiation successful")
	return false
}

// mechanisms lists the SASL mechanisms offered now: PLAIN only when the
// connection is secure (RFC 5804 section 2.1, Dovecot's
// disable_plaintext_auth), SCRAM-SHA-256 always (it sends no password).
func (s *session) mechanisms() []string {
	var m []string
	if s.secure() && s.srv.Auth != nil {
		m = append(m, auth.MechPlain)
	}
	if s.srv.SCRAM != nil {
		m = append(m, auth.MechSCRAMSHA256)
	}
	return m
}

// capabilities writes the capability lines (RFC 5804 section 1.7).
func (s *session) capabilities() {
	line := func(name, value string) {
		s.w.WriteString(quote(name, false))
		if value != "" || name == "SASL" {
			s.w.WriteString(" " + quote(value, false))
		}
		s.w.WriteString("\r\n")
	}
	line("IMPLEMENTATION", Implementation)
	line("SASL", strings.Join(s.mechanisms(), " "))
	line("SIEVE", strings.Join(s.srv.Extensions, " "))
	if s.srv.TLS != nil && !s.tls && s.acct == nil {
		line("STARTTLS", "")
	}
	if s.srv.MaxRedirects > 0 {
		line("MAXREDIRECTS", strconv.Itoa(s.srv.MaxRedirects))
	}
	notify := s.srv.NotifyMethods
	if notify == nil && slices.Contains(s.srv.Extensions, "enotify") {
		notify = []string{"mailto"}
	}
	if len(notify) > 0 {
		line("NOTIFY", strings.Join(notify, " "))
	}
	if s.acct != nil {
		line("OWNER", s.acct.Address)
	}
	line("UNAUTHENTICATE", "")
	line("VERSION", "1.0")
}

// cmdAuthenticate is AUTHENTICATE (RFC 5804 section 2.1). It reports
// whether the session is over.
func (s *session) cmdAuthenticate(ctx context.Context, args []token) bool {
	if s.acct != nil {
		s.badCommand("Already authenticated")
		return false
	}
	if len(args) < 1 || len(args) > 2 || args[0].kind != tokString || (len(args) == 2 && (args[1].kind != tokString || args[1].tooBig)) {
		s.badCommand("AUTHENTICATE takes a mechanism name and an optional initial response")
		return false
	}
	s.bad = 0
	mech := strings.ToUpper(args[0].value)
	if !slices.Contains(s.mechanisms(), mech) {
		if mech == auth.MechPlain && s.srv.Auth != nil {
			// RFC 5804 section 1.3: ENCRYPT-NEEDED.
			s.no(CodeEncryptNeeded, "Plaintext authentication is not allowed without TLS; use STARTTLS")
		} else {
			s.no("", "Unsupported authentication mechanism")
		}
		return false
	}
	var (
		acct *store.Account
		user string
	)
	done := func(a *store.Account, u string) { acct, user = a, u }
	opCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	var srv sasl.Server
	if mech == auth.MechPlain {
		srv = auth.NewPlainServer(opCtx, s.srv.Auth, done)
	} else {
		var err error
		if srv, err = auth.NewSCRAMServer(opCtx, s.srv.SCRAM, done); err != nil {
			s.log.Warn("SCRAM server", "err", err)
			s.no(CodeTryLater, "Temporary authentication failure")
			return false
		}
	}
	var resp []byte
	if len(args) == 2 {
		var err error
		if resp, err = base64.StdEncoding.DecodeString(args[1].value); err != nil {
			s.no("", "Initial response is not base64")
			return false
		}
	}
	for {
		challenge, fin, err := srv.Next(resp)
		if err != nil {
			return s.authFailed(user, err)
		}
		if !fin && mech == auth.MechSCRAMSHA256 && strings.HasPrefix(string(challenge), "v=") {
			// RFC 5804 section 2.1: the server-final message (RFC 5802
			// section 7: "v=" verifier) goes in the OK's SASL code, not
			// in a challenge the client would have to answer.
			if _, fin2, err := srv.Next(nil); err != nil || !fin2 {
				return s.authFailed(user, auth.ErrBadCredentials)
			}
			if acct == nil {
				return s.authFailed(user, auth.ErrBadCredentials)
			}
			s.loggedIn(acct, "SASL "+quote(base64.StdEncoding.EncodeToString(challenge), false))
			return false
		}
		if fin {
			if acct == nil {
				return s.authFailed(user, auth.ErrBadCredentials)
			}
			s.loggedIn(acct, "")
			return false
		}
		// A challenge is a string on its own line; the answer a string,
		// or "*" to cancel.
		s.w.WriteString(quote(base64.StdEncoding.EncodeToString(challenge), false) + "\r\n")
		if s.flush() != nil {
			return true
		}
		s.conn.SetReadDeadline(time.Now().Add(PreAuthTimeout))
		toks, err := s.r.readTokens()
		if err != nil {
			var se *syntaxError
			if errors.As(err, &se) {
				s.no("", "Malformed SASL response: "+se.msg)
				return false
			}
			s.readFailed(ctx, err)
			return true
		}
		if len(toks) != 1 || toks[0].kind != tokString || toks[0].tooBig {
			s.no("", "Malformed SASL response")
			return false
		}
		if toks[0].value == "*" {
			s.no("", "Authentication cancelled")
			return false
		}
		if resp, err = base64.StdEncoding.DecodeString(toks[0].value); err != nil {
			s.no("", "SASL response is not base64")
			return false
		}
	}
}

// authFailed answers a failed authentication and reports whether the
// session is over (too many failures).
func (s *session) authFailed(user string, err error) bool {
	if !errors.Is(err, auth.ErrBadCredentials) {
		s.log.Warn("authentication could not be checked", "user", truncate(user), "err", err)
		s.no(CodeTryLater, "Temporary authentication failure")
		return false
	}
	s.log.Info("authentication failed", "user", truncate(user))
	if s.srv.OnAuthFailure != nil {
		s.srv.OnAuthFailure(s.conn.RemoteAddr(), user)
	}
	s.failed++
	if s.failed >= maxAuthFailures {
		s.bye("", "Too many authentication failures")
		return true
	}
	s.no("", "Authentication failed")
	return false
}

func (s *session) loggedIn(acct *store.Account, code string) {
	s.acct = acct
	s.failed = 0
	s.log.Info("logged in", "account", acct.Address, "tls", s.tls)
	s.ok(code, "Authentication successful")
}

// Responses (RFC 5804 section 4: response-oknobye).

func (s *session) respond(status, code, text string) {
	s.w.WriteString(status)
	if code != "" {
		s.w.WriteString(" (" + code + ")")
	}
	if text != "" {
		s.w.WriteString(" " + quote(text, false))
	}
	s.w.WriteString("\r\n")
}

func (s *session) ok(code, text string) { s.respond("OK", code, text) }
func (s *session) no(code, text string) { s.respond("NO", code, text) }
func (s *session) bye(code, text string) {
	s.respond("BYE", code, text)
}

func (s *session) flush() error {
	s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return s.w.Flush()
}

// truncate shortens what a client sent for a log line.
func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
