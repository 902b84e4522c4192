package mtasts

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	policyA = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmx: *.mx.example.test\r\nmax_age: 86400\r\n"
	policyB = "version: STSv1\nmode: testing\nmx: mx2.example.test\nmax_age: 3600\n"
)

func TestGetCachesByID(t *testing.T) {
	e := newEnv(t, "")
	e.setTXT(t, "example.test", "v=STSv1; id=20260101T000000;")
	e.ps.set("example.test", &site{body: policyA})

	p := get(t, e.cache, "example.test")
	if p == nil {
		t.Fatal("no policy")
	}
	if p.Mode != Enforce || !slices.Equal(p.MX, []string{"mx1.example.test", "*.mx.example.test"}) ||
		p.MaxAge != 24*time.Hour || p.ID != "20260101T000000" || !p.Fetched.Equal(e.clock.Now()) {
		t.Errorf("policy = %+v", *p)
	}
	if !p.Match("a.mx.example.test.") || p.Match("mx2.example.test") {
		t.Error("Match does not follow the fetched mx patterns")
	}
	// The same id, a trailing dot and upper case: no second fetch.
	e.clock.Advance(time.Hour)
	for _, d := range []string{"example.test", "Example.TEST."} {
		if q := get(t, e.cache, d); q == nil || q.ID != p.ID || !q.Fetched.Equal(p.Fetched) {
			t.Errorf("Get(%s) = %+v, want the cached policy", d, q)
		}
	}
	if n := e.ps.count("example.test"); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
	// The caller may change what it got without changing the cache.
	p.MX[0] = "evil.test"
	if q := get(t, e.cache, "example.test"); q.MX[0] != "mx1.example.test" {
		t.Errorf("the cached policy changed with the caller's copy: %v", q.MX)
	}
}

func TestGetRefetchesOnNewID(t *testing.T) {
	e := newEnv(t, "")
	e.setTXT(t, "example.test", "v=STSv1; id=1")
	e.ps.set("example.test", &site{body: policyA})
	if p := get(t, e.cache, "example.test"); p == nil || p.Mode != Enforce {
		t.Fatalf("first policy = %+v", p)
	}

	e.setTXT(t, "example.test", "v=STSv1; id=2")
	e.ps.set("example.test", &site{body: policyB})
	p := get(t, e.cache, "example.test")
	if p == nil || p.ID != "2" || p.Mode != Testing || !slices.Equal(p.MX, []string{"mx2.example.test"}) {
		t.Fatalf("policy after the id changed = %+v", p)
	}
	get(t, e.cache, "example.test")
	if n := e.ps.count("example.test"); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
}

// TestGetKeepsCachedPolicy checks RFC 8461 section 5.1: when no live
// policy can be had, a cached unexpired one applies.
func TestGetKeepsCachedPolicy(t *testing.T) {
	e := newEnv(t, "")
	e.setTXT(t, "example.test", "v=STSv1; id=1")
	e.ps.set("example.test", &site{body: policyA})
	if p := get(t, e.cache, "example.test"); p == nil {
		t.Fatal("no policy")
	}

	steps := []struct {
		name  string
		setup func()
	}{
		{"new id, fetch fails", func() {
			e.setTXT(t, "example.test", "v=STSv1; id=2")
			e.ps.set("example.test", &site{status: http.StatusInternalServerError, body: "oops"})
		}},
		{"new id, bad policy", func() {
			e.setTXT(t, "example.test", "v=STSv1; id=3")
			e.ps.set("example.test", &site{body: "version: STSv1\nmode: enforce\nmax_age: 1\n"})
		}},
		{"TXT record gone", func() { e.setTXT(t, "example.test") }},
		{"two TXT records", func() { e.setTXT(t, "example.test", "v=STSv1; id=4", "v=STSv1; id=5") }},
		{"bad TXT record", func() { e.setTXT(t, "example.test", "v=STSv1; id=x-y") }},
		{"DNS failure", func() { e.dns.Fail("_mta-sts.example.test.", dns.RcodeServerFailure) }},
	}
	for _, s := range steps {
		s.setup()
		p := get(t, e.cache, "example.test")
		if p == nil || p.ID != "1" || p.Mode != Enforce {
			t.Errorf("%s: policy = %+v, want the cached one", s.name, p)
		}
	}
	if n := e.ps.count("example.test"); n != 3 {
		t.Errorf("%d fetches, want 3 (two failed)", n)
	}
}

func TestGetExpiry(t *testing.T) {
	e := newEnv(t, "")
	e.setTXT(t, "example.test", "v=STSv1; id=1")
	e.ps.set("example.test", &site{body: "version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 100\n"})
	first := get(t, e.cache, "example.test")
	if first == nil || first.Expires() != first.Fetched.Add(100*time.Second) {
		t.Fatalf("policy = %+v", first)
	}

	e.clock.Advance(99 * time.Second)
	get(t, e.cache, "example.test")
	if n := e.ps.count("example.test"); n != 1 {
		t.Fatalf("%d fetches before max_age, want 1", n)
	}

	// Expired: the same id no longer saves a fetch.
	e.clock.Advance(time.Second)
	p := get(t, e.cache, "example.test")
	if n := e.ps.count("example.test"); n != 2 {
		t.Fatalf("%d fetches after max_age, want 2", n)
	}
	if p == nil || !p.Fetched.After(first.Fetched) {
		t.Fatalf("policy after expiry = %+v", p)
	}

	// Expired and no live policy: none at all.
	e.clock.Advance(100 * time.Second)
	e.ps.set("example.test", &site{status: http.StatusNotFound})
	if p := get(t, e.cache, "example.test"); p != nil {
		t.Errorf("expired policy used: %+v", p)
	}
	e.setTXT(t, "example.test")
	if p := get(t, e.cache, "example.test"); p != nil {
		t.Errorf("expired policy used without a TXT record: %+v", p)
	}
}

// TestGetRetryAfterFailure checks that a failed fetch is not tried again
// for the same id within five minutes (RFC 8461 section 3.3).
func TestGetRetryAfterFailure(t *testing.T) {
	e := newEnv(t, "")
	e.setTXT(t, "example.test", "v=STSv1; id=1")
	e.ps.set("example.test", &site{status: http.StatusServiceUnavailable})
	for range 3 {
		if p := get(t, e.cache, "example.test"); p != nil {
			t.Fatalf("policy from a failing server: %+v", p)
		}
	}
	if n := e.ps.count("example.test"); n != 1 {
		t.Errorf("%d fetches within five minutes, want 1", n)
	}
	// A new id is worth a try at once.
	e.setTXT(t, "example.test", "v=STSv1; id=2")
	get(t, e.cache, "example.test")
	if n := e.ps.count("example.test"); n != 2 {
		t.Errorf("%d fetches after the id changed, want 2", n)
	}
	e.ps.set("example.test", &site{body: policyA})
	e.clock.Advance(RetryAfterFailure)
	if p := get(t, e.cache, "example.test"); p == nil || p.ID != "2" {
		t.Errorf("policy five minutes later = %+v", p)
	}
}

func TestGetNoPolicy(t *testing.T) {
	tests := []struct {
		name string
		txt  []string
		fail bool // SERVFAIL for the TXT lookup
		site *site
	}{
		{name: "no record"},
		{name: "other TXT records only", txt: []string{"v=spf1 -all", "hello"}},
		{name: "two records", txt: []string{"v=STSv1; id=1", "v=STSv1; id=2"}},
		{name: "no id", txt: []string{"v=STSv1;"}},
		{name: "bad id", txt: []string{"v=STSv1; id=2026-01-01"}},
		{name: "DNS failure", fail: true},
		{name: "record, policy host down", txt: []string{"v=STSv1; id=1"}, site: &site{status: http.StatusBadGateway}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "")
			e.setTXT(t, "example.test", tt.txt...)
			if tt.fail {
				e.dns.Fail("_mta-sts.example.test.", dns.RcodeServerFailure)
			}
			s := tt.site
			if s == nil {
				s = &site{body: policyA}
			}
			e.ps.set("example.test", s)
			if p := get(t, e.cache, "example.test"); p != nil {
				t.Errorf("policy = %+v, want none", p)
			}
			want := 0
			if tt.site != nil {
				want = 1
			}
			if n := e.ps.count("example.test"); n != want {
				t.Errorf("%d fetches, want %d", n, want)
			}
		})
	}
}

func TestGetPicksTheSTSRecord(t *testing.T) {
	e := newEnv(t, "")
	e.setTXT(t, "example.test", "v=spf1 -all", "v=STSv1 ; id=7 ;", "v=STSv10; id=8")
	e.ps.set("example.test", &site{body: policyA})
	if p := get(t, e.cache, "example.test"); p == nil || p.ID != "7" {
		t.Errorf("policy = %+v, want the one under id 7", p)
	}
}

// TestFetchRefused checks the rules of RFC 8461 section 3.3 for the HTTPS
// answer: each case gives no policy, and the reason names the problem.
func TestFetchRefused(t *testing.T) {
	big := policyA + strings.Repeat("x-padding: 0123456789abcdef\n", MaxPolicySize/28+1)
	tests := []struct {
		name     string
		domain   string
		site     *site
		insecure bool // a client that skips certificate verification
		want     string
	}{
		{name: "redirect", site: &site{status: http.StatusFound, location: "https://mta-sts.example.test/moved.txt", body: policyA},
			want: "redirect (302 Found) refused"},
		{name: "permanent redirect", site: &site{status: http.StatusMovedPermanently, location: "https://mta-sts.example.test/moved.txt", body: policyA},
			want: "redirect (301 Moved Permanently) refused"},
		{name: "not found", site: &site{status: http.StatusNotFound}, want: "404 Not Found"},
		{name: "HTML", site: &site{ctype: ptr("text/html; charset=utf-8"), body: policyA}, want: `content type "text/html; charset=utf-8", want text/plain`},
		{name: "no content type", site: &site{ctype: ptr(""), body: policyA}, want: `content type "", want text/plain`},
		{name: "bad content type", site: &site{ctype: ptr("text/plain; charset"), body: policyA}, want: "want text/plain"},
		{name: "oversize", site: &site{body: big}, want: "larger than 65536"},
		{name: "oversize without length", site: &site{body: big, chunked: true}, want: "policy larger than 65536 bytes"},
		{name: "bad policy", site: &site{body: "version: STSv1\nmode: enforce\nmax_age: 86400\n"}, want: "mode enforce without an mx field"},
		{name: "certificate for another name", domain: "other.test", site: &site{body: policyA}, want: "certificate is valid for mta-sts.example.test, not mta-sts.other.test"},
		{name: "verification skipped", domain: "other.test", site: &site{body: policyA}, insecure: true, want: "not over TLS with a verified certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "")
			c := e.newCache("", tt.insecure)
			d := tt.domain
			if d == "" {
				d = "example.test"
			}
			e.setTXT(t, d, "v=STSv1; id=1")
			e.ps.set(d, tt.site)

			if p := get(t, c, d); p != nil {
				t.Errorf("Get = %+v, want no policy", p)
			}
			_, err := c.fetch(context.Background(), d)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("fetch error %v, want one with %q", err, tt.want)
			}
			if n := e.ps.countPath(d, "/moved.txt"); n != 0 {
				t.Errorf("redirect followed %d times", n)
			}
		})
	}
}

func TestFetchAccepts(t *testing.T) {
	for _, ct := range []string{"text/plain", "TEXT/PLAIN", "text/plain; charset=us-ascii"} {
		e := newEnv(t, "")
		e.setTXT(t, "example.test", "v=STSv1; id=1")
		e.ps.set("example.test", &site{ctype: ptr(ct), body: policyB, chunked: true})
		if p := get(t, e.cache, "example.test"); p == nil || p.Mode != Testing {
			t.Errorf("content type %q: policy = %+v", ct, p)
		}
	}
}

func TestPersistence(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mta-sts")
	e := newEnv(t, dir)
	e.setTXT(t, "example.test", "v=STSv1; id=1")
	e.ps.set("example.test", &site{body: policyA})
	first := get(t, e.cache, "example.test")
	if first == nil {
		t.Fatal("no policy")
	}
	if _, err := os.Stat(filepath.Join(dir, "example.test.json")); err != nil {
		t.Fatalf("policy not kept on disk: %v", err)
	}

	// A new cache on the same directory (a restarted queued) has it: no
	// fetch while the id stays, and it holds with the record gone.
	c2 := e.newCache(dir, false)
	p := get(t, c2, "example.test")
	if p == nil || p.ID != "1" || !p.Fetched.Equal(first.Fetched) || !slices.Equal(p.MX, first.MX) || p.MaxAge != first.MaxAge || p.Mode != first.Mode {
		t.Fatalf("policy from disk = %+v, want %+v", p, first)
	}
	if n := e.ps.count("example.test"); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
	e.setTXT(t, "example.test")
	if p := get(t, e.newCache(dir, false), "example.test"); p == nil || p.ID != "1" {
		t.Errorf("policy from disk without a TXT record = %+v", p)
	}

	// Expired on disk: not used, and the file goes.
	e.clock.Advance(first.MaxAge)
	if p := get(t, e.newCache(dir, false), "example.test"); p != nil {
		t.Errorf("expired policy from disk = %+v", p)
	}
	if _, err := os.Stat(filepath.Join(dir, "example.test.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("expired policy file still there: %v", err)
	}
}

func TestPersistenceDamagedFile(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir)
	e.setTXT(t, "example.test", "v=STSv1; id=1")
	e.ps.set("example.test", &site{body: policyA})
	get(t, e.cache, "example.test")

	file := filepath.Join(dir, "example.test.json")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for name, damaged := range map[string]string{
		"truncated":    string(b[:len(b)/2]),
		"bad policy":   strings.Replace(string(b), "mode: enforce", "mode: strict", 1),
		"other domain": strings.Replace(string(b), `"domain":"example.test"`, `"domain":"evil.test"`, 1),
	} {
		if err := os.WriteFile(file, []byte(damaged), 0o600); err != nil {
			t.Fatal(err)
		}
		// With the record there the policy is fetched again...
		if p := get(t, e.newCache(dir, false), "example.test"); p == nil {
			t.Errorf("%s: no policy fetched over a damaged file", name)
		}
		// ...which replaced the file.
		if p := get(t, e.newCache(dir, false), "example.test"); p == nil {
			t.Errorf("%s: the refetched policy was not saved", name)
		}
	}
}

// TestGetSharesFetch checks that concurrent Gets for one domain make one
// lookup and one fetch.
func TestGetSharesFetch(t *testing.T) {
	e := newEnv(t, "")
	e.setTXT(t, "example.test", "v=STSv1; id=1")
	block := make(chan struct{})
	release := sync.OnceFunc(func() { close(block) })
	t.Cleanup(release) // should the test fail before it lets the server answer
	e.ps.set("example.test", &site{body: policyA, block: block})

	const n = 8
	var wg sync.WaitGroup
	got := make([]*Policy, n)
	for i := range n {
		wg.Go(func() { got[i] = get(t, e.cache, "example.test") })
	}
	// All of them wait on the one fetch, held at the server.
	waitFor(t, "the Gets to share the fetch", func() bool {
		e.cache.mu.Lock()
		defer e.cache.mu.Unlock()
		cl := e.cache.inflight["example.test"]
		return cl != nil && cl.waiters == n
	})
	waitFor(t, "the fetch to reach the server", func() bool { return e.ps.count("example.test") == 1 })
	release()
	wg.Wait()
	for i, p := range got {
		if p == nil || p.ID != "1" {
			t.Errorf("Get %d = %+v", i, p)
		}
	}
	if c := e.ps.count("example.test"); c != 1 {
		t.Errorf("%d fetches, want 1", c)
	}
	if q := e.dns.Queries("_mta-sts.example.test", dns.TypeTXT); q != 1 {
		t.Errorf("%d TXT queries, want 1", q)
	}
}

// TestGetCanceled checks that a Get whose context ends returns then, and
// that the fetch it started still lands in the cache.
func TestGetCanceled(t *testing.T) {
	e := newEnv(t, "")
	e.setTXT(t, "example.test", "v=STSv1; id=1")
	block := make(chan struct{})
	release := sync.OnceFunc(func() { close(block) })
	t.Cleanup(release) // should the test fail before it lets the server answer
	e.ps.set("example.test", &site{body: policyA, block: block})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.cache.Get(ctx, "example.test")
		done <- err
	}()
	waitFor(t, "the fetch to reach the server", func() bool { return e.ps.count("example.test") == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Get error %v, want context.Canceled", err)
	}
	release()
	waitFor(t, "the fetch to finish", func() bool {
		e.cache.mu.Lock()
		defer e.cache.mu.Unlock()
		return e.cache.inflight["example.test"] == nil
	})
	if p := get(t, e.cache, "example.test"); p == nil || p.ID != "1" {
		t.Errorf("policy = %+v", p)
	}
	if n := e.ps.count("example.test"); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

func TestGetBadDomain(t *testing.T) {
	e := newEnv(t, "")
	for _, d := range []string{"", "[192.0.2.1]", "a..b", "../etc", "a/b.test", "-x.test"} {
		if p, err := e.cache.Get(context.Background(), d); err == nil {
			t.Errorf("Get(%q) = %+v, want an error", d, p)
		}
	}
	// A U-label domain is looked up in A-labels.
	e.setTXT(t, "xn--bcher-kva.test", "v=STSv1; id=1")
	if p := get(t, e.cache, "bücher.test"); p != nil {
		t.Errorf("policy = %+v, want none (no certificate for the name)", p)
	}
	if q := e.dns.Queries("_mta-sts.xn--bcher-kva.test", dns.TypeTXT); q != 1 {
		t.Errorf("%d TXT queries for the A-label name, want 1", q)
	}
}
