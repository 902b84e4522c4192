package spamd

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gannet/lib/directory"
	"gannet/lib/listen"
	"gannet/lib/spam"
	"gannet/lib/store"
)

// wordChecker tags a message whose Subject holds "viagra" (10 points) or
// "rejectme" (20), and every message with TEST_SEEN (0.1); it remembers
// the account each message was checked for.
type wordChecker struct {
	account atomic.Int64
}

func (*wordChecker) Name() string { return "words" }

func (w *wordChecker) Check(ctx context.Context, m *spam.Message, r *spam.Result) error {
	w.account.Store(m.Envelope.AccountID)
	s := strings.ToLower(m.Subject)
	if strings.Contains(s, "viagra") {
		r.Add("TEST_VIAGRA", 10, "Subject mentions viagra")
	}
	if strings.Contains(s, "rejectme") {
		r.Add("TEST_REJECT", 20, "Subject asks to be rejected")
	}
	r.Add("TEST_SEEN", 0.1, "")
	return nil
}

func testFilter() (*spam.Filter, *wordChecker) {
	w := &wordChecker{}
	return &spam.Filter{Checks: []spam.Checker{w}, Thresholds: spam.Thresholds{Spam: 5, Reject: 15}}, w
}

// accounts resolves one address to account 42.
type accounts struct{}

func (accounts) Resolve(ctx context.Context, addr string) (*directory.Resolution, error) {
	res := &directory.Resolution{Address: addr}
	if addr == "user@example.test" {
		res.Local, res.Exists = true, true
		res.Accounts = []directory.Recipient{{Account: &store.Account{ID: 42, Address: addr}}}
	}
	return res, nil
}

// trainer remembers what it was taught.
type trainer struct {
	mu     sync.Mutex
	taught map[string]Class
}

func (t *trainer) Train(ctx context.Context, acct int64, m *spam.Message, c Class) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.taught == nil {
		t.taught = map[string]Class{}
	}
	prev, ok := t.taught[m.Subject]
	switch {
	case c == ClassForget && !ok:
		return false, nil
	case c == ClassForget:
		delete(t.taught, m.Subject)
		return true, nil
	case ok && prev == c:
		return false, nil
	}
	t.taught[m.Subject] = c
	return true, nil
}

// serve runs srv on a loopback port and returns its address.
func serve(t *testing.T, handler func(ctx context.Context, c net.Conn)) string {
	t.Helper()
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- listen.Serve(ctx, []listen.Listener{{Name: listen.Spamd, Listener: nl}},
			func(ctx context.Context, l listen.Listener, c net.Conn) { handler(ctx, c) })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return nl.Addr().String()
}

// exchange sends raw bytes and returns all that comes back.
func exchange(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func request(cmd, extra, msg string) string {
	return cmd + " SPAMC/1.5\r\nContent-length: " + itoa(len(msg)) + "\r\n" + extra + "\r\n" + msg
}

func itoa(n int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

const (
	spamMsg = "From: a@example.org\r\nTo: user@example.test\r\nSubject: cheap viagra\r\nX-Spam-Flag: NO\r\nX-Spam-Status: No, score=-100\r\n  forged=yes\r\n\r\nbuy now\r\n"
	hamMsg  = "From: a@example.org\r\nTo: user@example.test\r\nSubject: lunch\r\n\r\nat noon?\r\n"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newServer() (*Server, *wordChecker, *trainer) {
	f, w := testFilter()
	tr := &trainer{}
	return &Server{Filter: f, Accounts: accounts{}, Trainer: tr, MaxSize: 4096, Timeout: 10 * time.Second, Hostname: "mx.example.test", Log: quiet}, w, tr
}

func TestCommands(t *testing.T) {
	srv, w, _ := newServer()
	addr := serve(t, srv.ServeConn)
	tests := []struct {
		name, req, want string
	}{
		{"check spam", request("CHECK", "", spamMsg), "SPAMD/1.5 0 EX_OK\r\nContent-length: 0\r\nSpam: True ; 10.1 / 5.0\r\n\r\n"},
		{"check ham", request("CHECK", "", hamMsg), "SPAMD/1.5 0 EX_OK\r\nContent-length: 0\r\nSpam: False ; 0.1 / 5.0\r\n\r\n"},
		{"symbols", request("SYMBOLS", "", spamMsg), "SPAMD/1.5 0 EX_OK\r\nContent-length: 21\r\nSpam: True ; 10.1 / 5.0\r\n\r\nTEST_SEEN,TEST_VIAGRA"},
		{"report_ifspam ham", request("REPORT_IFSPAM", "", hamMsg), "SPAMD/1.5 0 EX_OK\r\nContent-length: 0\r\nSpam: No ; 0.1 / 5.0\r\n\r\n"},
		{"ping 1.5", "PING SPAMC/1.5\r\n\r\n", "SPAMD/1.5 0 PONG\r\n"},
		{"ping 1.2", "PING SPAMC/1.2\r\n", "SPAMD/1.5 0 PONG\r\n"},
		{"skip", "SKIP SPAMC/1.5\r\n\r\n", ""},
		{"unknown command", "HELLO SPAMC/1.5\r\n\r\n", "SPAMD/1.5 76 Bad request: bad request line \"HELLO SPAMC/1.5\"\r\n"},
		{"not spamc", "GET / HTTP/1.0\r\n\r\n", "SPAMD/1.5 76 Bad request: bad request line \"GET / HTTP/1.0\"\r\n"},
		{"too big", "CHECK SPAMC/1.5\r\nContent-length: 5000\r\n\r\n", "SPAMD/1.5 65 Bad request: message of 5000 bytes is larger than the limit of 4096\r\n"},
		{"short body", "CHECK SPAMC/1.5\r\nContent-length: 50\r\n\r\nSubject: x\r\n\r\n", "SPAMD/1.5 76 Bad request: Content-length mismatch: expected 50 bytes, got 14\r\n"},
		{"bad length", "CHECK SPAMC/1.5\r\nContent-length: -1\r\n\r\n", "SPAMD/1.5 76 Bad request: Content-length \"-1\" is not a number\r\n"},
		{"long line", "CHECK SPAMC/1.5\r\nUser: " + strings.Repeat("x", 2000) + "\r\n\r\n", "SPAMD/1.5 76 Bad request: line longer than 1024 bytes\r\n"},
		{"many headers", "CHECK SPAMC/1.5\r\n" + strings.Repeat("X-A: b\r\n", 300) + "\r\n", "SPAMD/1.5 76 Bad request: more than 255 header lines\r\n"},
		{"compress without length", "CHECK SPAMC/1.5\r\nCompress: zlib\r\n\r\nxx", "SPAMD/1.5 76 Bad request: Compress requires Content-length\r\n"},
		{"bad header", "CHECK SPAMC/1.5\r\nnocolon\r\n\r\n", "SPAMD/1.5 76 Bad request: header line not in 'Name: value' form\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := exchange(t, addr, tc.req); got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}

	t.Run("process", func(t *testing.T) {
		got := exchange(t, addr, request("PROCESS", "", spamMsg))
		head, body, _ := strings.Cut(got, "\r\n\r\n")
		if !strings.HasPrefix(head, "SPAMD/1.5 0 EX_OK\r\nContent-length: "+itoa(len(body))+"\r\nSpam: True ; 10.1 / 5.0") {
			t.Fatalf("reply header %q (body %d bytes)", head, len(body))
		}
		want := "X-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=10.10 required=5.00\r\nX-Spam-Score: 10.10\r\n" +
			"X-Spam-Result: TEST_VIAGRA=10.00 (Subject mentions viagra), TEST_SEEN=0.10\r\n" +
			"From: a@example.org\r\nTo: user@example.test\r\nSubject: cheap viagra\r\n\r\nbuy now\r\n"
		if body != want {
			t.Errorf("processed message\n%q\nwant\n%q", body, want)
		}
	})
	t.Run("headers", func(t *testing.T) {
		got := exchange(t, addr, request("HEADERS", "", hamMsg))
		_, body, _ := strings.Cut(got, "\r\n\r\n")
		want := "X-Spam-Status: No, score=0.10 required=5.00\r\nX-Spam-Score: 0.10\r\nX-Spam-Result: TEST_SEEN=0.10\r\n" +
			"From: a@example.org\r\nTo: user@example.test\r\nSubject: lunch\r\n\r\n"
		if body != want {
			t.Errorf("headers\n%q\nwant\n%q", body, want)
		}
	})
	t.Run("process LF", func(t *testing.T) {
		msg := strings.ReplaceAll(hamMsg, "\r\n", "\n")
		got := exchange(t, addr, request("PROCESS", "", msg))
		_, body, _ := strings.Cut(got, "\r\n\r\n")
		if strings.Contains(body, "\r") || !strings.HasSuffix(body, "\n"+msg) {
			t.Errorf("LF message came back as %q", body)
		}
	})
	t.Run("report", func(t *testing.T) {
		got := exchange(t, addr, request("REPORT", "", spamMsg))
		for _, want := range []string{"Spam: True ; 10.1 / 5.0\r\n\r\n", "Content analysis details:   (10.1 points, 5.0 required)",
			"10.0 TEST_VIAGRA            Subject mentions viagra\n", " 0.1 TEST_SEEN              No description available.\n"} {
			if !strings.Contains(got, want) {
				t.Errorf("report %q lacks %q", got, want)
			}
		}
	})
	t.Run("compress", func(t *testing.T) {
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		zw.Write([]byte(spamMsg))
		zw.Close()
		got := exchange(t, addr, "SYMBOLS SPAMC/1.5\r\nCompress: zlib\r\nContent-length: "+itoa(z.Len())+"\r\n\r\n"+z.String())
		if !strings.HasSuffix(got, "\r\n\r\nTEST_SEEN,TEST_VIAGRA") {
			t.Errorf("compressed request: %q", got)
		}
		// A zlib bomb stops at the limit.
		z.Reset()
		zw = zlib.NewWriter(&z)
		zw.Write(bytes.Repeat([]byte("a"), 100000))
		zw.Close()
		got = exchange(t, addr, "CHECK SPAMC/1.5\r\nCompress: zlib\r\nContent-length: "+itoa(z.Len())+"\r\n\r\n"+z.String())
		if !strings.HasPrefix(got, "SPAMD/1.5 65 ") {
			t.Errorf("zlib bomb: %q", got)
		}
	})
	t.Run("user", func(t *testing.T) {
		exchange(t, addr, request("CHECK", "User: user@example.test\r\n", hamMsg))
		if got := w.account.Load(); got != 42 {
			t.Errorf("User user@example.test checked for account %d, want 42", got)
		}
		for _, u := range []string{"root", "nobody@example.test"} {
			exchange(t, addr, request("CHECK", "User: "+u+"\r\n", hamMsg))
			if got := w.account.Load(); got != 0 {
				t.Errorf("User %s checked for account %d, want 0 (global)", u, got)
			}
		}
	})
}

func TestTell(t *testing.T) {
	srv, _, tr := newServer()
	addr := serve(t, srv.ServeConn)
	learnSpam := "Message-class: spam\r\nSet: local\r\n"
	steps := []struct{ extra, want string }{
		{learnSpam, "SPAMD/1.5 0 EX_OK\r\nContent-length: 0\r\nDidSet: local\r\n\r\n"},
		{learnSpam, "SPAMD/1.5 0 EX_OK\r\nContent-length: 0\r\n\r\n"},
		{"Remove: local\r\n", "SPAMD/1.5 0 EX_OK\r\nContent-length: 0\r\nDidRemove: local\r\n\r\n"},
		{"Remove: local\r\n", "SPAMD/1.5 0 EX_OK\r\nContent-length: 0\r\n\r\n"},
		{"Message-class: ham\r\nSet: local\r\n", "SPAMD/1.5 0 EX_OK\r\nContent-length: 0\r\nDidSet: local\r\n\r\n"},
		{"Set: local\r\nRemove: local\r\nMessage-class: spam\r\n", "SPAMD/1.5 76 Bad header line: unable to set local and remove local in the same operation\r\n"},
		{"Message-class: eggs\r\nSet: local\r\n", "SPAMD/1.5 76 Bad request: Message-class \"eggs\" is neither spam nor ham\r\n"},
	}
	for i, s := range steps {
		if got := exchange(t, addr, request("TELL", s.extra, spamMsg)); got != s.want {
			t.Errorf("step %d: got %q, want %q", i, got, s.want)
		}
	}
	if c := tr.taught["cheap viagra"]; c != ClassHam {
		t.Errorf("taught %v, want ham", c)
	}

	srv.Trainer = nil
	addr = serve(t, srv.ServeConn)
	if got := exchange(t, addr, request("TELL", learnSpam, spamMsg)); !strings.HasPrefix(got, "SPAMD/1.5 69 ") {
		t.Errorf("TELL without a trainer: %q", got)
	}
}

func TestClient(t *testing.T) {
	srv, _, _ := newServer()
	addr := serve(t, srv.ServeConn)
	cl := &Client{Addresses: []string{"127.0.0.1:1", addr}, Timeout: 10 * time.Second}
	ctx := context.Background()
	resp, err := cl.Do(ctx, &Request{Command: Process, Body: []byte(spamMsg), Compress: true, User: "user@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.HasSpam || !resp.Spam || resp.Score != 10.1 || resp.Threshold != 5 || !bytes.HasPrefix(resp.Body, []byte("X-Spam-Flag: YES\r\n")) {
		t.Errorf("PROCESS: %+v", resp)
	}
	resp, err = cl.Do(ctx, &Request{Command: Ping})
	if err != nil || resp.Code != 0 || resp.Message != "PONG" {
		t.Errorf("PING: %+v, %v", resp, err)
	}
	resp, err = cl.Do(ctx, &Request{Command: Tell, MessageClass: "spam", SetLocal: true, Body: []byte(spamMsg)})
	if err != nil || len(resp.DidSet) != 1 || resp.DidSet[0] != "local" {
		t.Errorf("TELL: %+v, %v", resp, err)
	}
	big := strings.Repeat("x", 5000)
	resp, err = cl.Do(ctx, &Request{Command: Check, Body: []byte(big)})
	if err != nil || resp.Code != ExDataErr {
		t.Errorf("too big: %+v, %v", resp, err)
	}

	_, err = (&Client{Addresses: []string{"127.0.0.1:1"}}).Do(ctx, &Request{Command: Ping})
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != ExUnavailable {
		t.Errorf("no server: %v, want EX_UNAVAILABLE", err)
	}

	// A server that never answers times out.
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	hold := make(chan struct{})
	defer close(hold)
	go func() {
		c, err := nl.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			<-hold // answers nothing, and keeps the connection open
			c.Close()
		}
	}()
	_, err = (&Client{Addresses: []string{nl.Addr().String()}, Timeout: 200 * time.Millisecond}).Do(ctx, &Request{Command: Ping})
	if !errors.As(err, &pe) || pe.Code != ExTimeout {
		t.Errorf("silent server: %v, want EX_TIMEOUT", err)
	}
}

func TestFormatScore(t *testing.T) {
	for _, tc := range []struct {
		spam             bool
		score, threshold float64
		want             string
	}{
		{true, 7.2, 5, "7.2"},
		{false, 2, 5, "2.0"},
		{false, 4.96, 5, "4.9"},
		{true, 1002.5, 5, "1002.5"},
		{false, -3.25, 5, "-3.2"},
	} {
		if got := FormatScore(tc.spam, tc.score, tc.threshold); got != tc.want {
			t.Errorf("FormatScore(%v, %v, %v) = %q, want %q", tc.spam, tc.score, tc.threshold, got, tc.want)
		}
	}
}

func TestReadResponse(t *testing.T) {
	// As SpamAssassin's spamd writes them.
	for _, tc := range []struct {
		in   string
		want Response
	}{
		{"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1002.5 / 5.0\r\n\r\n", Response{Message: "EX_OK", HasSpam: true, Spam: true, Score: 1002.5, Threshold: 5}},
		{"SPAMD/1.1 0 EX_OK\r\nDidSet: local\r\n\r\n\r\n", Response{Message: "EX_OK", DidSet: []string{"local"}, Body: []byte("\r\n")}},
		{"SPAMD/1.0 76 Bad header line: (x)\r\n", Response{Code: 76, Message: "Bad header line: (x)"}},
	} {
		got, err := ReadResponse(bufio.NewReader(strings.NewReader(tc.in)), 100)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got.Code != tc.want.Code || got.Message != tc.want.Message || got.Spam != tc.want.Spam ||
			got.Score != tc.want.Score || got.Threshold != tc.want.Threshold ||
			strings.Join(got.DidSet, ",") != strings.Join(tc.want.DidSet, ",") || string(got.Body) != string(tc.want.Body) {
			t.Errorf("%q: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestServerTimeoutAndShutdown(t *testing.T) {
	srv, _, _ := newServer()
	srv.Timeout = 100 * time.Millisecond
	addr := serve(t, srv.ServeConn)
	// A client that sends half a request is answered EX_TIMEOUT.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "CHECK SPAMC/1.5\r\nContent-length: 100\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || !strings.HasPrefix(string(got), "SPAMD/1.5 79 ") {
		t.Errorf("half a request: %q, %v; want EX_TIMEOUT (79)", got, err)
	}

	// A connection that has sent nothing when shutdown begins is closed
	// without a reply.
	srv.Timeout = time.Minute
	a, b := pipe(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.ServeConn(ctx, a); a.Close(); close(done) }()
	cancel()
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err = io.ReadAll(b)
	if err != nil || len(got) != 0 {
		t.Errorf("idle connection at shutdown: %q, %v; want closed without a reply", got, err)
	}
	<-done
}

// FuzzReadRequest: any input gives a request within bounds or an error,
// never a panic.
func FuzzReadRequest(f *testing.F) {
	f.Add([]byte(request("PROCESS", "User: a@b\r\nCompress: zlib\r\n", spamMsg)))
	f.Add([]byte("PING SPAMC/1.5\r\n\r\n"))
	f.Add([]byte("TELL SPAMC/1.5\r\nMessage-class: spam\r\nSet: local, remote\r\nContent-length: 3\r\n\r\nabc"))
	f.Add([]byte("CHECK SPAMC/1.2\r\n\r\nno length"))
	f.Fuzz(func(t *testing.T, in []byte) {
		req, err := ReadRequest(bufio.NewReader(bytes.NewReader(in)), 1000)
		if err == nil && len(req.Body) > 1000 {
			t.Fatalf("body of %d bytes over the limit", len(req.Body))
		}
	})
}

func FuzzReadResponse(f *testing.F) {
	f.Add([]byte("SPAMD/1.5 0 EX_OK\r\nContent-length: 3\r\nSpam: True ; 7.2 / 5.0\r\n\r\nabc"))
	f.Add([]byte("SPAMD/1.1 0 EX_OK\r\nDidSet: local\r\n\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		resp, err := ReadResponse(bufio.NewReader(bytes.NewReader(in)), 1000)
		if err == nil && len(resp.Body) > 1000 {
			t.Fatalf("body of %d bytes over the limit", len(resp.Body))
		}
	})
}

// TestAccountThresholds: a User that is one local account with thresholds
// of its own is judged by them, in spamd and in the milter.
func TestAccountThresholds(t *testing.T) {
	f, _ := testFilter()
	own := func(ctx context.Context, id int64) *spam.Thresholds {
		if id == 42 {
			return &spam.Thresholds{Spam: -1, Reject: 0}
		}
		return nil
	}
	srv := &Server{Filter: f, Accounts: accounts{}, Thresholds: own, Log: quiet}
	addr := serve(t, srv.ServeConn)
	cl := &Client{Addresses: []string{addr}, Timeout: 10 * time.Second}
	for _, c := range []struct {
		user      string
		spam      bool
		threshold float64
	}{{"user@example.test", true, -1}, {"other@example.test", false, 5}, {"", false, 5}} {
		resp, err := cl.Do(context.Background(), &Request{Command: Check, Body: []byte(hamMsg), User: c.user})
		if err != nil || resp.Spam != c.spam || resp.Threshold != c.threshold {
			t.Errorf("CHECK as %q: %+v, %v; want spam %v at %g", c.user, resp, err, c.spam, c.threshold)
		}
	}
}
