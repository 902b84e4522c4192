// Package spamd speaks SpamAssassin's SPAMD protocol (spamd/PROTOCOL in the
// SpamAssassin sources: SPAMC/1.5 requests, SPAMD/1.5 replies), on the
// server side for cmd/spamd and on the client side for cmd/spamc, and serves
// the milter protocol (milter.go) so that Postfix or Sendmail can use
// Gannet's spam filter (lib/spam).
//
// The protocol is HTTP-like. A request is a command line ("CHECK
// SPAMC/1.5"), header lines (Content-length, User, Compress, and for TELL
// Message-class, Set, Remove), an empty line and the message. The reply is
// a status line ("SPAMD/1.5 0 EX_OK", the code from sysexits.h), header
// lines (Content-length, "Spam: True ; 7.2 / 5.0", DidSet, DidRemove), an
// empty line and a body that depends on the command.
package spamd

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// The commands of the protocol (spamd/PROTOCOL, "Commands").
const (
	// Check replies with the Spam header only.
	Check = "CHECK"
	// Symbols adds the names of the tests that matched, comma-separated.
	Symbols = "SYMBOLS"
	// Report adds a report for people.
	Report = "REPORT"
	// ReportIfSpam adds the report only for spam.
	ReportIfSpam = "REPORT_IFSPAM"
	// Process returns the message with the X-Spam-* header fields.
	Process = "PROCESS"
	// Headers returns only the header of what Process would (protocol 1.4).
	Headers = "HEADERS"
	// Ping asks whether the server is alive; it answers PONG.
	Ping = "PING"
	// Skip means the client changed its mind; there is no reply.
	Skip = "SKIP"
	// Tell trains the filter: Message-class and Set or Remove say how.
	Tell = "TELL"
)

// Version is the protocol version this package speaks in both directions.
const Version = "1.5"

// Exit codes of sysexits.h, as spamd sends them in its status line and
// spamc exits with them.
const (
	ExOK          = 0
	ExUsage       = 64
	ExDataErr     = 65
	ExNoInput     = 66
	ExNoUser      = 67
	ExNoHost      = 68
	ExUnavailable = 69
	ExSoftware    = 70
	ExOSErr       = 71
	ExOSFile      = 72
	ExCantCreat   = 73
	ExIOErr       = 74
	ExTempFail    = 75
	ExProtocol    = 76
	ExNoPerm      = 77
	ExConfig      = 78
	// ExTimeout is spamd's own: the check took too long.
	ExTimeout = 79
)

var exNames = map[int]string{
	ExOK: "EX_OK", ExUsage: "EX_USAGE", ExDataErr: "EX_DATAERR", ExNoInput: "EX_NOINPUT",
	ExNoUser: "EX_NOUSER", ExNoHost: "EX_NOHOST", ExUnavailable: "EX_UNAVAILABLE",
	ExSoftware: "EX_SOFTWARE", ExOSErr: "EX_OSERR", ExOSFile: "EX_OSFILE",
	ExCantCreat: "EX_CANTCREAT", ExIOErr: "EX_IOERR", ExTempFail: "EX_TEMPFAIL",
	ExProtocol: "EX_PROTOCOL", ExNoPerm: "EX_NOPERM", ExConfig: "EX_CONFIG",
	ExTimeout: "EX_TIMEOUT",
}

// ExName returns the sysexits.h name of code ("EX_OK"), or the number.
func ExName(code int) string {
	if n, ok := exNames[code]; ok {
		return n
	}
	return strconv.Itoa(code)
}

// Bounds of the header part of a request or reply.
const (
	// MaxLineLength bounds one command, status or header line.
	MaxLineLength = 1024
	// MaxHeaderLines bounds the header lines of one request or reply, as
	// spamd (255).
	MaxHeaderLines = 255
	// MaxReplyBody bounds a reply's body on the client side beyond the
	// message size: PROCESS adds header fields to the message.
	MaxReplyBody = 1 << 20
)

// Error is a failure the protocol reports with a sysexits code: the
// server sends it as its status line, the client exits with it.
type Error struct {
	Code int
	Msg  string
}

// Error gives the code's name and the message.
// Error gives the code's name and the message.
func (e *Error) Error() string { return fmt.Sprintf("%s: %s", ExName(e.Code), e.Msg) }

func errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Request is one request from a client.
type Request struct {
	// Command is one of Check, Symbols, ...; Version the client's protocol
	// version ("1.5").
	Command, Version string
	// User names whose model and thresholds to use (the User header), ""
	// for the defaults.
	User string
	// Compress asks for the body to be sent compressed with zlib (the
	// Compress header); Body is always the message uncompressed.
	Compress bool
	// MessageClass is "spam" or "ham" for TELL (the Message-class header).
	MessageClass string
	// SetLocal, SetRemote, RemoveLocal, RemoveRemote are TELL's Set and
	// Remove headers: learn (local) or report (remote), forget or revoke.
	SetLocal, SetRemote, RemoveLocal, RemoveRemote bool
	// Body is the message.
	Body []byte
}

// hasBody reports whether the command carries a message.
func hasBody(cmd string) bool {
	switch cmd {
	case Ping, Skip:
		return false
	}
	return true
}

// known reports whether cmd is a command of the protocol.
func known(cmd string) bool {
	switch cmd {
	case Check, Symbols, Report, ReportIfSpam, Process, Headers, Ping, Skip, Tell:
		return true
	}
	return false
}

// readLine reads one CRLF- (or LF-) terminated line of at most
// MaxLineLength bytes, without its line break.
func readLine(r *bufio.Reader) (string, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > MaxLineLength {
			return "", errorf(ExProtocol, "line longer than %d bytes", MaxLineLength)
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			if len(line) == 0 {
				return "", io.EOF
			}
			return "", io.ErrUnexpectedEOF
		}
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

// readHeaders reads header lines up to the empty line and calls f for each.
func readHeaders(r *bufio.Reader, f func(name, value string) error) error {
	for range MaxHeaderLines + 1 {
		line, err := readLine(r)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if line == "" {
			return nil
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return errorf(ExProtocol, "header line not in 'Name: value' form")
		}
		if err := f(strings.TrimSpace(name), strings.TrimSpace(value)); err != nil {
			return err
		}
	}
	return errorf(ExProtocol, "more than %d header lines", MaxHeaderLines)
}

// parseLength parses a Content-length value.
func parseLength(v string, max int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errorf(ExProtocol, "Content-length %q is not a number", v)
	}
	if n > max {
		return 0, errorf(ExDataErr, "message of %d bytes is larger than the limit of %d", n, max)
	}
	return n, nil
}

// ReadRequest reads one request. maxSize bounds the message, compressed
// or not. A malformed or oversized request is an *Error to send back.
func ReadRequest(r *bufio.Reader, maxSize int64) (*Request, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	cmd, proto, ok := strings.Cut(line, " ")
	version, vok := strings.CutPrefix(proto, "SPAMC/")
	if !ok || !vok || !known(cmd) {
		return nil, errorf(ExProtocol, "bad request line %q", truncate(line, 80))
	}
	if _, err := strconv.ParseFloat(version, 64); err != nil {
		return nil, errorf(ExProtocol, "bad protocol version %q", truncate(version, 20))
	}
	req := &Request{Command: cmd, Version: version}
	// spamd/PROTOCOL: before 1.5, PING and SKIP have no header at all.
	if !hasBody(cmd) && versionBelow(version, 1.5) {
		return req, nil
	}
	length := int64(-1)
	err = readHeaders(r, func(name, value string) error {
		// Header names are matched without regard to case: spamc writes
		// "Content-length", other clients "Content-Length".
		switch strings.ToLower(name) {
		case "content-length":
			n, err := parseLength(value, maxSize)
			if err != nil {
				return err
			}
			length = n
		case "user":
			for _, c := range value {
				if c < 0x20 || c == 0x7f {
					return errorf(ExProtocol, "User header contains control characters")
				}
			}
			req.User = value
		case "compress":
			if !strings.EqualFold(value, "zlib") {
				return errorf(ExProtocol, "unsupported compression %q", truncate(value, 20))
			}
			req.Compress = true
		case "message-class":
			v := strings.ToLower(value)
			if v != "spam" && v != "ham" {
				return errorf(ExProtocol, "Message-class %q is neither spam nor ham", truncate(value, 20))
			}
			req.MessageClass = v
		case "set":
			req.SetLocal, req.SetRemote = where(value)
		case "remove":
			req.RemoveLocal, req.RemoveRemote = where(value)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !hasBody(cmd) {
		return req, nil
	}
	if req.Compress && length < 0 {
		return nil, errorf(ExProtocol, "Compress requires Content-length")
	}
	var body io.Reader = r
	if length >= 0 {
		body = io.LimitReader(r, length)
	} else {
		body = io.LimitReader(r, maxSize+1)
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	switch {
	case length >= 0 && int64(len(raw)) != length:
		return nil, errorf(ExProtocol, "Content-length mismatch: expected %d bytes, got %d", length, len(raw))
	case length < 0 && int64(len(raw)) > maxSize:
		return nil, errorf(ExDataErr, "message larger than the limit of %d bytes", maxSize)
	}
	if req.Compress {
		raw, err = inflate(raw, maxSize)
		if err != nil {
			return nil, err
		}
	}
	req.Body = raw
	return req, nil
}

// where parses the value of Set or Remove: "local", "remote" or both.
func where(v string) (local, remote bool) {
	v = strings.ToLower(v)
	return strings.Contains(v, "local"), strings.Contains(v, "remote")
}

// inflate decompresses a zlib stream of at most max bytes uncompressed.
func inflate(b []byte, max int64) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, errorf(ExDataErr, "zlib: %v", err)
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, max+1))
	if err != nil {
		return nil, errorf(ExDataErr, "zlib: %v", err)
	}
	if int64(len(out)) > max {
		return nil, errorf(ExDataErr, "message larger than the limit of %d bytes once uncompressed", max)
	}
	return out, nil
}

// deflate compresses b with zlib.
func deflate(b []byte) []byte {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	zw.Write(b) // a bytes.Buffer does not fail
	zw.Close()
	return buf.Bytes()
}

func versionBelow(v string, min float64) bool {
	f, err := strconv.ParseFloat(v, 64)
	return err == nil && f < min
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// WriteTo writes the request as spamc does.
func (req *Request) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	version := req.Version
	if version == "" {
		version = Version
	}
	fmt.Fprintf(&b, "%s SPAMC/%s\r\n", req.Command, version)
	body := req.Body
	if hasBody(req.Command) {
		if req.Compress {
			body = deflate(body)
			b.WriteString("Compress: zlib\r\n")
		}
		fmt.Fprintf(&b, "Content-length: %d\r\n", len(body))
	}
	if req.User != "" {
		fmt.Fprintf(&b, "User: %s\r\n", req.User)
	}
	if req.MessageClass != "" {
		fmt.Fprintf(&b, "Message-class: %s\r\n", req.MessageClass)
	}
	if s := whereValue(req.SetLocal, req.SetRemote); s != "" {
		fmt.Fprintf(&b, "Set: %s\r\n", s)
	}
	if s := whereValue(req.RemoveLocal, req.RemoveRemote); s != "" {
		fmt.Fprintf(&b, "Remove: %s\r\n", s)
	}
	b.WriteString("\r\n")
	if hasBody(req.Command) {
		b.Write(body)
	}
	return b.WriteTo(w)
}

func whereValue(local, remote bool) string {
	switch {
	case local && remote:
		return "local, remote"
	case local:
		return "local"
	case remote:
		return "remote"
	}
	return ""
}

// Response is one reply of the server.
type Response struct {
	// Code is the sysexits code of the status line; Message its text
	// ("EX_OK", "PONG", or what went wrong).
	Code    int
	Message string
	// HasSpam reports that the reply had a Spam header; Spam, Score and
	// Threshold are its values.
	HasSpam          bool
	Spam             bool
	Score, Threshold float64
	// YesNo writes the Spam header with Yes or No rather than True or
	// False, as spamd does for REPORT_IFSPAM (spamc then prints no score
	// line before the report).
	YesNo bool
	// DidSet and DidRemove are TELL's answers: "local", "remote".
	DidSet, DidRemove []string
	// Body is the reply's body: the message for PROCESS, the report, the
	// symbols.
	Body []byte
}

// SpamHeader formats the Spam header value as spamd does: "True ; 7.2 /
// 5.0". As SpamAssassin, a message that is not spam never shows a score
// that rounds up to the threshold.
func SpamHeader(spam bool, score, threshold float64) string {
	s := "False"
	if spam {
		s = "True"
	}
	return fmt.Sprintf("%s ; %s / %.1f", s, FormatScore(spam, score, threshold), threshold)
}

// spamHeader is SpamHeader with spamd's Yes or No for REPORT_IFSPAM.
func (resp *Response) spamHeader() string {
	if !resp.YesNo {
		return SpamHeader(resp.Spam, resp.Score, resp.Threshold)
	}
	s := "No"
	if resp.Spam {
		s = "Yes"
	}
	score, threshold, spam := resp.Score, resp.Threshold, resp.Spam
	return fmt.Sprintf("%s ; %s / %.1f", s, FormatScore(spam, score, threshold), threshold)
}

// FormatScore gives a score with one decimal as SpamAssassin's
// get_tag_value_for_score: a ham's score is shown below the threshold.
func FormatScore(spam bool, score, threshold float64) string {
	s := fmt.Sprintf("%.1f", score)
	r := fmt.Sprintf("%.1f", threshold)
	sv, _ := strconv.ParseFloat(s, 64)
	rv, _ := strconv.ParseFloat(r, 64)
	if spam || sv < rv {
		return s
	}
	return fmt.Sprintf("%.1f", math.Round((rv-0.1)*10)/10)
}

// WriteTo writes the reply in the form of protocol 1.3 and later.
func (resp *Response) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	msg := resp.Message
	if msg == "" {
		msg = ExName(resp.Code)
	}
	fmt.Fprintf(&b, "SPAMD/%s %d %s\r\n", Version, resp.Code, msg)
	if resp.Code != ExOK || msg == "PONG" {
		// spamd/PROTOCOL: after an error only the status line is sent.
		return b.WriteTo(w)
	}
	fmt.Fprintf(&b, "Content-length: %d\r\n", len(resp.Body))
	if resp.HasSpam {
		fmt.Fprintf(&b, "Spam: %s\r\n", resp.spamHeader())
	}
	if len(resp.DidSet) > 0 {
		fmt.Fprintf(&b, "DidSet: %s\r\n", strings.Join(resp.DidSet, ","))
	}
	if len(resp.DidRemove) > 0 {
		fmt.Fprintf(&b, "DidRemove: %s\r\n", strings.Join(resp.DidRemove, ","))
	}
	b.WriteString("\r\n")
	b.Write(resp.Body)
	return b.WriteTo(w)
}

// ReadResponse reads one reply; maxBody bounds its body.
func ReadResponse(r *bufio.Reader, maxBody int64) (*Response, error) {
	line, err := readLine(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errorf(ExIOErr, "spamd closed the connection without a reply")
		}
		return nil, err
	}
	f := strings.SplitN(line, " ", 3)
	if len(f) < 2 || !strings.HasPrefix(f[0], "SPAMD/") {
		return nil, errorf(ExProtocol, "bad status line %q", truncate(line, 80))
	}
	code, err := strconv.Atoi(f[1])
	if err != nil {
		return nil, errorf(ExProtocol, "bad status line %q", truncate(line, 80))
	}
	resp := &Response{Code: code}
	if len(f) == 3 {
		resp.Message = f[2]
	}
	if code != ExOK || resp.Message == "PONG" {
		return resp, nil
	}
	length := int64(-1)
	err = readHeaders(r, func(name, value string) error {
		switch strings.ToLower(name) {
		case "content-length":
			n, err := parseLength(value, maxBody)
			if err != nil {
				return err
			}
			length = n
		case "spam":
			if err := resp.parseSpam(value); err != nil {
				return err
			}
		case "didset":
			resp.DidSet = splitList(value)
		case "didremove":
			resp.DidRemove = splitList(value)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			// spamd sends TELL's reply and CHECK's header without
			// the final empty line in some versions: what was read
			// is the reply.
			return resp, nil
		}
		return nil, err
	}
	var body io.Reader
	if length >= 0 {
		body = io.LimitReader(r, length)
	} else {
		body = io.LimitReader(r, maxBody+1)
	}
	resp.Body, err = io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	if length >= 0 && int64(len(resp.Body)) != length {
		return nil, errorf(ExProtocol, "reply shorter than its Content-length (%d of %d bytes)", len(resp.Body), length)
	}
	if length < 0 && int64(len(resp.Body)) > maxBody {
		return nil, errorf(ExProtocol, "reply larger than %d bytes", maxBody)
	}
	return resp, nil
}

// parseSpam parses "True ; 7.2 / 5.0" (spamd also says Yes and No).
func (resp *Response) parseSpam(v string) error {
	flag, rest, ok := strings.Cut(v, ";")
	score, threshold, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		return errorf(ExProtocol, "bad Spam header %q", truncate(v, 80))
	}
	var err1, err2 error
	resp.Score, err1 = strconv.ParseFloat(strings.TrimSpace(score), 64)
	resp.Threshold, err2 = strconv.ParseFloat(strings.TrimSpace(threshold), 64)
	if err1 != nil || err2 != nil {
		return errorf(ExProtocol, "bad Spam header %q", truncate(v, 80))
	}
	switch strings.ToLower(strings.TrimSpace(flag)) {
	case "true", "yes":
		resp.Spam = true
	case "false", "no":
	default:
		return errorf(ExProtocol, "bad Spam header %q", truncate(v, 80))
	}
	resp.HasSpam = true
	return nil
}

func splitList(v string) []string {
	var out []string
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
