package mtasts

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Policy
	}{
		{"rfc example, CRLF", "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
			Policy{Mode: Enforce, MX: []string{"mail.example.com", "*.example.net", "backupmx.example.com"}, MaxAge: 604800 * time.Second}},
		{"LF, no final newline", "version: STSv1\nmode: testing\nmx: mx.example.test\nmax_age: 86400",
			Policy{Mode: Testing, MX: []string{"mx.example.test"}, MaxAge: 86400 * time.Second}},
		{"any order, spaces around values", "max_age:\t0 \nmx:mx.example.test\t\nmode:   enforce\nversion: STSv1\n",
			Policy{Mode: Enforce, MX: []string{"mx.example.test"}, MaxAge: 0}},
		{"none needs no mx", "version: STSv1\nmode: none\nmax_age: 31557600\n",
			Policy{Mode: None, MaxAge: MaxMaxAge * time.Second}},
		{"extensions ignored", "version: STSv1\nmode: enforce\nx-note: hé llo wörld\nmx: mx.example.test\nmax_age: 1\nfoo.bar_baz-1: a:b;c\n",
			Policy{Mode: Enforce, MX: []string{"mx.example.test"}, MaxAge: time.Second}},
		{"empty lines skipped", "\nversion: STSv1\r\n\r\nmode: enforce\nmx: mx.example.test\nmax_age: 60\n\n",
			Policy{Mode: Enforce, MX: []string{"mx.example.test"}, MaxAge: time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if p.Mode != tt.want.Mode || !slices.Equal(p.MX, tt.want.MX) || p.MaxAge != tt.want.MaxAge {
				t.Errorf("Parse = %+v, want %+v", *p, tt.want)
			}
			// What String writes, Parse reads back.
			q, err := Parse([]byte(p.String()))
			if err != nil {
				t.Fatalf("Parse(String()): %v\n%s", err, p.String())
			}
			if q.Mode != p.Mode || !slices.Equal(q.MX, p.MX) || q.MaxAge != p.MaxAge {
				t.Errorf("Parse(String()) = %+v, want %+v", *q, *p)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const mx = "mx: mx.example.test\n"
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "no version field"},
		{"no version", "mode: enforce\n" + mx + "max_age: 1\n", "no version field"},
		{"no mode", "version: STSv1\n" + mx + "max_age: 1\n", "no mode field"},
		{"no max_age", "version: STSv1\nmode: enforce\n" + mx, "no max_age field"},
		{"enforce without mx", "version: STSv1\nmode: enforce\nmax_age: 1\n", "mode enforce without an mx field"},
		{"testing without mx", "version: STSv1\nmode: testing\nmax_age: 1\n", "mode testing without an mx field"},
		{"wrong version", "version: STSv2\nmode: enforce\n" + mx + "max_age: 1\n", `version "STSv2", want STSv1`},
		{"version in lower case", "version: stsv1\nmode: enforce\n" + mx + "max_age: 1\n", `version "stsv1"`},
		{"field name in upper case", "Version: STSv1\nmode: enforce\n" + mx + "max_age: 1\n", "no version field"},
		{"version twice", "version: STSv1\nversion: STSv1\nmode: enforce\n" + mx + "max_age: 1\n", "line 2: version given twice"},
		{"unknown mode", "version: STSv1\nmode: report\n" + mx + "max_age: 1\n", `mode "report", want enforce, testing or none`},
		{"mode in upper case", "version: STSv1\nmode: Enforce\n" + mx + "max_age: 1\n", `mode "Enforce"`},
		{"mode twice", "version: STSv1\nmode: enforce\nmode: none\n" + mx + "max_age: 1\n", "line 3: mode given twice"},
		{"max_age negative", "version: STSv1\nmode: enforce\n" + mx + "max_age: -1\n", `max_age "-1" is not a number`},
		{"max_age with unit", "version: STSv1\nmode: enforce\n" + mx + "max_age: 1d\n", `max_age "1d" is not a number`},
		{"max_age 11 digits", "version: STSv1\nmode: enforce\n" + mx + "max_age: 00000000001\n", "is not a number of seconds"},
		{"max_age too large", "version: STSv1\nmode: enforce\n" + mx + "max_age: 31557601\n", "max_age 31557601 above 31557600"},
		{"max_age twice", "version: STSv1\nmode: enforce\n" + mx + "max_age: 1\nmax_age: 2\n", "line 5: max_age given twice"},
		{"mx inner wildcard", "version: STSv1\nmode: enforce\nmx: mail.*.example.test\nmax_age: 1\n", "wildcard may only be a leftmost"},
		{"mx partial wildcard", "version: STSv1\nmode: enforce\nmx: mx*.example.test\nmax_age: 1\n", "wildcard may only be a leftmost"},
		{"mx bare wildcard", "version: STSv1\nmode: enforce\nmx: *\nmax_age: 1\n", "wildcard may only be a leftmost"},
		{"mx trailing dot", "version: STSv1\nmode: enforce\nmx: mx.example.test.\nmax_age: 1\n", "empty label"},
		{"mx with space", "version: STSv1\nmode: enforce\nmx: mx example.test\nmax_age: 1\n", `holds ' '`},
		{"mx with underscore", "version: STSv1\nmode: enforce\nmx: mx_1.example.test\nmax_age: 1\n", `holds '_'`},
		{"mx leading hyphen", "version: STSv1\nmode: enforce\nmx: -mx.example.test\nmax_age: 1\n", "must start and end with a letter or digit"},
		{"mx label too long", "version: STSv1\nmode: enforce\nmx: " + strings.Repeat("a", 64) + ".test\nmax_age: 1\n", "label longer than 63"},
		{"no colon", "version: STSv1\nmode enforce\n" + mx + "max_age: 1\n", `line 2: no ":" after the field name`},
		{"space before colon", "version: STSv1\nmode : enforce\n" + mx + "max_age: 1\n", `line 2: bad field name "mode "`},
		{"leading space", " version: STSv1\nmode: enforce\n" + mx + "max_age: 1\n", `line 1: bad field name " version"`},
		{"empty value", "version: STSv1\nmode:\n" + mx + "max_age: 1\n", "line 2: field mode has no value"},
		{"bare CR", "version: STSv1\rmode: enforce\n" + mx + "max_age: 1\n", "control character U+000D"},
		{"NUL in extension", "version: STSv1\nmode: enforce\nx: a\x00b\n" + mx + "max_age: 1\n", "control character U+0000"},
		{"tab inside a value", "version: STSv1\nmode: enforce\nx: a\tb\n" + mx + "max_age: 1\n", "tab inside the value"},
		{"extension name too long", "version: STSv1\nmode: enforce\n" + strings.Repeat("x", 33) + ": 1\n" + mx + "max_age: 1\n", "bad field name"},
		{"not UTF-8", "version: STSv1\nmode: enforce\nx: \xff\n" + mx + "max_age: 1\n", "not UTF-8"},
		{"HTML page", "<html><body>Not found</body></html>\n", `line 1: no ":"`},
		{"too large", "version: STSv1\nmode: enforce\n" + mx + "max_age: 1\n" + strings.Repeat("x: 1234567890\n", MaxPolicySize/14), "larger than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse = %+v, want an error with %q", *p, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error %q, want one with %q", err, tt.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	p := &Policy{Mode: Enforce, MX: []string{"mail.example.com", "*.example.net", "MX.Upper.Test"}}
	tests := []struct {
		host string
		want bool
	}{
		{"mail.example.com", true},
		{"mail.example.com.", true}, // as MX records give it
		{"MAIL.Example.COM", true},
		{"example.com", false},
		{"other.example.com", false},
		{"a.mail.example.com", false},
		{"mx1.example.net", true},
		{"MX1.EXAMPLE.NET.", true},
		{"example.net", false},     // the wildcard needs a label
		{".example.net", false},    // an empty one does not do
		{"a.b.example.net", false}, // one label only (section 4.1)
		{"mx1.example.net.evil", false},
		{"mx1example.net", false},
		{"mx.upper.test", true},
		{"", false},
		{".", false},
	}
	for _, tt := range tests {
		if got := p.Match(tt.host); got != tt.want {
			t.Errorf("Match(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
	if (&Policy{Mode: None}).Match("mail.example.com") {
		t.Error("a policy without mx patterns matched a host")
	}
}

func TestParseRecord(t *testing.T) {
	good := map[string]string{
		"v=STSv1; id=20160831085700Z;":           "20160831085700Z",
		"v=STSv1;id=1":                           "1",
		"v=STSv1 ;\tid=abc ; ext=x;":             "abc",
		"v=STSv1; ext.x-y_z=a:b<>; id=ABC12":     "ABC12",
		"v=STSv1; id=" + strings.Repeat("9", 32): strings.Repeat("9", 32),
	}
	for in, want := range good {
		id, err := parseRecord(in)
		if err != nil || id != want {
			t.Errorf("parseRecord(%q) = %q, %v, want %q", in, id, err, want)
		}
	}
	bad := map[string]string{
		"":                                       `does not start with "v=STSv1"`,
		"v=STSv2; id=1":                          `does not start with "v=STSv1"`,
		"v=STSv1":                                "no id field",
		"v=STSv1;":                               "no id field",
		"v=STSv1; ext=1":                         "no id field",
		"v=STSv1x; id=1":                         `"x" after v=STSv1`,
		"v=STSv1; id=1; id=2":                    "id given twice",
		"v=STSv1; id=":                           "is not 1 to 32 letters and digits",
		"v=STSv1; id=a-b":                        "is not 1 to 32 letters and digits",
		"v=STSv1; id=" + strings.Repeat("9", 33): "is not 1 to 32",
		"v=STSv1; id = 1":                        "bad field name",
		"v=STSv1;; id=1":                         `has no "="`,
		"v=STSv1; id=1; _x=1":                    "bad field name",
		"v=STSv1; id=1; x=":                      "field x has no value",
		"v=STSv1; id=1; x=a b":                   `' ' in the value`,
		"v=STSv1; id=1; x=a=b":                   `'=' in the value`,
	}
	for in, want := range bad {
		id, err := parseRecord(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseRecord(%q) = %q, %v, want an error with %q", in, id, err, want)
		}
	}
}
