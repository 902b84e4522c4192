package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"gannet/lib/auth"
	"gannet/lib/config"
	"gannet/lib/directory"
	"gannet/lib/listen"
	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

const (
	demo     = "demo@example.test"
	password = "correct horse battery staple"
)

// harness is a Server on loopback over a real SQLite store.
type harness struct {
	t      *testing.T
	st     *sqlite.Store
	acct   *store.Account
	addr   string
	srv    *Server
	cancel context.CancelFunc
	done   chan error

	mu       sync.Mutex
	failures []string // OnAuthFailure's user names
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// fakeCheck stands in for sieve.Compile: a script holding "bogus" is bad.
func fakeCheck(ctx context.Context, accountID int64, script []byte) ([]string, error) {
	for i, line := range strings.Split(string(script), "\n") {
		if c := strings.Index(line, "bogus"); c >= 0 {
			return nil, fmt.Errorf("line %d, column %d: unknown command \"bogus\"", i+1, c+1)
		}
	}
	return nil, nil
}

func newHarness(t *testing.T, adjust func(*Server)) *harness {
	t.Helper()
	tmp := t.TempDir()
	cfg := config.Default()
	cfg.Server.Hostname = "sieve.example.test"
	cfg.Server.StateDir = tmp
	cfg.Directory.Argon2 = config.Argon2{Time: 1, Memory: 64, Threads: 1}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(tmp, "gannet.db"), Logger: slog.New(slog.DiscardHandler)})
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
	h := &harness{t: t, st: st, acct: acct, cancel: cancel, done: make(chan error, 1)}
	h.srv = &Server{
		Scripts:      st,
		Auth:         authn,
		SCRAM:        authn.SCRAMLookup,
		TLS:          tlsCfg,
		Check:        fakeCheck,
		Extensions:   []string{"enotify", "fileinto", "vacation"},
		MaxRedirects: 4,
		Limits:       Limits{MaxScripts: 3, MaxScriptSize: 1000},
		OnAuthFailure: func(remote net.Addr, user string) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.failures = append(h.failures, user)
		},
		Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if adjust != nil {
		adjust(h.srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = l.Addr().String()
	go func() { h.done <- h.srv.Serve(ctx, []listen.Listener{{Name: listen.Sieve, Listener: l}}) }()
	t.Cleanup(func() {
		h.stop()
		st.Close()
	})
	return h
}

// stop shuts the server down and waits for Serve to return.
func (h *harness) stop() {
	h.cancel()
	if h.done == nil {
		return
	}
	if err := <-h.done; err != nil {
		h.t.Errorf("Serve: %v", err)
	}
	h.done = nil
}

func (h *harness) authFailures() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.failures)
}

// client dials the server, upgrades to TLS and logs in with mech.
func (h *harness) client(mech string) *Client {
	h.t.Helper()
	ctx := context.Background()
	c, err := Dial(ctx, h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	if err := c.StartTLS(ctx, &tls.Config{InsecureSkipVerify: true}); err != nil {
		h.t.Fatal(err)
	}
	var cl sasl.Client
	switch mech {
	case "PLAIN":
		cl = sasl.NewPlainClient("", demo, password)
	case "SCRAM-SHA-256":
		if cl, err = NewSCRAMClient(demo, password); err != nil {
			h.t.Fatal(err)
		}
	}
	if err := c.Authenticate(ctx, cl); err != nil {
		h.t.Fatalf("AUTHENTICATE %s: %v", mech, err)
	}
	return c
}

// raw is a line-level connection for protocol tests.
type raw struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func (h *harness) raw() *raw {
	h.t.Helper()
	conn, err := net.Dial("tcp", h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := &raw{t: h.t, conn: conn, br: bufio.NewReader(conn)}
	r.response() // the greeting
	return r
}

// response reads lines up to an OK, NO or BYE line and returns them all.
func (r *raw) response() []string {
	r.t.Helper()
	var lines []string
	for {
		line, err := r.br.ReadString('\n')
		if err != nil {
			r.t.Fatalf("reading a response after %q: %v", lines, err)
		}
		line = strings.TrimSuffix(line, "\r\n")
		lines = append(lines, line)
		if strings.HasPrefix(line, "OK") || strings.HasPrefix(line, "NO") || strings.HasPrefix(line, "BYE") {
			return lines
		}
	}
}

// line reads one line.
func (r *raw) line() string {
	r.t.Helper()
	line, err := r.br.ReadString('\n')
	if err != nil {
		r.t.Fatal(err)
	}
	return strings.TrimSuffix(line, "\r\n")
}

// cmd sends s (CRLF added) and returns the response's last line.
func (r *raw) cmd(s string) string {
	r.t.Helper()
	r.send(s + "\r\n")
	lines := r.response()
	return lines[len(lines)-1]
}

func (r *raw) send(s string) {
	r.t.Helper()
	if _, err := r.conn.Write([]byte(s)); err != nil {
		r.t.Fatal(err)
	}
}

func wantPrefix(t *testing.T, got, want string) {
	t.Helper()
	if !strings.HasPrefix(got, want) {
		t.Errorf("got %q, want %q...", got, want)
	}
}

func TestGreetingCapabilities(t *testing.T) {
	h := newHarness(t, nil)
	conn, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := &raw{t: t, conn: conn, br: bufio.NewReader(conn)}
	got := r.response()
	want := []string{
		`"IMPLEMENTATION" "Gannet"`,
		`"SASL" "SCRAM-SHA-256"`, // no PLAIN before TLS
		`"SIEVE" "enotify fileinto vacation"`,
		`"STARTTLS"`,
		`"MAXREDIRECTS" "4"`,
		`"NOTIFY" "mailto"`,
		`"UNAUTHENTICATE"`,
		`"VERSION" "1.0"`,
	}
	if len(got) != len(want)+1 || !slices.Equal(got[:len(want)], want) || !strings.HasPrefix(got[len(want)], "OK") {
		t.Errorf("greeting:\n%s\nwant\n%s\nOK ...", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// PLAIN is refused before TLS (RFC 5804 section 1.3: ENCRYPT-NEEDED),
	// without the password being checked.
	wantPrefix(t, r.cmd(`AUTHENTICATE "PLAIN" "AGRlbW9AZXhhbXBsZS50ZXN0AHg="`), "NO (ENCRYPT-NEEDED)")
	if f := h.authFailures(); len(f) != 0 {
		t.Errorf("auth failures reported: %q", f)
	}
	wantPrefix(t, r.cmd("LISTSCRIPTS"), `NO "Authenticate first"`)
	wantPrefix(t, r.cmd("LOGOUT"), "OK")
}

func TestTrustLoopback(t *testing.T) {
	h := newHarness(t, func(s *Server) { s.TrustLoopback = true })
	ctx := context.Background()
	c, err := Dial(ctx, h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Capabilities()["SASL"]; got != "PLAIN SCRAM-SHA-256" {
		t.Errorf("SASL %q on loopback without TLS", got)
	}
	if err := c.Authenticate(ctx, sasl.NewPlainClient("", demo, password)); err != nil {
		t.Fatal(err)
	}
	if c.Capabilities()["OWNER"] != "" {
		t.Error("capabilities changed without asking")
	}
}

func TestScripts(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256"} {
		t.Run(mech, func(t *testing.T) {
			h := newHarness(t, nil)
			c := h.client(mech)
			testScripts(t, h, c)
		})
	}
}

func testScripts(t *testing.T, h *harness, c *Client) {
	ctx := context.Background()
	caps := c.Capabilities()
	if caps["SASL"] != "PLAIN SCRAM-SHA-256" {
		t.Errorf("SASL after TLS: %q", caps["SASL"])
	}
	if _, ok := caps["STARTTLS"]; ok {
		t.Error("STARTTLS offered again after TLS")
	}
	code := func(err error) string {
		var e *Error
		if errors.As(err, &e) {
			return e.Status + " " + e.Code
		}
		if err != nil {
			return "error " + err.Error()
		}
		return "OK"
	}
	check := func(what string, err error, want string) {
		t.Helper()
		if got := code(err); got != want {
			t.Errorf("%s: %s (%v), want %s", what, got, err, want)
		}
	}
	script := "require \"fileinto\";\r\nif header :contains \"subject\" \"x\" { fileinto \"X\"; }\r\n"
	check("PUTSCRIPT", c.PutScript(ctx, "main", []byte(script)), "OK")
	check("PUTSCRIPT other", c.PutScript(ctx, "other ünïcode \"q\"", []byte("keep;")), "OK")
	check("SETACTIVE", c.SetActive(ctx, "main"), "OK")
	check("SETACTIVE missing", c.SetActive(ctx, "nope"), "NO NONEXISTENT")
	list, err := c.ListScripts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantList := []ScriptInfo{{Name: "main", Active: true}, {Name: "other ünïcode \"q\""}}
	if !slices.Equal(list, wantList) {
		t.Errorf("LISTSCRIPTS %+v, want %+v", list, wantList)
	}
	got, err := c.GetScript(ctx, "main")
	if err != nil || string(got) != script {
		t.Errorf("GETSCRIPT %q, %v; want %q", got, err, script)
	}
	_, err = c.GetScript(ctx, "nope")
	check("GETSCRIPT missing", err, "NO NONEXISTENT")
	check("DELETESCRIPT active", c.DeleteScript(ctx, "main"), "NO ACTIVE")
	check("DELETESCRIPT missing", c.DeleteScript(ctx, "nope"), "NO NONEXISTENT")
	check("RENAMESCRIPT taken", c.RenameScript(ctx, "main", "other ünïcode \"q\""), "NO ALREADYEXISTS")
	check("RENAMESCRIPT missing", c.RenameScript(ctx, "nope", "x"), "NO NONEXISTENT")
	check("RENAMESCRIPT", c.RenameScript(ctx, "main", "renamed"), "OK")
	if sc, err := h.st.ActiveSieveScript(ctx, h.acct.ID); err != nil || sc.Name != "renamed" {
		t.Errorf("after renaming the active script the store's active one is %+v, %v", sc, err)
	}

	// The syntax check: the error's text reaches the client.
	err = c.PutScript(ctx, "broken", []byte("keep;\nbogus;\n"))
	check("PUTSCRIPT bad", err, "NO ")
	if err == nil || !strings.Contains(err.Error(), `line 2, column 1: unknown command "bogus"`) {
		t.Errorf("PUTSCRIPT bad: %v", err)
	}
	check("CHECKSCRIPT bad", c.CheckScript(ctx, []byte("bogus")), "NO ")
	check("CHECKSCRIPT", c.CheckScript(ctx, []byte("keep;")), "OK")
	check("PUTSCRIPT not UTF-8", c.PutScript(ctx, "latin1", []byte("# \xe9\n")), "NO ")
	if _, err := h.st.GetSieveScript(ctx, h.acct.ID, "broken"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a bad script was stored: %v", err)
	}

	// Quotas: 3 scripts of at most 1000 octets.
	check("HAVESPACE", c.HaveSpace(ctx, "third", 1000), "OK")
	check("HAVESPACE too big", c.HaveSpace(ctx, "third", 1001), "NO QUOTA/MAXSIZE")
	check("PUTSCRIPT too big", c.PutScript(ctx, "third", []byte(strings.Repeat("#", 1001))), "NO QUOTA/MAXSIZE")
	check("PUTSCRIPT third", c.PutScript(ctx, "third", []byte("keep;")), "OK")
	check("HAVESPACE fourth", c.HaveSpace(ctx, "fourth", 10), "NO QUOTA/MAXSCRIPTS")
	check("PUTSCRIPT fourth", c.PutScript(ctx, "fourth", []byte("keep;")), "NO QUOTA/MAXSCRIPTS")
	check("HAVESPACE replace", c.HaveSpace(ctx, "third", 10), "OK")
	check("PUTSCRIPT replace", c.PutScript(ctx, "third", []byte("discard;")), "OK")

	check("SETACTIVE none", c.SetActive(ctx, ""), "OK")
	if _, err := h.st.ActiveSieveScript(ctx, h.acct.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SETACTIVE \"\" left an active script: %v", err)
	}
	check("DELETESCRIPT", c.DeleteScript(ctx, "renamed"), "OK")
	list, _ = c.ListScripts(ctx)
	if len(list) != 2 {
		t.Errorf("after DELETESCRIPT: %+v", list)
	}
	check("NOOP", c.Noop(ctx), "OK")
	if err := c.Logout(ctx); err != nil {
		t.Errorf("LOGOUT: %v", err)
	}
}

func TestAuthFailures(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	c, err := Dial(ctx, h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(ctx, &tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"NO", "NO", "BYE"} {
		var cl sasl.Client = sasl.NewPlainClient("", demo, "wrong")
		if i == 1 {
			cl, _ = NewSCRAMClient("nobody@example.test", "wrong")
		}
		err := c.Authenticate(ctx, cl)
		var e *Error
		if !errors.As(err, &e) || e.Status != want {
			t.Fatalf("attempt %d: %v, want %s", i+1, err, want)
		}
	}
	if got := h.authFailures(); !slices.Equal(got, []string{demo, "nobody@example.test", demo}) {
		t.Errorf("OnAuthFailure told %q", got)
	}
}

func TestProtocolErrors(t *testing.T) {
	h := newHarness(t, func(s *Server) { s.TrustLoopback = true })
	r := h.raw()
	wantPrefix(t, r.cmd(`NOOP "hello"`), `OK (TAG "hello") "Done"`)
	wantPrefix(t, r.cmd(`FROB`), `NO "Unknown command FROB"`)
	wantPrefix(t, r.cmd(`NOOP "unterminated`), `NO "unterminated quoted string"`)
	wantPrefix(t, r.cmd(`AUTHENTICATE "PLAIN" "AGRlbW9AZXhhbXBsZS50ZXN0AGNvcnJlY3QgaG9yc2UgYmF0dGVyeSBzdGFwbGU="`), "OK")
	// A literal in the non-synchronizing form, with line breaks inside.
	script := "keep;\r\n# \"quoted\" {3}\r\n"
	wantPrefix(t, r.cmd(fmt.Sprintf("PUTSCRIPT \"lit\" {%d+}\r\n%s", len(script), script)), "OK")
	r.send("GETSCRIPT \"lit\"\r\n")
	got := strings.Join(r.response(), "\n")
	want := fmt.Sprintf("{%d}\nkeep;\n# \"quoted\" {3}\n\nOK \"Getscript completed\"", len(script))
	if got != want {
		t.Errorf("GETSCRIPT:\n%q\nwant\n%q", got, want)
	}
	// The synchronizing form is taken too, without a continuation.
	wantPrefix(t, r.cmd("CHECKSCRIPT {5}\r\nkeep;"), `OK "Script is valid"`)
	wantPrefix(t, r.cmd("CHECKSCRIPT {6}\r\nbogus;"), `NO "line 1, column 1: unknown command \"bogus\""`)
	// A malformed line announcing a literal: the literal is skipped, and
	// the next command is read in step.
	wantPrefix(t, r.cmd("PUTSCRIPT \"a\" \"b\" {5+}\r\nNOOP;"), `NO "expected 2 arguments, got 3"`)
	wantPrefix(t, r.cmd("NOOP"), "OK")
	// A script a little over the limit is refused; the session goes on.
	wantPrefix(t, r.cmd(fmt.Sprintf("PUTSCRIPT \"big\" {1500+}\r\n%s", strings.Repeat("#", 1500))), "NO (QUOTA/MAXSIZE)")
	wantPrefix(t, r.cmd("NOOP"), "OK")
	wantPrefix(t, r.cmd(`STARTTLS`), "NO")
	wantPrefix(t, r.cmd(`AUTHENTICATE "PLAIN"`), `NO "Already authenticated"`)
	wantPrefix(t, r.cmd(`UNAUTHENTICATE`), "OK")
	wantPrefix(t, r.cmd(`LISTSCRIPTS`), `NO "Authenticate first"`)
	// AUTHENTICATE without an initial response: an empty challenge, then
	// the client's answer; "*" cancels (RFC 5804 section 2.1).
	r.send("AUTHENTICATE \"PLAIN\"\r\n")
	if line := r.line(); line != `""` {
		t.Errorf("challenge %q, want an empty string", line)
	}
	wantPrefix(t, r.cmd(`"*"`), `NO "Authentication cancelled"`)
	r.send("AUTHENTICATE \"PLAIN\"\r\n")
	r.line()
	wantPrefix(t, r.cmd(`{64+}`+"\r\n"+`AGRlbW9AZXhhbXBsZS50ZXN0AGNvcnJlY3QgaG9yc2UgYmF0dGVyeSBzdGFwbGU=`), "OK")
	wantPrefix(t, r.cmd(`UNAUTHENTICATE`), "OK")
	// Ten bad commands in a row end the session.
	for range maxBadCommands {
		wantPrefix(t, r.cmd("BOGUS"), `NO "Unknown command BOGUS"`)
	}
	wantPrefix(t, r.line(), `BYE "Too many bad commands"`)
}

func TestBounds(t *testing.T) {
	h := newHarness(t, nil)
	r := h.raw()
	r.send(strings.Repeat("x", MaxLineLength+10) + "\r\n")
	wantPrefix(t, r.response()[0], `BYE "Line too long"`)

	r = h.raw()
	r.send("PUTSCRIPT \"x\" {100000000+}\r\n")
	wantPrefix(t, r.response()[0], `BYE (QUOTA/MAXSIZE)`)
}

// An idle session is ended at shutdown with BYE (TRYLATER).
func TestShutdown(t *testing.T) {
	h := newHarness(t, nil)
	r := h.raw()
	h.stop()
	wantPrefix(t, r.response()[0], `BYE (TRYLATER)`)
}

// What quote writes reads back the same, quoted or as a literal.
func TestQuote(t *testing.T) {
	for _, s := range []string{"", "a", `a"b\c`, "ünï", "two\r\nlines", strings.Repeat("x", MaxQuoted+1)} {
		r := &reader{br: bufio.NewReader(strings.NewReader(quote(s, true) + "\r\n")), maxLiteral: 1 << 20, maxDiscard: 1 << 20}
		got, err := r.readTokens()
		if err != nil || len(got) != 1 || got[0].value != s {
			t.Errorf("quote(%q) read back as %+v, %v", s, got, err)
		}
	}
}
