package sieve

import (
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The variables extension (RFC 5229).

const (
	maxVarNameLen  = 64
	maxMatchIndex  = 32
	maxScopeSize   = 255
	defaultVarSize = 4096
)

func init() {
	extensions["variables"] = true
	register(&spec{name: "set", ext: "variables", pos: []posKind{pStr, pStr}, names: []string{"name", "value"},
		tags: []tagSpec{{name: "lower"}, {name: "upper"}, {name: "lowerfirst"}, {name: "upperfirst"},
			{name: "quotewildcard"}, {name: "length"}, {name: "quoteregex", ext: "regex"}, {name: "encodeurl", ext: "enotify"}},
		check: checkSet, run: runSet})
	register(&spec{name: "string", test: true, ext: "variables", groups: gComparator | gMatch,
		pos: []posKind{pList, pList}, names: []string{"source", "key list"}, run: func(in *interp, c *cmd) (bool, error) {
			return in.match(c, in.list(c.args[0]), in.list(c.args[1]))
		}})
}

var modPrecedence = map[string]int{"lower": 40, "upper": 40, "lowerfirst": 30, "upperfirst": 30,
	"quotewildcard": 20, "quoteregex": 20, "encodeurl": 15, "length": 10}

func validIdent(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlpha(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// checkVarName validates a variable name for set and similar commands.
func (v *validator) checkVarName(p Pos, cmdName, name string) {
	if len(name) > maxVarNameLen {
		v.errorf(p, "%s command: variable name '%s' is too long (max %d characters)", cmdName, name, maxVarNameLen)
		return
	}
	parts := strings.Split(name, ".")
	if len(parts) > 1 {
		for _, e := range parts {
			if !validIdent(e) && !(len(e) > 0 && isDigit(e[0])) {
				v.errorf(p, "%s command: invalid variable name '%s'", cmdName, name)
				return
			}
		}
		ns := strings.ToLower(parts[0])
		if ns == "envelope" && v.has("vnd.gannet.envelope") && len(parts) == 2 {
			switch strings.ToLower(parts[1]) {
			case "from":
				if cmdName != "set" {
					v.errorf(p, "%s command: envelope.from is changed with set only", cmdName)
				}
			case "to":
				v.errorf(p, "%s command: envelope.to cannot be changed (redirect replaces a recipient)", cmdName)
			default:
				v.errorf(p, "%s command: unknown envelope variable '%s'", cmdName, name)
			}
			return
		}
		if ns == "global" && v.has("include") && len(parts) == 2 {
			// RFC 6609 section 3.4: "global." names an ordinary variable.
			if !validIdent(parts[1]) {
				v.errorf(p, "%s command: invalid variable name '%s'", cmdName, name)
			}
			return
		}
		if len(parts) > 4 {
			v.errorf(p, "%s command: variable name '%s' has too many elements", cmdName, name)
			return
		}
		v.errorf(p, "%s command: unknown variable namespace '%s'", cmdName, parts[0])
		return
	}
	if !validIdent(name) {
		v.errorf(p, "%s command: invalid variable name '%s'", cmdName, name)
		return
	}
	v.declare(p, name)
}

func (v *validator) declare(p Pos, name string) {
	if v.vars == nil {
		v.vars = map[string]bool{}
	}
	name = strings.ToLower(name)
	if !v.vars[name] {
		v.vars[name] = true
		// Reported once, for the first declaration beyond the limit.
		if len(v.vars) == maxScopeSize+1 {
			v.errorf(p, "declaration of variable '%s' exceeds the limit (max variables: %d)", name, maxScopeSize)
		}
	}
}

func checkSet(v *validator, c *cmd) {
	if len(c.args) < 1 || len(c.args[0].strs) == 0 {
		return
	}
	v.checkVarName(c.args[0].pos, "set", c.args[0].strs[0])
	seen := map[int]string{}
	var mods []string
	for _, a := range c.spec.tags {
		if c.has(a.name) {
			p := modPrecedence[a.name]
			if o, ok := seen[p]; ok {
				v.errorf(c.pos, "set command: modifiers :%s and :%s specified at the same precedence level", o, a.name)
			}
			seen[p] = a.name
			mods = append(mods, a.name)
		}
	}
	// Apply highest precedence first.
	for i := 0; i < len(mods); i++ {
		for j := i + 1; j < len(mods); j++ {
			if modPrecedence[mods[j]] > modPrecedence[mods[i]] {
				mods[i], mods[j] = mods[j], mods[i]
			}
		}
	}
	c.data = mods
}

func runSet(in *interp, c *cmd) (bool, error) {
	val := in.str(c.args[1])
	mods, _ := c.data.([]string)
	for _, m := range mods {
		val = applyModifier(m, val)
	}
	if max := in.maxVarSize(); len(val) > max {
		val = truncateUTF8(val[:max+1], max)
		for _, m := range mods {
			switch m {
			case "encodeurl":
				// Do not cut a %XX escape, nor the escapes of one
				// UTF-8 character.
				if i := strings.LastIndexByte(val, '%'); i >= 0 && i >= len(val)-2 {
					val = val[:i]
				}
				val = trimPartialEscapedRune(val)
			case "quotewildcard", "quoteregex":
				// Do not leave a dangling backslash.
				n := 0
				for n < len(val) && val[len(val)-1-n] == '\\' {
					n++
				}
				if n%2 == 1 {
					val = val[:len(val)-1]
				}
			}
		}
	}
	in.setVar(in.str(c.args[0]), val)
	return false, nil
}

// truncateUTF8 cuts s to at most max bytes at a character boundary.
func truncateUTF8(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

func applyModifier(m, val string) string {
	switch m {
	case "lower":
		return strings.ToLower(val)
	case "upper":
		return strings.ToUpper(val)
	case "lowerfirst":
		if r, n := utf8.DecodeRuneInString(val); n > 0 {
			return strings.ToLower(string(r)) + val[n:]
		}
	case "upperfirst":
		if r, n := utf8.DecodeRuneInString(val); n > 0 {
			return strings.ToUpper(string(r)) + val[n:]
		}
	case "quotewildcard":
		var b strings.Builder
		for _, r := range val {
			if r == '*' || r == '?' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		return b.String()
	case "quoteregex":
		return regexp.QuoteMeta(val)
	case "encodeurl":
		return encodeURL(val)
	case "length":
		return strconv.Itoa(utf8.RuneCountInString(val))
	}
	return val
}

// encodeURL percent-encodes all but unreserved characters (RFC 5435 4.2).
func encodeURL(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) && c != '_' || isDigit(c) || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(strconv.FormatInt(int64(c)|0x100, 16)[1:]))
		}
	}
	_ = url.QueryEscape
	return b.String()
}

func (in *interp) maxVarSize() int {
	for _, k := range []string{"sieve_variables_max_value_size", "sieve_variables_max_variable_size"} {
		if n, err := strconv.Atoi(in.cfg[k]); err == nil && n > 0 {
			return n
		}
	}
	return defaultVarSize
}

// setVar assigns a variable, truncating to the size limit at a UTF-8
// boundary.
func (in *interp) setVar(name, val string) {
	val = truncateUTF8(val, in.maxVarSize())
	name = strings.ToLower(name)
	if name == "envelope.from" { // vnd.gannet.envelope (checked at compile time)
		in.envFrom = &val
		return
	}
	if strings.HasPrefix(name, "global.") {
		in.globals[strings.TrimPrefix(name, "global.")] = val
		return
	}
	if in.script.globals[name] {
		in.globals[name] = val
		return
	}
	in.vars[name] = val
}

func (in *interp) getVar(name string) (string, bool) {
	name = strings.ToLower(name)
	switch name { // vnd.gannet.envelope (checked at compile time)
	case "envelope.from":
		if in.envFrom != nil {
			return *in.envFrom, true
		}
		return in.env.From, true
	case "envelope.to":
		return in.env.To, true
	}
	if strings.HasPrefix(name, "global.") {
		v, ok := in.globals[strings.TrimPrefix(name, "global.")]
		return v, ok
	}
	if in.script.globals[name] {
		v, ok := in.globals[name]
		return v, ok
	}
	v, ok := in.vars[name]
	return v, ok
}

// varRef parses "${name}" at s[i:]; it returns the name and the end, or
// ok false when it is no valid reference (left as literal text).
func varRef(s string, i int) (name string, end int, ok bool) {
	if !strings.HasPrefix(s[i:], "${") {
		return "", 0, false
	}
	j := i + 2
	for j < len(s) && (isAlpha(s[j]) || isDigit(s[j]) || s[j] == '.') {
		j++
	}
	if j >= len(s) || s[j] != '}' || j == i+2 {
		return "", 0, false
	}
	name = s[i+2 : j]
	if isDigit(name[0]) {
		for k := 0; k < len(name); k++ {
			if !isDigit(name[k]) {
				return "", 0, false
			}
		}
		return name, j + 1, true
	}
	for _, e := range strings.Split(name, ".") {
		if !validIdent(e) {
			return "", 0, false
		}
	}
	return name, j + 1, true
}

// expand substitutes variables in s (RFC 5229 section 3).
func (in *interp) expand(s string) string {
	if !in.script.required["variables"] || !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	max := in.maxVarSize() * 16
	for i := 0; i < len(s); {
		name, end, ok := varRef(s, i)
		if !ok {
			b.WriteByte(s[i])
			i++
			continue
		}
		b.WriteString(in.lookup(name))
		i = end
		if b.Len() > max {
			break
		}
	}
	return b.String()
}

// lookup returns a variable's value ("" when unset).
func (in *interp) lookup(name string) string {
	if isDigit(name[0]) {
		n, err := strconv.Atoi(name)
		if err != nil || n >= len(in.matchVals) {
			return ""
		}
		return in.matchVals[n]
	}
	ns, rest, dotted := strings.Cut(strings.ToLower(name), ".")
	if dotted {
		switch ns {
		case "global":
			v, _ := in.getVar(name)
			return v
		case "envelope":
			if in.script.required["vnd.gannet.envelope"] {
				v, _ := in.getVar(name)
				return v
			}
		case "env":
			if in.script.required["vnd.dovecot.environment"] {
				v, _ := in.environment(rest)
				return v
			}
		}
		if in.nsLookup != nil {
			if v, ok := in.nsLookup(ns, rest); ok {
				return v
			}
		}
		return ""
	}
	v, _ := in.getVar(name)
	return v
}

// checkVarRefs reports bad variable references at compile time.
func (v *validator) checkVarRefs(p Pos, s string) {
	for i := 0; i < len(s); i++ {
		name, end, ok := varRef(s, i)
		if !ok {
			continue
		}
		if isDigit(name[0]) {
			if n, err := strconv.Atoi(name); err != nil || n > maxMatchIndex {
				v.errorf(p, "variable index %s exceeds the maximum (%d)", name, maxMatchIndex)
			}
		} else if strings.Contains(name, ".") {
			ns := strings.ToLower(strings.SplitN(name, ".", 2)[0])
			if !(ns == "global" && v.has("include")) && !(ns == "env" && v.has("vnd.dovecot.environment")) && !(ns == "tst" && v.has("vnd.dovecot.testsuite")) &&
				!(ns == "envelope" && v.has("vnd.gannet.envelope")) {
				v.errorf(p, "unknown variable namespace '%s'", ns)
			}
		} else if len(name) > maxVarNameLen {
			v.errorf(p, "variable name '%s' is too long", name)
		}
		i = end - 1
	}
}

// decodeEncoded processes ${hex:..} and ${unicode:..} (RFC 5228 2.4.2.4).
func (v *validator) decodeEncoded(p Pos, s string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if !strings.HasPrefix(s[i:], "${") {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			b.WriteString(s[i:])
			break
		}
		inner := s[i+2 : i+end]
		kind, rest, ok := strings.Cut(inner, ":")
		kind = strings.ToLower(strings.TrimSpace(kind))
		if !ok || (kind != "hex" && kind != "unicode") {
			b.WriteString("${")
			i += 2
			continue
		}
		out, good := decodeSeq(kind, rest)
		if !good {
			if kind == "unicode" && out == "\x00invalid" {
				v.errorf(p, "invalid unicode character in encoded character sequence")
			}
			b.WriteString("${")
			i += 2
			continue
		}
		b.WriteString(out)
		i += end + 1
	}
	return b.String()
}

func decodeSeq(kind, rest string) (string, bool) {
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", false // "${hex:}" stays as it is
	}
	var b strings.Builder
	for _, f := range fields {
		if kind == "hex" {
			if len(f) > 2 && strings.Trim(f, "0") != "" && len(strings.TrimLeft(f, "0")) > 2 {
				return "", false
			}
			n, err := strconv.ParseUint(f, 16, 64)
			if err != nil || n > 0xff {
				return "", false
			}
			b.WriteByte(byte(n))
		} else {
			n, err := strconv.ParseUint(f, 16, 64)
			if errors.Is(err, strconv.ErrRange) {
				// All hex digits, but beyond any code point.
				return "\x00invalid", false
			}
			if err != nil {
				return "", false
			}
			if n > 0x10FFFF || n >= 0xD800 && n <= 0xDFFF {
				return "\x00invalid", false
			}
			b.WriteRune(rune(n))
		}
	}
	return b.String(), true
}

func utf8ValidString(s string) bool { return utf8.ValidString(s) }

// trimPartialEscapedRune drops trailing %XX escapes that encode only the
// first bytes of a multi-byte UTF-8 character.
func trimPartialEscapedRune(s string) string {
	n := 0 // trailing continuation bytes
	for i := len(s); i >= 3 && s[i-3] == '%'; i -= 3 {
		b, err := strconv.ParseUint(s[i-2:i], 16, 8)
		if err != nil {
			return s
		}
		switch {
		case b&0xC0 == 0x80:
			n++
			continue
		case b&0xE0 == 0xC0 && n < 1, b&0xF0 == 0xE0 && n < 2, b&0xF8 == 0xF0 && n < 3:
			return s[:i-3]
		}
		return s
	}
	return s
}
