package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// smtp-sink -c writes "sess=N quit=N mesg=N" ended by a carriage return;
// the count is the last mesg= seen.
func TestSinkCounter(t *testing.T) {
	s := &sink{}
	s.count(strings.NewReader("sess=0 quit=0 mesg=1\rsess=1 quit=1 mesg=1\rsess=1 quit=1 mesg=2\r" +
		"garbage\nsess=2 quit=2 mesg=13"))
	if n, _ := s.Messages(); n != 13 {
		t.Errorf("count = %d, want 13", n)
	}
	if _, ok := parseCounter("sess=1 quit=1"); ok {
		t.Error("parseCounter found a count in a line without mesg=")
	}
}

func TestDescribeDKIM(t *testing.T) {
	raw := "X-Client-Addr: 127.0.0.2\n" +
		"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.test;\n" +
		"\ts=sel1e; t=1; h=From:To; bh=abc=; b=def=\n" +
		"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n d=example.test; s=sel1r; b=x\r\n" +
		"From: <bench@example.test>\n\n" +
		"DKIM-Signature: a=in-the-body\n\n"
	got := describeDKIM([]byte(raw))
	want := "2 signature(s): a=ed25519-sha256 c=relaxed/relaxed d=example.test s=sel1e; a=rsa-sha256 c=relaxed/relaxed d=example.test s=sel1r"
	if got != want {
		t.Errorf("describeDKIM =\n%q, want\n%q", got, want)
	}
	if got := describeDKIM([]byte("From: a@b.test\n\nbody\n")); got != "not signed" {
		t.Errorf("describeDKIM of an unsigned message = %q", got)
	}
}

// A generated message has size bytes of body in CRLF lines, like
// smtp-source's.
func TestGenerate(t *testing.T) {
	for _, size := range []int{0, 1, 80, 81, 10240} {
		m := generate(7, localRcpt, size)
		_, body, ok := bytes.Cut(m, []byte("\r\n\r\n"))
		if !ok {
			t.Fatalf("size %d: no end of header", size)
		}
		if n := len(bytes.ReplaceAll(body, []byte("\r\n"), nil)); n != size {
			t.Errorf("size %d: body of %d bytes without line ends", size, n)
		}
		if bytes.Contains(bytes.ReplaceAll(m, []byte("\r\n"), nil), []byte("\n")) {
			t.Errorf("size %d: a bare LF", size)
		}
	}
}

func TestConfig(t *testing.T) {
	cfg := Config{Messages: 2000, Size: 10240, Sessions: 20}
	got := sourceArgs(cfg, remoteRcpt, "127.0.0.1:2525")
	want := []string{"-s", "20", "-m", "2000", "-l", "10240", "-M", clientName,
		"-f", sender, "-t", remoteRcpt, "127.0.0.1:2525"}
	if !slices.Equal(got, want) {
		t.Errorf("sourceArgs = %q, want %q", got, want)
	}
	if err := cfg.validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
	for _, bad := range []Config{
		{Messages: 1, Sessions: 1, Only: "exim"},
		{Messages: 1, Sessions: 1, Case: "bounce"},
		{Messages: 0, Sessions: 1},
	} {
		if err := bad.validate(); err == nil {
			t.Errorf("validate accepted %+v", bad)
		}
	}
	if got := (Config{Case: caseDrain}).cases(); !slices.Equal(got, []string{caseDrain}) {
		t.Errorf("cases = %q", got)
	}
}
