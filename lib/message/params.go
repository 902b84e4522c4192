package message

import (
	"strconv"
	"strings"
)

// parseContentType parses a Content-Type value (RFC 2045 section 5.1).
// ok is false when the value is not type/subtype.
func parseContentType(v string) (typ, sub string, params []Param, ok bool) {
	s := skipCFWS(v)
	i := 0
	for i < len(s) && s[i] != '/' && s[i] != ';' && !isSpaceStr(s[i]) && s[i] != '(' {
		i++
	}
	typ = s[:i]
	s = skipCFWS(s[i:])
	if typ == "" || len(s) == 0 || s[0] != '/' {
		return "", "", nil, false
	}
	s = skipCFWS(s[1:])
	i = 0
	for i < len(s) && s[i] != ';' && !isSpaceStr(s[i]) && s[i] != '(' {
		i++
	}
	sub = s[:i]
	if sub == "" {
		return "", "", nil, false
	}
	return lower(typ), lower(sub), parseParams(s[i:]), true
}

// parseDisposition parses a Content-Disposition value (RFC 2183 section 2).
func parseDisposition(v string) (disp string, params []Param) {
	s := skipCFWS(v)
	i := 0
	for i < len(s) && s[i] != ';' && !isSpaceStr(s[i]) && s[i] != '(' {
		i++
	}
	return lower(s[:i]), parseParams(s[i:])
}

// parseParams parses "; name=value" pairs, leniently: values may be
// quoted strings or tokens (unquoted values run to the next semicolon),
// pairs without "=" are skipped, and at most maxParams are kept.
func parseParams(s string) []Param {
	var out []Param
	for len(s) > 0 && len(out) < maxParams {
		s = skipCFWS(s)
		if len(s) > 0 && s[0] == ';' {
			s = s[1:]
			continue
		}
		if len(s) == 0 {
			break
		}
		i := 0
		for i < len(s) && s[i] != '=' && s[i] != ';' {
			i++
		}
		if i == len(s) || s[i] == ';' {
			s = s[i:] // no "=": not a parameter
			continue
		}
		name := lower(strings.TrimRight(s[:i], " \t"))
		s = skipCFWS(s[i+1:])
		var val string
		if len(s) > 0 && s[0] == '"' {
			val, s = quotedString(s)
		} else {
			j := strings.IndexByte(s, ';')
			if j < 0 {
				j = len(s)
			}
			val = strings.TrimRight(s[:j], " \t")
			s = s[j:]
		}
		if name != "" {
			out = append(out, Param{Name: name, Value: val})
		}
	}
	return out
}

// quotedString reads a quoted string at the start of s (RFC 5322 section
// 3.2.4) and returns its content, unescaped, and the rest of s. An
// unterminated string runs to the end.
func quotedString(s string) (content, rest string) {
	escaped := false
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			if escaped {
				return unescape(s[1:i]), s[i+1:]
			}
			return s[1:i], s[i+1:]
		}
	}
	if escaped {
		return unescape(s[1:]), ""
	}
	return s[1:], ""
}

// unescape removes quoted-pair backslashes.
func unescape(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b = append(b, s[i])
	}
	return string(b)
}

func isSpaceStr(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// skipCFWS skips white space and comments (RFC 5322 section 3.2.2).
func skipCFWS(s string) string {
	for len(s) > 0 {
		switch {
		case isSpaceStr(s[0]):
			s = s[1:]
		case s[0] == '(':
			_, s = comment(s)
		default:
			return s
		}
	}
	return s
}

// comment reads a (possibly nested) comment at the start of s and returns
// its content and the rest of s.
func comment(s string) (content, rest string) {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return s[1:i], s[i+1:]
			}
		}
	}
	if len(s) > 0 {
		return s[1:], ""
	}
	return "", ""
}

// paramValue finds parameter name and decodes it: RFC 2231 extended values
// (name*) and continuations (name*0, name*1*, ...) first, then a plain value
// with RFC 2047 encoded words (common, though not standard, in file names).
func paramValue(params []Param, name string) string {
	name = lower(name)
	for _, p := range params {
		if p.Name == name+"*" {
			cs, v := split2231(p.Value)
			return toUTF8(cs, percentDecode(v))
		}
	}
	if v, ok := continuation(params, name); ok {
		return v
	}
	for _, p := range params {
		if p.Name == name {
			return DecodeText(p.Value)
		}
	}
	return ""
}

// continuation assembles an RFC 2231 section 3 continued value.
func continuation(params []Param, name string) (string, bool) {
	var buf []byte
	var charset string
	found := false
	for n := 0; n < maxParams; n++ {
		key := name + "*" + strconv.Itoa(n)
		seg, enc, ok := "", false, false
		for _, p := range params {
			if p.Name == key {
				seg, ok = p.Value, true
				break
			}
			if p.Name == key+"*" {
				seg, enc, ok = p.Value, true, true
				break
			}
		}
		if !ok {
			break
		}
		found = true
		if enc {
			if n == 0 {
				charset, seg = split2231(seg)
			}
			buf = append(buf, percentDecode(seg)...)
		} else {
			buf = append(buf, seg...)
		}
	}
	if !found {
		return "", false
	}
	return toUTF8(charset, buf), true
}

// split2231 splits charset'language'value (RFC 2231 section 4).
func split2231(v string) (charset, rest string) {
	i := strings.IndexByte(v, '\'')
	if i < 0 {
		return "", v
	}
	j := strings.IndexByte(v[i+1:], '\'')
	if j < 0 {
		return "", v
	}
	return v[:i], v[i+1+j+1:]
}

// percentDecode decodes %XX escapes, leaving malformed ones as they are.
func percentDecode(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if h, ok := unhex2(s[i+1], s[i+2]); ok {
				b = append(b, h)
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return b
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func unhex2(a, b byte) (byte, bool) {
	h, ok1 := unhex(a)
	l, ok2 := unhex(b)
	return h<<4 | l, ok1 && ok2
}
