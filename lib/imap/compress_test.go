package imap

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
)

// flateConn compresses what a test client writes, one sync flush per
// write, as RFC 4978 clients do per command.
type flateConn struct {
	net.Conn
	zw *flate.Writer
}

func (c *flateConn) Write(p []byte) (int, error) {
	n, err := c.zw.Write(p)
	if err == nil {
		err = c.zw.Flush()
	}
	return n, err
}

// loginRaw logs r in with LITERAL+.
func (r *rawConn) loginRaw() {
	r.t.Helper()
	fmt.Fprintf(r.c, "a LOGIN %s {%d+}\r\n%s\r\n", demo, len(password), password)
	if l := r.line(); !strings.HasPrefix(l, "a OK ") {
		r.t.Fatalf("LOGIN: %q", l)
	}
}

// compress switches r to raw deflate after the OK of a COMPRESS the
// caller sent; pipelined is sent compressed in the same write as the
// command.
func (r *rawConn) compress(pipelined string) {
	r.t.Helper()
	var out bytes.Buffer
	out.WriteString("z COMPRESS DEFLATE\r\n")
	zw, err := flate.NewWriter(&out, flate.DefaultCompression)
	if err != nil {
		r.t.Fatal(err)
	}
	if pipelined != "" {
		zw.Write([]byte(pipelined))
		zw.Flush()
	}
	zw.Reset(r.c) // the stream goes on over the connection
	if _, err := r.c.Write(out.Bytes()); err != nil {
		r.t.Fatal(err)
	}
	if l := r.line(); l != "z OK DEFLATE active" {
		r.t.Fatalf("COMPRESS: %q", l)
	}
	if r.br.Buffered() != 0 {
		r.t.Fatalf("uncompressed data after the OK of COMPRESS")
	}
	r.br = bufio.NewReader(flate.NewReader(r.c))
	r.c = &flateConn{Conn: r.c, zw: zw}
}

// startTLSRaw does the client side of TLS after "OK Begin TLS".
func (r *rawConn) startTLSRaw() {
	r.t.Helper()
	tc := tls.Client(r.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		r.t.Fatal(err)
	}
	r.c = tc
	r.br = bufio.NewReader(tc)
}

func TestCompress(t *testing.T) {
	h := newHarness(t)
	body := strings.Repeat("All work and no play makes Jack a dull boy.\r\n", 2000)
	h.deliver("INBOX", plainMsg("big", body))
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"imaps", true}, {"starttls", false}} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.raw(t, tc.tls)
			if !tc.tls {
				if got := r.cmd("s STARTTLS"); last(got) != "s OK Begin TLS negotiation now" {
					t.Fatalf("STARTTLS: %q", got)
				}
				r.startTLSRaw()
			}
			if got := r.cmd("c CAPABILITY"); strings.Contains(got[0], "COMPRESS") {
				t.Errorf("COMPRESS offered before authentication: %q", got[0])
			}
			if got := r.cmd("x COMPRESS DEFLATE"); !strings.HasPrefix(last(got), "x BAD ") {
				t.Errorf("COMPRESS before authentication: %q", got)
			}
			r.loginRaw()
			if got := r.cmd("c CAPABILITY"); !strings.Contains(got[0], " COMPRESS=DEFLATE") {
				t.Errorf("COMPRESS=DEFLATE not offered after LOGIN: %q", got[0])
			}
			if got := r.cmd("y COMPRESS LZ4"); !strings.HasPrefix(last(got), "y BAD ") {
				t.Errorf("COMPRESS LZ4: %q", got)
			}
			// A command pipelined right after COMPRESS is read compressed.
			r.compress("p NOOP\r\n")
			if l := r.line(); l != "p OK NOOP completed" {
				t.Fatalf("pipelined NOOP: %q", l)
			}
			if got := r.cmd("d COMPRESS DEFLATE"); last(got) != "d NO [COMPRESSIONACTIVE] DEFLATE is already active" {
				t.Errorf("second COMPRESS: %q", got)
			}
			if got := r.cmd("e SELECT INBOX"); !strings.HasPrefix(last(got), "e OK [READ-WRITE]") {
				t.Fatalf("SELECT: %q", got)
			}
			// A response larger than any buffer on the way.
			fmt.Fprintf(r.c, "f FETCH 1 BODY.PEEK[TEXT]\r\n")
			head := r.line()
			var n int
			if _, err := fmt.Sscanf(head, "* 1 FETCH (BODY[TEXT] {%d}", &n); err != nil || n < len(body) {
				t.Fatalf("FETCH: %q (%v)", head, err)
			}
			got := make([]byte, n)
			if _, err := io.ReadFull(r.br, got); err != nil || !strings.HasPrefix(string(got), body) {
				t.Fatalf("FETCH body: %v", err)
			}
			if l := r.line(); l != ")" {
				t.Errorf("after the literal: %q", l)
			}
			if l := r.line(); !strings.HasPrefix(l, "f OK") {
				t.Errorf("FETCH: %q", l)
			}
			// IDLE: the continuation and an unsolicited EXISTS arrive
			// flushed, while the client says nothing.
			fmt.Fprintf(r.c, "g IDLE\r\n")
			if l := r.line(); !strings.HasPrefix(l, "+ ") {
				t.Fatalf("IDLE: %q", l)
			}
			h.deliver("INBOX", plainMsg("new", "hello"))
			for {
				l := r.line()
				if strings.HasSuffix(l, " EXISTS") {
					break
				}
				if !strings.HasPrefix(l, "* ") {
					t.Fatalf("during IDLE: %q", l)
				}
			}
			fmt.Fprintf(r.c, "DONE\r\n")
			for {
				if l := r.line(); strings.HasPrefix(l, "g ") {
					if !strings.HasPrefix(l, "g OK") {
						t.Errorf("IDLE: %q", l)
					}
					break
				}
			}
			if got := r.cmd("h LOGOUT"); got[0] != "* BYE Logging out" {
				t.Errorf("LOGOUT: %q", got)
			}
		})
	}
}
