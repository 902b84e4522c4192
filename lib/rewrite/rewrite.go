// Package rewrite rewrites envelope addresses by regular expressions with
// captures, as Postfix's canonical_maps with a regexp: table do. smtpd
// applies it to MAIL FROM and RCPT TO before the directory looks the
// address up, so the rewritten address is the one delivered to.
//
// Patterns are Go regular expressions (RE2: matching takes time linear in
// the address, whatever the pattern), matched against the whole address
// and case-insensitively unless a pattern says (?-i). Rules run in order,
// each on what the rule before it made; a matching rule marked Last ends
// the run. A result that is not an address is ignored.
package rewrite

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"gannet/lib/config"
)

// MaxAddressLength is the longest address a rule may produce (RFC 5321
// section 4.5.3.1.3: a path is at most 256 octets with its angle
// brackets). Longer results are ignored, and longer inputs are never
// rewritten.
const MaxAddressLength = 254

// Rewriter applies a list of rules. It is safe for concurrent use.
type Rewriter struct {
	sender    []rule
	recipient []rule
}

type rule struct {
	re      *regexp.Regexp
	replace string
	last    bool
}

// New compiles rules. It refuses what config.Validate refuses: more than
// config.MaxRewriteRules rules, a pattern that does not compile, a
// replacement naming a group the pattern lacks, an unknown Apply.
func New(rules []config.RewriteRule) (*Rewriter, error) {
	// Checked by the same code as a configuration file, so that a rule
	// the file accepts is a rule New accepts.
	if err := config.CheckRewrite(rules); err != nil {
		return nil, fmt.Errorf("rewrite: %w", err)
	}
	rw := &Rewriter{}
	for i := range rules {
		r := &rules[i]
		re, err := r.Compile()
		if err != nil {
			return nil, fmt.Errorf("rewrite: rule %d: %w", i+1, err)
		}
		ru := rule{re: re, replace: r.Replace, last: r.Last}
		if r.Apply != "recipient" {
			rw.sender = append(rw.sender, ru)
		}
		if r.Apply != "sender" {
			rw.recipient = append(rw.recipient, ru)
		}
	}
	return rw, nil
}

// Sender returns the envelope sender addr rewritten by the rules that
// apply to senders. The null sender ("") is never rewritten.
func (rw *Rewriter) Sender(addr string) string {
	if rw == nil {
		return addr
	}
	return apply(rw.sender, addr)
}

// Recipient returns the recipient addr rewritten by the rules that apply
// to recipients.
func (rw *Rewriter) Recipient(addr string) string {
	if rw == nil {
		return addr
	}
	return apply(rw.recipient, addr)
}

func apply(rules []rule, addr string) string {
	if addr == "" || len(addr) > MaxAddressLength {
		return addr
	}
	var buf []byte
	for _, r := range rules {
		m := r.re.FindStringSubmatchIndex(addr)
		if m == nil {
			continue
		}
		buf = r.re.ExpandString(buf[:0], r.replace, addr, m)
		if !Valid(string(buf)) {
			// A rule that would make something other than an address
			// does not apply (and does not end the run).
			continue
		}
		addr = string(buf)
		if r.last {
			break
		}
	}
	return addr
}

// Valid reports whether addr may be used as an envelope address: UTF-8
// (RFC 6531) of at most MaxAddressLength octets, with exactly one @ outside
// a quoted local part and something on each side of it, no control
// characters, and no spaces, backslashes or angle brackets outside quotes.
func Valid(addr string) bool {
	if addr == "" || len(addr) > MaxAddressLength || !utf8.ValidString(addr) {
		return false
	}
	at := -1
	quoted := false
	for i := 0; i < len(addr); i++ {
		c := addr[i]
		switch {
		case c < ' ' || c == 0x7f:
			return false
		case quoted && c == '\\':
			i++ // RFC 5321 section 4.1.2: quoted-pairSMTP
			if i == len(addr) || addr[i] < ' ' || addr[i] == 0x7f {
				return false
			}
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == ' ' || c == '<' || c == '>' || c == '\\':
			return false
		case c == '@':
			if at >= 0 {
				return false
			}
			at = i
		}
	}
	return !quoted && at > 0 && at < len(addr)-1 && !strings.ContainsAny(addr[at+1:], `"\`)
}
