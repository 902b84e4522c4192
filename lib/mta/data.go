package mta

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// writeData writes msg as the text of a DATA command followed by the
// end-of-data line, applying the transparency procedure of RFC 5321
// section 4.5.2 so that nothing in the message can end the data early,
// even at a receiver that takes a bare LF or a bare CR for a line end (the
// SMTP smuggling of 2023):
//
//   - every line end, be it CRLF, a bare LF or a bare CR, is sent as CRLF
//     (RFC 5321 section 2.3.8 allows no other), so no "\n.\n", "\r.\r",
//     "\n.\r\n" and the like reach the wire;
//   - a line whose first byte is "." gets another "." in front (section
//     4.5.2), and so does a line that starts with NUL bytes followed by
//     a ".", for receivers that drop NULs before they look for the end;
//   - the message ends with CRLF (one is added when it does not), then
//     ".\r\n" is sent (section 4.1.1.4).
//
// The receiver gets the message with its line ends made CRLF and nothing
// else changed.
func writeData(w *bufio.Writer, msg []byte) error {
	for len(msg) > 0 {
		// At the start of a line.
		if needsStuffing(msg) {
			w.WriteByte('.')
		}
		i := bytes.IndexAny(msg, "\r\n")
		if i < 0 {
			w.Write(msg)
			w.WriteString("\r\n")
			break
		}
		w.Write(msg[:i])
		w.WriteString("\r\n")
		if msg[i] == '\r' && i+1 < len(msg) && msg[i+1] == '\n' {
			i++
		}
		msg = msg[i+1:]
	}
	_, err := w.WriteString(".\r\n")
	return err
}

// needsStuffing reports whether the line at the start of line begins with
// a ".", after any NUL bytes.
func needsStuffing(line []byte) bool {
	for _, c := range line {
		if c != 0 {
			return c == '.'
		}
	}
	return false
}

// has8Bit reports whether b holds a byte with the high bit set.
func has8Bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// isASCII reports whether s is all ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// headerSection returns the header section of msg (up to the first empty
// line, whatever its line ends).
func headerSection(msg []byte) []byte {
	for _, sep := range [][]byte{[]byte("\r\n\r\n"), []byte("\n\n")} {
		if i := bytes.Index(msg, sep); i >= 0 {
			msg = msg[:i]
		}
	}
	return msg
}

// xtext encodes s as RFC 3461 section 4 xtext: "+" and "=", controls,
// space and non-ASCII bytes as "+XX".
func xtext(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '!' || c > '~' || c == '+' || c == '=' {
			fmt.Fprintf(&b, "+%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// utf8AddrXtext encodes s as RFC 6533 section 3 utf-8-addr-xtext: as
// xtext for ASCII, and each non-ASCII character as "\x{HEX}"; a
// backslash, being the escape, is encoded too.
func utf8AddrXtext(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			b.WriteString(`\x{FFFD}`)
		case r >= 0x80 || r == '\\':
			fmt.Fprintf(&b, `\x{%X}`, r)
		default:
			b.WriteString(xtext(string(r)))
		}
	}
	return b.String()
}

// orcptParam returns the ORCPT parameter value (RFC 3461 section 4.2) for
// an original recipient given as "type;address" (decoded, as smtpd
// records it) or as a bare address.
func orcptParam(orcpt string) string {
	typ, addr, ok := strings.Cut(orcpt, ";")
	if !ok {
		typ, addr = "rfc822", orcpt
	}
	if !isASCII(addr) || strings.EqualFold(typ, "utf-8") {
		// RFC 6533 section 3: non-ASCII needs the utf-8 address type.
		return "utf-8;" + utf8AddrXtext(addr)
	}
	if !validAtom(typ) {
		typ = "rfc822"
	}
	return typ + ";" + xtext(addr)
}

// validAtom reports whether s is letters, digits and hyphens, 1 to 64.
func validAtom(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validPath reports whether addr can be put in a MAIL or RCPT command: no
// controls (above all no CR or LF), no angle brackets, no spaces, at most
// 512 bytes (RFC 5321 section 4.5.3.1.3 allows 256 octets of path; leave
// room for UTF-8).
func validPath(addr string) bool {
	if len(addr) > 512 {
		return false
	}
	for i := 0; i < len(addr); i++ {
		c := addr[i]
		if c < ' ' || c == 0x7f || c == '<' || c == '>' || c == ' ' {
			return false
		}
	}
	return true
}

// printable returns s with controls and invalid UTF-8 replaced by "?",
// cut to n bytes: server text goes into logs and DSNs.
func printable(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= n {
			b.WriteString("...")
			break
		}
		if r < ' ' || r == 0x7f || r == utf8.RuneError {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}
