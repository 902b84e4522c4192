package directory

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// ErrInvalidAddress is wrapped by every error Normalize and NormalizeDomain
// return, so that protocol code can answer with a syntax error (e.g. SMTP 501
// or 553) rather than a temporary failure.
var ErrInvalidAddress = errors.New("invalid address")

// Limits from RFC 5321 section 4.5.3.1.
const (
	maxLocalPart = 64  // section 4.5.3.1.1: octets of a local part
	maxDomain    = 255 // section 4.5.3.1.2: octets of a domain
	maxLabel     = 63  // RFC 1035 section 2.3.4: octets of a label
	// maxInput bounds what Normalize looks at before any work: a local part,
	// "@" and a domain, with room for the domain in U-labels (a U-label can
	// be longer in UTF-8 than its A-label; 4 octets a character at most).
	maxInput = maxLocalPart + 1 + 4*maxDomain
)

// Normalize returns the canonical form of an e-mail address: the local part
// in Unicode NFC (RFC 6532 section 3.1) and lower case, the domain as
// lower-case A-labels (IDNA2008 lookup profile, RFC 5891 section 5) without a
// trailing dot. Mailboxes are compared in this form everywhere, so local parts
// are case-insensitive in Gannet even though RFC 5321 section 2.4 lets a
// server treat them as case-sensitive.
//
// A quoted local part whose content is a plain dot-atom is unquoted
// ("john.doe"@example.test is john.doe@example.test); other quoted local parts
// are kept quoted. An address literal domain ([192.0.2.1], [IPv6:...]) is
// accepted and canonicalised; it is never a local domain.
func Normalize(address string) (string, error) {
	if len(address) > maxInput {
		return "", fmt.Errorf("%w: address longer than %d octets", ErrInvalidAddress, maxInput)
	}
	at := strings.LastIndexByte(address, '@')
	if at < 0 {
		return "", fmt.Errorf("%w: %q has no @", ErrInvalidAddress, address)
	}
	local, err := normalizeLocal(address[:at])
	if err != nil {
		return "", err
	}
	domain, err := NormalizeDomain(address[at+1:])
	if err != nil {
		return "", err
	}
	return local + "@" + domain, nil
}

// Split returns the local part and the domain of an address, splitting at the
// last "@". An address without "@" is all local part.
func Split(address string) (local, domain string) {
	at := strings.LastIndexByte(address, '@')
	if at < 0 {
		return address, ""
	}
	return address[:at], address[at+1:]
}

// normalizeLocal checks and canonicalises a local part.
func normalizeLocal(local string) (string, error) {
	if local == "" {
		return "", fmt.Errorf("%w: empty local part", ErrInvalidAddress)
	}
	if !utf8.ValidString(local) {
		return "", fmt.Errorf("%w: local part is not valid UTF-8", ErrInvalidAddress)
	}
	if len(local) >= 2 && local[0] == '"' && local[len(local)-1] == '"' {
		return normalizeQuoted(local[1 : len(local)-1])
	}
	// RFC 6532 section 3.1: UTF-8 strings should be normalised to NFC.
	local = norm.NFC.String(strings.ToLower(local))
	if err := checkDotAtom(local); err != nil {
		return "", err
	}
	if len(local) > maxLocalPart {
		return "", fmt.Errorf("%w: local part longer than %d octets", ErrInvalidAddress, maxLocalPart)
	}
	return local, nil
}

// checkDotAtom accepts atext (RFC 5322 section 3.2.3), non-ASCII UTF-8
// (RFC 6532 section 3.2) and dots. Dots are not checked for position:
// addresses such as "a..b" exist in the wild and refusing them loses mail.
func checkDotAtom(s string) error {
	for _, r := range s {
		if r == '.' || isAtext(r) {
			continue
		}
		return fmt.Errorf("%w: character %q not allowed in a local part", ErrInvalidAddress, r)
	}
	return nil
}

// isAtext reports whether r is atext in RFC 5322 section 3.2.3, extended
// with UTF8-non-ascii by RFC 6532 section 3.2 (control and space characters
// excluded).
func isAtext(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	case strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r):
		return true
	case r >= 0x80:
		return !unicode.IsControl(r) && !unicode.IsSpace(r) && r != utf8.RuneError
	}
	return false
}

// normalizeQuoted canonicalises the content of a quoted-string local part
// (RFC 5321 section 4.1.2: qtextSMTP / quoted-pairSMTP).
func normalizeQuoted(q string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\\':
			i++
			if i == len(q) || q[i] < 32 || q[i] > 126 {
				return "", fmt.Errorf("%w: bad quoted pair in local part", ErrInvalidAddress)
			}
			b.WriteByte(q[i])
		case c == '"':
			return "", fmt.Errorf("%w: unescaped quote in local part", ErrInvalidAddress)
		case c < 32 || c == 127:
			return "", fmt.Errorf("%w: control character in local part", ErrInvalidAddress)
		default:
			b.WriteByte(c)
		}
	}
	content := norm.NFC.String(strings.ToLower(b.String()))
	if content == "" {
		return "", fmt.Errorf("%w: empty local part", ErrInvalidAddress)
	}
	out := content
	if checkDotAtom(content) != nil || strings.HasPrefix(content, ".") ||
		strings.HasSuffix(content, ".") || strings.Contains(content, "..") {
		// Keep it quoted, escaping what must be escaped.
		var q strings.Builder
		q.WriteByte('"')
		for i := 0; i < len(content); i++ {
			if content[i] == '"' || content[i] == '\\' {
				q.WriteByte('\\')
			}
			q.WriteByte(content[i])
		}
		q.WriteByte('"')
		out = q.String()
	}
	if len(out) > maxLocalPart {
		return "", fmt.Errorf("%w: local part longer than %d octets", ErrInvalidAddress, maxLocalPart)
	}
	return out, nil
}

// NormalizeDomain returns a domain as lower-case A-labels without a trailing
// dot, checked against the IDNA2008 lookup profile and the length limits of
// RFC 5321 section 4.5.3.1.2 and RFC 1035 section 2.3.4. Address literals
// ([192.0.2.1], [IPv6:2001:db8::1], RFC 5321 section 4.1.3) are returned in
// canonical form.
func NormalizeDomain(domain string) (string, error) {
	if len(domain) > 4*maxDomain {
		return "", fmt.Errorf("%w: domain longer than %d octets", ErrInvalidAddress, maxDomain)
	}
	if strings.HasPrefix(domain, "[") {
		return normalizeLiteral(domain)
	}
	domain = strings.TrimSuffix(domain, ".")
	if domain == "" {
		return "", fmt.Errorf("%w: empty domain", ErrInvalidAddress)
	}
	if !utf8.ValidString(domain) {
		return "", fmt.Errorf("%w: domain is not valid UTF-8", ErrInvalidAddress)
	}
	a, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return "", fmt.Errorf("%w: domain %q: %v", ErrInvalidAddress, domain, err)
	}
	a = strings.ToLower(a)
	if len(a) > maxDomain {
		return "", fmt.Errorf("%w: domain longer than %d octets", ErrInvalidAddress, maxDomain)
	}
	for label := range strings.SplitSeq(a, ".") {
		if label == "" {
			return "", fmt.Errorf("%w: domain %q has an empty label", ErrInvalidAddress, domain)
		}
		if len(label) > maxLabel {
			return "", fmt.Errorf("%w: domain label longer than %d octets", ErrInvalidAddress, maxLabel)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			// RFC 5321 section 4.1.2 (sub-domain): letters, digits, hyphens.
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", fmt.Errorf("%w: domain %q: character %q not allowed", ErrInvalidAddress, domain, c)
			}
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("%w: domain %q: label starts or ends with a hyphen", ErrInvalidAddress, domain)
		}
	}
	return a, nil
}

// normalizeLiteral canonicalises an address literal (RFC 5321 section 4.1.3).
func normalizeLiteral(s string) (string, error) {
	if len(s) < 3 || s[len(s)-1] != ']' {
		return "", fmt.Errorf("%w: bad address literal %q", ErrInvalidAddress, s)
	}
	inner := s[1 : len(s)-1]
	if len(inner) > 5 && strings.EqualFold(inner[:5], "ipv6:") {
		ip, err := netip.ParseAddr(inner[5:])
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return "", fmt.Errorf("%w: bad IPv6 address literal %q", ErrInvalidAddress, s)
		}
		return "[IPv6:" + ip.String() + "]", nil
	}
	ip, err := netip.ParseAddr(inner)
	if err != nil || !ip.Is4() {
		return "", fmt.Errorf("%w: bad address literal %q", ErrInvalidAddress, s)
	}
	return "[" + ip.String() + "]", nil
}
