package config

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestRewriteAndMilterParse(t *testing.T) {
	c, err := Parse("g.toml", []byte(minimal+`
[[smtpd.rewrite]]
match = '(?P<user>[^@]+)@old\.example'
replace = '$${user}@example.org'
apply = "recipient"
last = true

[[smtpd.rewrite]]
match = '.*'
replace = 'x@y'

[[smtpd.milter]]
name = "dkim"
address = "inet:127.0.0.1:8891"
protocol = 2
timeout = "5s"
default_action = "accept"
`))
	if err != nil {
		t.Fatal(err)
	}
	rw := c.SMTPD.Rewrite
	if len(rw) != 2 || rw[0].Match != `(?P<user>[^@]+)@old\.example` || rw[0].Replace != "${user}@example.org" || rw[0].Apply != "recipient" || !rw[0].Last || rw[1].Apply != "" || rw[1].Last {
		t.Errorf("rewrite = %+v", rw)
	}
	ms := c.SMTPD.Milters
	if len(ms) != 1 || ms[0].Name != "dkim" || ms[0].Protocol != 2 || ms[0].Timeout.Duration != 5*time.Second || ms[0].DefaultAction != "accept" {
		t.Errorf("milters = %+v", ms)
	}
}

func TestRewriteAndMilterErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []wantErr
	}{
		{"bad regexp", "[[smtpd.rewrite]]\nmatch = '(a'\nreplace = 'x@y'\n", []wantErr{{5, "smtpd.rewrite[0].match", "missing closing )"}}},
		{"escaping the anchors", "[[smtpd.rewrite]]\nmatch = 'a)|(b'\nreplace = 'x@y'\n", []wantErr{{5, "smtpd.rewrite[0].match", "not a regular expression"}}},
		{"backreference", "[[smtpd.rewrite]]\nmatch = '(a)\\1'\nreplace = 'x@y'\n", []wantErr{{5, "smtpd.rewrite[0].match", "invalid escape"}}},
		{"too complex", "[[smtpd.rewrite]]\nmatch = '(.?){1000}'\nreplace = 'x@y'\n", []wantErr{{5, "smtpd.rewrite[0].match", "too complex"}}},
		{"missing match", "[[smtpd.rewrite]]\nreplace = 'x@y'\n", []wantErr{{4, "smtpd.rewrite[0].match", "required"}}},
		{"missing replace", "[[smtpd.rewrite]]\nmatch = 'a'\n", []wantErr{{4, "smtpd.rewrite[0].replace", "required"}}},
		{"group out of range", "[[smtpd.rewrite]]\nmatch = '(a)@b'\nreplace = '$2@c'\n", []wantErr{{6, "smtpd.rewrite[0].replace", "$2: the pattern has 1 groups"}}},
		{"$1x", "[[smtpd.rewrite]]\nmatch = '(a)@b'\nreplace = '$1x@c'\n", []wantErr{{6, "smtpd.rewrite[0].replace", "write $${1}x"}}},
		{"unknown name", "[[smtpd.rewrite]]\nmatch = '(?P<u>a)@b'\nreplace = '$${v}@c'\n", []wantErr{{6, "smtpd.rewrite[0].replace", `$v: the pattern has no group named "v"`}}},
		{"lone dollar", "[[smtpd.rewrite]]\nmatch = 'a@b'\nreplace = 'a$@c'\n", []wantErr{{6, "smtpd.rewrite[0].replace", "write $$"}}},
		{"apply", "[[smtpd.rewrite]]\nmatch = 'a@b'\nreplace = 'c@d'\napply = \"from\"\n", []wantErr{{7, "smtpd.rewrite[0].apply", `"from" is not one of`}}},
		{"second rule", "[[smtpd.rewrite]]\nmatch = 'a@b'\nreplace = 'c@d'\n[[smtpd.rewrite]]\nmatch = '['\nreplace = 'c@d'\n", []wantErr{{8, "smtpd.rewrite[1].match", "missing closing ]"}}},
		{"too many rules", strings.Repeat("[[smtpd.rewrite]]\nmatch = 'a@b'\nreplace = 'c@d'\n", MaxRewriteRules+1), []wantErr{{4, "smtpd.rewrite", "at most 100"}}},
		{"milter address", "[[smtpd.milter]]\naddress = \"127.0.0.1:8891\"\n", []wantErr{{5, "smtpd.milter[0].address", `want "inet:host:port" or "unix:/path"`}}},
		{"missing milter address", "[[smtpd.milter]]\nname = \"x\"\n", []wantErr{{4, "smtpd.milter[0].address", "want"}}},
		{"relative socket", "[[smtpd.milter]]\naddress = \"unix:milter.sock\"\n", []wantErr{{5, "smtpd.milter[0].address", "absolute"}}},
		{"milter port", "[[smtpd.milter]]\naddress = \"inet:localhost:dkim\"\n", []wantErr{{5, "smtpd.milter[0].address", "not a number"}}},
		{"milter protocol", "[[smtpd.milter]]\naddress = \"inet:localhost:8891\"\nprotocol = 4\n", []wantErr{{6, "smtpd.milter[0].protocol", "want 2 or 6"}}},
		{"milter timeout", "[[smtpd.milter]]\naddress = \"inet:localhost:8891\"\ntimeout = \"-1s\"\n", []wantErr{{6, "smtpd.milter[0].timeout", "negative"}}},
		{"milter default action", "[[smtpd.milter]]\naddress = \"inet:localhost:8891\"\ndefault_action = \"discard\"\n", []wantErr{{6, "smtpd.milter[0].default_action", `"discard" is not one of`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(minimal+tt.file))
			if err == nil {
				t.Fatal("Parse accepted the file")
			}
			errs := errorList(t, err)
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tt.want), err)
			}
			for i, w := range tt.want {
				if e := errs[i]; e.Line != w.line || e.Key != w.key || !strings.Contains(e.Msg, w.msg) {
					t.Errorf("error %d = %q (line %d, key %q)\nwant line %d, key %q, message containing %q", i, e.Msg, e.Line, e.Key, w.line, w.key, w.msg)
				}
			}
		})
	}
}

func TestRewriteCompileAnchorsAndFolds(t *testing.T) {
	r := RewriteRule{Match: `(.+)@example\.org`, Replace: "$1@x"}
	re, err := r.Compile()
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"a@example.org":       true,
		"A@EXAMPLE.ORG":       true,
		"a@example.org.evil":  false,
		"a@example.orgx":      false,
		"x<a@example.org":     true, // .+ takes anything before the @
		"a@sub.example.org.x": false,
	} {
		if got := re.MatchString(addr); got != want {
			t.Errorf("match %q = %v, want %v", addr, got, want)
		}
	}
	r.Match = `(?-i)a@b`
	if re, err = r.Compile(); err != nil || re.MatchString("A@b") || !re.MatchString("a@b") {
		t.Errorf("(?-i) does not make the match case-sensitive: %v", err)
	}
}

func TestMilterEndpoint(t *testing.T) {
	tests := []struct{ in, network, addr string }{
		{"inet:127.0.0.1:8891", "tcp", "127.0.0.1:8891"},
		{"inet:localhost:8891", "tcp", "localhost:8891"},
		{"inet:[::1]:8891", "tcp", "[::1]:8891"},
		{"inet:8891@127.0.0.1", "tcp", "127.0.0.1:8891"},
		{"inet6:8891@[::1]", "tcp", "[::1]:8891"},
		{"unix:/run/opendkim/opendkim.sock", "unix", "/run/opendkim/opendkim.sock"},
		{"local:/run/x//y.sock", "unix", "/run/x/y.sock"},
	}
	for _, tt := range tests {
		m := Milter{Address: tt.in}
		n, a, err := m.Endpoint()
		if err != nil || n != tt.network || a != tt.addr {
			t.Errorf("Endpoint(%q) = %q, %q, %v; want %q, %q", tt.in, n, a, err, tt.network, tt.addr)
		}
	}
	for _, bad := range []string{"", "inet:8891", "inet::8891", "inet:host:0", "inet:host:70000", "tcp:host:1", "unix:", "unix:rel", "inet:bad_host:1"} {
		m := Milter{Address: bad}
		if _, _, err := m.Endpoint(); err == nil {
			t.Errorf("Endpoint(%q) accepted", bad)
		}
	}
}

// FuzzMilterEndpoint: no panic, and what Endpoint accepts is something to
// dial.
func FuzzMilterEndpoint(f *testing.F) {
	for _, s := range []string{"inet:127.0.0.1:8891", "inet:8891@[::1]", "unix:/run/x.sock", "inet:[::1", "inet:@", "local:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := Milter{Address: s}
		network, addr, err := m.Endpoint()
		if err != nil {
			return
		}
		switch network {
		case "unix":
			if !strings.HasPrefix(addr, "/") {
				t.Fatalf("%q: unix %q", s, addr)
			}
		case "tcp":
			if _, _, err := net.SplitHostPort(addr); err != nil {
				t.Fatalf("%q: tcp %q: %v", s, addr, err)
			}
		default:
			t.Fatalf("%q: network %q", s, network)
		}
	})
}
