package render

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"gannet/lib/message"
)

func addEMLSeeds(f *testing.F) {
	files, _ := os.ReadDir("testdata")
	for _, e := range files {
		if strings.HasSuffix(e.Name(), ".eml") {
			raw, err := os.ReadFile("testdata/" + e.Name())
			if err != nil {
				f.Fatal(err)
			}
			f.Add(raw)
		}
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: message/rfc822\r\n\r\nTo: g: ;\r\n\r\n--a--\r\n"))
	f.Add([]byte("To: \"\x00\\\"\r\n x\" <a\r\n@b>, (c) d@e (f), g: h;;\r\nContent-Type: text/x; a*0*=''%00; a*1=\"\\\"\"\r\n\r\n"))
}

// FuzzBodyStructure renders any message (parsed, then read back from its
// stored structure as FETCH does) and checks that ENVELOPE, BODYSTRUCTURE
// and BODY follow the grammar, with and without UTF-8: balanced
// parentheses, valid quoted strings and literals, no NUL, the fields of
// RFC 9051 section 9 in order, balanced group markers.
func FuzzBodyStructure(f *testing.F) {
	addEMLSeeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		p := stored(t, raw)
		for _, utf8 := range []bool{false, true} {
			env, bs, body := items(p, utf8)
			checkItems(t, env, bs, body, utf8)
		}
		// The structure straight from Parse renders the same.
		e1, b1, _ := items(p, false)
		e2, b2, _ := items(message.Parse(raw), false)
		if e1 != e2 || b1 != b2 {
			t.Fatalf("Parse and Decode render differently:\n%s\n%s\n%s\n%s", e1, e2, b1, b2)
		}
	})
}

// FuzzDecodedStructure renders whatever structure Decode accepts, as a
// damaged or hand-made row in the store would give.
func FuzzDecodedStructure(f *testing.F) {
	files, _ := os.ReadDir("testdata")
	for _, e := range files {
		if strings.HasSuffix(e.Name(), ".eml") {
			raw, _ := os.ReadFile("testdata/" + e.Name())
			f.Add(message.Parse(raw).Meta().Structure)
		}
	}
	f.Fuzz(func(t *testing.T, structure []byte) {
		p, err := message.Decode(structure)
		if err != nil {
			return
		}
		for _, utf8 := range []bool{false, true} {
			env, bs, body := items(p, utf8)
			checkItems(t, env, bs, body, utf8)
		}
	})
}

// FuzzString checks that any string reads back as itself (less NUL).
func FuzzString(f *testing.F) {
	for _, s := range []string{"", "a", `"\`, "caf\xc3\xa9", "caf\xe9", "a\r\nb", "\x00", strings.Repeat("x", 1001)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, utf8 := range []bool{false, true} {
			var b bytes.Buffer
			String(&b, s, utf8)
			n, err := parseOne(b.Bytes(), utf8)
			if err != nil {
				t.Fatalf("String(%q, %v) = %q: %v", s, utf8, b.Bytes(), err)
			}
			if want := strings.ReplaceAll(s, "\x00", ""); n.str != want {
				t.Fatalf("String(%q, %v) reads back as %q", s, utf8, n.str)
			}
		}
	})
}
