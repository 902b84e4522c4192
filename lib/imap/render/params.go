package render

import (
	"strings"

	"gannet/lib/message"
)

// params writes a body-fld-param list: "(" string SP string *(SP string SP
// string) ")" / NIL (RFC 9051 section 9), in the order the message gives
// them. text adds ("charset" "us-ascii") at the end when a text/* part has
// no charset parameter (the RFC 2045 section 5.2 default; Dovecot does
// the same).
//
// RFC 2231 parameters are decoded, as RFC 9051 section 7.5.2 asks:
// continuations (name*0, name*1, ...) are joined, encoded values
// (name*=charset'lang'value, name*0*=...) are percent-decoded and converted
// to UTF-8, and the result takes the place of the first of its pieces. A
// value that is ASCII is sent as the plain parameter "name"; a non-ASCII
// one is sent as "name" in UTF-8 when utf8 is set, else as "name*" with
// the RFC 2231 encoding of its UTF-8 form, which keeps the list ASCII for
// clients without UTF-8 (RFC 9051: "convert to UTF-8, concatenate, and
// return the resulting value as a parameter foo*"):
//
//	("filename*" "utf-8''caf%C3%A9.txt")
//
// Pieces without a first piece (name*1 alone) are sent as written. Plain
// values are sent as written, RFC 2047 encoded words included.
func (r *renderer) params(ps []message.Param, text bool) {
	b := r.b
	addCharset := text
	rfc2231 := false
	for _, p := range ps {
		base, kind := splitName(p.Name)
		if kind != plain {
			rfc2231 = true
		}
		if dropNUL(base) == "charset" {
			addCharset = false
		}
	}
	if len(ps) == 0 && !addCharset {
		b.WriteString("NIL")
		return
	}
	b.WriteByte('(')
	first := true
	pair := func(name, value string) {
		if !first {
			r.sp()
		}
		first = false
		r.str(name)
		r.sp()
		r.str(value)
	}
	for i, p := range ps {
		if !rfc2231 {
			pair(p.Name, p.Value)
			continue
		}
		base, _ := splitName(p.Name)
		if !hasStart(ps, base) {
			pair(p.Name, p.Value) // plain, or a piece without a first piece
			continue
		}
		if seenBefore(ps[:i], base) {
			continue // the group was written at its first member
		}
		v := (&message.Part{Params: ps}).Param(base)
		switch {
		case isASCII(v) || r.utf8:
			pair(base, v)
		default:
			pair(base+"*", "utf-8''"+percentEncode(v))
		}
	}
	if addCharset {
		pair("charset", "us-ascii")
	}
	b.WriteByte(')')
}

// Kinds of parameter names (RFC 2231 sections 3 and 4).
const (
	plain      = iota // name
	extended          // name*
	continued         // name*0, name*1, ...
	continuedX        // name*0*, name*1*, ...
)

// splitName splits an RFC 2231 parameter name into the base name and the
// kind of piece it is. Names that are not RFC 2231 pieces are plain.
func splitName(name string) (base string, kind int) {
	i := strings.IndexByte(name, '*')
	if i <= 0 {
		return name, plain
	}
	base, rest := name[:i], name[i+1:]
	if rest == "" {
		return base, extended
	}
	kind = continued
	if rest[len(rest)-1] == '*' {
		rest = rest[:len(rest)-1]
		kind = continuedX
	}
	if rest == "" || len(rest) > 3 || (len(rest) > 1 && rest[0] == '0') {
		return name, plain
	}
	for j := 0; j < len(rest); j++ {
		if rest[j] < '0' || rest[j] > '9' {
			return name, plain
		}
	}
	return base, kind
}

// hasStart reports whether ps has the first piece of an RFC 2231 value
// for base: base*, base*0 or base*0*.
func hasStart(ps []message.Param, base string) bool {
	for _, p := range ps {
		if len(p.Name) > len(base) && p.Name[:len(base)] == base {
			switch p.Name[len(base):] {
			case "*", "*0", "*0*":
				return true
			}
		}
	}
	return false
}

// seenBefore reports whether ps has a parameter of the group base.
func seenBefore(ps []message.Param, base string) bool {
	for _, p := range ps {
		if b, _ := splitName(p.Name); b == base {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// percentEncode encodes s as an RFC 2231 extended value: attribute-char
// (RFC 2231 section 7: a token character other than "*", "'" and "%")
// as it is, every other byte as %XX.
func percentEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var sb strings.Builder
	sb.Grow(len(s) * 3)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if attributeChar(c) {
			sb.WriteByte(c)
			continue
		}
		sb.WriteByte('%')
		sb.WriteByte(hex[c>>4])
		sb.WriteByte(hex[c&15])
	}
	return sb.String()
}

func attributeChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`{|}~", c) >= 0
}
