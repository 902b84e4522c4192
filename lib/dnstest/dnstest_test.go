package dnstest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func exchange(t *testing.T, s *Server, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, dns.TypeToString[qtype], err)
	}
	return r
}

func TestAnswers(t *testing.T) {
	s := New(t)
	s.Add(
		`example.test. 300 IN TXT "v=spf1 -all"`,
		`example.test. 300 IN MX 10 mx.example.test.`,
		`www.example.test. 300 IN CNAME example.test.`,
		`Mixed.Example.Test. 300 IN A 192.0.2.1`,
	)
	for _, network := range []string{"udp", "tcp"} {
		r := exchange(t, s, network, "example.test.", dns.TypeTXT)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.TXT).Txt[0] != "v=spf1 -all" {
			t.Errorf("%s TXT: %v", network, r)
		}
	}
	r := exchange(t, s, "udp", "www.example.test.", dns.TypeMX)
	if len(r.Answer) != 2 || r.Answer[0].Header().Rrtype != dns.TypeCNAME || r.Answer[1].(*dns.MX).Mx != "mx.example.test." {
		t.Errorf("CNAME then MX: %v", r)
	}
	if r := exchange(t, s, "udp", "mixed.example.TEST.", dns.TypeA); len(r.Answer) != 1 {
		t.Errorf("names are not case-insensitive: %v", r)
	}
	r = exchange(t, s, "udp", "example.test.", dns.TypeAAAA)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
		t.Errorf("NODATA: %v", r)
	}
	r = exchange(t, s, "udp", "nowhere.test.", dns.TypeA)
	if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 {
		t.Errorf("NXDOMAIN: %v", r)
	}
	if n := s.Queries("EXAMPLE.test", dns.TypeTXT); n != 2 {
		t.Errorf("Queries = %d, want 2", n)
	}

	s.Remove("example.test.", dns.TypeTXT)
	if r := exchange(t, s, "udp", "example.test.", dns.TypeTXT); len(r.Answer) != 0 || r.Rcode != dns.RcodeSuccess {
		t.Errorf("after Remove: %v", r)
	}
}

func TestTruncation(t *testing.T) {
	s := New(t)
	for i := range 10 {
		s.Add(fmt.Sprintf(`big.test. 300 IN TXT "%d%s"`, i, strings.Repeat("x", 200)))
	}
	r := exchange(t, s, "udp", "big.test.", dns.TypeTXT)
	if !r.Truncated {
		t.Errorf("a 2 KB answer over UDP without EDNS0 is not truncated")
	}
	if r := exchange(t, s, "tcp", "big.test.", dns.TypeTXT); r.Truncated || len(r.Answer) != 10 {
		t.Errorf("over TCP: truncated %v, %d records", r.Truncated, len(r.Answer))
	}
}

func TestFailAndDrop(t *testing.T) {
	s := New(t)
	s.Add(`example.test. 300 IN A 192.0.2.1`)
	s.Fail("example.test", dns.RcodeServerFailure)
	if r := exchange(t, s, "udp", "example.test.", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("Fail: rcode %s", dns.RcodeToString[r.Rcode])
	}
	s.Fail("example.test", dns.RcodeSuccess)
	if r := exchange(t, s, "udp", "example.test.", dns.TypeA); len(r.Answer) != 1 {
		t.Errorf("after Fail undone: %v", r)
	}
	s.Drop("example.test", true)
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion("example.test.", dns.TypeA)
	if _, _, err := c.Exchange(m, s.Addr()); err == nil {
		t.Errorf("Drop: got an answer")
	}
}

func TestAddRejectsBadLines(t *testing.T) {
	ft := &fakeT{TB: t}
	s := New(t)
	s.t = ft
	func() {
		defer func() { recover() }()
		s.Add("example.test. 300 IN A not-an-address")
	}()
	if !ft.failed {
		t.Error("a bad record line did not fail the test")
	}
}

// fakeT records Fatalf instead of ending the test.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = true
	panic("fatal")
}

// A server made with Start, as a benchmark program uses it, answers like
// New's, reports bad lines as errors and stops on Close.
func TestStartWithoutTest(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddRecords(`example.test. 300 IN TXT "v=spf1 -all"`); err != nil {
		t.Fatal(err)
	}
	if err := s.AddRecords("example.test. 300 IN A not-an-address"); err == nil {
		t.Error("AddRecords took a bad line")
	}
	if r := exchange(t, s, "tcp", "example.test.", dns.TypeTXT); len(r.Answer) != 1 {
		t.Errorf("TXT: %v", r)
	}
	s.Close()
	c := &dns.Client{Net: "tcp", Timeout: time.Second}
	m := new(dns.Msg)
	m.SetQuestion("example.test.", dns.TypeTXT)
	if _, _, err := c.Exchange(m, s.Addr()); err == nil {
		t.Error("the server still answers after Close")
	}
}
