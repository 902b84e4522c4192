package mailfile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func collect(t *testing.T, path, format, stdin string) (srcs, bodies []string) {
	t.Helper()
	err := Walk(path, format, strings.NewReader(stdin), func(m Message, err error) error {
		if err != nil {
			t.Errorf("%s: %v", m.Source, err)
			return nil
		}
		srcs = append(srcs, filepath.Base(m.Source))
		bodies = append(bodies, string(m.Raw))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return srcs, bodies
}

func TestMbox(t *testing.T) {
	dir := t.TempDir()
	box := "From a@b Thu Aug 22 12:36:23 2002\nSubject: one\n\nbody\n>From quoted\nFrom inside (no blank line before)\n\n" +
		"From c@d Thu Aug 22 12:36:24 2002\r\nSubject: two\r\n\r\nbody two\r\n"
	p := filepath.Join(dir, "box")
	os.WriteFile(p, []byte(box), 0o644)
	srcs, bodies := collect(t, p, Auto, "")
	want := []string{
		"Subject: one\r\n\r\nbody\r\nFrom quoted\r\nFrom inside (no blank line before)\r\n",
		"Subject: two\r\n\r\nbody two\r\n",
	}
	if !slices.Equal(bodies, want) || !slices.Equal(srcs, []string{"box#1", "box#2"}) {
		t.Errorf("got %q %q, want %q", srcs, bodies, want)
	}
	if n := Count(p, Auto); n != 2 {
		t.Errorf("Count = %d, want 2", n)
	}
	// The same from stdin with Mbox; without, stdin is one message.
	if _, b := collect(t, "-", Mbox, box); !slices.Equal(b, want) {
		t.Errorf("stdin mbox: %q", b)
	}
	if _, b := collect(t, "-", Auto, "From x\nSubject: s\n\nb\n"); len(b) != 1 || b[0] != "Subject: s\r\n\r\nb\r\n" {
		t.Errorf("stdin message: %q", b)
	}
}

func TestMaildirAndDirectory(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "md")
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(md, sub), 0o755)
	}
	os.WriteFile(filepath.Join(md, "cur", "1:2,S"), []byte("Subject: cur\n\nx\n"), 0o644)
	os.WriteFile(filepath.Join(md, "new", "2"), []byte("Subject: new\n\nx\n"), 0o644)
	os.WriteFile(filepath.Join(md, "tmp", "3"), []byte("Subject: tmp\n\nx\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "loose.eml"), []byte("Subject: loose\r\n\r\nx\r\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".hidden"), []byte("Subject: hidden\n\nx\n"), 0o644)
	srcs, _ := collect(t, dir, Auto, "")
	if want := []string{"loose.eml", "1:2,S", "2"}; !slices.Equal(srcs, want) {
		t.Errorf("walked %q, want %q", srcs, want)
	}
	if n := Count(dir, Auto); n != 3 {
		t.Errorf("Count = %d, want 3", n)
	}
}

func TestErrors(t *testing.T) {
	if err := Walk("/nonexistent", Auto, nil, func(Message, error) error { return nil }); err == nil {
		t.Error("missing path: no error")
	}
	if err := Walk(t.TempDir(), "zip", nil, func(Message, error) error { return nil }); err == nil {
		t.Error("unknown format: no error")
	}
	big := strings.Repeat("x", MaxMessage+1)
	var got error
	Walk("-", Auto, strings.NewReader(big), func(_ Message, err error) error { got = err; return nil })
	if !errors.Is(got, ErrTooLarge) {
		t.Errorf("oversized message: %v", got)
	}
}
