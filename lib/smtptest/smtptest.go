// Package smtptest runs a capturing SMTP server on loopback for tests of
// SMTP clients: it records every transaction (envelope, parameters and the
// exact message bytes), can offer or withhold extensions (PIPELINING,
// CHUNKING, STARTTLS, REQUIRETLS, AUTH PLAIN, DSN, SMTPUTF8, 8BITMIME,
// SIZE), can answer any stage with a reply of the test's choosing, and can
// read DATA as laxly as the receivers that let SMTP smuggling through.
//
//	s := smtptest.New(t, smtptest.Options{Chunking: true})
//	// point the client at s.Addr(), send, then:
//	txs := s.Transactions()
//
// A transaction is recorded before the reply to its end of data is sent,
// so a client that has read that reply sees it in Transactions.
package smtptest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Stage names the point of a session a reply answers.
type Stage string

// The stages Options.Reply is asked about.
const (
	StageGreeting Stage = "greeting" // the 220 banner
	StageEHLO     Stage = "ehlo"     // EHLO (the argument is the client's name)
	StageHELO     Stage = "helo"
	StageSTARTTLS Stage = "starttls"
	StageAUTH     Stage = "auth" // after the credentials were checked; arg is the user
	StageMAIL     Stage = "mail" // arg is the reverse-path
	StageRCPT     Stage = "rcpt" // arg is the forward-path
	StageDATA     Stage = "data" // the reply to the DATA command itself (354)
	StageBDAT     Stage = "bdat" // the reply to a BDAT chunk that is not the last
	StageDataEnd  Stage = "end"  // the reply to the end of the message (DATA or BDAT LAST)
	StageRSET     Stage = "rset"
)

// Options configure a Server. The zero value offers PIPELINING, 8BITMIME,
// SMTPUTF8, DSN, ENHANCEDSTATUSCODES and SIZE, reads DATA strictly, and
// offers neither CHUNKING nor STARTTLS nor AUTH.
type Options struct {
	// Addr is the address to listen on; default "127.0.0.1:0".
	Addr string
	// Hostname is the name in the greeting; default "smtptest.invalid".
	Hostname string
	// Chunking offers CHUNKING (RFC 3030) and accepts BDAT.
	Chunking bool
	// NoPipelining, NoDSN, NoSMTPUTF8, No8BitMIME withhold those extensions.
	NoPipelining, NoDSN, NoSMTPUTF8, No8BitMIME bool
	// NoEHLO answers EHLO with 502, so that the client falls back to HELO.
	NoEHLO bool
	// Size is the SIZE limit offered (RFC 1870); 0 offers SIZE without one.
	// Larger messages are refused with 552 at the end of data.
	Size int
	// TLS, when set, offers STARTTLS with this configuration (see SelfSigned).
	TLS *tls.Config
	// ImplicitTLS runs TLS from the first byte (port 465 style) with the
	// TLS configuration; STARTTLS is then not offered.
	ImplicitTLS bool
	// RequireTLS offers REQUIRETLS (RFC 8689) once TLS is on.
	RequireTLS bool
	// Auth, when set, offers AUTH PLAIN (after STARTTLS unless
	// AllowInsecureAuth) for these user names and passwords, and refuses
	// MAIL from a client that has not authenticated.
	Auth              map[string]string
	AllowInsecureAuth bool
	// Lax makes DATA end at any "." line, whatever its line ends (see
	// ReadData): the behaviour that SMTP smuggling exploits.
	Lax bool
	// Reply, when set, is asked for the reply at each stage; it returns
	// the full reply ("451 4.3.0 try later", lines joined by "\r\n") or ""
	// for the default. A 421 reply closes the connection after it is sent.
	Reply func(stage Stage, arg string) string
	// MaxMessage bounds a message; default 32 MiB.
	MaxMessage int
}

// Rcpt is one RCPT TO command.
type Rcpt struct {
	Addr   string
	Params []string // parameters as sent, e.g. "NOTIFY=SUCCESS,FAILURE"
}

// Transaction is one message the server read to its end.
type Transaction struct {
	Conn       int    // which connection (1, 2, ... in order of accept)
	Helo       string // the EHLO or HELO argument
	TLS        bool   // the message came over TLS
	AuthUser   string // the authenticated user, if any
	From       string
	FromParams []string
	Rcpts      []Rcpt // the accepted recipients
	BDAT       bool   // sent with BDAT rather than DATA
	// Pipelined: more commands had arrived with MAIL (RFC 2920).
	Pipelined bool
	Data      []byte // the message: exact for BDAT, un-stuffed for DATA
	Reply     string // the reply the server sent to the end of data
}

// Server is a capturing SMTP server. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	ln   net.Listener
	wg   sync.WaitGroup

	mu     sync.Mutex
	txs    []Transaction
	conns  int
	open   map[net.Conn]bool
	quits  int
	cmds   []string
	closed bool
	errs   []error
}

// New starts a server and stops it when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Start starts a server as New does, for programs that are not tests;
// Close stops it.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Hostname == "" {
		opts.Hostname = "smtptest.invalid"
	}
	if opts.MaxMessage <= 0 {
		opts.MaxMessage = 32 << 20
	}
	if opts.ImplicitTLS && opts.TLS == nil {
		return nil, errors.New("ImplicitTLS without a TLS configuration")
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if opts.ImplicitTLS {
		ln = tls.NewListener(ln, opts.TLS)
	}
	s := &Server{opts: opts, ln: ln, open: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr returns the address the server listens on, as host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Port returns the port the server listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Transactions returns the transactions read so far, in order.
func (s *Server) Transactions() []Transaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Transaction(nil), s.txs...)
}

// Conns returns how many connections the server has accepted.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Quits returns how many QUIT commands the server has received.
func (s *Server) Quits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.quits
}

// Commands returns every command line received, in order, across
// connections (AUTH arguments are replaced by "***").
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

// Errors returns the protocol errors the server saw (a line too long, a
// client that sent after STARTTLS before the handshake...).
func (s *Server) Errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}

// Close stops the server and closes its connections.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns++
		id := s.conns
		s.open[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			sess := &session{s: s, id: id, nc: c, tls: s.opts.ImplicitTLS}
			if err := sess.run(); err != nil {
				s.mu.Lock()
				s.errs = append(s.errs, err)
				s.mu.Unlock()
			}
			c.Close()
			s.mu.Lock()
			delete(s.open, c)
			s.mu.Unlock()
		}()
	}
}

// maxLine bounds a command line (RFC 5321 section 4.5.3.1.4 says 512
// octets; extensions make them longer).
const maxLine = 4096

// session is one connection.
type session struct {
	s    *Server
	id   int
	nc   net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	helo string
	tls  bool
	user string
	tx   *Transaction
	bdat []byte
}

var errQuit = errors.New("quit")

func (ss *session) run() error {
	ss.nc.SetDeadline(time.Now().Add(time.Minute))
	ss.br = bufio.NewReaderSize(ss.nc, maxLine)
	ss.bw = bufio.NewWriter(ss.nc)
	if err := ss.reply(StageGreeting, "", "220 "+ss.s.opts.Hostname+" ESMTP smtptest"); err != nil {
		return ignoreClosed(err)
	}
	for {
		ss.nc.SetDeadline(time.Now().Add(time.Minute))
		line, err := ss.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("command line longer than %d bytes", maxLine)
		}
		if err != nil {
			return ignoreClosed(err)
		}
		cmd := strings.TrimRight(string(line), "\r\n")
		err = ss.command(cmd)
		if err == errQuit {
			return nil
		}
		if err != nil {
			return ignoreClosed(err)
		}
	}
}

func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, errQuit) || strings.Contains(err.Error(), "EOF") ||
		strings.Contains(err.Error(), "connection reset") {
		return nil
	}
	return err
}

// reply sends the reply for stage: the test's override, or def.
func (ss *session) reply(stage Stage, arg, def string) error {
	r := def
	if f := ss.s.opts.Reply; f != nil {
		if o := f(stage, arg); o != "" {
			r = o
		}
	}
	if _, err := ss.bw.WriteString(r + "\r\n"); err != nil {
		return err
	}
	if err := ss.bw.Flush(); err != nil {
		return err
	}
	if strings.HasPrefix(r, "421") {
		return errQuit
	}
	return nil
}

func (ss *session) send(r string) error {
	ss.bw.WriteString(r + "\r\n")
	return ss.bw.Flush()
}

func (ss *session) logCmd(cmd string) {
	ss.s.mu.Lock()
	ss.s.cmds = append(ss.s.cmds, cmd)
	ss.s.mu.Unlock()
}

func (ss *session) command(line string) error {
	verb, arg, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	if verb == "AUTH" {
		ss.logCmd("AUTH ***")
	} else {
		ss.logCmd(line)
	}
	o := &ss.s.opts
	buffered := ss.br.Buffered() > 0
	if buffered && o.NoPipelining && verb != "QUIT" && verb != "BDAT" {
		// RFC 2920 section 3.1: without PIPELINING, the client waits.
		ss.s.mu.Lock()
		ss.s.errs = append(ss.s.errs, fmt.Errorf("command %q pipelined, but PIPELINING was not offered", verb))
		ss.s.mu.Unlock()
	}
	switch verb {
	case "EHLO":
		if o.NoEHLO {
			return ss.send("502 5.5.1 EHLO not implemented")
		}
		ss.helo, ss.tx = arg, nil
		return ss.reply(StageEHLO, arg, strings.Join(ss.extensions(), "\r\n"))
	case "HELO":
		ss.helo, ss.tx = arg, nil
		return ss.reply(StageHELO, arg, "250 "+o.Hostname)
	case "STARTTLS":
		if o.TLS == nil || ss.tls {
			return ss.send("502 5.5.1 STARTTLS not offered")
		}
		if err := ss.reply(StageSTARTTLS, "", "220 2.0.0 Ready to start TLS"); err != nil {
			return err
		}
		// RFC 3207 section 4.2: nothing may follow STARTTLS before the
		// handshake; a client that pipelined something is broken.
		if ss.br.Buffered() > 0 {
			return errors.New("data received after STARTTLS before the TLS handshake")
		}
		tc := tls.Server(ss.nc, o.TLS)
		if err := tc.Handshake(); err != nil {
			return nil // the client gave up on TLS: not a server error
		}
		ss.nc = tc
		ss.br = bufio.NewReaderSize(tc, maxLine)
		ss.bw = bufio.NewWriter(tc)
		ss.tls, ss.helo, ss.tx = true, "", nil // RFC 3207 section 4.2: forget all
		return nil
	case "AUTH":
		return ss.auth(arg)
	case "MAIL":
		if ss.helo == "" {
			return ss.send("503 5.5.1 EHLO first")
		}
		if o.Auth != nil && ss.user == "" {
			return ss.send("530 5.7.0 Authentication required")
		}
		if ss.tx != nil {
			return ss.send("503 5.5.1 Nested MAIL")
		}
		from, params, ok := path(arg, "FROM:")
		if !ok {
			return ss.send("501 5.5.4 Syntax: MAIL FROM:<address>")
		}
		stage := StageMAIL
		def := "250 2.1.0 Ok"
		for _, p := range params {
			if strings.EqualFold(p, "REQUIRETLS") && (!o.RequireTLS || !ss.tls) {
				def = "555 5.5.4 REQUIRETLS not offered"
			}
		}
		r := ss.pick(stage, from, def)
		if strings.HasPrefix(r, "2") {
			ss.tx = &Transaction{Conn: ss.id, Helo: ss.helo, TLS: ss.tls, AuthUser: ss.user, From: from, FromParams: params, Pipelined: buffered}
			ss.bdat = nil
		}
		return ss.sendReply(r)
	case "RCPT":
		if ss.tx == nil {
			return ss.send("503 5.5.1 MAIL first")
		}
		to, params, ok := path(arg, "TO:")
		if !ok {
			return ss.send("501 5.5.4 Syntax: RCPT TO:<address>")
		}
		r := ss.pick(StageRCPT, to, "250 2.1.5 Ok")
		if strings.HasPrefix(r, "2") {
			ss.tx.Rcpts = append(ss.tx.Rcpts, Rcpt{Addr: to, Params: params})
		}
		return ss.sendReply(r)
	case "DATA":
		if ss.tx == nil || len(ss.tx.Rcpts) == 0 {
			return ss.send("554 5.5.1 No valid recipients")
		}
		if ss.bdat != nil {
			return ss.send("503 5.5.1 DATA after BDAT")
		}
		r := ss.pick(StageDATA, "", "354 End data with <CR><LF>.<CR><LF>")
		if err := ss.sendReply(r); err != nil || !strings.HasPrefix(r, "354") {
			return err
		}
		data, err := ReadData(ss.br, o.Lax, o.MaxMessage)
		if errors.Is(err, ErrTooLarge) {
			return errors.New("message too large")
		}
		if err != nil {
			return err
		}
		return ss.finish(data, false)
	case "BDAT":
		return ss.bdatCmd(arg)
	case "RSET":
		ss.tx, ss.bdat = nil, nil
		return ss.reply(StageRSET, "", "250 2.0.0 Ok")
	case "NOOP":
		return ss.send("250 2.0.0 Ok")
	case "QUIT":
		ss.s.mu.Lock()
		ss.s.quits++
		ss.s.mu.Unlock()
		ss.send("221 2.0.0 Bye")
		return errQuit
	}
	return ss.send("500 5.5.2 Command not recognized")
}

// pick returns the reply for stage: the test's override, or def.
func (ss *session) pick(stage Stage, arg, def string) string {
	if f := ss.s.opts.Reply; f != nil {
		if o := f(stage, arg); o != "" {
			return o
		}
	}
	return def
}

func (ss *session) sendReply(r string) error {
	if err := ss.send(r); err != nil {
		return err
	}
	if strings.HasPrefix(r, "421") {
		return errQuit
	}
	return nil
}

func (ss *session) extensions() []string {
	o := &ss.s.opts
	ext := []string{o.Hostname}
	add := func(on bool, kw string) {
		if on {
			ext = append(ext, kw)
		}
	}
	add(!o.NoPipelining, "PIPELINING")
	add(!o.No8BitMIME, "8BITMIME")
	add(!o.NoSMTPUTF8, "SMTPUTF8")
	add(!o.NoDSN, "DSN")
	add(true, "ENHANCEDSTATUSCODES")
	if o.Size > 0 {
		ext = append(ext, "SIZE "+strconv.Itoa(o.Size))
	} else {
		ext = append(ext, "SIZE")
	}
	add(o.Chunking, "CHUNKING")
	add(o.TLS != nil && !ss.tls, "STARTTLS")
	add(o.RequireTLS && ss.tls, "REQUIRETLS")
	add(o.Auth != nil && (ss.tls || o.AllowInsecureAuth), "AUTH PLAIN")
	for i := range ext {
		sep := "-"
		if i == len(ext)-1 {
			sep = " "
		}
		ext[i] = "250" + sep + ext[i]
	}
	return ext
}

// auth handles AUTH PLAIN (RFC 4954, RFC 4616).
func (ss *session) auth(arg string) error {
	o := &ss.s.opts
	if o.Auth == nil || (!ss.tls && !o.AllowInsecureAuth) {
		return ss.send("503 5.5.1 AUTH not offered")
	}
	mech, resp, _ := strings.Cut(arg, " ")
	if !strings.EqualFold(mech, "PLAIN") {
		return ss.send("504 5.5.4 Unrecognized authentication type")
	}
	if resp == "" {
		if err := ss.send("334 "); err != nil {
			return err
		}
		line, err := ss.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		resp = strings.TrimRight(string(line), "\r\n")
	}
	dec, err := base64.StdEncoding.DecodeString(resp)
	if err != nil {
		return ss.send("501 5.5.2 Bad base64")
	}
	parts := strings.Split(string(dec), "\x00")
	if len(parts) != 3 {
		return ss.send("501 5.5.2 Bad PLAIN response")
	}
	user, pass := parts[1], parts[2]
	if want, ok := o.Auth[user]; !ok || want != pass {
		return ss.send("535 5.7.8 Authentication credentials invalid")
	}
	ss.user = user
	return ss.reply(StageAUTH, user, "235 2.7.0 Authentication successful")
}

// bdatCmd reads one chunk (RFC 3030 section 2): the octets are read even
// when the command is refused.
func (ss *session) bdatCmd(arg string) error {
	fields := strings.Fields(arg)
	if len(fields) == 0 || len(fields) > 2 || len(fields) == 2 && !strings.EqualFold(fields[1], "LAST") {
		return ss.send("501 5.5.4 Syntax: BDAT size [LAST]")
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil || n < 0 || n > ss.s.opts.MaxMessage {
		return fmt.Errorf("BDAT size %q", fields[0])
	}
	chunk := make([]byte, n)
	if _, err := io.ReadFull(ss.br, chunk); err != nil {
		return err
	}
	if !ss.s.opts.Chunking {
		return ss.send("502 5.5.1 BDAT not offered")
	}
	if ss.tx == nil || len(ss.tx.Rcpts) == 0 {
		return ss.send("503 5.5.1 No valid recipients")
	}
	if len(ss.bdat)+n > ss.s.opts.MaxMessage {
		return errors.New("message too large")
	}
	if ss.bdat == nil {
		ss.bdat = []byte{}
	}
	ss.bdat = append(ss.bdat, chunk...)
	if len(fields) == 1 {
		return ss.reply(StageBDAT, fields[0], fmt.Sprintf("250 2.0.0 %d octets received", n))
	}
	return ss.finish(ss.bdat, true)
}

// finish records the transaction and sends the reply to its end.
func (ss *session) finish(data []byte, bdat bool) error {
	tx := ss.tx
	ss.tx, ss.bdat = nil, nil
	tx.BDAT, tx.Data = bdat, data
	r := "250 2.0.0 Ok: queued"
	if o := ss.s.opts; o.Size > 0 && len(data) > o.Size {
		r = "552 5.3.4 Message size exceeds fixed limit"
	}
	r = ss.pick(StageDataEnd, "", r)
	tx.Reply = r
	ss.s.mu.Lock()
	ss.s.txs = append(ss.s.txs, *tx)
	ss.s.mu.Unlock()
	return ss.sendReply(r)
}

// path parses "FROM:<addr> params" (prefix "FROM:") or "TO:<addr> params".
func path(arg, prefix string) (addr string, params []string, ok bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", nil, false
	}
	rest := strings.TrimLeft(arg[len(prefix):], " ")
	if !strings.HasPrefix(rest, "<") {
		return "", nil, false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", nil, false
	}
	return rest[1:end], strings.Fields(rest[end+1:]), true
}

// SelfSigned returns a TLS configuration with a fresh self-signed
// certificate for names (host names or IP addresses), and a pool holding
// that certificate, for clients that should trust it.
func SelfSigned(names ...string) (*tls.Config, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}
	return cfg, pool, nil
}
