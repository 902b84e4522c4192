package directory

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"alice@example.test", "alice@example.test"},
		{"Alice@Example.TEST", "alice@example.test"},
		{"alice@example.test.", "alice@example.test"},
		{"user@bücher.example", "user@xn--bcher-kva.example"},
		{"USER@BÜCHER.EXAMPLE", "user@xn--bcher-kva.example"},
		{"user@xn--bcher-kva.example", "user@xn--bcher-kva.example"},
		{"Ünïcødé@example.test", "ünïcødé@example.test"},
		{"u\u0308ser@example.test", "üser@example.test"}, // NFC (RFC 6532 section 3.1)
		{"ΣΊΣΥΦΟΣ@example.test", "σίσυφοσ@example.test"},
		{"a+tag@example.test", "a+tag@example.test"},
		{"o'brien@example.test", "o'brien@example.test"},
		{"a..b@example.test", "a..b@example.test"},
		{`"john.doe"@example.test`, "john.doe@example.test"},
		{`"John Doe"@example.test`, `"john doe"@example.test`},
		{`"a\"b"@example.test`, `"a\"b"@example.test`},
		{`"a@b"@example.test`, `"a@b"@example.test`},
		{"postmaster@[192.0.2.1]", "postmaster@[192.0.2.1]"},
		{"postmaster@[IPv6:2001:DB8::1]", "postmaster@[IPv6:2001:db8::1]"},
		{strings.Repeat("a", 64) + "@example.test", strings.Repeat("a", 64) + "@example.test"},
		{"a@" + strings.Repeat(strings.Repeat("b", 63)+".", 3) + strings.Repeat("c", 63), "a@" + strings.Repeat(strings.Repeat("b", 63)+".", 3) + strings.Repeat("c", 63)},
	}
	for _, tt := range tests {
		got, err := Normalize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNormalizeErrors(t *testing.T) {
	bad := []string{
		"",
		"alice",
		"@example.test",
		"alice@",
		"alice@.",
		"alice@a..b",
		"alice@-a.test",
		"alice@a_b.test",
		"alice@exa mple.test",
		"a b@example.test",
		"a<b@example.test",
		"a\x00b@example.test",
		"a\x7fb@example.test",
		"\xff@example.test",
		`""@example.test`,
		`"a"b"@example.test`,
		strings.Repeat("a", 65) + "@example.test",                      // RFC 5321 4.5.3.1.1
		"a@" + strings.Repeat("b", 64) + ".test",                       // label over 63
		"a@" + strings.Repeat(strings.Repeat("b", 60)+".", 5) + "test", // domain over 255
		"a@[300.0.0.1]",
		"a@[IPv6:zz::1]",
		"a@[192.0.2.1",
	}
	for _, in := range bad {
		got, err := Normalize(in)
		if err == nil {
			t.Errorf("Normalize(%q) = %q, want an error", in, got)
			continue
		}
		if !errors.Is(err, ErrInvalidAddress) {
			t.Errorf("Normalize(%q) error %v does not wrap ErrInvalidAddress", in, err)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"alice@example.test", "USER@BÜCHER.example", `"John Doe"@example.test`,
		"a+b@xn--bcher-kva.example.", "postmaster@[IPv6:::1]", "a@b@c", "ǅ@example.test",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Normalize(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidAddress) {
				t.Fatalf("Normalize(%q): error %v does not wrap ErrInvalidAddress", s, err)
			}
			return
		}
		if !utf8.ValidString(n) {
			t.Fatalf("Normalize(%q) = %q, not UTF-8", s, n)
		}
		local, domain := Split(n)
		if len(local) == 0 || len(local) > maxLocalPart || len(domain) == 0 || len(domain) > maxDomain {
			t.Fatalf("Normalize(%q) = %q: parts out of bounds", s, n)
		}
		for i := 0; i < len(domain) && domain[0] != '['; i++ {
			if domain[i] >= 0x80 || domain[i] >= 'A' && domain[i] <= 'Z' {
				t.Fatalf("Normalize(%q) = %q: domain not lower-case ASCII", s, n)
			}
		}
		again, err := Normalize(n)
		if err != nil || again != n {
			t.Fatalf("Normalize(%q) = %q, but Normalize(%q) = %q, %v", s, n, n, again, err)
		}
	})
}
