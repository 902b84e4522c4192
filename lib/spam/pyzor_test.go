package spam

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gannet/lib/config"
	"gannet/lib/dnstest"
	"gannet/lib/message"
	"gannet/lib/msgauth"
)

func parsedMessage(raw string) *Message {
	raw = strings.ReplaceAll(raw, "\n", "\r\n")
	return &Message{Raw: []byte(raw), Parsed: message.Parse([]byte(raw))}
}

// pyzorSamples are messages whose digests are compared with pyzor's.
var pyzorSamples = map[string]string{
	"short": "From: a@example.test\nSubject: hi\n\nhello world this is a line\nsecond line of the text here\n",
	"long": "From: a@example.test\nSubject: offer\n\n" + func() string {
		var b strings.Builder
		for i := range 40 {
			fmt.Fprintf(&b, "Line %d of the offer: buy cheap watches now, visit http://spam.example.test/%d or mail sales%d@spam.test\n", i, i, i)
			if i%7 == 0 {
				b.WriteString("short\n\n")
			}
		}
		return b.String()
	}(),
	"html": "From: a@example.test\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=b1\n\n" +
		"--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" +
		"Caf=C3=A9 cr=C3=A8me br=C3=BBl=C3=A9e for everyone today\nA second line, with some words in it\nthird line: verylongwordthatgoeson and more text\nfourth line here, still going on\nfifth line of the plain part\n\n" +
		"--b1\nContent-Type: text/html; charset=utf-8\n\n" +
		"<html><head><style>p { color: red; }</style><script>var x = 1;</script></head>\n<body><p>Caf&eacute; cr&egrave;me for everyone today</p>\n<p>A second paragraph, with a <a href=\"http://x.test/\">link to x</a> in it</p></body></html>\n" +
		"--b1--\n",
	"attachment": "From: a@example.test\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n" +
		"--XX\nContent-Type: text/plain\n\nPlease find the invoice attached to this message.\nPay it by Friday or else we will be very cross indeed.\n\n" +
		"--XX\nContent-Type: application/octet-stream; name=a.bin\nContent-Transfer-Encoding: base64\n\nTVogZmFrZSBleGVjdXRhYmxlIHBheWxvYWQK\nAAAA BBBB CCCC DDDD EEEE\n--XX--\n",
	"latin1":          "From: a@example.test\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\nGr\xfc\xdfe aus M\xfcnchen und Umgebung\nEine zweite Zeile mit W\xf6rtern\n",
	"no charset 8bit": "From: a@example.test\nContent-Type: text/plain\n\nna\xefve caf\xe9 text without a charset here\nand\tsome\ttabs\tand\x0bvertical\x0ctabs in it\n",
	"addresses":       "From: a@example.test\n\nmail x@y or a@ or @b or foo:bar or 1http://x or ab: c\nHTTP:X and mailto:z and 12345@ and @@@ and a@b@c\n",
	"empty":           "From: a@example.test\nSubject: empty\n\n",
}

// pyzorDigestOf runs Debian's pyzor on raw and returns its digest.
func pyzorDigestOf(t *testing.T, raw []byte) string {
	t.Helper()
	cmd := exec.Command(pyzorTool(t, "pyzor"), "--homedir", t.TempDir(), "digest")
	cmd.Stdin = bytes.NewReader(raw)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pyzor digest: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// pyzorTool returns the path of Debian's pyzor or pyzord, failing under
// GANNET_REQUIRE_TOOLS=1 and skipping otherwise when it is missing.
func pyzorTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := name + " is not installed (apt-get install pyzor python3-gdbm)"
	if os.Getenv("GANNET_REQUIRE_TOOLS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestPyzorDigestMatchesPyzor compares the digests with those of Debian's
// pyzor program.
func TestPyzorDigestMatchesPyzor(t *testing.T) {
	pyzorTool(t, "pyzor")
	for name, raw := range pyzorSamples {
		m := parsedMessage(raw)
		want := pyzorDigestOf(t, m.Raw)
		got, ok := PyzorDigest(m)
		if name == "empty" {
			if ok {
				t.Errorf("empty: got digest %s, want none", got)
			}
			continue
		}
		if !ok || got != want {
			t.Errorf("%s: digest %s (%v), pyzor says %s", name, got, ok, want)
		}
	}
}

// TestPyzorDigestKnown checks a digest pyzor 1.0 gave, so that the
// algorithm is checked where pyzor is not installed.
func TestPyzorDigestKnown(t *testing.T) {
	m := parsedMessage("Subject: x\n\nhello world this is a line\nsecond line of the text here\n")
	if got, _ := PyzorDigest(m); got != "e56a0224f55542fbf0aedf541facb192cc8473aa" {
		t.Errorf("digest %s", got)
	}
}

func TestPyzorNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"hello world":                        "helloworld",
		"see http://x.test/a now":            "seenow",
		"a verylongword12 b":                 "ab",
		"mail me@x.test or @b or a@":         "mailor@bora@",
		"1http://x ab: c":                    "1ab:c",
		"HTTP:X and \u212aelvin:x":           "and",
		"tabs\tand\u00a0nbsp\u2003em\x1fsep": "tabsandnbspemsep",
	} {
		if got := pyzorNormalize(in); got != want {
			t.Errorf("pyzorNormalize(%q) = %q, want %q", in, got, want)
		}
	}
	if got := pySplitLines("a\r\nb\rc\nd\x0be\x1cf\u2028g"); strings.Join(got, "|") != "a|b|c|d|e|f|g" {
		t.Errorf("pySplitLines: %q", got)
	}
}

// fakePyzord is a Pyzor server of the test's: it answers check requests
// from counts, and can drop or garble replies.
type fakePyzord struct {
	conn net.PacketConn
	mu   sync.Mutex
	// counts and wl are the spam and whitelist counts by digest.
	counts, wl map[string]int
	// drop is how many requests to ignore before answering.
	drop int
	// reply, when set, makes the reply instead.
	reply    func(req map[string]string) string
	requests []map[string]string
	bad      []string // problems with requests
}

func newFakePyzord(t *testing.T) *fakePyzord {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePyzord{conn: conn, counts: map[string]int{}, wl: map[string]int{}}
	done := make(chan struct{})
	t.Cleanup(func() {
		conn.Close()
		<-done
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, b := range f.bad {
			t.Error(b)
		}
	})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, addr, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			f.serve(buf[:n], addr)
		}
	}()
	return f
}

func (f *fakePyzord) addr() string { return f.conn.LocalAddr().String() }

func (f *fakePyzord) serve(b []byte, addr net.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	req, err := parsePyzorFields(b)
	if err != nil {
		f.bad = append(f.bad, fmt.Sprintf("request does not parse: %v: %q", err, b))
		return
	}
	f.requests = append(f.requests, req)
	// The request must be complete and signed as pyzor signs it.
	for _, k := range []string{"op", "op-digest", "thread", "pv", "user", "time", "sig"} {
		if req[k] == "" {
			f.bad = append(f.bad, fmt.Sprintf("request without %s: %q", k, b))
		}
	}
	signed, _, _ := strings.Cut(string(b), "Sig:")
	var ts int64
	fmt.Sscan(req["time"], &ts)
	if want := pyzorSign(signed, ts, pyzorHashKey("anonymous", "")); req["sig"] != want {
		f.bad = append(f.bad, fmt.Sprintf("signature %s, want %s", req["sig"], want))
	}
	if f.drop > 0 {
		f.drop--
		return
	}
	var out string
	if f.reply != nil {
		out = f.reply(req)
	} else {
		d := req["op-digest"]
		out = fmt.Sprintf("Code: 200\nDiag: OK\nPV: 2.1\nThread: %s\nCount: %d\nWL-Count: %d\n\n", req["thread"], f.counts[d], f.wl[d])
	}
	f.conn.WriteTo([]byte(out), addr)
}

func newTestPyzor(server string, timeout time.Duration) *pyzorChecker {
	cfg := config.Default().Spam.Pyzor
	cfg.Enabled = true
	cfg.Server = server
	cfg.Timeout = config.Duration{Duration: timeout}
	return newPyzorChecker(cfg, slog.New(slog.DiscardHandler))
}

func TestPyzorCheck(t *testing.T) {
	f := newFakePyzord(t)
	c := newTestPyzor(f.addr(), 5*time.Second)
	spam := parsedMessage(pyzorSamples["long"])
	ham := parsedMessage(pyzorSamples["short"])
	d, _ := PyzorDigest(spam)
	f.mu.Lock()
	f.counts[d] = 12
	f.mu.Unlock()

	r := &Result{}
	if err := c.Check(context.Background(), spam, r); err != nil {
		t.Fatal(err)
	}
	if !r.Has(TagPyzor) {
		t.Errorf("reported 12 times: no %s (tags %v)", TagPyzor, r.Tags())
	}
	if v, _ := r.Fact("pyzor"); v != 12 {
		t.Errorf("fact pyzor = %v, want 12", v)
	}
	if tg := r.Tags()[0]; tg.Score != 2 || !strings.Contains(tg.Detail, "12") {
		t.Errorf("tag %+v", tg)
	}

	r = &Result{}
	if err := c.Check(context.Background(), ham, r); err != nil || r.Has(TagPyzor) {
		t.Errorf("unreported message: tags %v, err %v", r.Tags(), err)
	}

	// Below the threshold, or whitelisted: no tag.
	f.mu.Lock()
	f.counts[d] = 4
	f.mu.Unlock()
	r = &Result{}
	if err := c.Check(context.Background(), spam, r); err != nil || r.Has(TagPyzor) {
		t.Errorf("4 reports: tags %v, err %v", r.Tags(), err)
	}
	f.mu.Lock()
	f.counts[d], f.wl[d] = 40, 10
	f.mu.Unlock()
	r = &Result{}
	if err := c.Check(context.Background(), spam, r); err != nil || r.Has(TagPyzor) {
		t.Errorf("whitelisted: tags %v, err %v", r.Tags(), err)
	}

	// Nothing to digest: no query.
	f.mu.Lock()
	n := len(f.requests)
	f.mu.Unlock()
	if err := c.Check(context.Background(), parsedMessage(pyzorSamples["empty"]), &Result{}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) != n {
		t.Errorf("an empty message was asked about")
	}
	if f.requests[0]["op"] != "check" || f.requests[0]["op-digest"] != d || f.requests[0]["user"] != "anonymous" {
		t.Errorf("request %v", f.requests[0])
	}
}

func TestPyzorRetryAndStaleReplies(t *testing.T) {
	f := newFakePyzord(t)
	c := newTestPyzor(f.addr(), time.Second)
	m := parsedMessage(pyzorSamples["long"])
	d, _ := PyzorDigest(m)
	f.mu.Lock()
	f.counts[d] = 9
	f.drop = 1 // the first datagram is lost
	f.mu.Unlock()
	r := &Result{}
	if err := c.Check(context.Background(), m, r); err != nil || !r.Has(TagPyzor) {
		t.Errorf("after a lost request: tags %v, err %v", r.Tags(), err)
	}
	f.mu.Lock()
	if len(f.requests) != 2 {
		t.Errorf("%d requests, want 2", len(f.requests))
	}
	// A reply to another thread comes first: it is skipped.
	f.reply = func(req map[string]string) string {
		stale := "Code: 200\nDiag: OK\nPV: 2.1\nThread: 1\nCount: 0\nWL-Count: 0\n\n"
		return stale
	}
	f.mu.Unlock()
	c2 := newTestPyzor(f.addr(), 300*time.Millisecond)
	if err := c2.Check(context.Background(), m, &Result{}); err == nil {
		t.Error("only replies to another thread: no error")
	}
}

func TestPyzorErrors(t *testing.T) {
	m := parsedMessage(pyzorSamples["long"])
	for name, reply := range map[string]func(map[string]string) string{
		"server error": func(req map[string]string) string {
			return "Code: 500\nDiag: Internal Server Error\nPV: 2.1\nThread: " + req["thread"] + "\n\n"
		},
		"garbage": func(map[string]string) string { return "\x00\x01\x02 not pyzor" },
		"no count": func(req map[string]string) string {
			return "Code: 200\nDiag: OK\nPV: 2.1\nThread: " + req["thread"] + "\n\n"
		},
		"bad count": func(req map[string]string) string {
			return "Code: 200\nDiag: OK\nPV: 2.1\nThread: " + req["thread"] + "\nCount: -4\nWL-Count: 0\n"
		},
		"wrong version": func(req map[string]string) string {
			return "Code: 200\nDiag: OK\nPV: 9\nThread: " + req["thread"] + "\nCount: 1\nWL-Count: 0\n"
		},
	} {
		f := newFakePyzord(t)
		f.mu.Lock()
		f.reply = reply
		f.mu.Unlock()
		c := newTestPyzor(f.addr(), 2*time.Second)
		r := &Result{}
		if err := c.Check(context.Background(), m, r); err == nil || r.Has(TagPyzor) {
			t.Errorf("%s: err %v, tags %v; want an error and no tag", name, err, r.Tags())
		}
	}

	// No server at all: the check ends at its timeout with an error.
	f := newFakePyzord(t)
	f.mu.Lock()
	f.drop = 1 << 30
	f.mu.Unlock()
	c := newTestPyzor(f.addr(), 200*time.Millisecond)
	if err := c.Check(context.Background(), m, &Result{}); err == nil || !strings.Contains(err.Error(), "no reply") {
		t.Errorf("silent server: err %v", err)
	}
	// A canceled context ends it too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c = newTestPyzor(f.addr(), time.Minute)
	if err := c.Check(ctx, m, &Result{}); err == nil {
		t.Error("canceled: no error")
	}
}

func TestPyzorBacksOffASilentServer(t *testing.T) {
	f := newFakePyzord(t)
	f.mu.Lock()
	f.drop = 1 << 30
	f.mu.Unlock()
	c := newTestPyzor(f.addr(), 200*time.Millisecond)
	now := time.Now()
	c.now = func() time.Time { return now }
	m := parsedMessage(pyzorSamples["long"])
	requests := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.requests)
	}
	if err := c.Check(context.Background(), m, &Result{}); err == nil || !strings.Contains(err.Error(), "not asking again") {
		t.Fatalf("err %v", err)
	}
	// The requests sent may still be arriving: wait for both.
	deadline := time.Now().Add(5 * time.Second)
	for requests() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := requests(); n != 2 {
		t.Fatalf("%d requests, want 2 (one retry)", n)
	}
	if err := c.Check(context.Background(), m, &Result{}); err != nil {
		t.Errorf("while backing off: %v", err)
	}
	if n := requests(); n != 2 {
		t.Errorf("asked again while backing off: %d requests", n)
	}
	now = now.Add(pyzorBackoff + time.Second)
	f.mu.Lock()
	f.drop = 0
	f.mu.Unlock()
	if err := c.Check(context.Background(), m, &Result{}); err != nil {
		t.Errorf("after the backoff: %v", err)
	}
}

func TestPyzorBuild(t *testing.T) {
	cfg := config.Default()
	if ch, err := buildPyzor(context.Background(), Deps{Config: cfg}); ch != nil || err != nil {
		t.Errorf("disabled by default: got %v, %v", ch, err)
	}
	cfg.Spam.Pyzor.Enabled = true
	if ch, err := buildPyzor(context.Background(), Deps{Config: cfg}); ch == nil || err != nil || ch.Name() != "pyzor" {
		t.Errorf("enabled: got %v, %v", ch, err)
	}
}

// TestPyzorWithPyzord checks against Debian's pyzord: messages reported
// with Debian's pyzor are counted when gannet checks them, and gannet's
// request signature is the one pyzor's own code computes.
func TestPyzorWithPyzord(t *testing.T) {
	pyzord := pyzorTool(t, "pyzord")
	pyzor := pyzorTool(t, "pyzor")
	dir := t.TempDir()
	// A free UDP port for pyzord.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().(*net.UDPAddr)
	pc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	srv := exec.CommandContext(ctx, pyzord, "--homedir", dir, "-e", "gdbm", "--dsn", filepath.Join(dir, "db"),
		"-a", "127.0.0.1", "-p", fmt.Sprint(addr.Port))
	var srvLog bytes.Buffer
	srv.Stdout, srv.Stderr = &srvLog, &srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		srv.Wait()
	})
	server := addr.String()
	if err := os.WriteFile(filepath.Join(dir, "servers"), []byte(server+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(stdin []byte, args ...string) (string, error) {
		cmd := exec.Command(pyzor, append([]string{"--homedir", dir, "-t", "2"}, args...)...)
		cmd.Stdin = bytes.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// Wait for pyzord to answer.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := run(nil, "ping")
		if err == nil && strings.Contains(out, "200") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pyzord does not answer: %v %s; its log: %s", err, out, srvLog.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	m := parsedMessage(pyzorSamples["html"])
	c := newTestPyzor(server, 5*time.Second)
	r := &Result{}
	if err := c.Check(context.Background(), m, r); err != nil || r.Has(TagPyzor) {
		t.Fatalf("before any report: tags %v, err %v", r.Tags(), err)
	}
	for range 5 {
		if out, err := run(m.Raw, "report"); err != nil {
			t.Fatalf("pyzor report: %v: %s", err, out)
		}
	}
	r = &Result{}
	if err := c.Check(context.Background(), m, r); err != nil || !r.Has(TagPyzor) {
		t.Fatalf("after 5 reports: tags %v, err %v; pyzord log: %s", r.Tags(), err, srvLog.String())
	}
	if v, _ := r.Fact("pyzor"); v != 5 {
		t.Errorf("count %v, want 5", v)
	}

	// The signature, checked by pyzor's own code.
	py, err := exec.LookPath("/usr/bin/python3")
	if err != nil {
		t.Skip("no /usr/bin/python3")
	}
	req := pyzorRequest("check", "e56a0224f55542fbf0aedf541facb192cc8473aa", 4242, time.Unix(1700000000, 0))
	script := `import sys, email, pyzor.account as a
m = email.message_from_bytes(sys.stdin.buffer.read())
sig = m["Sig"]; del m["Sig"]
want = a.sign_msg(a.hash_key("", "anonymous"), int(m["Time"]), m)
print("ok" if sig == want else "mismatch %s %s" % (sig, want))`
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = bytes.NewReader(req)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Errorf("pyzor's sign_msg: %v: %s", err, out)
	}
}

// FuzzPyzorReply: the reply parser never panics, and what it accepts is
// within bounds.
func FuzzPyzorReply(f *testing.F) {
	f.Add([]byte("Code: 200\nDiag: OK\nPV: 2.1\nThread: 4242\nCount: 5\nWL-Count: 0\n\n"))
	f.Add([]byte("Code: 500\nDiag: x\nPV: 2.1\nThread: 1\n"))
	f.Add([]byte("Code: 200\r\nDiag: OK\r\nPV: 2.0\r\nThread: 65535\r\nCount: 99999999999\r\nWL-Count: 1\r\n"))
	f.Add([]byte(":\n:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := parsePyzorReply(b)
		if err != nil {
			return
		}
		if rep.Thread < 0 || rep.Thread > 65535 || rep.Count < 0 || rep.WLCount < 0 || len(rep.Diag) > 103 {
			t.Errorf("accepted out of bounds: %+v", rep)
		}
	})
}

// FuzzPyzorDigest: no panic on any message.
func FuzzPyzorDigest(f *testing.F) {
	for _, raw := range pyzorSamples {
		f.Add([]byte(raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := &Message{Raw: raw, Parsed: message.Parse(raw)}
		if d, ok := PyzorDigest(m); ok && len(d) != 40 {
			t.Errorf("digest %q", d)
		}
	})
}

// TestFilterNetworkChecks builds the filter from a configuration with a
// blocklist, the phishing checks and Pyzor, and checks one message with it.
func TestFilterNetworkChecks(t *testing.T) {
	s := dnstest.New(t)
	r, err := msgauth.NewResolver(config.DNS{Resolver: s.Addr(), Timeout: config.Duration{Duration: 2 * time.Second}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Add("7.100.51.198.zen.test. 300 IN A 127.0.0.2")
	pz := newFakePyzord(t)
	m := parsedMessage(pyzorSamples["long"])
	m.Envelope.ClientIP = netip.MustParseAddr("198.51.100.7")
	m.From, m.FromName = "service@evil.test", "PayPal"
	m.URLs = []URL{link("www.p\u0430ypal.com", "www.paypal.com")}
	d, _ := PyzorDigest(m)
	pz.mu.Lock()
	pz.counts[d] = 50
	pz.mu.Unlock()

	cfg := config.Default()
	cfg.Spam.DNSBL = []config.DNSBL{zenLike()}
	cfg.Spam.Pyzor.Enabled = true
	cfg.Spam.Pyzor.Server = pz.addr()
	f, err := New(context.Background(), Deps{Config: cfg, Resolver: r, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	v := f.Check(context.Background(), m, nil)
	got := map[string]bool{}
	for _, tg := range v.Tags {
		got[tg.Name] = true
	}
	for _, want := range []string{"RCVD_IN_SBL", TagPyzor, TagHomograph, TagMixedScriptURL, TagDisplayName, TagLinkMismatch} {
		if !got[want] {
			t.Errorf("verdict lacks %s: %v", want, v.Tags)
		}
	}
	if !v.Spam {
		t.Errorf("not spam: score %v", v.Score)
	}
	if fields := string(v.Fields()); !strings.Contains(fields, "PHISH_HOMOGRAPH=5.00") {
		t.Errorf("header fields:\n%s", fields)
	}
}

func BenchmarkPyzorDigest(b *testing.B) {
	m := parsedMessage(pyzorSamples["html"])
	b.ReportAllocs()
	for b.Loop() {
		PyzorDigest(m)
	}
}
