package mtasts

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"gannet/lib/config"
	"gannet/lib/dnstest"
	"gannet/lib/msgauth"
	"gannet/lib/testca"
)

// site is what the policy server answers for one host.
type site struct {
	status   int           // 0: 200
	ctype    *string       // nil: text/plain; charset=utf-8; "" sends no Content-Type
	body     string        // the policy
	location string        // Location header of a redirect
	chunked  bool          // send the body without a Content-Length
	block    chan struct{} // when set, answer only once it is closed
}

// policyServer is an HTTPS server on loopback answering for
// mta-sts.<domain> hosts, with a certificate from the test CA for
// mta-sts.example.test only.
type policyServer struct {
	srv *httptest.Server
	ca  *testca.CA

	mu       sync.Mutex
	sites    map[string]*site // by host
	requests map[string]int   // by host and path, "host/path"
}

func newPolicyServer(t *testing.T) *policyServer {
	t.Helper()
	ps := &policyServer{ca: testca.New(t, "gannet mtasts test CA"), sites: map[string]*site{}, requests: map[string]int{}}
	ps.srv = httptest.NewUnstartedServer(http.HandlerFunc(ps.serve))
	ps.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ps.ca.Issue(t, "mta-sts.example.test")}}
	ps.srv.StartTLS()
	t.Cleanup(ps.srv.Close)
	return ps
}

// set makes the server answer s for the policy of domain.
func (ps *policyServer) set(domain string, s *site) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.sites["mta-sts."+domain] = s
}

// count returns the number of requests for the policy of domain.
func (ps *policyServer) count(domain string) int {
	return ps.countPath(domain, "/.well-known/mta-sts.txt")
}

func (ps *policyServer) countPath(domain, path string) int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.requests["mta-sts."+domain+path]
}

func (ps *policyServer) serve(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	ps.mu.Lock()
	ps.requests[host+r.URL.Path]++
	s := ps.sites[host]
	ps.mu.Unlock()
	if s == nil || r.URL.Path != "/.well-known/mta-sts.txt" && s.location == "" {
		http.NotFound(w, r)
		return
	}
	if s.block != nil {
		select {
		case <-s.block:
		case <-r.Context().Done():
			return
		}
	}
	if s.ctype == nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else if *s.ctype == "" {
		w.Header()["Content-Type"] = nil // no sniffing either
	} else {
		w.Header().Set("Content-Type", *s.ctype)
	}
	if s.location != "" && r.URL.Path == "/.well-known/mta-sts.txt" {
		w.Header().Set("Location", s.location)
	}
	status := s.status
	if s.location != "" && r.URL.Path != "/.well-known/mta-sts.txt" {
		status = http.StatusOK // the redirect's target serves the policy
	}
	if status == 0 {
		status = http.StatusOK
	}
	if s.chunked {
		w.WriteHeader(status)
		w.(http.Flusher).Flush()
	} else {
		w.WriteHeader(status)
	}
	w.Write([]byte(s.body))
}

// client returns an HTTP client that trusts the test CA and dials the
// policy server whatever the address asked for, so URLs keep their
// mta-sts.<domain> host.
func (ps *policyServer) client(insecure bool) *http.Client {
	addr := ps.srv.Listener.Addr().String()
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ps.ca.Pool, InsecureSkipVerify: insecure},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// clock is a clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a DNS server, a policy server and a cache using them.
type env struct {
	dns   *dnstest.Server
	ps    *policyServer
	res   *msgauth.Resolver
	clock *clock
	cache *Cache
}

func newEnv(t *testing.T, dir string) *env {
	t.Helper()
	e := &env{dns: dnstest.New(t), ps: newPolicyServer(t), clock: &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}
	// No DNS cache, so that a changed record is seen at once.
	r, err := msgauth.NewResolver(config.DNS{Resolver: e.dns.Addr(), Timeout: config.Duration{Duration: 5 * time.Second}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	e.res = r
	e.cache = e.newCache(dir, false)
	return e
}

// newCache returns another cache on the same DNS and policy servers and
// clock.
func (e *env) newCache(dir string, insecure bool) *Cache {
	c := NewCache(e.res, e.ps.client(insecure), dir)
	c.now = e.clock.Now
	c.Logger = slog.New(slog.DiscardHandler)
	return c
}

// setTXT replaces the _mta-sts TXT records of domain.
func (e *env) setTXT(t *testing.T, domain string, records ...string) {
	t.Helper()
	e.dns.Remove("_mta-sts."+domain+".", dns.TypeTXT)
	for _, r := range records {
		e.dns.Add("_mta-sts." + domain + `. 300 IN TXT "` + r + `"`)
	}
}

// get calls Get and fails the test on an error.
func get(t *testing.T, c *Cache, domain string) *Policy {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := c.Get(ctx, domain)
	if err != nil {
		t.Fatalf("Get(%s): %v", domain, err)
	}
	return p
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ptr[T any](v T) *T { return &v }
