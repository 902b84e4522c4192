package sieve

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Comparators (RFC 4790, RFC 5051).
var comparatorNames = []string{"i;octet", "i;ascii-casemap", "i;ascii-numeric", "i;unicode-casemap"}

func comparatorKnown(name string) bool {
	for _, n := range comparatorNames {
		if n == name {
			return true
		}
	}
	return false
}

// fold returns the comparator's canonical form of s for equality and
// substring matching.
func fold(cmp, s string) string {
	switch cmp {
	case "i;ascii-casemap":
		return asciiLower(s)
	case "i;unicode-casemap":
		if !utf8.ValidString(s) {
			return asciiLower(s)
		}
		return strings.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }, s)
	}
	return s
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// numeric returns the i;ascii-numeric value: the leading digits, or
// infinity (ok false) when there are none.
func numeric(s string) (string, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return "", false
	}
	n := strings.TrimLeft(s[:i], "0")
	return n, true
}

// compare orders a and b under the comparator: -1, 0 or 1.
func compare(cmp, a, b string) int {
	if cmp == "i;ascii-numeric" {
		na, oka := numeric(a)
		nb, okb := numeric(b)
		switch {
		case !oka && !okb:
			return 0
		case !oka:
			return 1
		case !okb:
			return -1
		}
		if len(na) != len(nb) {
			if len(na) < len(nb) {
				return -1
			}
			return 1
		}
		return strings.Compare(na, nb)
	}
	return strings.Compare(fold(cmp, a), fold(cmp, b))
}

func relOK(rel string, c int) bool {
	switch rel {
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	}
	return false
}

// checkMatch validates keys at compile time (regex syntax).
func (v *validator) checkMatch(c *cmd) {
	if c.mt != "regex" || len(c.args) == 0 {
		return
	}
	keys := c.args[len(c.args)-1]
	if c.name == "string" || c.name == "test_error" || c.name == "test_result_action" {
		keys = c.args[len(c.args)-1]
	}
	for _, k := range keys.strs {
		if v.has("variables") && strings.Contains(k, "${") {
			continue
		}
		if _, err := compileRegex(k, c.cmp); err != nil {
			v.errorf(keys.pos, "invalid regular expression '%s' for regex match: %v", k, err)
		}
	}
}

func compileRegex(k, cmp string) (*regexp.Regexp, error) {
	switch cmp {
	case "i;ascii-casemap", "i;unicode-casemap":
		k = "(?i)" + k
	}
	return regexp.Compile(k)
}

// matchGlob matches s against a :matches pattern (RFC 5228 section 2.7.1)
// under the comparator, returning the values of the wildcards.
func matchGlob(cmp, pat, s string, steps *int) ([]string, bool) {
	pr := []rune(fold(cmp, pat))
	// Keep the original text for match values.
	orig := []rune(s)
	sr := []rune(fold(cmp, s))
	if len(sr) != len(orig) {
		orig = sr
	}
	type tok struct {
		kind byte // 'c' char, '*', '?'
		r    rune
	}
	var toks []tok
	for i := 0; i < len(pr); i++ {
		switch pr[i] {
		case '\\':
			if i+1 < len(pr) {
				i++
			}
			toks = append(toks, tok{'c', pr[i]})
		case '*':
			toks = append(toks, tok{kind: '*'})
		case '?':
			toks = append(toks, tok{kind: '?'})
		default:
			toks = append(toks, tok{'c', pr[i]})
		}
	}
	// Backtracking with captures; greedy-leftmost per RFC 5229 (each '*'
	// matches as little as possible? no: Pigeonhole matches the shortest
	// for all but the last, which takes the rest).
	caps := make([]string, 0, 8)
	var rec func(ti, si int) bool
	rec = func(ti, si int) bool {
		*steps++
		if *steps > 1000000 {
			return false
		}
		if ti == len(toks) {
			return si == len(sr)
		}
		t := toks[ti]
		switch t.kind {
		case 'c':
			if si < len(sr) && sr[si] == t.r {
				return rec(ti+1, si+1)
			}
			return false
		case '?':
			if si < len(sr) {
				caps = append(caps, string(orig[si:si+1]))
				if rec(ti+1, si+1) {
					return true
				}
				caps = caps[:len(caps)-1]
			}
			return false
		}
		for e := si; e <= len(sr); e++ {
			caps = append(caps, string(orig[si:e]))
			if rec(ti+1, e) {
				return true
			}
			caps = caps[:len(caps)-1]
		}
		return false
	}
	if !rec(0, 0) {
		return nil, false
	}
	return append([]string{s}, caps...), true
}

// matcher evaluates a match type over values and keys.
type matcher struct {
	in   *interp
	c    *cmd
	keys []string
	// count counts values for :count.
	count int
}

// match reports whether any value matches any key (RFC 5228 section 2.7).
// It sets match variables for :matches and :regex.
func (in *interp) match(c *cmd, values []string, keys []string) (bool, error) {
	switch c.mt {
	case "count":
		n := 0
		for _, v := range values {
			if c.name != "string" || v != "" {
				n++
			}
		}
		cs := strconv.Itoa(n)
		for _, k := range keys {
			if relOK(c.rel, compare(c.cmp, cs, k)) {
				return true, nil
			}
		}
		return false, nil
	case "list":
		return in.matchList(c, values, keys)
	case "regex":
		// Keys are compiled first, so a bad one is reported even when
		// there are no values.
		var good []string
		for _, k := range keys {
			if _, err := in.regex(k, c.cmp); err != nil {
				in.warn(c.pos, "invalid regular expression '%s' for regex match: %v", k, err)
				continue
			}
			good = append(good, k)
		}
		keys = good
	}
	for _, v := range values {
		for _, k := range keys {
			if err := in.step(); err != nil {
				return false, err
			}
			ok, err := in.matchOne(c, v, k)
			if err != nil || ok {
				return ok, err
			}
		}
	}
	return false, nil
}

func (in *interp) matchOne(c *cmd, v, k string) (bool, error) {
	switch c.mt {
	case "is":
		if c.cmp == "i;ascii-numeric" {
			return compare(c.cmp, v, k) == 0, nil
		}
		return fold(c.cmp, v) == fold(c.cmp, k), nil
	case "contains":
		return strings.Contains(fold(c.cmp, v), fold(c.cmp, k)), nil
	case "value":
		return relOK(c.rel, compare(c.cmp, v, k)), nil
	case "matches":
		in.globSteps = 0
		caps, ok := matchGlob(c.cmp, k, v, &in.globSteps)
		if ok && in.script.required["variables"] {
			in.setMatch(caps)
		}
		return ok, nil
	case "regex":
		re, err := in.regex(k, c.cmp)
		if err != nil {
			// Not fatal (as Pigeonhole): the key never matches.
			in.warn(c.pos, "invalid regular expression '%s' for regex match: %v", k, err)
			return false, nil
		}
		m := re.FindStringSubmatch(v)
		if m == nil {
			return false, nil
		}
		if in.script.required["variables"] {
			in.setMatch(m)
		}
		return true, nil
	}
	return false, nil
}

func (in *interp) regex(k, cmp string) (*regexp.Regexp, error) {
	key := cmp + "\x00" + k
	if re, ok := in.regexCache[key]; ok {
		return re, nil
	}
	re, err := compileRegex(k, cmp)
	if err != nil {
		return nil, err
	}
	if len(in.regexCache) < 1000 {
		in.regexCache[key] = re
	}
	return re, nil
}

func (in *interp) setMatch(m []string) {
	if len(m) > maxMatchIndex+1 {
		m = m[:maxMatchIndex+1]
	}
	in.matchVals = append(in.matchVals[:0], m...)
}
