package rewrite

import (
	"strings"
	"testing"
	"unicode/utf8"

	"gannet/lib/config"
)

func TestRewrite(t *testing.T) {
	rules := []config.RewriteRule{
		// A whole domain moves.
		{Match: `(.+)@old\.example`, Replace: "$1@example.org", Last: true},
		// Sender only: mail from a host name is sent as the domain.
		{Match: `([^@]+)@host[0-9]+\.example\.org`, Replace: "$1@example.org", Apply: "sender"},
		// Recipient only, with a named group: first.last to first_last.
		{Match: `(?P<first>[a-z]+)\.(?P<last>[a-z]+)@example\.org`, Replace: "${first}_${last}@example.org", Apply: "recipient"},
		// Chained: runs on what the rules above made.
		{Match: `bob_smith@example\.org`, Replace: "bob@example.org"},
		// Would make something that is not an address: ignored.
		{Match: `(.+)@broken\.example`, Replace: "$1"},
		{Match: `(.+)@two\.example`, Replace: "$1@a@b"},
		// Case-sensitive on request.
		{Match: `(?-i)CASE@example\.net`, Replace: "upper@example.net"},
	}
	rw, err := New(rules)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, in, sender, recipient string
	}{
		{"null sender", "", "", ""},
		{"no rule matches", "alice@example.org", "alice@example.org", "alice@example.org"},
		{"domain moves", "alice@old.example", "alice@example.org", "alice@example.org"},
		{"case-insensitive", "Alice@OLD.Example", "Alice@example.org", "Alice@example.org"},
		{"last stops", "bob.smith@old.example", "bob.smith@example.org", "bob.smith@example.org"},
		{"whole address only", "alice@old.example.net", "alice@old.example.net", "alice@old.example.net"},
		{"result would have two @", "x@y@old.example", "x@y@old.example", "x@y@old.example"},
		{"sender-only rule", "carol@host7.example.org", "carol@example.org", "carol@host7.example.org"},
		{"recipient-only rule and chain", "bob.smith@example.org", "bob.smith@example.org", "bob@example.org"},
		{"named groups", "ann.lee@example.org", "ann.lee@example.org", "ann_lee@example.org"},
		{"result without @ ignored", "dave@broken.example", "dave@broken.example", "dave@broken.example"},
		{"result with two @ ignored", "erin@two.example", "erin@two.example", "erin@two.example"},
		{"(?-i) matches", "CASE@example.net", "upper@example.net", "upper@example.net"},
		{"(?-i) does not fold", "case@example.net", "case@example.net", "case@example.net"},
		{"quoted local part", `"a b"@old.example`, `"a b"@example.org`, `"a b"@example.org`},
		{"utf-8", "jörg@old.example", "jörg@example.org", "jörg@example.org"},
		{"too long to rewrite", strings.Repeat("a", 250) + "@old.example", strings.Repeat("a", 250) + "@old.example", strings.Repeat("a", 250) + "@old.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rw.Sender(tt.in); got != tt.sender {
				t.Errorf("Sender(%q) = %q, want %q", tt.in, got, tt.sender)
			}
			if got := rw.Recipient(tt.in); got != tt.recipient {
				t.Errorf("Recipient(%q) = %q, want %q", tt.in, got, tt.recipient)
			}
		})
	}
}

func TestResultTooLong(t *testing.T) {
	rw, err := New([]config.RewriteRule{{Match: `(.+)@(.+)`, Replace: "$1$1$1$1$1@$2"}})
	if err != nil {
		t.Fatal(err)
	}
	short := "ab@example.org"
	if got := rw.Recipient(short); got != "ababababab@example.org" {
		t.Errorf("Recipient(%q) = %q", short, got)
	}
	long := strings.Repeat("x", 60) + "@example.org"
	if got := rw.Recipient(long); got != long {
		t.Errorf("a result over %d octets was used: %q", MaxAddressLength, got)
	}
}

func TestNilRewriterChangesNothing(t *testing.T) {
	var rw *Rewriter
	if rw.Sender("a@b") != "a@b" || rw.Recipient("a@b") != "a@b" {
		t.Error("a nil *Rewriter rewrote")
	}
	rw, err := New(nil)
	if err != nil || rw.Sender("a@b") != "a@b" {
		t.Errorf("New(nil) = %v, %v", rw, err)
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name  string
		rules []config.RewriteRule
		want  string
	}{
		{"bad pattern", []config.RewriteRule{{Match: "(", Replace: "a@b"}}, "smtpd.rewrite[0].match"},
		{"anchor escape", []config.RewriteRule{{Match: "a)|(b", Replace: "a@b"}}, "not a regular expression"},
		{"missing group", []config.RewriteRule{{Match: "a@b", Replace: "$1@b"}}, "smtpd.rewrite[0].replace"},
		{"apply", []config.RewriteRule{{Match: "a@b", Replace: "c@d", Apply: "all"}}, "smtpd.rewrite[0].apply"},
		{"too many", make([]config.RewriteRule, config.MaxRewriteRules+1), "at most 100"},
	}
	for i := range tests[4].rules {
		tests[4].rules[i] = config.RewriteRule{Match: "a@b", Replace: "c@d"}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.rules)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestValid(t *testing.T) {
	for addr, want := range map[string]bool{
		"a@b":                             true,
		"first.last@example.org":          true,
		`"a@b"@example.org`:               true,
		`"a\"b"@example.org`:              true,
		`"a b"@example.org`:               true,
		"a@[192.0.2.1]":                   true,
		"jörg@example.org":                true,
		"":                                false,
		"postmaster":                      false,
		"@example.org":                    false,
		"a@":                              false,
		"a@b@c":                           false,
		`"a@b"`:                           false,
		`"a@b@c`:                          false,
		"a b@c":                           false,
		"a<b@c":                           false,
		"a\r\nRCPT TO:<x@y>@c":            false,
		"a\x00@b":                         false,
		`a\b@c`:                           false,
		`a@"b"`:                           false,
		"a@b\xff":                         false,
		strings.Repeat("a", 251) + "@b.c": false,
		strings.Repeat("a", 250) + "@b.c": true,
	} {
		if got := Valid(addr); got != want {
			t.Errorf("Valid(%q) = %v, want %v", addr, got, want)
		}
	}
}

// FuzzRewrite runs random addresses through fixed rules and random rules
// through random addresses: no panic, and what comes out is the input or
// a valid address no longer than MaxAddressLength.
func FuzzRewrite(f *testing.F) {
	fixed, err := New([]config.RewriteRule{
		{Match: `(.+)@old\.example`, Replace: "$1@example.org"},
		{Match: `(?P<u>[^@+]+)\+[^@]*@(?P<d>.+)`, Replace: "${u}@${d}", Apply: "recipient"},
		{Match: `(.*)`, Replace: "$1$1$1"},
		{Match: `((a|b)*)*c?@(.*)`, Replace: "$3@$1", Last: true},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("alice@old.example", `(.+)@(.+)`, "$2@$1")
	f.Add("bob+tag@example.org", `(a*)*b`, "x@$1")
	f.Add(`"a b"@x`, `.*`, "$$@$0")
	f.Add("", `.*`, "a@b")
	f.Add("ab@c", `(?P<x>a)(b)`, "${x}${2}@y")
	f.Fuzz(func(t *testing.T, addr, pattern, replace string) {
		check := func(what, out string) {
			if out != addr && !Valid(out) {
				t.Fatalf("%s(%q) = %q: not an address", what, addr, out)
			}
			if out != addr && len(out) > MaxAddressLength {
				t.Fatalf("%s(%q) = %d octets", what, addr, len(out))
			}
			if addr == "" && out != "" {
				t.Fatalf("%s rewrote the null sender to %q", what, out)
			}
		}
		check("Sender", fixed.Sender(addr))
		check("Recipient", fixed.Recipient(addr))
		rw, err := New([]config.RewriteRule{{Match: pattern, Replace: replace}})
		if err != nil {
			return
		}
		out := rw.Recipient(addr)
		check("random rule", out)
		if out != addr && !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 %q", out)
		}
	})
}
