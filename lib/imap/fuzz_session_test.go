package imap

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// respLine is the start of a server line: a continuation request, an
// untagged response or a tagged status (RFC 9051 section 7).
var respLine = regexp.MustCompile(`^(\+ |\* [^\r\n]|[\x21-\x7e]+ (OK|NO|BAD)( |$))`)

// literalTail matches the announcement that ends a line before a literal.
var literalTail = regexp.MustCompile(`~?\{(\d+)\}$`)

// checkResponses reads server output and reports the first response that
// is not well formed: lines end in CRLF with no other CR, LF or NUL, start
// as a response does, and every announced literal has its bytes. It
// follows COMPRESS and stops at STARTTLS. A read error (the end of the
// session) ends it quietly: a response cut off by closing is not wrong.
func checkResponses(r io.Reader) error {
	br := bufio.NewReader(r)
	for {
		var resp bytes.Buffer
		first := true
		for {
			line, err := br.ReadSlice('\n')
			if err == bufio.ErrBufferFull {
				// A long line: gather it.
				buf := append([]byte(nil), line...)
				for err == bufio.ErrBufferFull {
					line, err = br.ReadSlice('\n')
					buf = append(buf, line...)
				}
				line = buf
			}
			if err != nil {
				return nil
			}
			if !bytes.HasSuffix(line, []byte("\r\n")) {
				return fmt.Errorf("line without CRLF: %q", line)
			}
			text := line[:len(line)-2]
			if bytes.ContainsAny(text, "\r\n\x00") {
				return fmt.Errorf("CR, LF or NUL inside a line: %q", line)
			}
			if first && !respLine.Match(text) {
				return fmt.Errorf("not a response: %q", line)
			}
			first = false
			resp.Write(text)
			m := literalTail.FindSubmatch(text)
			if m == nil {
				break
			}
			n, err := strconv.ParseInt(string(m[1]), 10, 64)
			if err != nil {
				return fmt.Errorf("literal size in %q: %v", line, err)
			}
			if _, err := io.CopyN(io.Discard, br, n); err != nil {
				return nil
			}
		}
		s := resp.String()
		switch {
		case strings.HasSuffix(s, " OK DEFLATE active") && !strings.HasPrefix(s, "* "):
			br = bufio.NewReader(flate.NewReader(br))
		case strings.HasSuffix(s, " OK Begin TLS negotiation now") && !strings.HasPrefix(s, "* "):
			io.Copy(io.Discard, br)
			return nil
		}
	}
}

// FuzzSession feeds arbitrary bytes to an authenticated session over
// net.Pipe and checks that the server neither panics nor hangs and that
// everything it sends is well-formed responses.
func FuzzSession(f *testing.F) {
	h := newHarness(f)
	h.deliver("INBOX", plainMsg("hello", "body"))
	h.deliver("INBOX", multipartMsg, `\Seen`)
	srv := *h.srv // the harness logs through f, which a fuzz target may not use
	srv.Log = slog.New(slog.DiscardHandler)

	for _, seed := range []string{
		"a SELECT INBOX\r\nb FETCH 1:* (FLAGS BODY.PEEK[] BODYSTRUCTURE ENVELOPE)\r\n",
		"a SELECT INBOX\r\nb UID SEARCH RETURN (SAVE) OR SEEN NEW\r\nc FETCH $ (BINARY.PEEK[1]<0.3> RFC822.SIZE)\r\n",
		"a APPEND INBOX (\\Seen) {5+}\r\nhello {3}\r\nabc\r\n",
		"a APPEND Drafts ~{3+}\r\n\x00\x01\x02\r\n",
		"a IDLE\r\nDONE\r\nb NOOP\r\n",
		"a COMPRESS DEFLATE\r\nb NOOP\r\n",
		"a LIST \"\" * RETURN (STATUS (MESSAGES RECENT SIZE) CHILDREN)\r\n",
		"a STATUS INBOX (MESSAGES UIDNEXT RECENT HIGHESTMODSEQ)\r\n",
		"a ENABLE QRESYNC IMAP4rev2 UTF8=ACCEPT\r\nb SELECT INBOX (QRESYNC (1 1))\r\n",
		"a SELECT INBOX\r\nb SORT (SUBJECT) UTF-8 ALL\r\nc THREAD REFERENCES UTF-8 ALL\r\n",
		"a SELECT INBOX\r\nb STORE 1 +FLAGS (\\Deleted)\r\nc EXPUNGE\r\n",
		"a CREATE x/y\r\nb RENAME x z\r\nc DELETE z/y\r\n",
		"a (((((((((((\r\n",
		"a UNAUTHENTICATE\r\nb CAPABILITY\r\n",
		"a FETCH {99999999}\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		client, server := net.Pipe()
		defer client.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer server.Close()
			sess := newSession(&srv, server)
			sess.loggedIn(h.acct)
			sess.run(ctx)
		}()
		checked := make(chan error, 1)
		go func() { checked <- checkResponses(client) }()
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			if _, err := client.Write(in); err == nil {
				client.Write([]byte("\r\nzz LOGOUT\r\n"))
			}
		}()
		// The session ends by itself (LOGOUT, too many errors) or waits
		// for more input (an open literal, IDLE); then shutting down must
		// end it.
		select {
		case <-done:
		case <-wrote:
			select {
			case <-done:
			case <-time.After(2 * time.Second):
			}
		case <-time.After(10 * time.Second):
		}
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("session did not end after shutdown; input %q", in)
		}
		client.Close()
		<-wrote
		if err := <-checked; err != nil {
			t.Fatalf("%v; input %q", err, in)
		}
	})
}

func TestCheckResponses(t *testing.T) {
	for _, tc := range []struct {
		out string
		ok  bool
	}{
		{"* OK hi\r\na1 OK done\r\n+ go\r\n", true},
		{"* 1 FETCH (BODY[] {5}\r\nab\r\nc)\r\na OK x\r\n", true},
		{"* 1 FETCH (BODY[] {5}\r\nab\r\nc)\r\n)\r\n", false},
		{"* OK bare\nx\r\n", false},
		{"a1 MAYBE\r\n", false},
		{"* OK a\x00b\r\n", false},
	} {
		if err := checkResponses(strings.NewReader(tc.out)); (err == nil) != tc.ok {
			t.Errorf("%q: %v", tc.out, err)
		}
	}
}
