package msgauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"gannet/lib/config"
	"gannet/lib/dnstest"
)

func newResolver(t *testing.T, s *dnstest.Server, timeout time.Duration, cacheSize int) *Resolver {
	t.Helper()
	r, err := NewResolver(config.DNS{Resolver: s.Addr(), Timeout: config.Duration{Duration: timeout}}, cacheSize)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func dnsErr(t *testing.T, err error) *net.DNSError {
	t.Helper()
	var de *net.DNSError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *net.DNSError", err, err)
	}
	return de
}

func TestResolverRecords(t *testing.T) {
	s := dnstest.New(t)
	s.Add(
		`split.test. 300 IN TXT "v=spf1 " "ip4:192.0.2.1 " "-all"`,
		`escaped.test. 300 IN TXT "a\"b;c\\d\009e"`,
		`example.test. 300 IN MX 20 mx2.example.test.`,
		`example.test. 300 IN MX 10 mx1.example.test.`,
		`host.test. 300 IN A 192.0.2.7`,
		`host.test. 300 IN AAAA 2001:db8::7`,
		`v4only.test. 300 IN A 192.0.2.8`,
		`alias.test. 300 IN CNAME host.test.`,
		`7.2.0.192.in-addr.arpa. 300 IN PTR host.test.`,
		`7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 300 IN PTR host6.test.`,
	)
	r := newResolver(t, s, 2*time.Second, 0)
	ctx := context.Background()

	txt, err := r.LookupTXT(ctx, "split.test")
	if err != nil || !slices.Equal(txt, []string{"v=spf1 ip4:192.0.2.1 -all"}) {
		t.Errorf("LookupTXT(split.test) = %q, %v; want the strings joined", txt, err)
	}
	txt, err = r.LookupTXT(ctx, "escaped.test.")
	if err != nil || !slices.Equal(txt, []string{"a\"b;c\\d\te"}) {
		t.Errorf("LookupTXT(escaped.test) = %q, %v; want the bytes as published", txt, err)
	}
	mx, err := r.LookupMX(ctx, "example.test")
	if err != nil || len(mx) != 2 || mx[0].Host != "mx1.example.test." || mx[1].Pref != 20 {
		t.Errorf("LookupMX = %v, %v; want mx1 (10) then mx2 (20)", mx, err)
	}
	ips, err := r.LookupIPAddr(ctx, "alias.test")
	if err != nil || len(ips) != 2 || ips[0].IP.String() != "192.0.2.7" || ips[1].IP.String() != "2001:db8::7" {
		t.Errorf("LookupIPAddr(alias.test) = %v, %v; want both addresses through the CNAME", ips, err)
	}
	addrs, err := r.LookupNetIP(ctx, "ip", "v4only.test")
	if err != nil || !slices.Equal(addrs, []netip.Addr{netip.MustParseAddr("192.0.2.8")}) {
		t.Errorf("LookupNetIP(v4only.test) = %v, %v", addrs, err)
	}
	if _, err := r.LookupNetIP(ctx, "ip6", "v4only.test"); !dnsErr(t, err).IsNotFound {
		t.Errorf("AAAA of an A-only name: %v, want not found", err)
	}
	names, err := r.LookupAddr(ctx, "192.0.2.7")
	if err != nil || !slices.Equal(names, []string{"host.test."}) {
		t.Errorf("LookupAddr(192.0.2.7) = %v, %v", names, err)
	}
	names, err = r.LookupAddr(ctx, "2001:db8::7")
	if err != nil || !slices.Equal(names, []string{"host6.test."}) {
		t.Errorf("LookupAddr(2001:db8::7) = %v, %v", names, err)
	}
}

func TestResolverErrors(t *testing.T) {
	s := dnstest.New(t)
	s.Add(`exists.test. 300 IN A 192.0.2.1`, `servfail.test. 300 IN TXT "x"`, `refused.test. 300 IN TXT "x"`)
	s.Fail("servfail.test", dns.RcodeServerFailure)
	s.Fail("refused.test", dns.RcodeRefused)
	s.Drop("silent.test", true)
	r := newResolver(t, s, time.Second, 0)
	ctx := context.Background()

	tests := []struct {
		name               string
		notFound, temporay bool
	}{
		{"nowhere.test", true, false},  // NXDOMAIN
		{"exists.test", true, false},   // NODATA
		{"servfail.test", false, true}, // SERVFAIL
		{"refused.test", false, true},  // REFUSED
		{"silent.test", false, true},   // no answer in time
		{"bad..name", true, false},     // not a name: no query
		{"\xff.test", true, false},     // not UTF-8
		{strings.Repeat("a", 64) + ".test", true, false},
	}
	for _, tt := range tests {
		start := time.Now()
		_, err := r.LookupTXT(ctx, tt.name)
		de := dnsErr(t, err)
		if de.IsNotFound != tt.notFound || de.IsTemporary != tt.temporay {
			t.Errorf("LookupTXT(%q): %v: not found %v, temporary %v; want %v, %v", tt.name, err, de.IsNotFound, de.IsTemporary, tt.notFound, tt.temporay)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("LookupTXT(%q) took %v, far beyond the 1s timeout (with one retry)", tt.name, d)
		}
	}
	if n := s.Queries("bad..name", dns.TypeTXT) + s.Queries(strings.Repeat("a", 64)+".test", dns.TypeTXT); n != 0 {
		t.Errorf("invalid names were asked for (%d queries)", n)
	}
	if n := s.Queries("silent.test", dns.TypeTXT); n != 2 {
		t.Errorf("a lost query was sent %d times, want 2 (one retry)", n)
	}
}

func TestResolverTruncatedAnswerOverTCP(t *testing.T) {
	s := dnstest.New(t)
	var want []string
	for i := range 30 {
		v := fmt.Sprintf("%02d%s", i, strings.Repeat("x", 240))
		want = append(want, v)
		s.Add(txtRR("big.test", v))
	}
	r := newResolver(t, s, 2*time.Second, 0)
	txt, err := r.LookupTXT(context.Background(), "big.test")
	slices.Sort(txt)
	if err != nil || !slices.Equal(txt, want) {
		t.Fatalf("LookupTXT of a 7 KB answer: %d records, %v", len(txt), err)
	}
	if n := s.Queries("big.test", dns.TypeTXT); n != 2 {
		t.Errorf("%d queries, want 2 (UDP truncated, then TCP)", n)
	}
}

func TestResolverBoundsAnswers(t *testing.T) {
	s := dnstest.New(t)
	for i := range MaxAnswers + 20 {
		s.Add(fmt.Sprintf("many.test. 300 IN A 10.0.%d.%d", i/256, i%256))
	}
	r := newResolver(t, s, 2*time.Second, 0)
	ips, err := r.LookupNetIP(context.Background(), "ip4", "many.test")
	if err != nil || len(ips) != MaxAnswers {
		t.Errorf("got %d addresses, %v; want %d", len(ips), err, MaxAnswers)
	}
}

func TestResolverCache(t *testing.T) {
	s := dnstest.New(t)
	s.Add(`cached.test. 300 IN TXT "one"`, `zero.test. 0 IN TXT "uncached"`)
	r := newResolver(t, s, 2*time.Second, 100)
	ctx := context.Background()
	now := time.Now()
	r.now = func() time.Time { return now }

	for range 3 {
		if txt, err := r.LookupTXT(ctx, "Cached.Test"); err != nil || txt[0] != "one" {
			t.Fatalf("LookupTXT = %v, %v", txt, err)
		}
		r.LookupTXT(ctx, "nowhere.test")
		r.LookupTXT(ctx, "zero.test")
	}
	if n := s.Queries("cached.test", dns.TypeTXT); n != 1 {
		t.Errorf("a cached answer was asked for %d times", n)
	}
	if n := s.Queries("nowhere.test", dns.TypeTXT); n != 1 {
		t.Errorf("a cached NXDOMAIN was asked for %d times", n)
	}
	if n := s.Queries("zero.test", dns.TypeTXT); n != 3 {
		t.Errorf("an answer with TTL 0 was asked for %d times, want every time", n)
	}

	// The negative answer lasts 60 s (the SOA's minimum), the positive 300 s.
	now = now.Add(61 * time.Second)
	s.Add(`nowhere.test. 300 IN TXT "now here"`)
	if txt, err := r.LookupTXT(ctx, "nowhere.test"); err != nil || txt[0] != "now here" {
		t.Errorf("after the negative TTL: %v, %v", txt, err)
	}
	r.LookupTXT(ctx, "cached.test")
	if n := s.Queries("cached.test", dns.TypeTXT); n != 1 {
		t.Errorf("asked again before the TTL ran out")
	}
	now = now.Add(240 * time.Second)
	r.LookupTXT(ctx, "cached.test")
	if n := s.Queries("cached.test", dns.TypeTXT); n != 2 {
		t.Errorf("not asked again after the TTL ran out")
	}
}

func TestNewResolverAddresses(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5353": "127.0.0.1:5353",
		"192.0.2.53":     "192.0.2.53:53",
		"::1":            "[::1]:53",
		"[::1]:5353":     "[::1]:5353",
	} {
		r, err := NewResolver(config.DNS{Resolver: in}, 0)
		if err != nil || r.Server() != want {
			t.Errorf("NewResolver(%q): server %v, %v; want %s", in, r, err, want)
		}
	}
	if _, err := NewResolver(config.DNS{Resolver: "dns.example:53"}, 0); err == nil {
		t.Error("a host name as resolver was accepted")
	}
}
