package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"gannet/lib/config"
	"gannet/lib/listen"
	"gannet/lib/store"
)

// fuzzSep splits a FuzzSession script into client writes. It never occurs
// in UTF-8, so only the invalid-UTF-8 octet 0xFF is lost to the scripts.
const fuzzSep = 0xff

// fuzzHang bounds each wait of FuzzSession: for the server to take a write,
// to wait for more input (or close) once the script is sent, and to end
// the session once the client has gone. Generous, so that -race on a busy
// machine does not make a false hang.
const fuzzHang = 20 * time.Second

// fuzzRoles are the roles FuzzSession can speak to (submissions needs a
// TLS handshake a script cannot do).
var fuzzRoles = []string{RoleSMTP, RoleSubmission, RoleLMTP}

// FuzzSession runs whole sessions against a server: the script is what the
// client sends, split at each 0xFF into separate writes over a net.Pipe (so
// a write after "DATA\r\n" arrives after the 354, as a client that waits
// would send it; bytes in the same write are pipelined). It checks that the
// server does not panic or hang, that every line it sends is a valid reply
// line (RFC 5321 section 4.2: three digits, SP or "-", textstring, CRLF;
// section 4.5.3.1.5: at most 512 octets), and that it never stores more
// messages than it answered "250 ... OK: queued" to at the end of DATA or
// BDAT LAST (one per message for SMTP, one per recipient for LMTP).
//
// The server, its SQLite store and its accounts are made once per fuzzing
// process, in a temporary directory, and every execution is one session.
func FuzzSession(f *testing.F) {
	fs := newFuzzServer(f)
	const auth = "AUTH PLAIN AGRlbW9AZXhhbXBsZS50ZXN0AGNvcnJlY3QgaG9yc2UgYmF0dGVyeQ==\r\n" // demo's password
	for _, s := range []struct {
		role   uint8
		script string
	}{
		{0, "EHLO client.example\r\nMAIL FROM:<a@remote.example> SIZE=100 BODY=8BITMIME\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n\xffSubject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n"},
		{0, "EHLO c\r\nMAIL FROM:<> RET=HDRS ENVID=QQ+2Bx SMTPUTF8\r\nRCPT TO:<demo@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;demo+2B1@example.test\r\nRCPT TO:<other@example.test> NOTIFY=NEVER ORCPT=utf-8;\\x{E9}t\\x{E9}@example.test\r\nBDAT 12\r\nSubject: x\r\nBDAT 8 LAST\r\n\r\nbody\r\n"},
		{0, "HELO c\r\nMAIL FROM:<a@remote.example> AUTH=<> REQUIRETLS\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n\xff.leading dot\r\n..stuffed\r\n.\r\nRSET\r\nNOOP\r\nVRFY demo\r\nHELP\r\nQUIT\r\n"},
		{0, "EHLO c\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n\xffSubject: smuggle\r\n\r\nx\n.\nMAIL FROM:<evil@remote.example>\r\n.\r\n"},
		{0, "EHLO c\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n\xffx\r\n.\rMAIL FROM:<b@remote.example>\r\n.\r\n"},
		{0, "EHLO c\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\nSubject: pipelined\r\n\r\n.\r\n"},
		{0, "EHLO c\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<demo@example.test>\r\nMAIL FROM:<b@remote.example>\r\nRCPT TO:<other@example.test>\r\nDATA\r\n\xffx\r\n.\r\n"},
		{0, "EHLO c\r\n" + auth + "MAIL FROM:<demo@example.test>\r\nRCPT TO:<someone@remote.example>\r\nDATA\r\n\xffFrom: <demo@example.test>\r\n\r\nrelayed\r\n.\r\n"},
		{0, "EHLO c\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<demo@example.test>\r\nBDAT 4294967295\r\nxx"},
		{0, "EHLO c\r\nAUTH LOGIN\r\n\xffZGVtb0BleGFtcGxlLnRlc3Q=\r\n\xff*\r\nSTARTTLS\r\nXXXX\r\nA\r\n\r\n"},
		{1, "EHLO c\r\n" + auth + "MAIL FROM:<demo@example.test> AUTH=demo@example.test\r\nRCPT TO:<other@example.test>\r\nDATA\r\n\xffFrom: demo@example.test\r\nSubject: s\r\n\r\nb\r\n.\r\n"},
		{2, "LHLO c\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<demo@example.test>\r\nRCPT TO:<other@example.test>\r\nRCPT TO:<nobody@example.test>\r\nDATA\r\n\xffSubject: l\r\n\r\nb\r\n.\r\n"},
		{2, "LHLO c\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<demo@example.test>\r\nBDAT 3 LAST\r\nx\r\n"},
		// Echoes of long or odd client text (the reply line must stay
		// within 512 octets and printable).
		{0, "EHLO " + strings.Repeat("h", 600) + "\r\nHELO x\x00\ty\x1b[31m\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<" + strings.Repeat("s", 200) + "@" + strings.Repeat("d", 300) + ".example>\r\nQUIT\r\n"},
		{2, "LHLO c\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<@" + strings.Repeat("r", 480) + ":demo@example.test>\r\nDATA\r\n\xffx\r\n.\r\n"},
		// The client leaves inside the BDAT LAST chunk: nothing is stored.
		{0, "EHLO c\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<demo@example.test>\r\nBDAT 100 LAST\r\nSubject: cut\r\n"},
		// The client leaves before the end of the BDAT LAST line.
		{0, "EHLO c\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<demo@example.test>\r\nBDAT 0 LAST"},
	} {
		f.Add(s.role, []byte(s.script))
	}
	f.Fuzz(func(t *testing.T, role uint8, script []byte) {
		fs.run(t, fuzzRoles[int(role)%len(fuzzRoles)], bytes.Split(script, []byte{fuzzSep}))
	})
}

// fuzzServer is the server of FuzzSession, with a pipe listener per role
// and a record of the messages committed.
type fuzzServer struct {
	h  *harness
	ls map[string]*pipeListener

	mu     sync.Mutex
	stored map[string]bool // transaction ids of the messages committed
}

func newFuzzServer(tb testing.TB) *fuzzServer {
	fs := &fuzzServer{ls: map[string]*pipeListener{}, stored: map[string]bool{}}
	var extra []listen.Listener
	for _, role := range fuzzRoles {
		l := newPipeListener()
		fs.ls[role] = l
		extra = append(extra, listen.Listener{Name: role, Listener: l})
	}
	fs.h = newHarness(tb, harnessOpts{
		extra: extra,
		config: func(c *config.Config) {
			// Limits a short script can reach.
			c.SMTPD.RequireTLSForAuth = false
			c.SMTPD.MaxMessageSize = 4096
			c.SMTPD.MaxRecipients = 3
			c.SMTPD.MaxMessagesPerSession = 3
			c.SMTPD.MaxErrors = 5
		},
		server: func(s *Server) {
			s.Log = slog.New(slog.DiscardHandler) // the harness keeps every line
			deliver := s.Deliver
			s.Deliver = DeliverFunc(func(ctx context.Context, m *LocalMessage) ([]LocalResult, error) {
				res, err := deliver.DeliverLocal(ctx, m)
				for _, r := range res {
					if err == nil && r.Err == nil {
						fs.record(m.Raw)
						break
					}
				}
				return res, err
			})
			s.Store = &enqueueRecorder{Store: s.Store, fs: fs}
		},
	})
	return fs
}

// txID finds the transaction id in the Received field the server put on
// top of a message.
var txID = regexp.MustCompile(`\r\n\tby mx\.example\.test \(Gannet\) with [A-Z]+ id ([0-9a-f]+\.[0-9]+)`)

// record notes that the message raw was committed.
func (fs *fuzzServer) record(raw []byte) {
	m := txID.FindSubmatch(raw)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if m == nil {
		fs.stored[fmt.Sprintf("unknown-%d", len(fs.stored))] = true
		return
	}
	fs.stored[string(m[1])] = true
}

func (fs *fuzzServer) takeStored() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := len(fs.stored)
	clear(fs.stored)
	return n
}

// enqueueRecorder records the messages the server queues.
type enqueueRecorder struct {
	store.Store
	fs *fuzzServer
}

func (e *enqueueRecorder) Enqueue(ctx context.Context, entries []store.NewQueueEntry) ([]int64, error) {
	ids, err := e.Store.Enqueue(ctx, entries)
	if err == nil {
		for _, q := range entries {
			e.fs.record(q.Raw)
		}
	}
	return ids, err
}

// run is one execution: one session in role, the client sending writes.
func (fs *fuzzServer) run(t *testing.T, role string, writes [][]byte) {
	fs.takeStored()
	client, server := net.Pipe()
	defer client.Close()
	wc := newWatchedConn(server)
	if err := fs.ls[role].offer(wc, fuzzHang); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		io.Copy(out, client)
	}()

	var sent int64
	for _, w := range writes {
		if len(w) == 0 {
			continue
		}
		client.SetWriteDeadline(time.Now().Add(fuzzHang))
		n, err := client.Write(w)
		sent += int64(n)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("hang: the server took no input for %v and did not close; output:\n%s", fuzzHang, out)
		}
		if err != nil {
			break // the server closed the connection
		}
	}
	if !wc.waitIdle(sent, fuzzHang) {
		t.Fatalf("hang: the script was sent and the server neither waits for more nor closes; output:\n%s", out)
	}
	client.Close()
	if !wc.waitClosed(fuzzHang) {
		t.Fatalf("hang: the session did not end within %v of the client leaving; output:\n%s", fuzzHang, out)
	}
	<-readDone
	stored := fs.takeStored()
	if testing.Verbose() {
		t.Logf("%s session, %d stored:\n%s", role, stored, out)
	}
	checkReplies(t, out.String(), stored)
}

// queuedReply is the final line of a reply that the server took a message
// (go-smtp's, with the recipient before it for LMTP).
var queuedReply = regexp.MustCompile(`^250 2\.0\.0 (<.*> )?OK: queued\r\n$`)

// startTLSReply is go-smtp's answer to STARTTLS.
const startTLSReply = "220 2.0.0 Ready to start TLS\r\n"

// checkReplies checks every line the server sent, and that it stored at
// most as many messages as it said it took.
func checkReplies(t *testing.T, out string, stored int) {
	t.Helper()
	queued := 0
	open := "" // the code of a multi-line reply in progress
	for _, line := range strings.SplitAfter(out, "\r\n") {
		if line == "" {
			continue
		}
		if line == startTLSReply {
			break // what follows is TLS records
		}
		if err := checkReplyLine(line); err != nil {
			t.Fatalf("bad reply line %q: %v\noutput:\n%s", line, err, out)
		}
		if open != "" && line[:3] != open {
			t.Fatalf("reply line %q continues a %s reply\noutput:\n%s", line, open, out)
		}
		open = ""
		if len(line) > 5 && line[3] == '-' {
			open = line[:3]
		}
		if queuedReply.MatchString(line) {
			queued++
		}
	}
	if open != "" {
		t.Fatalf("the last reply is not finished\noutput:\n%s", out)
	}
	if stored > queued {
		t.Fatalf("%d messages stored, %d taken with a 250\noutput:\n%s", stored, queued, out)
	}
}

// checkReplyLine checks one reply line against RFC 5321 section 4.2
// (Reply-line) and section 4.5.3.1.5 (512 octets with the CRLF).
func checkReplyLine(line string) error {
	text, ok := strings.CutSuffix(line, "\r\n")
	switch {
	case !ok:
		return errors.New("not ended by CRLF")
	case len(line) > 512:
		return fmt.Errorf("%d octets, more than 512", len(line))
	case len(text) < 3:
		return errors.New("no reply code")
	case text[0] < '2' || text[0] > '5' || text[1] < '0' || text[1] > '5' || text[2] < '0' || text[2] > '9':
		return errors.New("not a reply code")
	case len(text) > 3 && text[3] != ' ' && text[3] != '-':
		return errors.New("no SP or '-' after the code")
	}
	for i := 4; i < len(text); i++ {
		if c := text[i]; c != '\t' && (c < ' ' || c > '~') {
			return fmt.Errorf("octet 0x%02x at %d is not in textstring", c, i)
		}
	}
	return nil
}

// pipeListener hands the server connections made with net.Pipe.
type pipeListener struct {
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// offer waits (at most wait) for the server to accept c.
func (l *pipeListener) offer(c net.Conn, wait time.Duration) error {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case l.conns <- c:
		return nil
	case <-l.done:
		return net.ErrClosed
	case <-timer.C:
		return fmt.Errorf("the server accepted no connection in %v", wait)
	}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// watchedConn is the server's end of a pipe. It tells when the server is
// waiting for input it has not got (a Read in progress, every byte sent
// already read) and when it closed the connection.
type watchedConn struct {
	net.Conn

	mu       sync.Mutex
	reading  bool
	consumed int64
	closed   bool
	changed  chan struct{} // signalled (not closed) on every change
}

func newWatchedConn(c net.Conn) *watchedConn {
	return &watchedConn{Conn: c, changed: make(chan struct{}, 1)}
}

func (w *watchedConn) update(f func()) {
	w.mu.Lock()
	f()
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *watchedConn) Read(b []byte) (int, error) {
	w.update(func() { w.reading = true })
	n, err := w.Conn.Read(b)
	w.update(func() { w.reading = false; w.consumed += int64(n) })
	return n, err
}

func (w *watchedConn) Close() error {
	w.update(func() { w.closed = true })
	return w.Conn.Close()
}

// wait polls cond on every change until it holds or wait passes.
func (w *watchedConn) wait(wait time.Duration, cond func() bool) bool {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		w.mu.Lock()
		ok := cond()
		w.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-w.changed:
		case <-timer.C:
			return false
		}
	}
}

// waitIdle waits until the server has read all sent bytes and waits for
// more, or has closed the connection.
func (w *watchedConn) waitIdle(sent int64, wait time.Duration) bool {
	return w.wait(wait, func() bool { return w.closed || w.reading && w.consumed == sent })
}

// waitClosed waits until the server closed the connection.
func (w *watchedConn) waitClosed(wait time.Duration) bool {
	return w.wait(wait, func() bool { return w.closed })
}
