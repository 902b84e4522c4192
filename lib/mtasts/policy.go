// Package mtasts implements SMTP MTA Strict Transport Security (RFC 8461)
// for outbound delivery: it parses MTA-STS policies, matches MX host names
// against them, and discovers, fetches and caches the policy of a
// recipient domain (see Cache).
//
// A sender that holds a policy in mode "enforce" delivers only to MX hosts
// the policy names (Policy.Match), and only over TLS with a certificate
// valid for the MX host name (RFC 8461 section 4). That part is the SMTP
// client's; this package tells it which policy applies.
package mtasts

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Mode is a policy's mode (RFC 8461 section 3.2).
type Mode string

// The modes of RFC 8461 section 5.
const (
	// Enforce: deliver only to matching MX hosts over verified TLS.
	Enforce Mode = "enforce"
	// Testing: deliver anyway, report failures (RFC 8460).
	Testing Mode = "testing"
	// None: the domain has withdrawn its policy (section 8.3); deliver as
	// if it had none.
	None Mode = "none"
)

// Limits from RFC 8461.
const (
	// MaxPolicySize bounds a policy body (section 3.3 suggests 64 KiB).
	MaxPolicySize = 64 << 10
	// MaxMaxAge is the largest max_age, in seconds (section 3.2).
	MaxMaxAge = 31557600
)

// Policy is an MTA-STS policy (RFC 8461 section 3.2), with the id of the
// TXT record it was fetched under (section 3.1) and the time it was
// fetched. Policies returned by Cache.Get are copies the caller may keep.
type Policy struct {
	// Mode is enforce, testing or none.
	Mode Mode
	// MX holds the MX patterns: host names, or "*." and a domain.
	MX []string
	// MaxAge is how long the policy may be cached after Fetched.
	MaxAge time.Duration
	// ID is the id of the _mta-sts TXT record when the policy was fetched;
	// empty for a policy from Parse.
	ID string
	// Fetched is when the policy was fetched; zero for one from Parse.
	Fetched time.Time
}

// Expires returns the time after which the policy may no longer be used
// (RFC 8461 section 3.2, max_age).
func (p *Policy) Expires() time.Time { return p.Fetched.Add(p.MaxAge) }

// Match reports whether host, the name of an MX host, matches one of the
// policy's mx patterns (RFC 8461 section 4.1): equal to a pattern, or, for a
// pattern "*.example.com", equal to it after its leftmost label (which
// must not be empty) is replaced by "*": "mail.example.com" matches, but
// neither "example.com" nor "a.mail.example.com" does. The comparison
// ignores case and a trailing dot on host.
func (p *Policy) Match(host string) bool {
	host = strings.TrimSuffix(host, ".")
	if host == "" {
		return false
	}
	for _, pat := range p.MX {
		pat = strings.TrimSuffix(pat, ".")
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			// RFC 8461 section 4.1: the wildcard stands for exactly one
			// label, the leftmost.
			label, parent, found := strings.Cut(host, ".")
			if found && label != "" && strings.EqualFold(parent, rest) {
				return true
			}
			continue
		}
		if strings.EqualFold(host, pat) {
			return true
		}
	}
	return false
}

// String returns the policy in the format of RFC 8461 section 3.2, lines
// ended by CRLF, as Parse reads it.
func (p *Policy) String() string {
	var b strings.Builder
	b.WriteString("version: STSv1\r\n")
	fmt.Fprintf(&b, "mode: %s\r\n", p.Mode)
	for _, mx := range p.MX {
		fmt.Fprintf(&b, "mx: %s\r\n", mx)
	}
	fmt.Fprintf(&b, "max_age: %d\r\n", int64(p.MaxAge/time.Second))
	return b.String()
}

// clone returns a copy of p that shares nothing with it.
func (p *Policy) clone() *Policy {
	q := *p
	q.MX = append([]string(nil), p.MX...)
	return &q
}

// Parse parses a policy body (RFC 8461 section 3.2): lines ended by LF or
// CRLF (the last one may lack it), each "name: value". version (STSv1),
// mode and max_age must appear exactly once, mx at least once unless the
// mode is none; unknown fields are checked against the grammar and
// ignored. Field names and the version and mode values are case-sensitive,
// as the grammar has them (%s). Empty lines are skipped. The body must be
// UTF-8 and at most MaxPolicySize bytes.
func Parse(b []byte) (*Policy, error) {
	if len(b) > MaxPolicySize {
		return nil, fmt.Errorf("mta-sts policy: larger than %d bytes", MaxPolicySize)
	}
	if !utf8.Valid(b) {
		return nil, errors.New("mta-sts policy: not UTF-8")
	}
	p := &Policy{}
	var haveVersion, haveMode, haveMaxAge bool
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte("\n"))
		// sts-policy-term = LF / CRLF
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			continue
		}
		name, value, err := splitField(line)
		if err != nil {
			return nil, fmt.Errorf("mta-sts policy: line %d: %w", n, err)
		}
		switch name {
		case "version":
			if haveVersion {
				return nil, fmt.Errorf("mta-sts policy: line %d: version given twice", n)
			}
			haveVersion = true
			if value != "STSv1" {
				return nil, fmt.Errorf("mta-sts policy: line %d: version %q, want STSv1", n, value)
			}
		case "mode":
			if haveMode {
				return nil, fmt.Errorf("mta-sts policy: line %d: mode given twice", n)
			}
			haveMode = true
			switch m := Mode(value); m {
			case Enforce, Testing, None:
				p.Mode = m
			default:
				return nil, fmt.Errorf("mta-sts policy: line %d: mode %q, want enforce, testing or none", n, value)
			}
		case "max_age":
			if haveMaxAge {
				return nil, fmt.Errorf("mta-sts policy: line %d: max_age given twice", n)
			}
			haveMaxAge = true
			// sts-policy-max-age-value = 1*10(DIGIT), at most 31557600.
			if len(value) > 10 || !allDigits(value) {
				return nil, fmt.Errorf("mta-sts policy: line %d: max_age %q is not a number of seconds", n, value)
			}
			secs, _ := strconv.ParseInt(value, 10, 64)
			if secs > MaxMaxAge {
				return nil, fmt.Errorf("mta-sts policy: line %d: max_age %d above %d", n, secs, MaxMaxAge)
			}
			p.MaxAge = time.Duration(secs) * time.Second
		case "mx":
			// sts-policy-mx-value = ["*."] Domain
			if err := checkMXPattern(value); err != nil {
				return nil, fmt.Errorf("mta-sts policy: line %d: mx %q: %w", n, value, err)
			}
			p.MX = append(p.MX, value)
		default:
			// Extension fields are ignored (section 3.2); splitField
			// checked their grammar.
		}
	}
	switch {
	case !haveVersion:
		return nil, errors.New("mta-sts policy: no version field")
	case !haveMode:
		return nil, errors.New("mta-sts policy: no mode field")
	case !haveMaxAge:
		return nil, errors.New("mta-sts policy: no max_age field")
	case len(p.MX) == 0 && p.Mode != None:
		// mx is "required at least once, except when mode is none".
		return nil, fmt.Errorf("mta-sts policy: mode %s without an mx field", p.Mode)
	}
	return p, nil
}

// splitField splits a policy line into name and value (RFC 8461 section
// 3.2): name ":" *WSP value *WSP, the name an sts-policy-ext-name, the value
// sts-policy-vchar characters with inner spaces.
func splitField(line []byte) (name, value string, err error) {
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return "", "", errors.New(`no ":" after the field name`)
	}
	name = string(line[:i])
	if !isExtName(name) {
		return "", "", fmt.Errorf("bad field name %q", name)
	}
	value = strings.TrimRight(strings.TrimLeft(string(line[i+1:]), " \t"), " \t")
	if value == "" {
		return "", "", fmt.Errorf("field %s has no value", name)
	}
	for _, r := range value {
		// sts-policy-ext-value = sts-policy-vchar
		//     [ *(%x20 / sts-policy-vchar) sts-policy-vchar ]
		// with sts-policy-vchar = %x21-7E / UTF8-2 / UTF8-3 / UTF8-4.
		if r == '\t' {
			return "", "", fmt.Errorf("field %s: tab inside the value", name)
		}
		if r < 0x20 || r == 0x7f {
			return "", "", fmt.Errorf("field %s: control character %U in the value", name, r)
		}
	}
	return name, value, nil
}

// isExtName reports whether s is an sts-policy-ext-name (and so also an
// sts-ext-name of the TXT record): (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_"
// / "-" / ".").
func isExtName(s string) bool {
	if s == "" || len(s) > 32 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// checkMXPattern checks an mx value: ["*."] Domain, Domain as in RFC 5321
// section 4.1.2 (letters, digits and inner hyphens; no trailing dot).
func checkMXPattern(s string) error {
	d := strings.TrimPrefix(s, "*.")
	if strings.Contains(d, "*") {
		return errors.New(`a wildcard may only be a leftmost "*." label`)
	}
	return checkDomain(d)
}

// checkDomain checks that d is a domain name in the syntax of RFC 5321
// section 4.1.2, in ASCII: labels of letters, digits and inner hyphens,
// each at most 63 characters, 253 in all.
func checkDomain(d string) error {
	if d == "" {
		return errors.New("empty domain")
	}
	if len(d) > 253 {
		return errors.New("domain longer than 253 characters")
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" {
			return errors.New("empty label")
		}
		if len(label) > 63 {
			return errors.New("label longer than 63 characters")
		}
		if !isAlnum(label[0]) || !isAlnum(label[len(label)-1]) {
			return fmt.Errorf("label %q must start and end with a letter or digit", label)
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isAlnum(c) && c != '-' {
				return fmt.Errorf("label %q holds %q", label, c)
			}
		}
	}
	return nil
}

// parseRecord parses the text of an _mta-sts TXT record (RFC 8461 section
// 3.1) and returns its id:
//
//	sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim]
//	sts-field-delim = *WSP ";" *WSP
//	sts-version     = %s"v=STSv1"
//	sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
//	sts-extension   = sts-ext-name "=" sts-ext-value
//
// id must appear exactly once; extensions are checked and ignored.
func parseRecord(txt string) (string, error) {
	rest, ok := strings.CutPrefix(txt, "v=STSv1")
	if !ok {
		return "", errors.New(`mta-sts record: does not start with "v=STSv1"`)
	}
	var id string
	fields := strings.Split(rest, ";")
	if strings.Trim(fields[0], " \t") != "" {
		return "", fmt.Errorf("mta-sts record: %q after v=STSv1", fields[0])
	}
	fields = fields[1:]
	if n := len(fields); n > 0 && strings.Trim(fields[n-1], " \t") == "" {
		fields = fields[:n-1] // the optional final delimiter
	}
	if len(fields) == 0 {
		return "", errors.New("mta-sts record: no id field")
	}
	for _, f := range fields {
		f = strings.Trim(f, " \t")
		name, value, ok := strings.Cut(f, "=")
		if !ok {
			return "", fmt.Errorf(`mta-sts record: field %q has no "="`, f)
		}
		switch {
		case name == "id":
			if id != "" {
				return "", errors.New("mta-sts record: id given twice")
			}
			if value == "" || len(value) > 32 || !allAlnum(value) {
				return "", fmt.Errorf("mta-sts record: id %q is not 1 to 32 letters and digits", value)
			}
			id = value
		case !isExtName(name):
			return "", fmt.Errorf("mta-sts record: bad field name %q", name)
		default:
			// sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E)
			if value == "" {
				return "", fmt.Errorf("mta-sts record: field %s has no value", name)
			}
			for i := 0; i < len(value); i++ {
				if c := value[i]; c < 0x21 || c > 0x7e || c == '=' {
					return "", fmt.Errorf("mta-sts record: field %s: %q in the value", name, c)
				}
			}
		}
	}
	if id == "" {
		return "", errors.New("mta-sts record: no id field")
	}
	return id, nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func allAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
