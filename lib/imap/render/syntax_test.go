package render

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file reads IMAP response data back (RFC 9051 section 9): a strict
// reader of the values the renderer writes, used to check its output
// (balanced parentheses, valid quoted strings and literals, the body and
// envelope grammar) and to read Dovecot's FETCH responses.

// node is one IMAP value.
type node struct {
	kind   byte // 'l' list, 's' string, 'n' NIL, '#' number, 'a' atom
	str    string
	num    int64
	list   []node
	quoted bool // a string sent as a quoted string
}

func (n node) String() string {
	switch n.kind {
	case 'l':
		parts := make([]string, len(n.list))
		for i, c := range n.list {
			parts[i] = c.String()
		}
		return "(" + strings.Join(parts, " ") + ")"
	case 's':
		return strconv.Quote(n.str)
	case 'n':
		return "NIL"
	case 'a':
		return n.str
	}
	return strconv.FormatInt(n.num, 10)
}

// reader reads values from s. utf8 allows UTF-8 in quoted strings (RFC
// 9051 QUOTED-CHAR); without it quoted strings are 7-bit (RFC 3501).
type reader struct {
	s     []byte
	i     int
	utf8  bool
	atoms bool // accept atoms (FETCH item names) besides NIL
	depth int
}

func (r *reader) errf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", r.i, fmt.Sprintf(format, args...))
}

// value reads one value: a list, a string, NIL or a number.
func (r *reader) value() (node, error) {
	if r.i >= len(r.s) {
		return node{}, r.errf("unexpected end")
	}
	switch c := r.s[r.i]; {
	case c == '(':
		r.i++
		r.depth++
		if r.depth > 200 {
			return node{}, r.errf("nesting too deep")
		}
		n := node{kind: 'l'}
		for {
			if r.i >= len(r.s) {
				return node{}, r.errf("unbalanced parenthesis")
			}
			if r.s[r.i] == ')' {
				r.i++
				r.depth--
				return n, nil
			}
			if len(n.list) > 0 {
				// Elements are separated by one space, except the bodies
				// of a multipart, which follow each other directly.
				switch {
				case r.s[r.i] == ' ':
					r.i++
				case r.s[r.i] == '(' && n.list[len(n.list)-1].kind == 'l':
				default:
					return node{}, r.errf("expected space or ')', got %q", r.s[r.i])
				}
			}
			v, err := r.value()
			if err != nil {
				return node{}, err
			}
			n.list = append(n.list, v)
		}
	case c == '"':
		return r.quoted()
	case c == '{':
		return r.literal()
	case c >= '0' && c <= '9':
		j := r.i
		for j < len(r.s) && r.s[j] >= '0' && r.s[j] <= '9' {
			j++
		}
		v, err := strconv.ParseInt(string(r.s[r.i:j]), 10, 64)
		if err != nil {
			return node{}, r.errf("bad number: %v", err)
		}
		r.i = j
		return node{kind: '#', num: v}, nil
	case len(r.s)-r.i >= 3 && string(r.s[r.i:r.i+3]) == "NIL" &&
		(len(r.s)-r.i == 3 || strings.IndexByte(" )", r.s[r.i+3]) >= 0):
		r.i += 3
		return node{kind: 'n'}, nil
	case r.atoms && c > ' ' && c < 0x7f && strings.IndexByte("(){\"%*", c) < 0:
		j := r.i
		for j < len(r.s) && r.s[j] > ' ' && r.s[j] < 0x7f && strings.IndexByte("(){\"%*", r.s[j]) < 0 {
			j++
		}
		n := node{kind: 'a', str: string(r.s[r.i:j])}
		r.i = j
		return n, nil
	default:
		return node{}, r.errf("unexpected %q", c)
	}
}

func (r *reader) quoted() (node, error) {
	r.i++ // the opening quote
	var sb strings.Builder
	ascii := true
	for {
		if r.i >= len(r.s) {
			return node{}, r.errf("unterminated quoted string")
		}
		c := r.s[r.i]
		r.i++
		switch {
		case c == '"':
			s := sb.String()
			if !ascii && !utf8.ValidString(s) {
				return node{}, r.errf("quoted string %q is not UTF-8", s)
			}
			return node{kind: 's', str: s, quoted: true}, nil
		case c == '\\':
			if r.i >= len(r.s) || (r.s[r.i] != '"' && r.s[r.i] != '\\') {
				return node{}, r.errf("bad escape in quoted string")
			}
			sb.WriteByte(r.s[r.i])
			r.i++
		case c == '\r' || c == '\n' || c == 0:
			return node{}, r.errf("%q in a quoted string", c)
		case c >= 0x80:
			if !r.utf8 {
				return node{}, r.errf("8-bit byte in a quoted string without UTF-8")
			}
			ascii = false
			sb.WriteByte(c)
		default:
			sb.WriteByte(c)
		}
	}
}

func (r *reader) literal() (node, error) {
	j := r.i + 1
	for j < len(r.s) && r.s[j] >= '0' && r.s[j] <= '9' {
		j++
	}
	if j == r.i+1 || j+3 > len(r.s) || string(r.s[j:j+3]) != "}\r\n" {
		return node{}, r.errf("bad literal prefix")
	}
	n, err := strconv.Atoi(string(r.s[r.i+1 : j]))
	if err != nil || n > len(r.s)-(j+3) {
		return node{}, r.errf("literal of %d bytes runs past the end", n)
	}
	data := string(r.s[j+3 : j+3+n])
	if strings.IndexByte(data, 0) >= 0 {
		return node{}, r.errf("NUL in a literal")
	}
	r.i = j + 3 + n
	return node{kind: 's', str: data}, nil
}

// parseOne reads exactly one value from s.
func parseOne(s []byte, utf8 bool) (node, error) {
	r := reader{s: s, utf8: utf8}
	n, err := r.value()
	if err != nil {
		return node{}, err
	}
	if r.i != len(s) {
		return node{}, r.errf("trailing data %q", s[r.i:])
	}
	return n, nil
}

// Grammar checks (RFC 9051 section 9).

func isNString(n node) bool { return n.kind == 's' || n.kind == 'n' }

func checkEnvelope(n node) error {
	if n.kind != 'l' || len(n.list) != 10 {
		return fmt.Errorf("envelope %v: want a list of 10", n)
	}
	for _, i := range []int{0, 1, 8, 9} {
		if !isNString(n.list[i]) {
			return fmt.Errorf("envelope member %d %v: want nstring", i, n.list[i])
		}
	}
	for i := 2; i < 8; i++ {
		if err := checkAddresses(n.list[i]); err != nil {
			return fmt.Errorf("envelope member %d: %v", i, err)
		}
	}
	return nil
}

func checkAddresses(n node) error {
	if n.kind == 'n' {
		return nil
	}
	if n.kind != 'l' || len(n.list) == 0 {
		return fmt.Errorf("address list %v: want NIL or a non-empty list", n)
	}
	inGroup := false
	for _, a := range n.list {
		if a.kind != 'l' || len(a.list) != 4 {
			return fmt.Errorf("address %v: want a list of 4", a)
		}
		for _, f := range a.list {
			if !isNString(f) {
				return fmt.Errorf("address %v: want nstrings", a)
			}
		}
		if a.list[3].kind == 'n' { // a group marker
			if a.list[0].kind != 'n' || a.list[1].kind != 'n' {
				return fmt.Errorf("group marker %v with a name or route", a)
			}
			start := a.list[2].kind != 'n'
			if start == inGroup {
				return fmt.Errorf("unbalanced group marker %v", a)
			}
			inGroup = start
		} else if a.list[2].kind == 'n' {
			return fmt.Errorf("address %v: NIL mailbox with a host", a)
		}
	}
	if inGroup {
		return fmt.Errorf("group not closed in %v", n)
	}
	return nil
}

func checkParams(n node) error {
	if n.kind == 'n' {
		return nil
	}
	if n.kind != 'l' || len(n.list) == 0 || len(n.list)%2 != 0 {
		return fmt.Errorf("body-fld-param %v: want NIL or pairs", n)
	}
	for _, s := range n.list {
		if s.kind != 's' {
			return fmt.Errorf("body-fld-param %v: want strings", n)
		}
	}
	return nil
}

func checkExtTail(l []node) error {
	if len(l) != 3 {
		return fmt.Errorf("want disposition, language and location, got %v", l)
	}
	if d := l[0]; d.kind != 'n' {
		if d.kind != 'l' || len(d.list) != 2 || d.list[0].kind != 's' {
			return fmt.Errorf("body-fld-dsp %v", d)
		}
		if err := checkParams(d.list[1]); err != nil {
			return err
		}
	}
	if g := l[1]; !isNString(g) {
		if g.kind != 'l' || len(g.list) == 0 {
			return fmt.Errorf("body-fld-lang %v", g)
		}
		for _, s := range g.list {
			if s.kind != 's' {
				return fmt.Errorf("body-fld-lang %v", g)
			}
		}
	}
	if !isNString(l[2]) {
		return fmt.Errorf("body-fld-loc %v", l[2])
	}
	return nil
}

// checkBody checks a body against the grammar; utf8 says whether
// message/global takes the message form.
func checkBody(n node, ext, utf8 bool) error {
	if n.kind != 'l' || len(n.list) == 0 {
		return fmt.Errorf("body %v: want a non-empty list", n)
	}
	l := n.list
	if l[0].kind == 'l' {
		i := 0
		for i < len(l) && l[i].kind == 'l' {
			if err := checkBody(l[i], ext, utf8); err != nil {
				return err
			}
			i++
		}
		if i >= len(l) || l[i].kind != 's' {
			return fmt.Errorf("multipart %v: no subtype", n)
		}
		rest := l[i+1:]
		if !ext {
			if len(rest) != 0 {
				return fmt.Errorf("BODY multipart with extension data %v", rest)
			}
			return nil
		}
		if len(rest) != 4 {
			return fmt.Errorf("multipart extension data %v: want 4 fields", rest)
		}
		if err := checkParams(rest[0]); err != nil {
			return err
		}
		return checkExtTail(rest[1:])
	}
	if len(l) < 7 {
		return fmt.Errorf("body %v: too short", n)
	}
	if l[0].kind != 's' || l[1].kind != 's' || l[5].kind != 's' || l[6].kind != '#' ||
		!isNString(l[3]) || !isNString(l[4]) {
		return fmt.Errorf("body-fields of %v", n)
	}
	if err := checkParams(l[2]); err != nil {
		return err
	}
	typ, sub := strings.ToLower(l[0].str), strings.ToLower(l[1].str)
	rest := l[7:]
	switch {
	case typ == "message" && (sub == "rfc822" || sub == "global" && utf8):
		if len(rest) < 3 {
			return fmt.Errorf("message body %v: no envelope, body and lines", n)
		}
		if err := checkEnvelope(rest[0]); err != nil {
			return err
		}
		if err := checkBody(rest[1], ext, utf8); err != nil {
			return err
		}
		if rest[2].kind != '#' {
			return fmt.Errorf("message body %v: no lines", n)
		}
		rest = rest[3:]
	case typ == "text":
		if len(rest) < 1 || rest[0].kind != '#' {
			return fmt.Errorf("text body %v: no lines", n)
		}
		rest = rest[1:]
	}
	if !ext {
		if len(rest) != 0 {
			return fmt.Errorf("BODY part with extension data %v", rest)
		}
		return nil
	}
	if len(rest) != 4 || !isNString(rest[0]) {
		return fmt.Errorf("part extension data %v: want 4 fields", rest)
	}
	return checkExtTail(rest[1:])
}
