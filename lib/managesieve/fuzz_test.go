package managesieve

import (
	"bufio"
	"strings"
	"testing"
)

// FuzzReadTokens feeds arbitrary input to the command reader: it must
// neither panic nor keep more than its limits allow, and what quote writes
// must read back unchanged.
func FuzzReadTokens(f *testing.F) {
	for _, s := range []string{
		"PUTSCRIPT \"a\" {5+}\r\nkeep;\r\n",
		"AUTHENTICATE \"PLAIN\" \"AGEAYg==\"\r\n",
		"NOOP \"a\\\"b\\\\c\"\r\n",
		"OK (SASL \"dj1x\") \"done\"\r\n",
		"{3}\r\nabc\r\n",
		"\"unterminated\r\n",
		"X {99999999999}\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := &reader{br: bufio.NewReaderSize(strings.NewReader(in), MaxLineLength), maxLiteral: 1024, maxDiscard: 4096}
		for range 100 {
			toks, err := r.readTokens()
			if err != nil {
				if _, ok := err.(*syntaxError); ok {
					continue
				}
				break
			}
			if len(toks) > maxTokens {
				t.Fatalf("%d tokens", len(toks))
			}
			for _, tok := range toks {
				// Quoted strings are bounded by the line, literals by
				// maxLiteral (1024, less than a line).
				if len(tok.value) > MaxLineLength {
					t.Fatalf("token of %d octets", len(tok.value))
				}
			}
		}
		q := quote(in, true) + "\r\n"
		r = &reader{br: bufio.NewReaderSize(strings.NewReader(q), MaxLineLength), maxLiteral: 1 << 20, maxDiscard: 1 << 20}
		toks, err := r.readTokens()
		if err == nil && (len(toks) != 1 || toks[0].value != in) {
			t.Fatalf("quote(%q) read back as %+v", in, toks)
		}
	})
}
