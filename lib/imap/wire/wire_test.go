package wire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
)

func TestReadCommand(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // tag, name and args as Token.String shows them
	}{
		{"a1 NOOP\r\n", "a1 NOOP"},
		{"a1 noop\n", "a1 noop"},
		{`a LOGIN "us\"er" {3}` + "\r\npwd\r\n", `a LOGIN "us\"er" {3}`},
		{"a LOGIN u {3+}\r\npwd\r\n", "a LOGIN u {3}"},
		{"a FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (A B)]<0.100> BODY[])\r\n", "a FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (A B)]<0.100> BODY[])"},
		{`a FETCH 1 BODY[HEADER.FIELDS ("Subject")]` + "\r\n", `a FETCH 1 BODY[HEADER.FIELDS ("Subject")]`},
		{"a STORE 1 +FLAGS (\\Seen \\Deleted $Junk)\r\n", "a STORE 1 +FLAGS (\\Seen \\Deleted $Junk)"},
		{"a LIST \"\" *\r\n", `a LIST "" *`},
		{"a LIST \"\" %/x\r\n", `a LIST "" %/x`},
		{"a ID NIL\r\n", "a ID NIL"},
		{"a ID ()\r\n", "a ID ()"},
		{"a APPEND INBOX ~{2}\r\n\x00\x01\r\n", "a APPEND INBOX {2}"},
	} {
		r := NewReader(strings.NewReader(tc.in), Limits{})
		conts := 0
		r.Continue = func() error { conts++; return nil }
		c, err := r.ReadCommand()
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		got := c.Tag + " " + c.Name
		for _, a := range c.Args {
			got += " " + a.String()
		}
		if got != tc.want {
			t.Errorf("%q: got %s, want %s", tc.in, got, tc.want)
		}
		if strings.Contains(tc.in, "{3}") && conts != 1 {
			t.Errorf("%q: %d continuation requests, want 1", tc.in, conts)
		}
		if strings.Contains(tc.in, "+}") && conts != 0 {
			t.Errorf("%q: continuation request for a non-synchronising literal", tc.in)
		}
	}
}

func TestLiteralValue(t *testing.T) {
	r := NewReader(strings.NewReader("a APPEND INBOX (\\Seen) {12}\r\nhello\r\nworld\r\n"), Limits{})
	c, err := r.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Args) != 3 || c.Args[2].Kind != Literal || c.Args[2].Value != "hello\r\nworld" {
		t.Fatalf("%+v", c.Args)
	}
	if c.Args[1].Kind != List || c.Args[1].List[0].Value != `\Seen` {
		t.Errorf("flags %+v", c.Args[1])
	}
}

func TestReadErrors(t *testing.T) {
	lim := Limits{MaxLine: 100, MaxLiteral: 10, MaxDepth: 3}
	for _, tc := range []struct {
		in, tag, msg string
		tooBig       bool
	}{
		{"\r\n", "", "empty command line", false},
		{"+ NOOP\r\n", "", "missing or invalid tag", false},
		{"a\r\n", "a", "missing command name", false},
		{"a NOOP  x\r\n", "a", "unexpected character ' '", false},
		{"a X \"abc\r\n", "a", "unterminated quoted string", false},
		{"a X \"a\\b\"\r\n", "a", "invalid escape", false},
		{"a X ((((x))))\r\n", "a", "nested deeper than 3", false},
		{"a X (x\r\n", "a", "expected a space or ')' in a list", false},
		{"a X x)\r\n", "a", "expected a space or the end of the line", false},
		{"a X {11}\r\n", "a", "over the limit of 10", true},
		{"a X {1a}\r\n", "a", "expected '}'", false},
		{"a X {2} more\r\n", "a", "must end the line", false},
		{"a X {1}\r\n\x00\r\n", "a", "NUL in a literal", false},
		{"a X " + strings.Repeat("x", 200) + "\r\n", "a", "longer than 100 bytes", true},
		{"a FETCH 1 BODY[HEADER\r\n", "a", "unterminated '['", false},
	} {
		r := NewReader(strings.NewReader(tc.in+"b NOOP\r\n"), lim)
		_, err := r.ReadCommand()
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: %v, want a syntax error", tc.in, err)
			continue
		}
		if se.Tag != tc.tag || !strings.Contains(se.Msg, tc.msg) || se.TooBig != tc.tooBig {
			t.Errorf("%q: tag %q msg %q toobig %v, want %q %q %v", tc.in, se.Tag, se.Msg, se.TooBig, tc.tag, tc.msg, tc.tooBig)
		}
		// The reader recovers at the next line.
		if c, err := r.ReadCommand(); err != nil || c.Tag != "b" {
			t.Errorf("%q: after the error: %+v %v", tc.in, c, err)
		}
	}
	// A non-synchronising literal over the limit cannot be skipped.
	r := NewReader(strings.NewReader("a X {11+}\r\n01234567890\r\n"), lim)
	var fe *FatalError
	if _, err := r.ReadCommand(); !errors.As(err, &fe) || fe.Tag != "a" {
		t.Errorf("oversized LITERAL+: %v", err)
	}
	// A truncated stream is an I/O error.
	r = NewReader(strings.NewReader("a X {5}\r\nab"), lim)
	if _, err := r.ReadCommand(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated literal: %v", err)
	}
}

func TestTotalCommandLimit(t *testing.T) {
	r := NewReader(strings.NewReader("a X {8}\r\n01234567 {8}\r\n01234567\r\nb NOOP\r\n"), Limits{MaxLiteral: 10, MaxCommand: 20})
	_, err := r.ReadCommand()
	var se *SyntaxError
	if !errors.As(err, &se) || !se.TooBig {
		t.Fatalf("%v", err)
	}
}

func TestWriter(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	w.String("plain")
	w.Byte(' ')
	w.String(`q"uote\`)
	w.Byte(' ')
	w.String("two\r\nlines")
	w.Byte(' ')
	w.String("Grüße")
	w.Byte(' ')
	w.AString("INBOX")
	w.Byte(' ')
	w.AString("nil")
	w.Byte(' ')
	w.NString("")
	w.Byte(' ')
	w.Literal8([]byte{0, 1})
	w.CRLF()
	w.Status("a1", "OK", "READ-WRITE", "done")
	w.Status("", "BYE", "", "")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "\"plain\" \"q\\\"uote\\\\\" {10}\r\ntwo\r\nlines {7}\r\nGrüße INBOX \"nil\" NIL ~{2}\r\n\x00\x01\r\n" +
		"a1 OK [READ-WRITE] done\r\n* BYE BYE\r\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
	b.Reset()
	w.UTF8 = true
	w.String("Grüße")
	w.Flush()
	if b.String() != `"Grüße"` {
		t.Errorf("UTF-8 quoted: %q", b.String())
	}
}

// FuzzReadCommand feeds arbitrary input to the reader: it must never
// panic, never hang, and never return a token tree deeper or larger than
// the limits allow.
func FuzzReadCommand(f *testing.F) {
	for _, s := range []string{
		"a1 NOOP\r\n",
		"a LOGIN {3}\r\nabc {2+}\r\nde\r\n",
		"a FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (\"A\" B)]<0.100>)\r\n",
		"a APPEND INBOX (\\Seen) \"01-Jan-2020 00:00:00 +0000\" ~{3}\r\n\x00\x01\x02\r\n",
		"a SEARCH OR (FROM x) NOT (TO \"y\") UID 1:*\r\n",
		"a X [[[]]] ((())) {0}\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	lim := Limits{MaxLine: 1024, MaxLiteral: 256, MaxDepth: 8, MaxTokens: 500}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in), lim)
		r.Continue = func() error { return nil }
		for i := 0; i < 64; i++ {
			c, err := r.ReadCommand()
			var se *SyntaxError
			if errors.As(err, &se) {
				continue
			}
			if err != nil {
				return
			}
			if c.Tag == "" || c.Name == "" {
				t.Fatalf("empty tag or name: %+v", c)
			}
			n := 0
			var walk func(ts []Token, depth int)
			walk = func(ts []Token, depth int) {
				if depth > lim.MaxDepth {
					t.Fatalf("depth %d", depth)
				}
				for _, tk := range ts {
					n++
					if tk.Kind == Literal && int64(len(tk.Value)) > lim.MaxLiteral {
						t.Fatalf("literal of %d bytes", len(tk.Value))
					}
					walk(tk.List, depth+1)
				}
			}
			walk(c.Args, 0)
			if n > lim.MaxTokens {
				t.Fatalf("%d tokens", n)
			}
		}
	})
}

// TestReaderBetweenCommands reads commands that arrive in pieces and
// pipelined over a real connection: the reader gives its buffer back while
// waiting and must lose no byte doing so.
func TestReaderBetweenCommands(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	go func() {
		for _, s := range []string{"a", "1 NOOP\r\n", "a2 NOOP\r\na3 ID NIL\r\nDO", "NE\r\nrest"} {
			if _, err := client.Write([]byte(s)); err != nil {
				return
			}
		}
	}()
	r := NewReader(server, Limits{})
	for _, want := range []string{"a1", "a2"} {
		cmd, err := r.ReadCommand()
		if err != nil || cmd.Tag != want {
			t.Fatalf("ReadCommand = %+v, %v; want tag %s", cmd, err, want)
		}
	}
	if r.Buffered() == 0 {
		t.Error("Buffered() = 0 with a pipelined command waiting")
	}
	cmd, err := r.ReadCommand()
	if err != nil || cmd.Tag != "a3" || cmd.Name != "ID" {
		t.Fatalf("ReadCommand = %+v, %v; want a3 ID", cmd, err)
	}
	line, err := r.ReadLine()
	if err != nil || line != "DONE" {
		t.Fatalf("ReadLine = %q, %v; want DONE", line, err)
	}
	// "rest" came in the same write as the end of DONE.
	if got := r.TakeBuffered(); string(got) != "rest" {
		t.Errorf("TakeBuffered = %q, want \"rest\"", got)
	}
}
