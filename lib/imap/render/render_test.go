package render

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gannet/lib/message"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// stored parses raw and reads the structure back the way FETCH will: from
// the encoding kept in the store.
func stored(t testing.TB, raw []byte) *message.Parsed {
	t.Helper()
	p, err := message.Decode(message.Parse(raw).Meta().Structure)
	if err != nil {
		t.Fatalf("decode structure: %v", err)
	}
	return p
}

// items renders ENVELOPE, BODYSTRUCTURE and BODY of p.
func items(p *message.Parsed, utf8 bool) (env, bs, body string) {
	var b bytes.Buffer
	Envelope(&b, p.Root.Envelope, utf8)
	env = b.String()
	b.Reset()
	BodyStructure(&b, p.Root, true, utf8)
	bs = b.String()
	b.Reset()
	BodyStructure(&b, p.Root, false, utf8)
	body = b.String()
	return env, bs, body
}

// checkItems checks rendered items against the grammar.
func checkItems(t testing.TB, env, bs, body string, utf8 bool) {
	t.Helper()
	n, err := parseOne([]byte(env), utf8)
	if err == nil {
		err = checkEnvelope(n)
	}
	if err != nil {
		t.Fatalf("ENVELOPE %q: %v", env, err)
	}
	for _, c := range []struct {
		s   string
		ext bool
	}{{bs, true}, {body, false}} {
		n, err := parseOne([]byte(c.s), utf8)
		if err == nil {
			err = checkBody(n, c.ext, utf8)
		}
		if err != nil {
			t.Fatalf("body (extended %v) %q: %v", c.ext, c.s, err)
		}
	}
}

func emls(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.eml: %v", err)
	}
	return files
}

// TestGolden renders every testdata/*.eml and compares with its .golden
// file: ENVELOPE, BODYSTRUCTURE and BODY without UTF-8, then the items that
// differ with UTF-8. Run with -update to rewrite the golden files.
func TestGolden(t *testing.T) {
	for _, file := range emls(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".eml")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			p := stored(t, raw)
			var out strings.Builder
			env, bs, body := items(p, false)
			checkItems(t, env, bs, body, false)
			out.WriteString("ENVELOPE " + env + "\n")
			out.WriteString("BODYSTRUCTURE " + bs + "\n")
			out.WriteString("BODY " + body + "\n")
			uenv, ubs, ubody := items(p, true)
			checkItems(t, uenv, ubs, ubody, true)
			if uenv != env {
				out.WriteString("UTF8 ENVELOPE " + uenv + "\n")
			}
			if ubs != bs {
				out.WriteString("UTF8 BODYSTRUCTURE " + ubs + "\n")
			}
			if ubody != body {
				out.WriteString("UTF8 BODY " + ubody + "\n")
			}

			// The structure straight from Parse renders the same.
			penv, pbs, pbody := items(message.Parse(raw), false)
			if penv != env || pbs != bs || pbody != body {
				t.Errorf("Parse and Decode render differently:\n%s\n%s\n%s", penv, pbs, pbody)
			}

			golden := strings.TrimSuffix(file, ".eml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got := out.String(); got != string(want) {
				t.Errorf("%s differs from %s:\ngot:\n%s\nwant:\n%s", name, golden, got, want)
			}
		})
	}
}

func TestString(t *testing.T) {
	long := strings.Repeat("x", 1001)
	for _, tc := range []struct {
		in        string
		ascii, u8 string
	}{
		{"", `""`, `""`},
		{"plain", `"plain"`, `"plain"`},
		{`say "hi" \o/`, `"say \"hi\" \\o/"`, `"say \"hi\" \\o/"`},
		{"NIL", `"NIL"`, `"NIL"`},
		{"tab\there", "\"tab\there\"", "\"tab\there\""},
		{"two\r\nlines", "{10}\r\ntwo\r\nlines", "{10}\r\ntwo\r\nlines"},
		{"lf\nonly", "{7}\r\nlf\nonly", "{7}\r\nlf\nonly"},
		{"café", "{5}\r\ncafé", `"café"`},
		{"caf\xe9", "{4}\r\ncaf\xe9", "{4}\r\ncaf\xe9"}, // not UTF-8
		{"nul\x00byte", `"nulbyte"`, `"nulbyte"`},
		{strings.Repeat("x", 1000), `"` + strings.Repeat("x", 1000) + `"`, `"` + strings.Repeat("x", 1000) + `"`},
		{long, "{1001}\r\n" + long, "{1001}\r\n" + long},
	} {
		for _, u := range []bool{false, true} {
			var b bytes.Buffer
			String(&b, tc.in, u)
			want := tc.ascii
			if u {
				want = tc.u8
			}
			if b.String() != want {
				t.Errorf("String(%q, utf8=%v) = %q, want %q", tc.in, u, b.String(), want)
			}
			n, err := parseOne(b.Bytes(), u)
			if err != nil {
				t.Errorf("String(%q, utf8=%v) = %q: %v", tc.in, u, b.String(), err)
			} else if want := strings.ReplaceAll(tc.in, "\x00", ""); n.str != want {
				t.Errorf("String(%q, utf8=%v) reads back as %q", tc.in, u, n.str)
			}
		}
	}
	var b bytes.Buffer
	NString(&b, "x", false, false)
	b.WriteByte(' ')
	NString(&b, "", true, false)
	b.WriteByte(' ')
	NString(&b, "x", true, false)
	if b.String() != `NIL "" "x"` {
		t.Errorf("NString: %q", b.String())
	}
}

// TestAddressGroups checks that group markers come out balanced whatever
// the stored list holds, and the NIL rules of RFC 9051 section 7.5.2.
func TestAddressGroups(t *testing.T) {
	grp := func(name string) message.Address { return message.Address{Group: true, Mailbox: name} }
	end := message.Address{Group: true}
	a := message.Address{Name: "A", Mailbox: "a", Host: "x"}
	noHost := message.Address{Mailbox: "local"}
	for _, tc := range []struct {
		list []message.Address
		want string
	}{
		{nil, "NIL"},
		{[]message.Address{a}, `(("A" NIL "a" "x"))`},
		{[]message.Address{noHost}, `((NIL NIL "local" ""))`},
		{[]message.Address{{}}, `((NIL NIL "" ""))`},
		{[]message.Address{grp("g"), a, end}, `((NIL NIL "g" NIL)("A" NIL "a" "x")(NIL NIL NIL NIL))`},
		{[]message.Address{grp("g"), end}, `((NIL NIL "g" NIL)(NIL NIL NIL NIL))`},
		{[]message.Address{grp("g"), a}, `((NIL NIL "g" NIL)("A" NIL "a" "x")(NIL NIL NIL NIL))`},
		{[]message.Address{end, a, end}, `(("A" NIL "a" "x"))`},
		{[]message.Address{end}, "NIL"},
		{[]message.Address{grp("g"), grp("h"), end}, `((NIL NIL "g" NIL)(NIL NIL NIL NIL)(NIL NIL "h" NIL)(NIL NIL NIL NIL))`},
	} {
		var b bytes.Buffer
		addresses(&b, tc.list, false)
		if b.String() != tc.want {
			t.Errorf("addresses(%v) = %s, want %s", tc.list, b.String(), tc.want)
		}
		if n, err := parseOne(b.Bytes(), false); err != nil {
			t.Errorf("%s: %v", b.String(), err)
		} else if err := checkAddresses(n); err != nil {
			t.Errorf("%s: %v", b.String(), err)
		}
	}
}

func TestEnvelopeDefaults(t *testing.T) {
	var b bytes.Buffer
	Envelope(&b, nil, false)
	if want := "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"; b.String() != want {
		t.Errorf("nil envelope: %s", b.String())
	}
	b.Reset()
	from := []message.Address{{Mailbox: "f", Host: "x"}}
	Envelope(&b, &message.Envelope{Subject: "s", From: from, ReplyTo: []message.Address{{Mailbox: "r", Host: "x"}}}, false)
	want := `(NIL "s" ((NIL NIL "f" "x")) ((NIL NIL "f" "x")) ((NIL NIL "r" "x")) NIL NIL NIL NIL NIL)`
	if b.String() != want {
		t.Errorf("sender defaults to from:\ngot  %s\nwant %s", b.String(), want)
	}
}

func TestParams(t *testing.T) {
	P := func(kv ...string) []message.Param {
		var ps []message.Param
		for i := 0; i < len(kv); i += 2 {
			ps = append(ps, message.Param{Name: kv[i], Value: kv[i+1]})
		}
		return ps
	}
	for _, tc := range []struct {
		ps        []message.Param
		text      bool
		ascii, u8 string
	}{
		{nil, false, "NIL", "NIL"},
		{nil, true, `("charset" "us-ascii")`, ""},
		{P("format", "flowed"), true, `("format" "flowed" "charset" "us-ascii")`, ""},
		{P("charset", "utf-8"), true, `("charset" "utf-8")`, ""},
		{P("charset*", "us-ascii'en'utf-8"), true, `("charset" "utf-8")`, ""},
		{P("name", `a"b\c`), false, `("name" "a\"b\\c")`, ""},
		{P("name", "=?utf-8?q?x?="), false, `("name" "=?utf-8?q?x?=")`, ""},
		// RFC 2231 section 3: continuations are joined.
		{P("name*0", "abc ", "x", "y", "name*1", "def"), false, `("name" "abc def" "x" "y")`, ""},
		// Section 4: charset and percent-encoding; ASCII results go plain.
		{P("name*", "us-ascii'en'a%20b"), false, `("name" "a b")`, ""},
		{P("filename*", "iso-8859-1''caf%E9.txt"), false, `("filename*" "utf-8''caf%C3%A9.txt")`, `("filename" "café.txt")`},
		{P("filename*0*", "utf-8''%C3%A9t%C3%A9%20", "filename*1*", "%E2%98%80.txt"), false,
			`("filename*" "utf-8''%C3%A9t%C3%A9%20%E2%98%80.txt")`, `("filename" "été ☀.txt")`},
		// A plain value next to an RFC 2231 one is replaced by it.
		{P("filename*", "utf-8''x.txt", "size", "3", "filename", "fallback"), false, `("filename" "x.txt" "size" "3")`, ""},
		{P("a", "1", "filename", "fallback", "filename*", "utf-8''x.txt"), false, `("a" "1" "filename" "x.txt")`, ""},
		// Pieces without a first piece are kept as written.
		{P("name*1", "orphan"), false, `("name*1" "orphan")`, ""},
		{P("name*x", "odd", "name*01", "zero"), false, `("name*x" "odd" "name*01" "zero")`, ""},
	} {
		for _, u := range []bool{false, true} {
			var b bytes.Buffer
			r := renderer{b: &b, utf8: u}
			r.params(tc.ps, tc.text)
			want := tc.ascii
			if u && tc.u8 != "" {
				want = tc.u8
			}
			if b.String() != want {
				t.Errorf("params(%v, utf8=%v) = %s, want %s", tc.ps, u, b.String(), want)
			}
		}
	}
}

// TestMessageGlobal checks both forms of message/global and the message
// form of a message/rfc822 part whose embedded message was not parsed.
func TestMessageGlobal(t *testing.T) {
	raw := []byte("Content-Type: message/global\r\n\r\nSubject: x\r\n\r\nbody\r\n")
	p := stored(t, raw)
	var b bytes.Buffer
	BodyStructure(&b, p.Root, false, false)
	if want := `("message" "global" NIL NIL NIL "7bit" 20)`; b.String() != want {
		t.Errorf("without UTF-8: %s, want %s", b.String(), want)
	}
	b.Reset()
	BodyStructure(&b, p.Root, false, true)
	if want := `("message" "global" NIL NIL NIL "7bit" 20 (NIL "x" NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1) 3)`; b.String() != want {
		t.Errorf("with UTF-8: %s, want %s", b.String(), want)
	}
}

// BenchmarkRender measures ENVELOPE and BODYSTRUCTURE of a message with
// nested multiparts and a message/rfc822 part, from the stored structure,
// the way FETCH serves them.
func BenchmarkRender(b *testing.B) {
	raw, err := os.ReadFile("testdata/rfc822.eml")
	if err != nil {
		b.Fatal(err)
	}
	p := stored(b, raw)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		Envelope(&buf, p.Root.Envelope, false)
		BodyStructure(&buf, p.Root, true, false)
	}
	b.SetBytes(int64(buf.Len()))
}

// BenchmarkEnvelope measures the ENVELOPE of a plain message.
func BenchmarkEnvelope(b *testing.B) {
	raw, err := os.ReadFile("testdata/simple.eml")
	if err != nil {
		b.Fatal(err)
	}
	p := stored(b, raw)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		Envelope(&buf, p.Root.Envelope, false)
	}
}
