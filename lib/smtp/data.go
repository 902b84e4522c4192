package smtp

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// bodyScanner collects message bytes and checks their line endings: RFC
// 5321 section 2.3.8 allows CR and LF only together, as CRLF. A bare CR or
// LF is what SMTP smuggling hides a second end-of-data behind, so by
// default a message with one is refused; with normalize set, each bare CR
// and each bare LF becomes a CRLF instead. NUL is never allowed (RFC 5321
// section 4.1.1.4 and RFC 5322 section 3.5 leave no place for it).
type bodyScanner struct {
	normalize bool
	buf       []byte
	// cr is set when the last byte was a CR not yet known to be part of a
	// CRLF.
	cr bool
	// bare and nul report what was seen.
	bare, nul bool
}

// write adds p. In reject mode it stops collecting at the first bare line
// ending or NUL (the message is going to be refused anyway).
func (b *bodyScanner) write(p []byte) {
	if b.nul || b.bare && !b.normalize {
		return
	}
	for len(p) > 0 {
		i := bytes.IndexAny(p, "\r\n\x00")
		if i < 0 {
			if b.cr {
				b.bareCR()
				if b.stopped() {
					return
				}
			}
			b.buf = append(b.buf, p...)
			return
		}
		if i > 0 && b.cr {
			b.bareCR()
			if b.stopped() {
				return
			}
		}
		b.buf = append(b.buf, p[:i]...)
		switch p[i] {
		case 0:
			b.nul = true
			return
		case '\r':
			if b.cr {
				b.bareCR()
				if b.stopped() {
					return
				}
			}
			b.buf = append(b.buf, '\r')
			b.cr = true
		case '\n':
			if b.cr {
				b.cr = false
			} else {
				b.bare = true
				if !b.normalize {
					return
				}
				b.buf = append(b.buf, '\r')
			}
			b.buf = append(b.buf, '\n')
		}
		p = p[i+1:]
	}
}

// bareCR handles a CR (already in buf) that no LF followed.
func (b *bodyScanner) bareCR() {
	b.cr = false
	b.bare = true
	if b.normalize {
		b.buf = append(b.buf, '\n')
	}
}

func (b *bodyScanner) stopped() bool { return b.nul || b.bare && !b.normalize }

// finish handles a CR at the very end.
func (b *bodyScanner) finish() {
	if b.cr {
		b.bareCR()
	}
}

// failed reports whether the message is to be refused.
func (b *bodyScanner) failed() bool { return b.nul || b.bare && !b.normalize }

// headerInfo is what the server reads in a message's header section.
type headerInfo struct {
	// received counts the Received fields (RFC 5321 section 6.3: loops).
	received int
	// from holds the unfolded values of the From fields.
	from []string
}

// maxHeaderScan bounds the header lines scanHeader looks at.
const maxHeaderScan = 10000

// scanHeader reads the header section of msg (up to the first empty line,
// or a line that cannot be a header field).
func scanHeader(msg []byte) headerInfo {
	var h headerInfo
	inFrom := false
	for n := 0; len(msg) > 0 && n < maxHeaderScan; n++ {
		end := bytes.IndexByte(msg, '\n')
		var line []byte
		if end < 0 {
			line, msg = msg, nil
		} else {
			line, msg = msg[:end+1], msg[end+1:]
		}
		text := bytes.TrimRight(line, "\r\n")
		if len(text) == 0 {
			break // end of the header section
		}
		if text[0] == ' ' || text[0] == '\t' {
			if inFrom {
				h.from[len(h.from)-1] += string(text) // RFC 5322 section 2.2.3: unfold
			}
			continue
		}
		colon := bytes.IndexByte(text, ':')
		if colon <= 0 {
			break
		}
		name := bytes.TrimRight(text[:colon], " \t")
		inFrom = false
		switch {
		case bytes.EqualFold(name, []byte("Received")):
			h.received++
		case bytes.EqualFold(name, []byte("From")):
			h.from = append(h.from, string(text[colon+1:]))
			inFrom = true
		}
	}
	return h
}

// receivedField builds the Received header field the server prepends (RFC
// 5321 section 4.4), with the protocol names of RFC 3848 and RFC 6531, the
// TLS version and cipher in a comment, and "for" when the message has one
// recipient. It ends with CRLF.
func receivedField(helo, clientIP, hostname, protocol, id string, tlsState *tls.ConnectionState, rcpts []string, now time.Time) string {
	var b strings.Builder
	b.WriteString("Received: from ")
	b.WriteString(headerSafe(helo, 255))
	fmt.Fprintf(&b, " (%s)\r\n\tby %s (Gannet) with %s id %s", addressLiteral(clientIP), hostname, protocol, id)
	if tlsState != nil {
		fmt.Fprintf(&b, "\r\n\t(using %s with cipher %s)", tlsVersionName(tlsState.Version), tls.CipherSuiteName(tlsState.CipherSuite))
	}
	if len(rcpts) == 1 {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", headerSafe(rcpts[0], 320))
	}
	b.WriteString(";\r\n\t")
	b.WriteString(now.Format(time.RFC1123Z)) // RFC 5322 section 3.3 date-time
	b.WriteString("\r\n")
	return b.String()
}

// addressLiteral writes the client's address as RFC 5321 section 4.1.3 does
// ([192.0.2.1], [IPv6:2001:db8::1]); "local" for a Unix socket.
func addressLiteral(ip string) string {
	switch {
	case ip == "local":
		return "local"
	case strings.Contains(ip, ":"):
		return "[IPv6:" + ip + "]"
	default:
		return "[" + ip + "]"
	}
}

func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLS1.0"
	case tls.VersionTLS11:
		return "TLS1.1"
	case tls.VersionTLS12:
		return "TLS1.2"
	case tls.VersionTLS13:
		return "TLS1.3"
	}
	return fmt.Sprintf("TLS-0x%04x", v)
}

// headerSafe makes client-supplied text safe to put in a header field:
// printable ASCII and valid UTF-8 letters stay, anything else (control
// characters, CR, LF, invalid UTF-8) becomes '?', and the result is at
// most max bytes.
func headerSafe(s string, max int) string {
	var b strings.Builder
	for i, r := range s {
		if b.Len() >= max {
			break
		}
		switch {
		case r == utf8.RuneError && len(s[i:]) > 0:
			b.WriteByte('?')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// protocolName is the "with" keyword of RFC 3848 (and RFC 6531 section
// 3.7.3 for SMTPUTF8).
func protocolName(lmtp, utf8, tls, authenticated bool) string {
	p := "ESMTP"
	switch {
	case lmtp:
		p = "LMTP"
	case utf8:
		p = "UTF8SMTP"
	}
	if tls {
		p += "S"
	}
	if authenticated {
		p += "A"
	}
	return p
}
