package smtp

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// hasBare reports whether b has a CR or LF outside a CRLF pair.
func hasBare(b []byte) bool {
	return bytes.ContainsAny(bytes.ReplaceAll(b, []byte("\r\n"), nil), "\r\n")
}

// scan runs a bodyScanner over p written in pieces of the given size.
func scan(p []byte, normalize bool, piece int) *bodyScanner {
	b := &bodyScanner{normalize: normalize}
	for len(p) > 0 {
		n := min(piece, len(p))
		b.write(p[:n])
		p = p[n:]
	}
	b.finish()
	return b
}

func TestBodyScanner(t *testing.T) {
	for _, c := range []struct {
		in, norm string
		bad      bool
	}{
		{"a\r\nb\r\n", "a\r\nb\r\n", false},
		{"a\nb", "a\r\nb", true},
		{"a\rb", "a\r\nb", true},
		{"a\r\r\nb", "a\r\n\r\nb", true},
		{"a\r", "a\r\n", true},
		{"\n", "\r\n", true},
		{"", "", false},
	} {
		for piece := 1; piece <= 4; piece++ {
			r := scan([]byte(c.in), false, piece)
			if r.failed() != c.bad {
				t.Errorf("%q (pieces of %d): reject mode failed=%v", c.in, piece, r.failed())
			}
			n := scan([]byte(c.in), true, piece)
			if n.failed() || string(n.buf) != c.norm {
				t.Errorf("%q (pieces of %d): normalised to %q, want %q", c.in, piece, n.buf, c.norm)
			}
		}
	}
	if !scan([]byte("a\x00b\r\n"), true, 3).failed() {
		t.Error("NUL accepted")
	}
}

func FuzzBodyScanner(f *testing.F) {
	for _, s := range []string{"a\r\nb\r\n", "\n.\n", "\r.\r\n", "x\r\n\x00.\r\n", "\r\r\n\n", ""} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, piece uint8) {
		p := int(piece%16) + 1
		bad := hasBare(in)
		nul := bytes.IndexByte(in, 0) >= 0
		r := scan(in, false, p)
		if r.failed() != (bad || nul) {
			t.Fatalf("reject mode: failed=%v, bare=%v nul=%v", r.failed(), bad, nul)
		}
		if !r.failed() && !bytes.Equal(r.buf, in) {
			t.Fatalf("clean input changed: %q -> %q", in, r.buf)
		}
		n := scan(in, true, p)
		if nul {
			if !n.failed() {
				t.Fatal("NUL accepted")
			}
			return
		}
		if hasBare(n.buf) {
			t.Fatalf("normalised output has a bare line ending: %q", n.buf)
		}
		// Normalising keeps every other byte, in order.
		strip := func(b []byte) []byte {
			return bytes.NewBuffer(bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\r"), nil), []byte("\n"), nil)).Bytes()
		}
		if !bytes.Equal(strip(n.buf), strip(in)) {
			t.Fatalf("normalising changed the text: %q -> %q", in, n.buf)
		}
		if whole := scan(in, true, len(in)+1); !bytes.Equal(whole.buf, n.buf) {
			t.Fatalf("result depends on how the input is split")
		}
	})
}

func FuzzScanHeader(f *testing.F) {
	f.Add([]byte("Received: a\r\nFrom: <a@b>\r\n\tx\r\nreceived : b\r\n\r\nReceived: body\r\n"))
	f.Add([]byte("From: A <a@example.test>, b@example.test\nSubject: x\n\n"))
	f.Add([]byte("no colon\r\nReceived: x\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		h := scanHeader(msg)
		lines := bytes.Count(msg, []byte("\n")) + 1
		if h.received+len(h.from) > lines {
			t.Fatalf("%d fields in %d lines", h.received+len(h.from), lines)
		}
		for _, v := range h.from {
			// Bare CRs never get here (readMessage refuses or
			// normalises them); a line break would.
			if strings.Contains(v, "\n") {
				t.Fatalf("From value not unfolded: %q", v)
			}
		}
	})
}

func FuzzHeaderSafe(f *testing.F) {
	f.Add("mail.example.org", 255)
	f.Add("evil\r\nX-Injected: yes", 64)
	f.Add("\xff\xfe\x00é", 3)
	f.Fuzz(func(t *testing.T, s string, max int) {
		max = max%1024 + 1
		if max < 1 {
			max = -max + 1
		}
		out := headerSafe(s, max)
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8: %q", out)
		}
		for _, r := range out {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("control character in %q", out)
			}
		}
		if len(out) > max+utf8.UTFMax {
			t.Fatalf("%d bytes, max %d", len(out), max)
		}
	})
}
