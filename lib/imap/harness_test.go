package imap

import (
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

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/xdg-go/scram"

	"gannet/lib/auth"
	"gannet/lib/config"
	"gannet/lib/directory"
	"gannet/lib/listen"
	"gannet/lib/message"
	"gannet/lib/notify"
	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

const (
	demo     = "demo@example.test"
	password = "correct horse battery staple"
)

// harness is a running Server on loopback over a real SQLite store, with
// the change feed wired as imapd wires it.
type harness struct {
	t    testing.TB
	st   *sqlite.Store
	acct *store.Account
	addr string // imap (STARTTLS)
	tls  string // imaps
	srv  *Server
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	tmp := t.TempDir()
	cfg := config.Default()
	cfg.Server.Hostname = "imap.example.test"
	cfg.Server.StateDir = tmp
	cfg.Directory.Argon2 = config.Argon2{Time: 1, Memory: 64, Threads: 1}
	ctx, cancel := context.WithCancel(context.Background())
	feedDir := filepath.Join(tmp, "notify")
	pub, err := notify.NewPublisher(feedDir)
	if err != nil {
		t.Fatal(err)
	}
	feed, err := notify.Listen(ctx, feedDir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, sqlite.Options{
		Path:     filepath.Join(tmp, "gannet.db"),
		Logger:   slog.New(slog.DiscardHandler),
		OnChange: func(a int64, m uint64) { pub.Publish(notify.Event{AccountID: a, ModSeq: m}) },
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := directory.New(st, cfg.Directory)
	if _, err := dir.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	acct := &store.Account{Address: demo}
	if err := auth.SetPassword(acct, password, cfg.Directory.Argon2); err != nil {
		t.Fatal(err)
	}
	if err := dir.AddAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := listen.TLSConfig(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	authn := &auth.Authenticator{Store: st, Dir: dir}
	h := &harness{t: t, st: st, acct: acct}
	h.srv = &Server{
		Store:    st,
		Auth:     authn,
		SCRAM:    authn.SCRAMLookup,
		TLS:      tlsCfg,
		Feed:     feed,
		Hostname: cfg.Server.Hostname,
		Compress: true,
		Log:      slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	var ls []listen.Listener
	for _, role := range []string{listen.IMAP, listen.IMAPS} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, listen.Listener{Name: role, Listener: l})
	}
	h.addr, h.tls = ls[0].Addr().String(), ls[1].Addr().String()
	done := make(chan error, 1)
	go func() { done <- h.srv.Serve(ctx, ls) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		feed.Close()
		pub.Close()
		st.Close()
	})
	return h
}

// deliver stores a message into mailbox name as lib/deliver does.
func (h *harness) deliver(name string, raw string, flags ...string) store.Message {
	h.t.Helper()
	ctx := context.Background()
	mb, err := h.st.GetMailbox(ctx, h.acct.ID, name)
	if err != nil {
		h.t.Fatal(err)
	}
	out, err := h.st.AddMessages(ctx, []store.NewMessage{{AccountID: h.acct.ID, MailboxID: mb.ID,
		Raw: []byte(raw), Meta: message.Parse([]byte(raw)).Meta(), Flags: flags}})
	if err != nil {
		h.t.Fatal(err)
	}
	return out[0]
}

// updates collects the unsolicited responses a client receives.
type updates struct {
	mu       sync.Mutex
	expunged []uint32
	exists   []uint32
	flags    map[uint32][]goimap.Flag
	changed  chan struct{}
}

func newUpdates() *updates {
	return &updates{flags: map[uint32][]goimap.Flag{}, changed: make(chan struct{}, 100)}
}

func (u *updates) handler() *imapclient.UnilateralDataHandler {
	poke := func() {
		select {
		case u.changed <- struct{}{}:
		default:
		}
	}
	return &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) {
			u.mu.Lock()
			u.expunged = append(u.expunged, seq)
			u.mu.Unlock()
			poke()
		},
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				u.mu.Lock()
				u.exists = append(u.exists, *d.NumMessages)
				u.mu.Unlock()
				poke()
			}
		},
		Fetch: func(msg *imapclient.FetchMessageData) {
			buf, err := msg.Collect()
			if err != nil {
				return
			}
			u.mu.Lock()
			u.flags[buf.SeqNum] = buf.Flags
			u.mu.Unlock()
			poke()
		},
	}
}

// wait polls cond until it holds, failing after a deadline.
func (u *updates) wait(t testing.TB, what string, cond func(u *updates) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		u.mu.Lock()
		ok := cond(u)
		u.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-u.changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// dial connects with STARTTLS and logs in.
func (h *harness) dial(u *updates) *imapclient.Client {
	h.t.Helper()
	opts := &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	if u != nil {
		opts.UnilateralDataHandler = u.handler()
	}
	if testing.Verbose() {
		opts.DebugWriter = debugWriter{h.t}
	}
	c, err := imapclient.DialStartTLS(h.addr, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	if err := c.Login(demo, password).Wait(); err != nil {
		h.t.Fatal(err)
	}
	return c
}

type debugWriter struct{ t testing.TB }

func (w debugWriter) Write(p []byte) (int, error) {
	w.t.Logf("wire: %q", p)
	return len(p), nil
}

var _ io.Writer = debugWriter{}

// scramClient is a go-sasl client for SCRAM-SHA-256 over xdg-go/scram.
type scramClient struct {
	conv *scram.ClientConversation
}

func newSCRAMClient(t testing.TB, user, pass string) *scramClient {
	c, err := scram.SHA256.NewClient(user, pass, "")
	if err != nil {
		t.Fatal(err)
	}
	return &scramClient{conv: c.NewConversation()}
}

func (c *scramClient) Start() (string, []byte, error) {
	s, err := c.conv.Step("")
	return "SCRAM-SHA-256", []byte(s), err
}

func (c *scramClient) Next(challenge []byte) ([]byte, error) {
	s, err := c.conv.Step(string(challenge))
	return []byte(s), err
}
