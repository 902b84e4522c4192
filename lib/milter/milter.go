// Package milter is smtpd's milter client: it asks mail filters that speak
// the Sendmail milter protocol (versions 2 and 6; OpenDKIM, OpenDMARC,
// rspamd, clamav-milter...) about each SMTP transaction at connect, HELO,
// MAIL, RCPT and end of message, and gathers their verdicts and the changes
// they ask for. It uses github.com/emersion/go-milter for the wire format.
//
// Several milters run in order, as Postfix runs smtpd_milters: the first to
// refuse a command decides, and at the end of a message each milter sees
// the header and body as the milters before it left them. A milter that
// cannot be reached, times out or breaks the protocol gets its default
// action: tempfail (451 4.7.1) unless the configuration says accept or
// reject, for every command that follows in the session, as in Postfix's
// milter_default_action.
package milter

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"time"

	gomilter "github.com/emersion/go-milter"

	"gannet/lib/config"
	"gannet/lib/rewrite"
)

// DefaultTimeout is a milter's timeout when the configuration gives none:
// for connecting, and for each command's reply (Postfix's
// milter_connect_timeout and milter_command_timeout). The end of a
// message may take ten times as long (Postfix's milter_content_timeout).
const DefaultTimeout = 30 * time.Second

// DefaultMaxMessageSize is Chain.MaxMessageSize when it is not set.
const DefaultMaxMessageSize = 64 << 20

// maxCommandReply bounds what a milter may send in answer to one command
// (a reply is one packet of at most 1 MiB; progress packets may precede
// it).
const maxCommandReply = 2 << 20

// Limits on the envelope changes a milter may ask for.
const (
	maxParams   = 16
	maxParamLen = 500
)

// What the client offers the milter in option negotiation. Everything it
// can apply, and every step the milter may ask to skip or not answer.
const (
	actionsV6 = gomilter.OptAddHeader | gomilter.OptChangeBody | gomilter.OptAddRcpt |
		gomilter.OptRemoveRcpt | gomilter.OptChangeHeader | gomilter.OptQuarantine |
		gomilter.OptChangeFrom
	protocolV6 = gomilter.OptNoConnect | gomilter.OptNoHelo | gomilter.OptNoMailFrom |
		gomilter.OptNoRcptTo | gomilter.OptNoBody | gomilter.OptNoHeaders | gomilter.OptNoEOH |
		gomilter.OptNoHeaderReply | gomilter.OptNoUnknown | gomilter.OptNoData |
		gomilter.OptNoConnReply | gomilter.OptNoHeloReply | gomilter.OptNoMailReply |
		gomilter.OptNoRcptReply | gomilter.OptNoDataReply | gomilter.OptNoUnknownReply |
		gomilter.OptNoEOHReply | gomilter.OptNoBodyReply | gomilter.OptHeaderLeadingSpace
	// Version 2 knows the first six actions and seven protocol bits.
	actionsV2  = actionsV6 & 0x3f
	protocolV2 = protocolV6 & 0x7f
)

// Chain is the list of milters smtpd asks, in order. It is safe for
// concurrent use; each SMTP transaction gets its own Session.
type Chain struct {
	// MaxMessageSize bounds what a milter may send back at the end of a
	// message (a new body, header fields); 0 means DefaultMaxMessageSize.
	// Set it before the first Session.
	MaxMessageSize int64

	filters []*filter
	log     *slog.Logger
}

type filter struct {
	name             string
	network, address string
	err              error // the address does not parse
	version          int
	timeout          time.Duration
	defaultAction    string
}

// New returns the chain of the configured milters. A milter whose address
// does not parse (config.Validate reports it) fails in every session with
// its default action. log may be nil.
func New(cfgs []config.Milter, log *slog.Logger) *Chain {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Chain{log: log}
	for i := range cfgs {
		m := &cfgs[i]
		f := &filter{name: m.Name, version: m.Protocol, timeout: m.Timeout.Duration, defaultAction: m.DefaultAction}
		if f.name == "" {
			f.name = m.Address
		}
		if f.version != 2 {
			f.version = 6
		}
		if f.timeout <= 0 {
			f.timeout = DefaultTimeout
		}
		if f.defaultAction == "" {
			f.defaultAction = "tempfail"
		}
		f.network, f.address, f.err = m.Endpoint()
		c.filters = append(c.filters, f)
	}
	return c
}

// Len returns the number of milters.
func (c *Chain) Len() int {
	if c == nil {
		return 0
	}
	return len(c.filters)
}

func (c *Chain) maxMessage() int64 {
	if c.MaxMessageSize > 0 {
		return c.MaxMessageSize
	}
	return DefaultMaxMessageSize
}

// ConnInfo describes the SMTP client as far as it is known when a Session
// starts; it gives the milters the connect and HELO stages and the
// macros Postfix sends.
type ConnInfo struct {
	// ServerName is this server's host name (macro j).
	ServerName string
	// Hostname is the client's verified host name, "" when unknown.
	Hostname string
	// Addr and Port are the client's; an invalid Addr means unknown (a
	// Unix socket).
	Addr netip.Addr
	Port uint16
	// HELO is the name the client gave in HELO, EHLO or LHLO.
	HELO string
	// TLS is the connection's state, nil when it is not encrypted.
	TLS *tls.ConnectionState
	// AuthUser and AuthMechanism say who authenticated, and how; "" when
	// nobody did.
	AuthUser      string
	AuthMechanism string
}

// Session is one SMTP session's conversation with the milters: Mail, any
// number of Rcpt, then Data, for one message or several in turn. A Session
// is not safe for concurrent use. Close it when the SMTP session ends.
type Session struct {
	chain   *Chain
	info    ConnInfo
	log     *slog.Logger
	states  []*state
	queueID string
	// discard names the milter that asked for the current message to be
	// discarded at MAIL or RCPT.
	discard string
}

// state is one milter's part in a session.
type state struct {
	f         *filter
	cs        *gomilter.ClientSession // nil once closed or failed
	c         *conn
	leadSpace bool // SMFIP_HDR_LEADSPC negotiated
	// gone: not asked any more in this session (it accepted the
	// connection, or failed with default action accept).
	gone bool
	// sticky is the answer to every command from now on: the milter
	// refused the connection or HELO, or failed.
	sticky *Action
	// inMsg: it has seen MAIL for the current message and not finished
	// with it, so it must be told if the message is abandoned.
	inMsg bool
	// msgDone: it accepted the current message and is not asked about it
	// again.
	msgDone bool
}

func (st *state) asked() bool { return st.cs != nil && !st.gone && !st.msgDone && st.sticky == nil }

// Session connects to every milter and runs the connect and HELO stages.
// The Action is the milters' verdict on the connection: when it is not
// Accept, Postfix answers every later command with it, and so do Mail,
// Rcpt and Data.
func (c *Chain) Session(ctx context.Context, info ConnInfo) (*Session, Action) {
	s := &Session{chain: c, info: info}
	if c == nil {
		s.log = slog.New(slog.DiscardHandler)
		return s, Action{}
	}
	s.log = c.log
	for _, f := range c.filters {
		st := &state{f: f}
		s.states = append(s.states, st)
		if f.err != nil {
			s.fail(st, "connect", f.err)
			continue
		}
		if err := s.open(ctx, st); err != nil {
			s.fail(st, "connect", err)
		}
	}

	host := info.Hostname
	addr := ""
	family := gomilter.FamilyUnknown
	if info.Addr.IsValid() {
		a := info.Addr.Unmap()
		addr = a.String()
		family = gomilter.FamilyInet
		if a.Is6() {
			family = gomilter.FamilyInet6
		}
		if host == "" {
			host = "[" + addr + "]" // as Sendmail names an unresolved client
		}
	}
	if host == "" {
		host = "localhost"
	}
	act := s.stage(ctx, "connect", true, func(st *state) (*gomilter.Action, error) {
		kv := []string{"j", info.ServerName, "{daemon_name}", info.ServerName, "v", "Gannet",
			"_", strings.TrimSpace(info.Hostname + " [" + addr + "]"),
			"{client_addr}", addr, "{client_name}", host, "{client_port}", strconv.Itoa(int(info.Port))}
		if err := st.cs.Macros(gomilter.CodeConn, kv...); err != nil {
			return nil, err
		}
		return st.cs.Conn(host, family, info.Port, addr)
	})
	if act.Kind != Accept {
		return s, act
	}
	act = s.stage(ctx, "helo", true, func(st *state) (*gomilter.Action, error) {
		if t := info.TLS; t != nil {
			kv := []string{"{tls_version}", tlsVersion(t.Version), "{cipher}", tls.CipherSuiteName(t.CipherSuite)}
			if len(t.PeerCertificates) > 0 {
				kv = append(kv, "{cert_subject}", t.PeerCertificates[0].Subject.String(), "{cert_issuer}", t.PeerCertificates[0].Issuer.String())
			}
			if err := st.cs.Macros(gomilter.CodeHelo, kv...); err != nil {
				return nil, err
			}
		}
		return st.cs.Helo(info.HELO)
	})
	return s, act
}

func tlsVersion(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return "unknown"
}

// open connects to a milter and negotiates options. A milter configured
// for version 6 that answers in version 2 is connected to again with
// version 2's options, as go-milter will not mix them.
func (s *Session) open(ctx context.Context, st *state) error {
	err := s.dial(ctx, st, st.f.version)
	if errors.Is(err, gomilter.ErrUnsupportedMilterVersion) && st.f.version == 6 {
		s.log.Debug("milter speaks protocol version 2 only; set protocol = 2", "milter", st.f.name)
		err = s.dial(ctx, st, 2)
	}
	return err
}

func (s *Session) dial(ctx context.Context, st *state, version int) error {
	d := &dialer{ctx: ctx, timeout: st.f.timeout, overall: 2 * st.f.timeout}
	opts := gomilter.ClientOptions{
		Dialer:       d,
		ReadTimeout:  st.f.timeout,
		WriteTimeout: st.f.timeout,
		ActionMask:   actionsV6,
		ProtocolMask: protocolV6,
	}
	if version == 2 {
		d.version = 2
		opts.ActionMask, opts.ProtocolMask = actionsV2, protocolV2
	}
	cs, err := gomilter.NewClientWithOptions(st.f.network, st.f.address, opts).Session()
	if d.end != nil {
		d.end()
	}
	if err != nil {
		if d.conn != nil {
			_ = d.conn.Close()
		}
		return err
	}
	st.cs, st.c = cs, d.conn
	st.leadSpace = cs.ProtocolOption(gomilter.OptHeaderLeadingSpace)
	return nil
}

// exchange runs one command (or the whole end of a message) with a milter
// under its deadline and reply budget.
func (s *Session) exchange(ctx context.Context, st *state, overall time.Duration, budget int64, fn func() error) error {
	end := st.c.begin(ctx, overall, budget)
	defer end()
	if err := ctx.Err(); err != nil {
		return err
	}
	return fn()
}

// fail closes a milter that failed and returns its default action, which
// answers every later command of the session too (Accept: the milter is
// left out from now on).
func (s *Session) fail(st *state, stage string, err error) Action {
	s.log.Warn("milter failed", "milter", st.f.name, "stage", stage, "error", err, "default_action", st.f.defaultAction)
	if st.c != nil {
		_ = st.c.Conn.Close()
	}
	st.cs, st.inMsg = nil, false
	var act Action
	switch st.f.defaultAction {
	case "accept":
		st.gone = true
		return Action{}
	case "reject":
		act = rejectAction(st.f.name)
	default:
		act = tempFailAction(st.f.name)
	}
	st.sticky = &act
	return act
}

// stage sends one command to each milter in turn, until one refuses it.
func (s *Session) stage(ctx context.Context, name string, connLevel bool, call func(*state) (*gomilter.Action, error)) Action {
	for _, st := range s.states {
		if st.sticky != nil {
			return *st.sticky
		}
		if !st.asked() {
			continue
		}
		var a *gomilter.Action
		err := s.exchange(ctx, st, st.f.timeout, maxCommandReply, func() (err error) {
			a, err = call(st)
			return err
		})
		var act Action
		var more bool
		if err == nil {
			act, more, err = convert(st.f.name, a)
		}
		if err != nil {
			if act := s.fail(st, name, err); act.Kind != Accept {
				return act
			}
			continue
		}
		if more {
			continue
		}
		if act.Kind == Accept {
			// SMFIR_ACCEPT: no more questions about this connection
			// or this message.
			if connLevel {
				st.gone = true
			} else {
				st.msgDone, st.inMsg = true, false
			}
			continue
		}
		s.log.Info("milter refused", "milter", st.f.name, "stage", name, "action", act.Kind, "code", act.Code, "queue_id", s.queueID)
		switch {
		case connLevel:
			st.sticky = &act
		case name == "mail" || act.Kind == Discard:
			// The milter is done with this message.
			st.inMsg = false
			st.msgDone = true
		}
		return act
	}
	return Action{}
}

// Mail starts a message: it abandons any message in progress (as Reset)
// and asks the milters about the envelope sender from ("" for the null
// sender) with its ESMTP parameters ("SIZE=1000", "BODY=8BITMIME"). A
// Reject or TempFail refuses the sender. Discard means the message is to
// be accepted and thrown away: Rcpt and Data say Discard too.
func (s *Session) Mail(ctx context.Context, from string, params []string) Action {
	s.Reset(ctx)
	s.queueID = newQueueID()
	return s.stage(ctx, "mail", false, func(st *state) (*gomilter.Action, error) {
		kv := []string{"i", s.queueID, "{mail_addr}", from}
		if s.info.AuthUser != "" {
			kv = append(kv, "{auth_type}", s.info.AuthMechanism, "{auth_authen}", s.info.AuthUser)
		}
		if err := st.cs.Macros(gomilter.CodeMail, kv...); err != nil {
			return nil, err
		}
		st.inMsg = true
		return st.cs.Mail(from, params)
	})
}

// Rcpt asks the milters about one recipient. A Reject or TempFail refuses
// this recipient only.
func (s *Session) Rcpt(ctx context.Context, to string, params []string) Action {
	if s.discard != "" {
		return Action{Kind: Discard, Milter: s.discard}
	}
	act := s.stage(ctx, "rcpt", false, func(st *state) (*gomilter.Action, error) {
		if err := st.cs.Macros(gomilter.CodeRcpt, "{rcpt_addr}", to); err != nil {
			return nil, err
		}
		return st.cs.Rcpt(to, params)
	})
	if act.Kind == Discard {
		s.discard = act.Milter
	}
	return act
}

// Reset abandons the message in progress, if any (RSET, or a transaction
// that ends without DATA): the milters that were told about it are sent an
// abort.
func (s *Session) Reset(ctx context.Context) {
	for _, st := range s.states {
		if st.inMsg && st.cs != nil {
			if err := s.exchange(ctx, st, st.f.timeout, 0, st.cs.Abort); err != nil {
				s.fail(st, "abort", err)
			}
		}
		st.inMsg, st.msgDone = false, false
	}
	s.discard = ""
}

// Close ends the session with every milter.
func (s *Session) Close(ctx context.Context) error {
	var errs []error
	for _, st := range s.states {
		if st.cs == nil {
			continue
		}
		cs := st.cs
		st.cs = nil
		err := s.exchange(ctx, st, st.f.timeout, 0, cs.Close)
		_ = st.c.Conn.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("milter %s: %w", st.f.name, err))
		}
	}
	return errors.Join(errs...)
}

// Data runs the end-of-message stage: each milter in turn is sent the
// header fields, the body and the end of the message, and answers with a
// verdict and the changes it wants, which the next milter sees made.
// header is the message's header (the blank line that ends it may be
// included, and so may the start of the body); body is the rest of the
// message and may be nil. Lines end in CRLF.
//
// The error reports a failure to read body; what goes wrong with a milter
// gives its default action in the Result instead.
func (s *Session) Data(ctx context.Context, header []byte, body io.Reader) (*Result, error) {
	res := &Result{}
	defer s.Reset(ctx)
	if s.discard != "" {
		res.Action = Action{Kind: Discard, Milter: s.discard}
		return res, nil
	}
	fields, rest := splitHeader(header)
	blank, prefix := cutBlank(rest)
	var src io.Reader = bytes.NewReader(prefix)
	if body != nil {
		src = io.MultiReader(src, body)
	}
	var buf []byte // the body, when more than one milter is to see it
	asked := 0
	for _, st := range s.states {
		if st.asked() || st.sticky != nil {
			asked++
		}
	}
	if asked > 1 {
		b, err := io.ReadAll(io.LimitReader(src, s.chain.maxMessage()+1))
		if err != nil {
			return nil, fmt.Errorf("milter: read message: %w", err)
		}
		if int64(len(b)) > s.chain.maxMessage() {
			return nil, fmt.Errorf("milter: message larger than %d bytes", s.chain.maxMessage())
		}
		buf = b
	}
	var quarantine *Action
	for i, st := range s.states {
		if st.sticky != nil {
			res.Action = *st.sticky
			return res, nil
		}
		if !st.asked() {
			continue
		}
		r := src
		if buf != nil {
			r = bytes.NewReader(buf)
		}
		var mods []Modification
		var reason *string
		var act Action
		var readErr error
		err := s.exchange(ctx, st, 10*st.f.timeout, s.chain.maxMessage()+maxCommandReply, func() (err error) {
			mods, reason, act, readErr, err = s.message(st, fields, r)
			return err
		})
		if readErr != nil {
			return nil, fmt.Errorf("milter: read message: %w", readErr)
		}
		if err != nil {
			if act := s.fail(st, "data", err); act.Kind != Accept {
				res.Action = act
				return res, nil
			}
			continue
		}
		st.inMsg = false
		if act.Kind != Accept {
			s.log.Info("milter refused", "milter", st.f.name, "stage", "data", "action", act.Kind, "code", act.Code, "queue_id", s.queueID)
			res.Action = act
			return res, nil
		}
		res.Modifications = append(res.Modifications, mods...)
		if reason != nil {
			quarantine = &Action{Kind: Quarantine, Reason: *reason, Milter: st.f.name}
		}
		// The next milter sees this one's changes.
		if buf != nil && i < len(s.states)-1 {
			if blank == nil {
				blank = []byte("\r\n")
			}
			var blankRest []byte
			fields, blankRest, err = applyMods(fields, append(clone(blank), buf...), mods)
			if err != nil {
				if act := s.fail(st, "data", err); act.Kind != Accept {
					res.Action = act
					return res, nil
				}
				continue
			}
			blank, buf = cutBlank(blankRest)
		}
	}
	if quarantine != nil {
		res.Action = *quarantine
	}
	return res, nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// cutBlank splits the rest of a message after its header fields into the
// blank line and the body.
func cutBlank(rest []byte) (blank, body []byte) {
	switch {
	case bytes.HasPrefix(rest, []byte("\r\n")):
		return rest[:2], rest[2:]
	case len(rest) > 0 && (rest[0] == '\n' || rest[0] == '\r'):
		return rest[:1], rest[1:]
	}
	return nil, rest
}

// message sends one milter the message and reads its verdict, its
// modifications and its reason to quarantine the message, if it gave one.
// readErr reports a failure to read body.
func (s *Session) message(st *state, fields []field, body io.Reader) (mods []Modification, quarantine *string, act Action, readErr, err error) {
	cs := st.cs
	name := st.f.name
	// done turns a reply other than continue into the result.
	done := func(a *gomilter.Action) (bool, error) {
		var more bool
		act, more, err = convert(name, a)
		if err != nil || more {
			return false, err
		}
		return true, nil
	}
	for _, f := range fields {
		if f.name == "" {
			continue
		}
		a, err := cs.HeaderField(f.name, f.value(st.leadSpace))
		if err != nil {
			return nil, nil, Action{}, nil, err
		}
		if stop, err := done(a); stop || err != nil {
			return nil, nil, act, nil, err
		}
	}
	a, err := cs.HeaderEnd()
	if err != nil {
		return nil, nil, Action{}, nil, err
	}
	if stop, err := done(a); stop || err != nil {
		return nil, nil, act, nil, err
	}
	chunk := make([]byte, gomilter.MaxBodyChunk)
	for {
		n, rerr := io.ReadFull(body, chunk)
		if n > 0 {
			a, err := cs.BodyChunk(chunk[:n])
			if err != nil {
				return nil, nil, Action{}, nil, err
			}
			if stop, err := done(a); stop || err != nil {
				return nil, nil, act, nil, err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return nil, nil, Action{}, rerr, nil
		}
	}
	if err := cs.Macros(gomilter.CodeEOB, "i", s.queueID); err != nil {
		return nil, nil, Action{}, nil, err
	}
	ms, a, err := cs.End()
	if err != nil {
		return nil, nil, Action{}, nil, err
	}
	if _, err := done(a); err != nil {
		return nil, nil, Action{}, nil, err
	}
	mods, quarantine, err = s.convertMods(st, ms)
	return mods, quarantine, act, nil, err
}

// convertMods checks a milter's modifications and writes them in our
// form: header values folded safely, one replacement body, addresses
// without angle brackets.
func (s *Session) convertMods(st *state, ms []gomilter.ModifyAction) (out []Modification, quarantine *string, err error) {
	body := -1 // index in out of the body replacement
	for _, m := range ms {
		mod := Modification{Milter: st.f.name}
		switch m.Code {
		case gomilter.ActAddHeader, gomilter.ActInsertHeader, gomilter.ActChangeHeader:
			if !validName(m.HeaderName) {
				return nil, nil, fmt.Errorf("bad header field name %q", m.HeaderName)
			}
			mod.Name, mod.Index = m.HeaderName, int(m.HeaderIndex)
			mod.Value = foldValue(m.HeaderValue, !st.leadSpace)
			switch m.Code {
			case gomilter.ActAddHeader:
				mod.Kind = AddHeader
			case gomilter.ActInsertHeader:
				mod.Kind = InsertHeader
			default:
				mod.Kind = ChangeHeader
				if m.HeaderValue == "" {
					mod.Kind, mod.Value = DeleteHeader, ""
				}
			}
		case gomilter.ActReplBody:
			// SMFIR_REPLBODY may come in several packets: together they
			// are the new body.
			if body >= 0 {
				out[body].Body = append(out[body].Body, m.Body...)
				continue
			}
			body = len(out)
			mod.Kind, mod.Body = ReplaceBody, append([]byte(nil), m.Body...)
		case gomilter.ActChangeFrom:
			mod.Kind, mod.Addr = ChangeFrom, unbracket(m.From)
			if mod.Addr != "" && !rewrite.Valid(mod.Addr) {
				return nil, nil, fmt.Errorf("change from: bad address %q", m.From)
			}
			for _, p := range m.FromArgs {
				if p == "" {
					continue
				}
				if len(mod.Params) == maxParams || len(p) > maxParamLen || printable(p) != p {
					return nil, nil, fmt.Errorf("change from: bad or too many ESMTP parameters")
				}
				mod.Params = append(mod.Params, p)
			}
		case gomilter.ActAddRcpt, gomilter.ActDelRcpt:
			mod.Kind, mod.Addr = AddRcpt, unbracket(m.Rcpt)
			if m.Code == gomilter.ActDelRcpt {
				mod.Kind = DeleteRcpt
			}
			if !rewrite.Valid(mod.Addr) {
				return nil, nil, fmt.Errorf("%s: bad address %q", mod.Kind, m.Rcpt)
			}
		case gomilter.ActQuarantine:
			reason := printable(m.Reason)
			quarantine = &reason
			continue
		default:
			return nil, nil, fmt.Errorf("unexpected modification %q", byte(m.Code))
		}
		out = append(out, mod)
	}
	if body >= 0 {
		out[body].Body = crlf(out[body].Body)
	}
	return out, quarantine, nil
}

func unbracket(a string) string {
	a = strings.TrimSpace(a)
	if len(a) >= 2 && a[0] == '<' && a[len(a)-1] == '>' {
		a = a[1 : len(a)-1]
	}
	return a
}

// newQueueID makes the message identifier milters see as macro i and log.
func newQueueID() string {
	return fmt.Sprintf("%012X", rand.Uint64()&0xFFFFFFFFFFFF)
}
