package mta

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestWriteData(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ".\r\n"},
		{"a\r\nb\r\n", "a\r\nb\r\n.\r\n"},
		{"a\r\nb", "a\r\nb\r\n.\r\n"},
		{".a\r\n..b\r\n.\r\n", "..a\r\n...b\r\n..\r\n.\r\n"},
		{"a\n.\nb", "a\r\n..\r\nb\r\n.\r\n"},
		{"a\r.\rb", "a\r\n..\r\nb\r\n.\r\n"},
		{"a\r\r\n.", "a\r\n\r\n..\r\n.\r\n"},
		{"a\r\n\x00.\r\n", "a\r\n.\x00.\r\n.\r\n"},
		{"a\r\n.\x00\r\n", "a\r\n..\x00\r\n.\r\n"},
		{"\x00\x00", "\x00\x00\r\n.\r\n"},
		{"\n", "\r\n.\r\n"},
		{"\r", "\r\n.\r\n"},
	}
	for _, c := range cases {
		var b bytes.Buffer
		w := bufio.NewWriter(&b)
		if err := writeData(w, []byte(c.in)); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if b.String() != c.want {
			t.Errorf("writeData(%q) = %q, want %q", c.in, b.String(), c.want)
		}
	}
}

func TestReadResponse(t *testing.T) {
	cases := []struct {
		in       string
		code     int
		enhanced string
		lines    []string
		err      bool
	}{
		{in: "250 ok\r\n", code: 250, lines: []string{"ok"}},
		{in: "250\r\n", code: 250, lines: []string{""}},
		{in: "250 ok\n", code: 250, lines: []string{"ok"}},
		{in: "550 5.1.1 no such user\r\n", code: 550, enhanced: "5.1.1", lines: []string{"no such user"}},
		{in: "550 4.1.1 wrong class\r\n", code: 550, lines: []string{"4.1.1 wrong class"}},
		{in: "250-mx.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n", code: 250, lines: []string{"mx.example", "PIPELINING", "CHUNKING"}},
		{in: "451-4.3.0 one\r\n451-4.3.0 two\r\n451 4.3.0 three\r\n", code: 451, enhanced: "4.3.0", lines: []string{"one", "two", "three"}},
		{in: "250-a\r\n251 b\r\n", err: true},
		{in: "600 no\r\n", err: true},
		{in: "25 short\r\n", err: true},
		{in: "250x\r\n", err: true},
		{in: "abc\r\n", err: true},
		{in: "250-unfinished\r\n", err: true},
		{in: strings.Repeat("250-x\r\n", MaxReplyLines) + "250 x\r\n", err: true},
		{in: "250 " + strings.Repeat("x", MaxReplyLine) + "\r\n", err: true},
	}
	for _, c := range cases {
		r, err := readResponse(bufio.NewReaderSize(strings.NewReader(c.in), MaxReplyLine))
		if c.err {
			if err == nil {
				t.Errorf("%q: no error, got %+v", truncate(c.in, 40), r)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if r.Code != c.code || r.Enhanced != c.enhanced || strings.Join(r.Lines, "|") != strings.Join(c.lines, "|") {
			t.Errorf("%q: got %d %q %q", c.in, r.Code, r.Enhanced, r.Lines)
		}
	}
	// A too-long line is a protocol error, not a hang or a huge read.
	_, err := readResponse(bufio.NewReaderSize(strings.NewReader("250 "+strings.Repeat("x", 10*MaxReplyLine)), MaxReplyLine))
	if !errors.Is(err, errProtocol) {
		t.Errorf("long line: %v", err)
	}
}

func TestEncodings(t *testing.T) {
	if got := xtext("a+b=c d\xc3\xa9"); got != "a+2Bb+3Dc+20d+C3+A9" {
		t.Errorf("xtext: %q", got)
	}
	for in, want := range map[string]string{
		"rfc822;b@example.test":   "rfc822;b@example.test",
		"b+x@example.test":        "rfc822;b+2Bx@example.test",
		"rfc822;jos\u00e9@x.test": `utf-8;jos\x{E9}@x.test`,
		"utf-8;a\\b@x.test":       `utf-8;a\x{5C}b@x.test`,
		"bad type;a@x.test":       "rfc822;a@x.test",
	} {
		if got := orcptParam(in); got != want {
			t.Errorf("orcptParam(%q) = %q, want %q", in, got, want)
		}
	}
	if got := notifyParam([]string{"success", "FAILURE", "success", "bogus"}); got != "SUCCESS,FAILURE" {
		t.Errorf("notify %q", got)
	}
	if got := notifyParam([]string{"DELAY", "never"}); got != "NEVER" {
		t.Errorf("notify %q", got)
	}
}
