package smtp

// Gannet: fuzz targets for the command-line parsers (not in upstream).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParseCmd: parseCmd splits any line into a verb and an argument, or
// says it cannot.
func FuzzParseCmd(f *testing.F) {
	for _, s := range []string{"EHLO example.org\r\n", "MAIL FROM:<a@b> SIZE=10", "DATA", "starttls x", "A", "NOOP ", "QUIT  \t", "\xff\xfe\xfd\xfc x", "ɐɐ b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, arg, err := parseCmd(line)
		if err != nil {
			if cmd != "" || arg != "" {
				t.Fatalf("error %v with %q %q", err, cmd, arg)
			}
			return
		}
		trimmed := strings.TrimRight(line, "\r\n")
		switch {
		case cmd == "STARTTLS":
			if !strings.HasPrefix(strings.ToUpper(trimmed), "STARTTLS") {
				t.Fatalf("%q taken for STARTTLS", line)
			}
		case cmd == "":
			if trimmed != "" {
				t.Fatalf("%q: no verb and no error", line)
			}
		default:
			if cmd != strings.ToUpper(trimmed[:4]) {
				t.Fatalf("%q: verb %q", line, cmd)
			}
			if len(trimmed) > 4 && (trimmed[4] != ' ' || arg != strings.TrimSpace(trimmed[5:])) {
				t.Fatalf("%q: argument %q", line, arg)
			}
		}
		if arg != strings.TrimSpace(arg) {
			t.Fatalf("%q: argument %q not trimmed", line, arg)
		}
	})
}

// FuzzParseArgs: parseArgs gives upper-case keywords and values without
// space or '=', and parsing what it gives again gives the same. (It takes
// "=" for an empty keyword; the handlers refuse that as unknown.)
func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{" BODY=8BITMIME SIZE=1024 SMTPUTF8", "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+2Bb@example.org", "A==B", "x=y=z", "\tRET=hdrs\u00a0ENVID=+41", "ß=1 ǅ=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args, err := parseArgs(s)
		if err != nil {
			return
		}
		var again []string
		for k, v := range args {
			if k != strings.ToUpper(k) {
				t.Fatalf("%q: keyword %q not upper case", s, k)
			}
			if strings.ContainsAny(k+v, "=") || len(strings.Fields(k)) > 1 || len(strings.Fields(v)) > 1 || strings.TrimSpace(k) != k || strings.TrimSpace(v) != v {
				t.Fatalf("%q: parameter %q=%q", s, k, v)
			}
			again = append(again, k+"="+v)
		}
		args2, err := parseArgs(strings.Join(again, " "))
		if err != nil || len(args2) != len(args) {
			t.Fatalf("%q: parsed again: %v, %v (was %v)", s, args2, err, args)
		}
		for k, v := range args {
			if args2[k] != v {
				t.Fatalf("%q: %q=%q parsed again as %q", s, k, v, args2[k])
			}
		}
	})
}

// FuzzXtext checks the decoders of RFC 3461 xtext and RFC 6533
// utf-8-addr-xtext/unitext against encoders written from the RFCs: what
// the RFC can encode decodes back, and whatever decodes is what the
// parameter may hold.
func FuzzXtext(f *testing.F) {
	for _, s := range []string{"a+2Bb", "+", "+4", "+zz", "\\x{E9}t\\x{E9}", "\\x{1F600}", "\\x{D800}", "a b", "é", "\\x{5C}", "+7F"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Any input: the decoders must not panic, and what they accept
		// must be what the parameter may carry.
		if d, err := decodeXtext(s); err == nil && strings.Contains(s, "+") && strings.Contains(d, "+") && !strings.Contains(s, "+2B") {
			t.Fatalf("decodeXtext(%q) = %q: a '+' that was not encoded", s, d)
		}
		if typ, addr, err := decodeTypedAddress("rfc822;" + s); err == nil {
			if typ != DSNAddressTypeRFC822 || addr == "" || !isPrintableASCII(addr) {
				t.Fatalf("rfc822;%q decoded to %q;%q", s, typ, addr)
			}
		}
		if typ, addr, err := decodeTypedAddress("utf-8;" + s); err == nil {
			if typ != DSNAddressTypeUTF8 || addr == "" || strings.ContainsAny(addr, "\x00\r\n") {
				t.Fatalf("utf-8;%q decoded to %q;%q", s, typ, addr)
			}
		}

		// Round trips of what the RFCs can encode.
		if isASCII(s) {
			enc := rfcXtext(s)
			if d, err := decodeXtext(enc); err != nil || d != s {
				t.Fatalf("xtext %q (of %q) decoded to %q, %v", enc, s, d, err)
			}
		}
		if utf8.ValidString(s) && rfcUTF8Encodable(s) {
			enc := rfcUTF8AddrXtext(s)
			if d, err := decodeUTF8AddrXtext(enc); err != nil || d != s {
				t.Fatalf("utf-8-addr-xtext %q (of %q) decoded to %q, %v", enc, s, d, err)
			}
		}
	})
}

// rfcXtext encodes s as RFC 3461 section 4 has it: xchar is "!" to "~"
// but "+" and "="; any other octet is "+" and two upper-case hex digits.
func rfcXtext(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '!' && c <= '~' && c != '+' && c != '=' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "+%02X", c)
		}
	}
	return b.String()
}

// rfcUTF8Encodable reports whether RFC 6533 section 3 can encode every
// character of s: QCHAR, or an EmbeddedUnicodeChar whose HEXPOINT the
// ABNF allows (no NUL, no %x0A-0F or %x1A-1F, no surrogates).
func rfcUTF8Encodable(s string) bool {
	for _, r := range s {
		if r == 0 || r >= 0x0a && r <= 0x0f || r >= 0x1a && r <= 0x1f || r >= 0xd800 && r <= 0xdfff {
			return false
		}
	}
	return true
}

// rfcUTF8AddrXtext encodes s as RFC 6533 section 3's utf-8-addr-xtext:
// QCHAR as is, anything else as \x{HEXPOINT}, with two digits at least.
func rfcUTF8AddrXtext(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '!' && r <= '~' && r != '+' && r != '=' && r != '\\' {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "\\x{%02X}", r)
		}
	}
	return b.String()
}

// FuzzParseMailParams runs MAIL FROM and RCPT TO arguments, parameters and
// all, through the connection's own handlers, and checks that what reaches
// the session is what RFC 5321, 1870, 3461, 4954, 6152, 6531 and 8689
// allow, and that the reply is one valid line.
func FuzzParseMailParams(f *testing.F) {
	for _, s := range []string{
		"FROM:<a@example.org> SIZE=1000 BODY=8BITMIME SMTPUTF8 REQUIRETLS",
		"FROM:<> RET=HDRS ENVID=QQ+2B1 AUTH=<>",
		"FROM:<a@example.org> AUTH=b+2Bc@example.org BODY=BINARYMIME",
		"FROM:<\"quoted local\"@example.org> SIZE=99999999999",
		"FROM:<@relay.example:a@example.org>",
		"TO:<b@example.org> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b+2Bx@example.org",
		"TO:<b@example.org> NOTIFY=NEVER ORCPT=utf-8;\\x{E9}t\\x{E9}@example.org",
		"TO:<b@example.org> RRVS=2014-04-03T23:01:00Z;C BY=120;R MT-PRIORITY=3",
		"to:<b@example.org> notify=never,success",
		"TO:<b@example.org> ORCPT=utf-8;a\\x{01}b@example.org",
	} {
		f.Add(s, uint8(0xff))
	}
	f.Fuzz(func(t *testing.T, arg string, features uint8) {
		if strings.Contains(arg, "\n") {
			return // a command line ends at LF: readLine never gives one
		}
		sess := &paramSession{}
		s := NewServer(BackendFunc(func(*Conn) (Session, error) { return sess, nil }))
		s.ErrorLog = log.New(ioutil.Discard, "", 0)
		s.MaxMessageBytes = 1 << 20
		s.EnableSMTPUTF8 = features&1 != 0
		s.EnableREQUIRETLS = features&2 != 0
		s.EnableBINARYMIME = features&4 != 0
		s.EnableDSN = features&8 != 0
		s.EnableRRVS = features&16 != 0
		s.EnableDELIVERBY = features&32 != 0
		s.EnableMTPRIORITY = features&64 != 0
		out := &bufConn{}
		c := newConn(out, s)
		c.helo = "client.example"
		c.session = sess
		if strings.HasPrefix(strings.ToUpper(arg), "TO:") {
			c.fromReceived = true
			c.handleRcpt(arg)
		} else {
			c.handleMail(arg)
		}
		reply := out.String()
		if strings.Count(reply, "\r\n") != 1 || !strings.HasSuffix(reply, "\r\n") || len(reply) > 512 {
			t.Fatalf("%q: reply %q", arg, reply)
		}
		for i := 0; i < len(reply)-2; i++ {
			if c := reply[i]; c != '\t' && (c < ' ' || c > '~') {
				t.Fatalf("%q: reply %q has octet 0x%02x", arg, reply, c)
			}
		}
		if sess.mail != nil {
			checkMailParams(t, arg, s, sess.from, sess.mail)
		}
		if sess.rcpt != nil {
			checkRcptParams(t, arg, s, sess.to, sess.rcpt)
		}
		if (sess.mail != nil || sess.rcpt != nil) != strings.HasPrefix(reply, "250 ") {
			t.Fatalf("%q: session called: %v, reply %q", arg, sess.mail != nil || sess.rcpt != nil, reply)
		}
	})
}

// checkPath checks an address as the path parser gives it.
func checkPath(t *testing.T, arg, addr string, null bool) {
	t.Helper()
	if addr == "" && null {
		return
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 || strings.ContainsAny(addr[at+1:], " \t>") {
		t.Fatalf("%q: address %q", arg, addr)
	}
}

func checkMailParams(t *testing.T, arg string, s *Server, from string, o *MailOptions) {
	t.Helper()
	checkPath(t, arg, from, true)
	switch {
	case o.Size < 0 || o.Size > s.MaxMessageBytes:
		t.Fatalf("%q: SIZE %d", arg, o.Size)
	case o.UTF8 && !s.EnableSMTPUTF8, o.RequireTLS && !s.EnableREQUIRETLS:
		t.Fatalf("%q: an extension that is off", arg)
	case o.Body != "" && o.Body != Body7Bit && o.Body != Body8BitMIME && !(o.Body == BodyBinaryMIME && s.EnableBINARYMIME):
		t.Fatalf("%q: BODY %q", arg, o.Body)
	case o.Return != "" && (!s.EnableDSN || o.Return != DSNReturnFull && o.Return != DSNReturnHeaders):
		t.Fatalf("%q: RET %q", arg, o.Return)
	case o.EnvelopeID != "" && (!s.EnableDSN || !isPrintableASCII(o.EnvelopeID)):
		// RFC 3461 section 4.4: printable US-ASCII once decoded.
		t.Fatalf("%q: ENVID %q", arg, o.EnvelopeID)
	}
	if o.Auth != nil && *o.Auth != "" {
		checkPath(t, arg, *o.Auth, false)
	}
}

func checkRcptParams(t *testing.T, arg string, s *Server, to string, o *RcptOptions) {
	t.Helper()
	checkPath(t, arg, to, false)
	if len(o.Notify) > 0 {
		if !s.EnableDSN || checkNotifySet(o.Notify) != nil {
			t.Fatalf("%q: NOTIFY %q", arg, o.Notify)
		}
	}
	if o.OriginalRecipient != "" || o.OriginalRecipientType != "" {
		switch {
		case !s.EnableDSN || o.OriginalRecipient == "":
			t.Fatalf("%q: ORCPT %q;%q", arg, o.OriginalRecipientType, o.OriginalRecipient)
		case o.OriginalRecipientType == DSNAddressTypeRFC822 && !isPrintableASCII(o.OriginalRecipient):
			t.Fatalf("%q: rfc822 ORCPT %q", arg, o.OriginalRecipient)
		case o.OriginalRecipientType == DSNAddressTypeUTF8 && (!utf8.ValidString(o.OriginalRecipient) || hasControl(o.OriginalRecipient)):
			// RFC 6533 section 3: UTF-8 characters (QUCHAR) only; and
			// lib/dsn refuses control characters in the DSN field.
			t.Fatalf("%q: utf-8 ORCPT %q", arg, o.OriginalRecipient)
		case o.OriginalRecipientType != DSNAddressTypeRFC822 && o.OriginalRecipientType != DSNAddressTypeUTF8:
			t.Fatalf("%q: ORCPT type %q", arg, o.OriginalRecipientType)
		}
	}
	if o.MTPriority != nil && (!s.EnableMTPRIORITY || *o.MTPriority < -9 || *o.MTPriority > 9) {
		t.Fatalf("%q: MT-PRIORITY %d", arg, *o.MTPriority)
	}
	if o.DeliverBy != nil && !s.EnableDELIVERBY {
		t.Fatalf("%q: BY with DELIVERBY off", arg)
	}
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return true
		}
	}
	return false
}

// paramSession records what MAIL and RCPT gave it.
type paramSession struct {
	from string
	mail *MailOptions
	to   string
	rcpt *RcptOptions
}

func (s *paramSession) Reset()        {}
func (s *paramSession) Logout() error { return nil }
func (s *paramSession) Mail(from string, opts *MailOptions) error {
	s.from, s.mail = from, opts
	return nil
}
func (s *paramSession) Rcpt(to string, opts *RcptOptions) error {
	s.to, s.rcpt = to, opts
	return nil
}
func (s *paramSession) Data(r io.Reader) error { return errors.New("no DATA here") }

// bufConn is a net.Conn that has nothing to read and keeps what is
// written.
type bufConn struct{ bytes.Buffer }

func (c *bufConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (c *bufConn) Close() error                     { return nil }
func (c *bufConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *bufConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *bufConn) SetDeadline(time.Time) error      { return nil }
func (c *bufConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bufConn) SetWriteDeadline(time.Time) error { return nil }
