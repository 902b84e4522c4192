package imap

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"strconv"
	"testing"
)

// BenchmarkFetchAll50kRaw is BenchmarkFetchAll50k with a bare client that
// reads response lines and skips literals without parsing them (as
// bench/imap's client does), so that the figure is mostly the server's.
func BenchmarkFetchAll50kRaw(b *testing.B) {
	const total = 50000
	h := fill50k(b, total)
	c := dialRaw(b, h)
	c.command(b, "s", "SELECT INBOX")
	peak := watchHeap(b)
	b.ResetTimer()
	for b.Loop() {
		if n := c.command(b, "f", "UID FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)"); n != total {
			b.Fatalf("FETCH: %d responses, want %d", n, total)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MB")
}

// rawClient is a bare IMAP client over implicit TLS.
type rawClient struct {
	conn *tls.Conn
	r    *bufio.Reader
	// out, when not nil, receives the untagged responses as they came,
	// literals included.
	out *bytes.Buffer
}

// dialRaw connects to h's IMAPS listener and logs in.
func dialRaw(tb testing.TB, h *harness) *rawClient {
	tb.Helper()
	conn, err := tls.Dial("tcp", h.tls, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	c := &rawClient{conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
	if _, err := c.r.ReadSlice('\n'); err != nil { // greeting
		tb.Fatal(err)
	}
	c.command(tb, "l", fmt.Sprintf("LOGIN %q %q", demo, password))
	return c
}

// command sends a command and reads up to its tagged response, which
// must be OK; it returns how many untagged responses came before it.
func (c *rawClient) command(tb testing.TB, tag, cmd string) int {
	tb.Helper()
	if _, err := io.WriteString(c.conn, tag+" "+cmd+"\r\n"); err != nil {
		tb.Fatal(err)
	}
	n := 0
	for {
		line, err := c.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			tb.Fatalf("%s: response line longer than the buffer", cmd)
		}
		if err != nil {
			tb.Fatalf("%s: %v", cmd, err)
		}
		if bytes.HasPrefix(line, []byte(tag+" ")) {
			if !bytes.HasPrefix(line, []byte(tag+" OK")) {
				tb.Fatalf("%s: %s", cmd, line)
			}
			return n
		}
		if line[0] == '*' {
			n++
		}
		if c.out != nil {
			c.out.Write(line)
		}
		// A line ending in a literal: skip it and read the rest of the
		// response.
		for bytes.HasSuffix(line, []byte("}\r\n")) {
			open := bytes.LastIndexByte(line, '{')
			if open < 0 {
				tb.Fatalf("%s: bad literal in %q", cmd, line)
			}
			size, err := strconv.ParseInt(string(bytes.TrimSuffix(line[open+1:len(line)-3], []byte("+"))), 10, 64)
			if err != nil {
				tb.Fatalf("%s: bad literal in %q", cmd, line)
			}
			if c.out != nil {
				if _, err := io.CopyN(c.out, c.r, size); err != nil {
					tb.Fatal(err)
				}
			} else if _, err := c.r.Discard(int(size)); err != nil {
				tb.Fatal(err)
			}
			if line, err = c.r.ReadSlice('\n'); err != nil {
				tb.Fatal(err)
			}
			if c.out != nil {
				c.out.Write(line)
			}
		}
	}
}
