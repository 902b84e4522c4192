package ban

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"gannet/lib/config"
	"gannet/lib/listen"
	"gannet/lib/notify"
	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: path, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// testConfig bans after 3 failures from an address and locks a login
// after 5; only 192.0.2.250 is allow-listed.
func testConfig() config.Ban {
	c := config.Default().Ban
	c.Allow = []string{"192.0.2.250"}
	c.AuthFailures = 3
	c.LoginFailures = 5
	c.RcptFailures = 2
	return c
}

func tcp(s string) net.Addr {
	return &net.TCPAddr{IP: net.ParseIP(s), Port: 4000}
}

func TestAuthFailuresBanAddress(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "g.db"))
	g := New(st, testConfig(), quiet)
	if err := g.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	changes := 0
	g.OnChange(func() { changes++ })
	for i := range 3 {
		if !g.AllowAddr(tcp("192.0.2.1")) {
			t.Fatalf("refused after %d failures", i)
		}
		g.AuthFailure(tcp("192.0.2.1"), "nobody@example.org")
		g.AuthFailure(tcp("192.0.2.250"), "nobody@example.org") // allow-listed
	}
	if g.AllowAddr(tcp("192.0.2.1")) {
		t.Error("192.0.2.1 still allowed after 3 failures")
	}
	if g.AllowAddr(tcp("::ffff:192.0.2.1")) {
		t.Error("192.0.2.1 allowed when IPv4-mapped")
	}
	if !g.AllowAddr(tcp("192.0.2.250")) || !g.AllowAddr(tcp("192.0.2.2")) {
		t.Error("an allow-listed or innocent address refused")
	}
	if changes == 0 {
		t.Error("OnChange hooks not run after a ban")
	}
	b, err := st.GetBan(context.Background(), store.BanIP, "192.0.2.1", time.Now())
	if err != nil || b.Expires.IsZero() || b.Reason == "" {
		t.Errorf("stored ban = %+v, %v; want one with a reason and an expiry", b, err)
	}
	// Six failures for the login from three addresses (allowed one
	// included) lock it.
	if !g.LoginLocked("nobody@example.org") {
		t.Error("login not locked after 6 failures from several addresses")
	}
	if g.LoginLocked("other@example.org") {
		t.Error("another login locked")
	}
	if !g.LoginLocked("Nobody@EXAMPLE.org") {
		t.Error("lock depends on case")
	}
}

func TestBanExpires(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "g.db"))
	now := time.Now()
	g := New(st, testConfig(), quiet)
	g.Now = func() time.Time { return now }
	ctx := context.Background()
	if err := st.PutBan(ctx, &store.Ban{Kind: store.BanIP, Key: "198.51.100.0/24", Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutBan(ctx, &store.Ban{Kind: store.BanIP, Key: "198.51.100.7", Allow: true}); err != nil {
		t.Fatal(err)
	}
	g.Load(ctx)
	if g.AllowIP(netip.MustParseAddr("198.51.100.9")) {
		t.Error("address in a banned network allowed")
	}
	if !g.AllowIP(netip.MustParseAddr("198.51.100.7")) {
		t.Error("address allow-listed in the store refused")
	}
	now = now.Add(2 * time.Hour)
	if !g.AllowIP(netip.MustParseAddr("198.51.100.9")) {
		t.Error("ban did not expire")
	}
}

func TestAbuse(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "g.db"))
	g := New(st, testConfig(), quiet)
	g.Load(context.Background())
	g.Abuse(tcp("203.0.113.5"), EventRcpt)
	if !g.AllowAddr(tcp("203.0.113.5")) {
		t.Fatal("banned after one unknown recipient")
	}
	g.Abuse(tcp("203.0.113.5"), EventRcpt)
	if g.AllowAddr(tcp("203.0.113.5")) {
		t.Error("not banned after two unknown recipients")
	}
	if !g.ScannerPath("/WP-login.php?x") || g.ScannerPath("/jmap/session") {
		t.Error("ScannerPath wrong")
	}
}

// TestBansReachOtherProcesses runs two Guards over one database, each with
// its own change feed listener, as two daemons do: a ban made by one
// reaches the other through the feed.
func TestBansReachOtherProcesses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g.db")
	feedDir := filepath.Join(dir, "notify")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var guards [2]*Guard
	for i := range guards {
		g := New(openStore(t, path), testConfig(), quiet)
		if err := g.Load(ctx); err != nil {
			t.Fatal(err)
		}
		l, err := notify.Listen(ctx, feedDir)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		pub, err := notify.NewPublisher(feedDir)
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		g.Publisher = pub
		go g.Watch(ctx, l)
		guards[i] = g
	}
	// Failures in both processes count together.
	guards[0].AuthFailure(tcp("192.0.2.9"), "x")
	guards[1].AuthFailure(tcp("192.0.2.9"), "x")
	guards[0].AuthFailure(tcp("192.0.2.9"), "x")
	if guards[0].AllowAddr(tcp("192.0.2.9")) {
		t.Fatal("not banned where the third failure was counted")
	}
	deadline := time.Now().Add(10 * time.Second)
	for guards[1].AllowAddr(tcp("192.0.2.9")) {
		if time.Now().After(deadline) {
			t.Fatal("the ban never reached the other process")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// banctl unbans: both hear of it.
	a := &Admin{Store: openStore(t, path), Config: testConfig()}
	pub, _ := notify.NewPublisher(feedDir)
	defer pub.Close()
	a.Publisher = pub
	if err := a.Unban(ctx, "192.0.2.9", false); err != nil {
		t.Fatal(err)
	}
	for _, g := range guards {
		for !g.AllowAddr(tcp("192.0.2.9")) {
			if time.Now().After(deadline) {
				t.Fatal("the unban never reached a process")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func TestAdmin(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "g.db"))
	ctx := context.Background()
	a := &Admin{Store: st, Config: testConfig()}
	if _, err := a.Ban(ctx, "2001:db8::/32", false, time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Ban(ctx, "Alice@Example.org", false, 0, "leaked"); err != nil {
		t.Fatal(err)
	}
	if over, err := a.Ban(ctx, "192.0.2.250", false, 0, ""); err != nil || !over {
		t.Errorf("banning an allow-listed address: overridden %v, %v; want true", over, err)
	}
	st.CountBanEvent(ctx, store.BanLogin, "alice@example.org", EventAuth, time.Hour, time.Now())
	es, err := a.List(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 3 {
		t.Fatalf("List = %+v", es)
	}
	var alice Entry
	for _, e := range es {
		if e.Kind == store.BanLogin {
			alice = e
		}
	}
	if alice.Key != "alice@example.org" || alice.Reason != "leaked" || !alice.Until.IsZero() || alice.Counts[EventAuth] != 1 {
		t.Errorf("login entry = %+v", alice)
	}
	r, err := a.Show(ctx, "2001:db8::1", false)
	if err != nil || !r.Refused || len(r.Networks) != 1 || r.Ban != nil {
		t.Errorf("Show(2001:db8::1) = %+v, %v", r, err)
	}
	r, _ = a.Show(ctx, "192.0.2.250", false)
	if r.Refused || r.Ban == nil || len(r.Allowed) != 1 {
		t.Errorf("Show(allow-listed) = %+v", r)
	}
	if err := a.Unban(ctx, "alice@example.org", false); err != nil {
		t.Fatal(err)
	}
	if r, _ := a.Show(ctx, "alice@example.org", false); r.Refused || len(r.Counters) != 0 {
		t.Errorf("after unban: %+v", r)
	}
	if err := a.Unban(ctx, "192.0.2.77", false); err == nil {
		t.Error("unbanning what is not banned: no error")
	}
	if err := a.AllowAdd(ctx, "10.0.0.0/8", "office"); err != nil {
		t.Fatal(err)
	}
	if es, _ := a.List(ctx, true); len(es) != 2 || es[1].Key != "10.0.0.0/8" || es[0].Source != "config" {
		t.Errorf("allow list = %+v", es)
	}
	if err := a.AllowRemove(ctx, "10.0.0.0/8"); err != nil {
		t.Fatal(err)
	}
	if err := a.AllowRemove(ctx, "10.0.0.0/8"); err == nil {
		t.Error("removing twice: no error")
	}
	if _, _, err := Target("", false); err == nil {
		t.Error("Target(\"\") accepted")
	}
}

func TestLimiter(t *testing.T) {
	cfg := config.Default().Limits
	cfg.ConnectionsPerIP = 2
	cfg.ConnectionRate = 4
	cfg.MessagesPerSender = 2
	cfg.MessagesPerDomain = 1
	now := time.Now()
	l := NewLimiter(cfg)
	l.Now = func() time.Time { return now }
	a := tcp("192.0.2.1")
	r1, ok1 := l.Admit(a)
	_, ok2 := l.Admit(a)
	_, ok3 := l.Admit(a)
	if !ok1 || !ok2 || ok3 {
		t.Fatalf("concurrency: %v %v %v; want true true false", ok1, ok2, ok3)
	}
	r1()
	r1() // twice is once
	if _, ok := l.Admit(a); !ok {
		t.Error("refused after a release")
	}
	// That was the 3rd counted of 4 in the window; one more, then none.
	r, ok := l.Admit(tcp("192.0.2.2"))
	if !ok {
		t.Fatal("another address refused")
	}
	r()
	// 192.0.2.1: 2 open; release one and the rate still allows one.
	if _, ok := l.Admit(a); ok {
		t.Error("admitted past the concurrency limit")
	}
	now = now.Add(2 * time.Minute)
	if !l.AllowSender(a, "a@example.org") || !l.AllowSender(a, "A@example.org") || l.AllowSender(a, "a@example.org") {
		t.Error("sender limit wrong")
	}
	if !l.AllowSender(a, "") || !l.AllowDomain(a, "example.net") || l.AllowDomain(a, "EXAMPLE.net") {
		t.Error("domain limit wrong")
	}
	now = now.Add(2 * time.Hour)
	if !l.AllowSender(a, "a@example.org") || !l.AllowDomain(a, "example.net") {
		t.Error("limits did not reset after the window")
	}
	// Exempt addresses are never limited.
	l.Exempt = func(ip netip.Addr) bool { return ip == netip.MustParseAddr("192.0.2.99") }
	ex := tcp("192.0.2.99")
	for range 10 {
		if _, ok := l.Admit(ex); !ok || !l.AllowSender(ex, "a@example.org") || !l.AllowDomain(ex, "example.net") {
			t.Fatal("exempt address limited")
		}
	}
	unix := &net.UnixAddr{Name: "@", Net: "unix"}
	for range 10 {
		if _, ok := l.Admit(unix); !ok {
			t.Fatal("Unix socket client limited")
		}
	}
}

// TestGate runs a real listener through a Gate: a banned address is
// dropped at accept, and a ban closes the open sessions of the address.
func TestGate(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "g.db"))
	cfg := testConfig()
	g := New(st, cfg, quiet)
	g.Load(context.Background())
	gate := &listen.Gate{Allow: g.AllowAddr, Log: quiet}
	g.OnChange(func() { gate.CloseIf(func(a net.Addr) bool { return !g.AllowAddr(a) }) })
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ls := gate.Wrap([]listen.Listener{{Name: listen.IMAP, Listener: nl}})
	defer ls[0].Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ls[0].Accept()
			if err != nil {
				close(accepted)
				return
			}
			c.Write([]byte("* OK hello\r\n"))
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", nl.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c1 := dial()
	defer c1.Close()
	buf := make([]byte, 64)
	c1.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c1.Read(buf); err != nil || string(buf[:n]) != "* OK hello\r\n" {
		t.Fatalf("greeting: %q, %v", buf[:n], err)
	}
	<-accepted
	if gate.Open() != 1 {
		t.Errorf("Open() = %d, want 1", gate.Open())
	}
	// Three failures ban 127.0.0.1 (not allow-listed here): the open
	// session is closed and the next connection is dropped unanswered.
	for range 3 {
		g.AuthFailure(tcp("127.0.0.1"), "x")
	}
	if n, err := c1.Read(buf); err == nil {
		t.Errorf("open session not closed: read %q", buf[:n])
	}
	c2 := dial()
	defer c2.Close()
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c2.Read(buf); err == nil {
		t.Errorf("banned client got %q", buf[:n])
	}
	if gate.Open() != 0 {
		t.Errorf("Open() = %d after the ban, want 0", gate.Open())
	}
}

// TestHTTP runs the HTTP hook: scanner paths are counted and get 404, a
// banned address gets its connection closed without an answer.
func TestHTTP(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "g.db"))
	g := New(st, testConfig(), quiet)
	g.Load(context.Background())
	srv := httptest.NewServer(g.HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) (int, error) {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get("/"); err != nil || code != 200 {
		t.Fatalf("GET /: %d, %v", code, err)
	}
	for i := range 3 {
		if code, err := get("/.env"); err != nil || code != 404 {
			t.Fatalf("scanner request %d: %d, %v", i, code, err)
		}
	}
	if code, err := get("/"); err == nil {
		t.Errorf("banned client answered %d", code)
	}
}

func TestLimiterIPv6Prefix(t *testing.T) {
	cfg := config.Default().Limits
	cfg.ConnectionsPerIP = 1
	l := NewLimiter(cfg)
	if _, ok := l.Admit(tcp("2001:db8:1:2::1")); !ok {
		t.Fatal("first refused")
	}
	if _, ok := l.Admit(tcp("2001:db8:1:2::ffff")); ok {
		t.Error("another address of the same /64 admitted past the limit")
	}
	if _, ok := l.Admit(tcp("2001:db8:1:3::1")); !ok {
		t.Error("another /64 refused")
	}
}
