package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"gannet/lib/imap/wire"
	"gannet/lib/notify"
	"gannet/lib/store"
)

// state is a session state (RFC 9051 section 3).
type state uint8

const (
	stateNotAuth state = 1 << iota
	stateAuth
	stateSelected
	stateLogout

	stateAny       = stateNotAuth | stateAuth | stateSelected
	stateAuthOrSel = stateAuth | stateSelected
)

// session is one client connection.
type session struct {
	srv    *Server
	raw    net.Conn // the TCP connection, for deadlines
	conn   net.Conn // raw, or the TLS connection over it
	tls    bool
	r      *wire.Reader
	w      *wire.Writer
	log    *slog.Logger
	ctx    context.Context
	state  state
	acct   *store.Account
	sel    *selected
	bad    int
	closed bool

	compressed bool // COMPRESS=DEFLATE is active (RFC 4978)

	// Extensions the client enabled (RFC 5161).
	rev2      bool // IMAP4rev2
	utf8      bool // UTF8=ACCEPT (RFC 6855)
	condstore bool // CONDSTORE (RFC 7162 section 3.1), enabled or implied
	qresync   bool // QRESYNC (RFC 7162 section 3.2)

	// The result saved by SEARCH RETURN (SAVE) (RFC 5182), as sorted
	// UIDs, valid while savedSel is the selected mailbox.
	saved    []uint32
	savedSel *selected

	feed   <-chan notify.Event
	unsub  func()
	dirty  bool // the feed said something changed since the last sync
	client string
}

// errLogout ends the session after a command.
var errLogout = errors.New("logout")

func newSession(srv *Server, c net.Conn) *session {
	s := &session{srv: srv, raw: c, state: stateNotAuth}
	s.log = srv.log().With("remote", c.RemoteAddr().String())
	s.setConn(c, false)
	return s
}

// setConn (re)starts the reader and writer over c.
func (s *session) setConn(c net.Conn, isTLS bool) {
	s.conn, s.tls = c, isTLS
	if s.r == nil {
		s.r = wire.NewReader(c, wire.Limits{MaxLiteral: s.srv.maxLiteral()})
		s.w = wire.NewWriter(c)
	} else {
		s.r.Reset(c)
		s.w.Reset(c)
	}
	s.r.Continue = func() error { return s.w.Continuation("Ready for literal data") }
}

// run greets the client and serves commands until the end.
func (s *session) run(ctx context.Context) {
	s.ctx = ctx
	defer func() {
		if s.unsub != nil {
			s.unsub()
		}
	}()
	// At shutdown an idle session ends at once: its read fails.
	stop := context.AfterFunc(ctx, func() { s.raw.SetReadDeadline(time.Now()) })
	defer stop()

	s.w.Status("", "OK", "CAPABILITY "+s.capabilities(), s.srv.Hostname+" IMAP server ready")
	if s.w.Flush() != nil {
		return
	}
	for !s.closed {
		s.setDeadline()
		cmd, err := s.r.ReadCommand()
		if err != nil {
			if !s.readFailed(err) {
				return
			}
			continue
		}
		if err := s.execute(cmd); err != nil {
			if !errors.Is(err, errLogout) {
				s.log.Debug("session ended", "err", err)
			}
			return
		}
		if err := s.w.Flush(); err != nil {
			return
		}
	}
}

func (s *session) setDeadline() {
	d := PreAuthTimeout
	if s.state != stateNotAuth {
		d = s.srv.idleTimeout()
	}
	if s.ctx.Err() == nil {
		s.raw.SetReadDeadline(time.Now().Add(d))
	}
}

// readFailed handles a failed ReadCommand: it answers syntax errors and
// reports whether the session goes on.
func (s *session) readFailed(err error) bool {
	var se *wire.SyntaxError
	var fe *wire.FatalError
	switch {
	case errors.As(err, &se):
		code := ""
		if se.TooBig {
			code = "TOOBIG"
		}
		s.w.Status(se.Tag, "BAD", code, se.Msg)
		return s.countBad() && s.w.Flush() == nil
	case errors.As(err, &fe):
		s.w.Status(fe.Tag, "BAD", "TOOBIG", fe.Msg)
		s.w.Status("", "BYE", "", "Too much data")
		s.w.Flush()
		return false
	case errors.Is(err, os.ErrDeadlineExceeded):
		if s.ctx.Err() != nil {
			s.w.Status("", "BYE", "UNAVAILABLE", "Server shutting down")
		} else {
			s.w.Status("", "BYE", "", "Autologout; idle for too long")
		}
		s.w.Flush()
		return false
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return false
	}
	s.log.Debug("read failed", "err", err)
	return false
}

// countBad counts a BAD answer and reports whether the session goes on.
func (s *session) countBad() bool {
	s.bad++
	s.reportBad()
	if s.bad >= maxBadCommands {
		s.w.Status("", "BYE", "", "Too many invalid commands")
		s.w.Flush()
		return false
	}
	return true
}

// cmdError is a command's failure as the client is told.
type cmdError struct {
	status string // NO or BAD
	code   string
	text   string
}

func (e *cmdError) Error() string { return e.status + " " + e.text }

func bad(format string, a ...any) error {
	return &cmdError{status: "BAD", text: fmt.Sprintf(format, a...)}
}

func no(code, format string, a ...any) error {
	return &cmdError{status: "NO", code: code, text: fmt.Sprintf(format, a...)}
}

// command is one command's handler and the states it is valid in.
type command struct {
	states state
	run    func(s *session, c *wire.Command, args []wire.Token) (string, error)
	// noSync marks commands after which untagged EXPUNGE must not be
	// sent (RFC 9051 section 7.5.1: FETCH, STORE, SEARCH).
	noSync bool
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"CAPABILITY":   {stateAny, (*session).cmdCapability, false},
		"NOOP":         {stateAny, (*session).cmdNoop, false},
		"LOGOUT":       {stateAny, (*session).cmdLogout, false},
		"STARTTLS":     {stateNotAuth, (*session).cmdStartTLS, false},
		"LOGIN":        {stateNotAuth, (*session).cmdLogin, false},
		"AUTHENTICATE": {stateNotAuth, (*session).cmdAuthenticate, false},
		"ENABLE":       {stateAuthOrSel, (*session).cmdEnable, false},
		"ID":           {stateAny, (*session).cmdID, false},
		"NAMESPACE":    {stateAuthOrSel, (*session).cmdNamespace, false},
		"LIST":         {stateAuthOrSel, (*session).cmdList, false},
		"LSUB":         {stateAuthOrSel, (*session).cmdLsub, false},
		"CREATE":       {stateAuthOrSel, (*session).cmdCreate, false},
		"DELETE":       {stateAuthOrSel, (*session).cmdDelete, false},
		"RENAME":       {stateAuthOrSel, (*session).cmdRename, false},
		"SUBSCRIBE":    {stateAuthOrSel, (*session).cmdSubscribe, false},
		"UNSUBSCRIBE":  {stateAuthOrSel, (*session).cmdUnsubscribe, false},
		"STATUS":       {stateAuthOrSel, (*session).cmdStatus, false},
		"SELECT":       {stateAuthOrSel, (*session).cmdSelect, false},
		"EXAMINE":      {stateAuthOrSel, (*session).cmdExamine, false},
		"APPEND":       {stateAuthOrSel, (*session).cmdAppend, false},
		"IDLE":         {stateAuthOrSel, (*session).cmdIdle, false},
		"CHECK":        {stateSelected, (*session).cmdNoop, false},
		"CLOSE":        {stateSelected, (*session).cmdClose, false},
		"UNSELECT":     {stateSelected, (*session).cmdUnselect, false},
		"EXPUNGE":      {stateSelected, (*session).cmdExpunge, false},
		"FETCH":        {stateSelected, (*session).cmdFetch, true},
		"STORE":        {stateSelected, (*session).cmdStore, true},
		"SEARCH":       {stateSelected, (*session).cmdSearch, true},
		"SORT":         {stateSelected, (*session).cmdSort, true},   // RFC 5256
		"THREAD":       {stateSelected, (*session).cmdThread, true}, // RFC 5256
		"COPY":         {stateSelected, (*session).cmdCopy, false},
		"MOVE":         {stateSelected, (*session).cmdMove, false},
		"UID":          {stateSelected, (*session).cmdUID, false},
		"COMPRESS":     {stateAuthOrSel, (*session).cmdCompress, false}, // RFC 4978
		// RFC 9208.
		"GETQUOTA":     {stateAuthOrSel, (*session).cmdGetQuota, false},
		"GETQUOTAROOT": {stateAuthOrSel, (*session).cmdGetQuotaRoot, false},
		"SETQUOTA":     {stateAuthOrSel, (*session).cmdSetQuota, false},
		// RFC 8437.
		"UNAUTHENTICATE": {stateAuthOrSel, (*session).cmdUnauthenticate, false},
	}
}

// capabilities lists what the session offers now (RFC 9051 section
// 7.2.2). Only what is implemented is listed.
func (s *session) capabilities() string {
	caps := []string{"IMAP4rev1", "IMAP4rev2", "LITERAL+", "ID", "ENABLE", "IDLE", "NAMESPACE", "UNSELECT",
		"UIDPLUS", "MOVE", "CHILDREN", "SPECIAL-USE", "SASL-IR", "UTF8=ACCEPT", "ESEARCH", "BINARY",
		"SORT", "SORT=DISPLAY", "ESORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "WITHIN",
		"STATUS=SIZE", "CONDSTORE", "QRESYNC", "SEARCHRES", "LIST-EXTENDED", "LIST-STATUS",
		"CREATE-SPECIAL-USE", "UNAUTHENTICATE", "MULTIAPPEND", "SAVEDATE", "PREVIEW", "OBJECTID",
		"QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE", // RFC 9208 sections 3.1, 5.1, 5.2
		fmt.Sprintf("APPENDLIMIT=%d", s.srv.maxLiteral())}
	if s.srv.Compress && s.state != stateNotAuth {
		caps = append(caps, "COMPRESS=DEFLATE") // RFC 4978, after authentication
	}
	if s.state == stateNotAuth {
		if !s.tls && s.srv.TLS != nil {
			caps = append(caps, "STARTTLS")
		}
		if s.tls {
			caps = append(caps, "AUTH=PLAIN")
			if s.srv.SCRAM != nil {
				caps = append(caps, "AUTH=SCRAM-SHA-256")
			}
		} else {
			caps = append(caps, "LOGINDISABLED")
		}
	}
	return strings.Join(caps, " ")
}

// execute runs one command and writes its tagged answer; an error ends
// the session.
func (s *session) execute(c *wire.Command) error {
	name := strings.ToUpper(c.Name)
	cmd, ok := commands[name]
	if !ok {
		s.w.Status(c.Tag, "BAD", "", "Unknown command "+truncate(c.Name))
		if !s.countBad() {
			return errLogout
		}
		return nil
	}
	if cmd.states&s.state == 0 {
		s.w.Status(c.Tag, "BAD", "", fmt.Sprintf("%s is not valid in the %s state", name, s.stateName()))
		if !s.countBad() {
			return errLogout
		}
		return nil
	}
	noSync := cmd.noSync
	if name == "UID" {
		noSync = false // UID FETCH/STORE/SEARCH may see EXPUNGE (RFC 9051 section 7.5.1)
	}
	text, err := cmd.run(s, c, c.Args)
	if err == errAnswered {
		return nil
	}
	var ce *cmdError
	switch {
	case err == nil:
		if !noSync && s.state == stateSelected {
			if err := s.sync(false); err != nil {
				return err
			}
		}
		s.bad = 0
		code := ""
		if strings.HasPrefix(text, "[") {
			if i := strings.Index(text, "] "); i > 0 {
				code, text = text[1:i], text[i+2:]
			}
		}
		s.w.Status(c.Tag, "OK", code, text)
	case errors.As(err, &ce):
		if ce.status == "BAD" && !s.countBad() {
			return errLogout
		}
		s.w.Status(c.Tag, ce.status, ce.code, ce.text)
	case errors.Is(err, errLogout):
		s.w.Status(c.Tag, "OK", "", "LOGOUT completed")
		s.w.Flush()
		return err
	default:
		if s.ctx.Err() != nil && s.w.Err() == nil {
			s.w.Status("", "BYE", "UNAVAILABLE", "Server shutting down")
			s.w.Flush()
			return err
		}
		if s.w.Err() != nil {
			return s.w.Err()
		}
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
			// The client went away in the middle of a command (an IDLE
			// ended by closing the connection): nothing failed here.
			s.log.Debug("connection closed during command", "command", name)
			return err
		}
		s.log.Error("command failed", "command", name, "err", err)
		s.w.Status(c.Tag, "NO", "SERVERBUG", "Internal error; try again later")
	}
	return nil
}

func (s *session) stateName() string {
	switch s.state {
	case stateNotAuth:
		return "not authenticated"
	case stateAuth:
		return "authenticated"
	case stateSelected:
		return "selected"
	}
	return "logout"
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// opCtx bounds one command's store work.
func (s *session) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(s.ctx), opTimeout)
}

// ---------------------------------------------------------------------------
// Commands valid in any state (RFC 9051 section 6.1).

func (s *session) cmdCapability(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) != 0 {
		return "", bad("CAPABILITY takes no arguments")
	}
	s.w.Untagged()
	s.w.Raw("CAPABILITY " + s.capabilities())
	s.w.CRLF()
	return "CAPABILITY completed", nil
}

func (s *session) cmdNoop(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) != 0 {
		return "", bad("%s takes no arguments", strings.ToUpper(c.Name))
	}
	s.dirty = true // look at the change log even without a feed event
	return strings.ToUpper(c.Name) + " completed", nil
}

func (s *session) cmdLogout(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) != 0 {
		return "", bad("LOGOUT takes no arguments")
	}
	s.w.Status("", "BYE", "", "Logging out")
	s.state = stateLogout
	s.closed = true
	return "", errLogout
}

// cmdID answers ID (RFC 2971) with the server's name.
func (s *session) cmdID(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) != 1 || (args[0].Kind != wire.List && args[0].Kind != wire.Nil) {
		return "", bad("ID takes a list of field-value pairs or NIL")
	}
	if l := args[0].List; len(l) > 60 || len(l)%2 != 0 {
		return "", bad("ID takes at most 30 field-value pairs")
	} else {
		var fields []string
		for i := 0; i+1 < len(l); i += 2 {
			if l[i].Kind == wire.Nil || !l[i].IsString() {
				return "", bad("invalid ID field name")
			}
			if strings.EqualFold(l[i].Value, "name") || strings.EqualFold(l[i].Value, "version") {
				fields = append(fields, l[i].Value+"="+truncate(l[i+1].Value))
			}
		}
		s.client = strings.Join(fields, " ")
	}
	s.w.Raw(`* ID ("name" "Gannet")`)
	s.w.CRLF()
	return "ID completed", nil
}

// ---------------------------------------------------------------------------
// Not authenticated (RFC 9051 section 6.2).

func (s *session) cmdStartTLS(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) != 0 {
		return "", bad("STARTTLS takes no arguments")
	}
	if s.tls {
		return "", bad("TLS is already active")
	}
	if s.srv.TLS == nil {
		return "", no("", "TLS is not available")
	}
	// RFC 9051 section 6.2.1: nothing may follow STARTTLS before the
	// handshake; pipelined bytes would be taken for TLS-protected input.
	if s.r.Buffered() > 0 {
		return "", bad("Data after STARTTLS")
	}
	s.w.Status(c.Tag, "OK", "", "Begin TLS negotiation now")
	if err := s.w.Flush(); err != nil {
		return "", err
	}
	tc := tls.Server(s.raw, s.srv.TLS)
	hctx, cancel := context.WithTimeout(s.ctx, PreAuthTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return "", fmt.Errorf("TLS handshake: %w", err)
	}
	s.setConn(tc, true)
	return "", errAnswered
}

// errAnswered: the command wrote its own tagged answer.
var errAnswered = &cmdError{}
