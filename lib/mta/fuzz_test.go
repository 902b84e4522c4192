package mta

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"gannet/lib/smtptest"
)

// FuzzReadResponse: any input gives a reply within the limits or an
// error, never a panic.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"250 ok\r\n", "250-a\r\n250 b\r\n", "550 5.1.1 x\r\n", "451-4.3.0 a\r\n451 4.3.0 b\r\n",
		"250\r\n", "2\r\n", "250-\r\n250 \r\n", "999 x\r\n", "250 \xff\x00\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(b), MaxReplyLine)
		for {
			r, err := readResponse(br)
			if err != nil {
				return
			}
			if r.Code < 200 || r.Code > 559 || len(r.Lines) == 0 || len(r.Lines) > MaxReplyLines {
				t.Fatalf("reply %+v", r)
			}
			if r.Enhanced != "" && int(r.Enhanced[0]-'0') != r.Code/100 {
				t.Fatalf("enhanced %q with code %d", r.Enhanced, r.Code)
			}
			for _, l := range r.Lines {
				if len(l) > MaxReplyLine || strings.ContainsAny(l, "\n") {
					t.Fatalf("line %q", l)
				}
			}
		}
	})
}

// FuzzWriteData: whatever the message, the writer's output read by a lax
// receiver (one that takes CR, LF or CRLF for a line end and ignores NULs
// when looking for the end) is one message, ending exactly where the
// output ends, and equal to the message with its line ends made CRLF.
func FuzzWriteData(f *testing.F) {
	for _, s := range []string{
		"", "a\r\n", "a\n.\nb", "a\r.\rb", "\r\n.\r\n", ".\r\n", "..", "\x00.\r\n", "a\r\n.\x00\r\nMAIL FROM:<x>\r\n",
		"\n.\r", "\r.\n", "x\r\r\n.\n", "\r", "\n", ".",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		if err := writeData(w, msg); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		wire := out.Bytes()
		for _, lax := range []bool{true, false} {
			br := bufio.NewReader(bytes.NewReader(wire))
			got, err := smtptest.ReadData(br, lax, len(wire)+1)
			if err != nil {
				t.Fatalf("lax=%v: %v reading %q", lax, err, wire)
			}
			if rest, _ := io.ReadAll(br); len(rest) != 0 {
				t.Fatalf("lax=%v: data ended early, %q left over from %q", lax, rest, wire)
			}
			if want := normalizedCRLF(msg); !bytes.Equal(got, want) {
				t.Fatalf("lax=%v: got %q, want %q", lax, got, want)
			}
		}
	})
}

// normalizedCRLF is msg with each CRLF, CR or LF made CRLF and a CRLF at
// the end of a message that lacks one.
func normalizedCRLF(msg []byte) []byte {
	var b []byte
	for i := 0; i < len(msg); i++ {
		switch c := msg[i]; c {
		case '\r':
			if i+1 < len(msg) && msg[i+1] == '\n' {
				i++
			}
			b = append(b, '\r', '\n')
		case '\n':
			b = append(b, '\r', '\n')
		default:
			b = append(b, c)
		}
	}
	if len(b) > 0 && !bytes.HasSuffix(b, []byte("\r\n")) {
		b = append(b, '\r', '\n')
	}
	return b
}
