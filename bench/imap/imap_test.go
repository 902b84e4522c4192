package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The client reads a response whose literals it skips, passes untagged
// responses on, and reports the tagged status.
func TestClientReadsLiterals(t *testing.T) {
	server, conn := net.Pipe()
	defer server.Close()
	c := newClient(conn)
	defer c.Close()
	go func() {
		buf := make([]byte, 256)
		n, _ := server.Read(buf)
		if !strings.HasPrefix(string(buf[:n]), "t1 FETCH 1 BODY[]\r\n") {
			server.Write([]byte("t1 BAD what\r\n"))
			return
		}
		server.Write([]byte("* 1 FETCH (UID 7 BODY[] {11}\r\nhello\r\nworld)\r\n" +
			"* 2 FETCH (ENVELOPE (\"subject {x}\" NIL))\r\n" +
			"* 3 EXISTS\r\n" +
			"t1 OK FETCH completed\r\n"))
	}()
	var fetches, exists int
	status, err := c.run(context.Background(), "FETCH 1 BODY[]", func(line []byte) {
		if isFetch(line) {
			fetches++
		}
		if n, ok := existsCount(line); ok {
			exists = n
		}
	})
	if err != nil || status != "OK FETCH completed" {
		t.Fatalf("run = %q, %v", status, err)
	}
	if fetches != 2 || exists != 3 || c.lit != 11 {
		t.Errorf("fetches %d, exists %d, literal bytes %d; want 2, 3, 11", fetches, exists, c.lit)
	}
}

// A command answered NO is an error that carries the status.
func TestClientStatus(t *testing.T) {
	server, conn := net.Pipe()
	defer server.Close()
	c := newClient(conn)
	defer c.Close()
	go func() {
		buf := make([]byte, 256)
		server.Read(buf)
		server.Write([]byte("t1 NO [OVERQUOTA] full\r\n"))
	}()
	status, err := c.run(context.Background(), "APPEND x {1+}", nil)
	if err == nil || status != "NO [OVERQUOTA] full" {
		t.Errorf("run = %q, %v; want the NO status and an error", status, err)
	}
}

func TestResponseParsing(t *testing.T) {
	for _, tc := range []struct {
		line string
		n    int64
		ok   bool
	}{
		{"* 1 FETCH (BODY[] {123}\r\n", 123, true},
		{"A1 APPEND x {5+}\r\n", 5, true},
		{"* 1 FETCH (BINARY[1] ~{7}\r\n", 7, true},
		{"* OK text ending in {brace}\r\n", 0, false},
		{"* OK {}\r\n", 0, false},
	} {
		n, ok, err := literalAtEnd([]byte(tc.line))
		if n != tc.n || ok != tc.ok || err != nil {
			t.Errorf("literalAtEnd(%q) = %d, %v, %v; want %d, %v", tc.line, n, ok, err, tc.n, tc.ok)
		}
	}
	if _, _, err := literalAtEnd([]byte("* 1 FETCH (BODY[] {999999999999}\r\n")); err == nil {
		t.Error("literalAtEnd accepted a literal beyond the bound")
	}
	if !isFetch([]byte("* 12 FETCH (FLAGS ())\r\n")) || isFetch([]byte("* 12 EXISTS\r\n")) || isFetch([]byte("* OK FETCH \r\n")) {
		t.Error("isFetch is wrong")
	}
	if n, ok := respCode([]byte("* OK [HIGHESTMODSEQ 715] Highest\r\n"), "HIGHESTMODSEQ"); n != 715 || !ok {
		t.Errorf("respCode = %d, %v", n, ok)
	}
	if _, ok := respCode([]byte("* OK [UIDNEXT 9] next\r\n"), "UIDVALIDITY"); ok {
		t.Error("respCode found a code that is not there")
	}
	// A long VANISHED response is counted in full.
	long := "* VANISHED (EARLIER) 3:5,9," + strings.Repeat("100,", 100) + "200:201\r\n"
	if n, ok := vanishedCount([]byte(long)); n != 3+1+100+2 || !ok {
		t.Errorf("vanishedCount = %d, %v; want 106", n, ok)
	}
}

func TestValidate(t *testing.T) {
	cfg := Config{Messages: 10, Clients: 2, Duration: time.Second, Idle: 10, Only: "gannet, idle,qresync"}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	if !cfg.servers["gannet"] || cfg.servers["dovecot"] || !cfg.phases["idle"] || !cfg.phases["qresync"] || cfg.phases["mailbox"] {
		t.Errorf("-only %q: servers %v, phases %v", cfg.Only, cfg.servers, cfg.phases)
	}
	if cfg.needsBig() != true {
		t.Error("qresync reads the big mailbox")
	}
	cfg.Only = "dovecot,append"
	if err := cfg.validate(); err != nil || cfg.needsBig() || !cfg.servers["dovecot"] || len(cfg.phases) != 1 {
		t.Errorf("-only %q: %v, servers %v, phases %v", cfg.Only, err, cfg.servers, cfg.phases)
	}
	cfg.Only = "exim"
	if err := cfg.validate(); err == nil {
		t.Error("validate accepted -only exim")
	}
	cfg.Only, cfg.Idle = "", 1
	if err := cfg.validate(); err == nil {
		t.Error("validate accepted -idle 1")
	}
}

// The generated mailbox is the same every time, of the promised sizes,
// with one message in unseenEvery unseen; the maildir files carry their
// sizes and flags in their names and their dates as modification times.
func TestGeneratedMail(t *testing.T) {
	a, b := generateMailbox(60), generateMailbox(60)
	for i := range a {
		if !bytes.Equal(a[i].raw, b[i].raw) {
			t.Fatalf("message %d differs between two generations", i)
		}
		if n := len(a[i].raw); n < minSize-64 || n > maxSize+64 {
			t.Errorf("message %d has %d bytes, want about %d to %d", i, n, minSize, maxSize)
		}
		if a[i].seen != (i%unseenEvery != 0) {
			t.Errorf("message %d: seen %v", i, a[i].seen)
		}
		if !bytes.Contains(a[i].raw, []byte("\r\n\r\n")) || bytes.Contains(bytes.ReplaceAll(a[i].raw, []byte("\r\n"), nil), []byte("\n")) {
			t.Errorf("message %d: no header/body separator, or a bare LF", i)
		}
	}
	src := newAppendSource(3, appendSize)
	if m1, m2 := src.next(), src.next(); bytes.Equal(m1, m2) || len(m1) < appendSize-64 {
		t.Errorf("append messages: equal %v, size %d", bytes.Equal(m1, m2), len(m1))
	}

	dir := filepath.Join(t.TempDir(), "Maildir")
	if err := writeMaildir(dir, a[:2], os.Getuid(), os.Getgid()); err != nil {
		t.Fatal(err)
	}
	names, err := os.ReadDir(filepath.Join(dir, "cur"))
	if err != nil || len(names) != 2 {
		t.Fatalf("cur/: %v, %v", names, err)
	}
	first := names[0].Name()
	if !strings.Contains(first, ",S="+strconv.Itoa(len(a[0].raw))+",") || !strings.HasSuffix(first, ":2,") {
		t.Errorf("maildir name %q: want S=%d and no flags (message 0 is unseen)", first, len(a[0].raw))
	}
	if !strings.HasSuffix(names[1].Name(), ":2,S") {
		t.Errorf("maildir name %q: want the S flag", names[1].Name())
	}
	fi, err := os.Stat(filepath.Join(dir, "cur", first))
	if err != nil || !fi.ModTime().Equal(a[0].date) {
		t.Errorf("mtime %v, want %v (%v)", fi.ModTime(), a[0].date, err)
	}
}
