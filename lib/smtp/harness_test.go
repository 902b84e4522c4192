package smtp

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gannet/lib/auth"
	"gannet/lib/config"
	"gannet/lib/deliver"
	"gannet/lib/directory"
	"gannet/lib/listen"
	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

const (
	demo     = "demo@example.test"
	other    = "other@example.test"
	password = "correct horse battery"
)

// harness runs a Server on loopback listeners, one per role, over a real
// SQLite store.
type harness struct {
	t     testing.TB
	cfg   *config.Config
	st    *sqlite.Store
	dir   *directory.Directory
	srv   *Server
	addr  map[string]string
	demo  *store.Account
	other *store.Account
	log   *syncBuffer

	cancel context.CancelFunc
	done   chan error
}

type harnessOpts struct {
	config func(*config.Config)
	server func(*Server)
	// deliver replaces the test delivery.
	deliver LocalDelivery
	// extra listeners are served beside the loopback ones (FuzzSession
	// serves net.Pipe connections through one).
	extra []listen.Listener
}

// syncBuffer collects log output safely.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	tmp := t.TempDir()
	cfg := config.Default()
	cfg.Server.Hostname = "mx.example.test"
	cfg.Server.StateDir = tmp
	cfg.Directory.Argon2 = config.Argon2{Time: 1, Memory: 64, Threads: 1}
	cfg.SMTPD.RelayNetworks = nil
	if o.config != nil {
		o.config(cfg)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(tmp, "gannet.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dir := directory.New(st, cfg.Directory)
	if _, err := dir.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, cfg: cfg, st: st, dir: dir, addr: map[string]string{}, log: &syncBuffer{}}
	for _, a := range []string{demo, other} {
		hash, err := auth.HashPassword(password, cfg.Directory.Argon2)
		if err != nil {
			t.Fatal(err)
		}
		acct := &store.Account{Address: a, PasswordHash: hash}
		if err := dir.AddAccount(ctx, acct); err != nil {
			t.Fatal(err)
		}
		if a == demo {
			h.demo = acct
		} else {
			h.other = acct
		}
	}
	tlsCfg, err := listen.TLSConfig(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var ls []listen.Listener
	for _, role := range []string{RoleSMTP, RoleSubmission, RoleSubmissions, RoleLMTP} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, listen.Listener{Name: role, Listener: l})
		h.addr[role] = l.Addr().String()
	}
	ls = append(ls, o.extra...)
	deliver := o.deliver
	if deliver == nil {
		deliver = testDelivery(st, dir)
	}
	h.srv = &Server{
		Config:  cfg,
		Store:   st,
		Dir:     dir,
		Auth:    &auth.Authenticator{Store: st, Dir: dir},
		Deliver: deliver,
		TLS:     tlsCfg,
		Log:     slog.New(slog.NewTextHandler(io.MultiWriter(h.log, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if o.server != nil {
		o.server(h.srv)
	}
	sctx, cancel := context.WithCancel(ctx)
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.srv.Serve(sctx, ls) }()
	t.Cleanup(h.stop)
	return h
}

// stop shuts the server down and waits for it.
func (h *harness) stop() {
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Serve: %v", err)
		}
		h.done <- nil
	case <-time.After(40 * time.Second):
		h.t.Error("server did not stop")
	}
}

// testWriter sends log lines to t.Log when -v.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// testDelivery is lib/deliver, as smtpd uses it.
func testDelivery(st store.Store, dir *directory.Directory) LocalDelivery {
	return NewLocalDelivery(deliver.New(st, dir, config.Deliver{QuotaExceeded: "temporary"}, nil))
}

// inbox returns the raw messages in an account's INBOX.
func (h *harness) inbox(addr string) []string {
	h.t.Helper()
	return h.mailbox(addr, "INBOX")
}

// mailbox returns the raw messages in one of an account's mailboxes.
func (h *harness) mailbox(addr, name string) []string {
	h.t.Helper()
	ctx := context.Background()
	acct, err := h.st.GetAccount(ctx, addr)
	if err != nil {
		h.t.Fatal(err)
	}
	mb, err := h.st.GetMailbox(ctx, acct.ID, name)
	if err != nil {
		h.t.Fatal(err)
	}
	msgs, err := h.st.ListMessages(ctx, acct.ID, store.MessageFilter{MailboxID: mb.ID})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		b, err := h.st.ReadBlob(ctx, m.BlobID, 0, -1)
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// queue returns the queue entries.
func (h *harness) queue() []store.QueueEntry {
	h.t.Helper()
	q, err := h.st.ListQueue(context.Background(), store.QueueFilter{})
	if err != nil {
		h.t.Fatal(err)
	}
	return q
}

// rawClient speaks SMTP over a plain socket, byte for byte.
type rawClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawClient{t: t, c: c, r: bufio.NewReader(c)}
	rc.expect("220")
	return rc
}

func (rc *rawClient) send(s string) {
	rc.t.Helper()
	rc.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatalf("send %q: %v", s, err)
	}
}

// reply reads one (possibly multi-line) reply.
func (rc *rawClient) reply() (string, error) {
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var all strings.Builder
	for {
		line, err := rc.r.ReadString('\n')
		all.WriteString(line)
		if err != nil {
			return all.String(), err
		}
		if len(line) < 4 || line[3] != '-' {
			return all.String(), nil
		}
	}
}

// expect reads a reply and fails unless it starts with prefix.
func (rc *rawClient) expect(prefix string) string {
	rc.t.Helper()
	r, err := rc.reply()
	if err != nil {
		rc.t.Fatalf("waiting for %s: got %q, %v", prefix, r, err)
	}
	if !strings.HasPrefix(r, prefix) {
		rc.t.Fatalf("got %q, want %s", r, prefix)
	}
	return r
}

// closed reports whether the server closed the connection (after any
// replies still to read, which it returns).
func (rc *rawClient) closed() (string, bool) {
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, err := io.ReadAll(rc.r)
	return string(rest), err == nil
}

// startTLS upgrades a raw client to TLS.
func (rc *rawClient) startTLS() {
	rc.t.Helper()
	rc.send("STARTTLS\r\n")
	rc.expect("220")
	rc.startTLSAfter220()
}

// startTLSAfter220 runs the TLS handshake after the 220 to STARTTLS.
func (rc *rawClient) startTLSAfter220() {
	rc.t.Helper()
	tc := tls.Client(rc.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		rc.t.Fatal(err)
	}
	rc.c = tc
	rc.r = bufio.NewReader(tc)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// busySessions counts the sessions reading or committing a message.
func (h *harness) busySessions() int {
	h.srv.mu.Lock()
	defer h.srv.mu.Unlock()
	n := 0
	for c := range h.srv.conns {
		c.mu.Lock()
		if c.busy {
			n++
		}
		c.mu.Unlock()
	}
	return n
}
