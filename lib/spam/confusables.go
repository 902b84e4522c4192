package spam

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// The table in confusables_table.go comes from the Unicode Consortium's
// confusables.txt (UTS #39, Unicode Security Mechanisms). To regenerate it
// from a newer file, point CONFUSABLES_TXT at it and run go generate.
//go:generate go run ./internal/genconfusables -o confusables_table.go $CONFUSABLES_TXT

// maxSkeletonInput bounds the text Skeleton works on: host names and
// display names are short, anything longer is cut.
const maxSkeletonInput = 1024

// prototype returns the prototype of r in the confusables table, and
// whether r has one.
func prototype(r rune) (string, bool) {
	i, ok := slices.BinarySearch(confusableFrom[:], r)
	if !ok {
		return "", false
	}
	start := uint16(0)
	if i > 0 {
		start = confusableEnd[i-1]
	}
	return confusableProto[start:confusableEnd[i]], true
}

// Skeleton returns the skeleton of s (UTS #39 section 4): s in NFD, each
// character replaced by its prototype, and the result in NFD again. Two
// strings with the same skeleton look alike ("paypal" and "pаypal" with a
// Cyrillic а, "rn" and "m"). Input past 1 KiB is ignored.
func Skeleton(s string) string {
	if len(s) > maxSkeletonInput {
		s = s[:maxSkeletonInput]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	d := norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(d))
	for _, r := range d {
		if p, ok := prototype(r); ok {
			b.WriteString(p)
		} else {
			b.WriteRune(r)
		}
	}
	return norm.NFD.String(b.String())
}

// domainSkeleton is the skeleton of a domain name compared without regard
// to case, as DNS compares names: the table maps "0" to "O" and "1" to "l",
// so "g00gle.com" and "google.com" meet only once lowered.
func domainSkeleton(s string) string {
	return strings.ToLower(Skeleton(strings.ToLower(s)))
}

// commonScripts are tried first when looking a character's script up: the
// scripts of nearly every domain name.
var commonScripts = []string{
	"Latin", "Cyrillic", "Greek", "Han", "Hiragana", "Katakana", "Hangul",
	"Arabic", "Hebrew", "Armenian", "Georgian", "Thai", "Devanagari", "Bopomofo",
}

// otherScripts are the remaining script names of package unicode, sorted so
// that lookups are deterministic.
var otherScripts = func() []string {
	var out []string
	for name := range unicode.Scripts {
		if !slices.Contains(commonScripts, name) && name != "Common" && name != "Inherited" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}()

// scriptOf returns the Unicode script of r (UAX #24), "" for the Common
// and Inherited scripts (digits, punctuation, combining marks), which go
// with any script.
func scriptOf(r rune) string {
	if r < utf8.RuneSelf {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return "Latin"
		}
		return ""
	}
	if unicode.Is(unicode.Common, r) || unicode.Is(unicode.Inherited, r) {
		return ""
	}
	for _, name := range commonScripts {
		if unicode.Is(unicode.Scripts[name], r) {
			return name
		}
	}
	for _, name := range otherScripts {
		if unicode.Is(unicode.Scripts[name], r) {
			return name
		}
	}
	return "Unknown"
}

// allowedMixes are the sets of scripts a label may mix (UTS #39 section
// 5.2, the "Highly Restrictive" level): Japanese, Chinese with Bopomofo,
// Korean, each with Latin.
var allowedMixes = [][]string{
	{"Latin", "Han", "Hiragana", "Katakana"},
	{"Latin", "Han", "Bopomofo"},
	{"Latin", "Han", "Hangul"},
}

// mixedScripts reports whether s mixes scripts that do not go together, as
// Latin with Cyrillic or Greek, and returns the scripts found.
func mixedScripts(s string) (bool, []string) {
	var found []string
	for _, r := range s {
		if sc := scriptOf(r); sc != "" && !slices.Contains(found, sc) {
			found = append(found, sc)
		}
	}
	if len(found) < 2 {
		return false, found
	}
	for _, allowed := range allowedMixes {
		ok := true
		for _, sc := range found {
			if !slices.Contains(allowed, sc) {
				ok = false
				break
			}
		}
		if ok {
			return false, found
		}
	}
	return true, found
}
