// Package dnstest runs a DNS server on loopback for tests: it answers, over
// UDP and TCP on the same port, from records the test adds in zone-file
// syntax, so that code resolving names (SPF, DKIM, DMARC, MX) can be tested
// without the network.
//
//	s := dnstest.New(t)
//	s.Add(`example.test. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"`)
//	cfg.DNS.Resolver = s.Addr()
//
// The server is authoritative for every name: a name with no record at all
// gets NXDOMAIN, a name with records of other types an empty answer
// (NODATA), both with an SOA record giving a negative TTL of 60 seconds.
// CNAME records are followed within the server's records. Over UDP, an
// answer larger than the client's buffer (512 bytes, or its EDNS0 size) is
// truncated, so that the client retries over TCP.
package dnstest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Server is a DNS server on 127.0.0.1. Its methods are safe for concurrent
// use, also while it serves queries.
type Server struct {
	t    testing.TB // nil for a server made with Start
	addr string
	stop []func()

	mu      sync.Mutex
	records map[string][]dns.RR // by owner name (lower case, fully qualified)
	rcodes  map[string]int      // names answered with an error code
	drops   map[string]bool     // names never answered
	delays  map[string]time.Duration
	queries map[key]int
}

type key struct {
	name  string
	qtype uint16
}

// New starts a server on 127.0.0.1, UDP and TCP on one port chosen by the
// system, and stops it when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	s.t = t
	t.Cleanup(func() { s.Close() })
	return s
}

// Start starts a server as New does, for programs that are not tests (a
// benchmark, say); Close stops it.
func Start() (*Server, error) {
	s := &Server{
		records: map[string][]dns.RR{},
		rcodes:  map[string]int{},
		drops:   map[string]bool{},
		delays:  map[string]time.Duration{},
		queries: map[key]int{},
	}
	pc, ln, err := listen()
	if err != nil {
		return nil, err
	}
	s.addr = pc.LocalAddr().String()
	servers := []*dns.Server{
		{PacketConn: pc, Handler: s},
		{Listener: ln, Handler: s},
	}
	for i, srv := range servers {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		done := make(chan error, 1)
		go func() { done <- srv.ActivateAndServe() }()
		select {
		case <-started:
		case err := <-done:
			s.Close()
			for _, rest := range servers[i+1:] {
				if rest.PacketConn != nil {
					rest.PacketConn.Close()
				} else {
					rest.Listener.Close()
				}
			}
			return nil, fmt.Errorf("serve: %w", err)
		}
		s.stop = append(s.stop, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.ShutdownContext(ctx)
			<-done
		})
	}
	return s, nil
}

// Close stops the server. New's servers are closed when the test ends.
func (s *Server) Close() error {
	for _, stop := range s.stop {
		stop()
	}
	s.stop = nil
	return nil
}

// listen opens UDP and TCP sockets on one loopback port.
func listen() (net.PacketConn, net.Listener, error) {
	var last error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp: %w", err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		last = err // the port is taken for TCP: try another one
	}
	return nil, nil, fmt.Errorf("listen tcp: %w", last)
}

// Addr returns the server's address as host:port, for a resolver setting.
func (s *Server) Addr() string { return s.addr }

// Add adds records written as zone-file lines with an absolute owner name,
// as in `example.test. 300 IN TXT "v=spf1 -all"` or
// `1.0.0.127.in-addr.arpa. 300 IN PTR mx.example.test.`. A line that does not
// parse fails the test (for a server made with Start, use AddRecords).
func (s *Server) Add(lines ...string) {
	if s.t == nil {
		panic("dnstest: Add on a server made with Start; use AddRecords")
	}
	s.t.Helper()
	if err := s.AddRecords(lines...); err != nil {
		s.t.Fatalf("%v", err)
	}
}

// AddRecords adds records as Add does and returns an error for a line that
// does not parse (the lines before it are added).
func (s *Server) AddRecords(lines ...string) error {
	for _, line := range lines {
		rr, err := dns.NewRR(line)
		if err != nil {
			return fmt.Errorf("dnstest: record %q: %w", line, err)
		}
		if rr == nil {
			return fmt.Errorf("dnstest: record %q: empty", line)
		}
		name := canonical(rr.Header().Name)
		s.mu.Lock()
		s.records[name] = append(s.records[name], rr)
		s.mu.Unlock()
	}
	return nil
}

// Remove deletes the records of name with type rrtype (dns.TypeTXT...), or
// of every type for dns.TypeANY.
func (s *Server) Remove(name string, rrtype uint16) {
	name = canonical(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	var keep []dns.RR
	for _, rr := range s.records[name] {
		if rrtype != dns.TypeANY && rr.Header().Rrtype != rrtype {
			keep = append(keep, rr)
		}
	}
	if len(keep) == 0 {
		delete(s.records, name)
	} else {
		s.records[name] = keep
	}
}

// Fail makes every query for name get the response code rcode
// (dns.RcodeServerFailure, dns.RcodeRefused...); dns.RcodeSuccess undoes it.
func (s *Server) Fail(name string, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rcode == dns.RcodeSuccess {
		delete(s.rcodes, canonical(name))
	} else {
		s.rcodes[canonical(name)] = rcode
	}
}

// Drop makes the server ignore queries for name, so that the client times
// out; Drop(name, false) undoes it.
func (s *Server) Drop(name string, drop bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if drop {
		s.drops[canonical(name)] = true
	} else {
		delete(s.drops, canonical(name))
	}
}

// Delay makes the server wait d before answering a query for name.
func (s *Server) Delay(name string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delays[canonical(name)] = d
}

// Queries returns how many queries for name with type qtype the server has
// received (over UDP and TCP together).
func (s *Server) Queries(name string, qtype uint16) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[key{canonical(name), qtype}]
}

func canonical(name string) string { return strings.ToLower(dns.Fqdn(name)) }

// ServeDNS answers a query; it implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 || req.Opcode != dns.OpcodeQuery {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := canonical(q.Name)

	s.mu.Lock()
	s.queries[key{name, q.Qtype}]++
	drop, delay := s.drops[name], s.delays[name]
	s.mu.Unlock()
	if drop {
		return
	}
	if delay > 0 {
		time.Sleep(delay)
	}

	m := s.answer(req, name, q.Qtype)
	if _, udp := w.LocalAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = max(int(opt.UDPSize()), dns.MinMsgSize)
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

// answer builds the response to a query for name and qtype.
func (s *Server) answer(req *dns.Msg, name string, qtype uint16) *dns.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = true
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), false)
	}
	for hops := 0; ; hops++ {
		if rcode, ok := s.rcodes[name]; ok {
			m.Rcode = rcode
			return m
		}
		rrs, exists := s.records[name]
		var cname dns.RR
		for _, rr := range rrs {
			switch t := rr.Header().Rrtype; {
			case t == qtype || qtype == dns.TypeANY:
				m.Answer = append(m.Answer, rr)
			case t == dns.TypeCNAME:
				cname = rr
			}
		}
		if cname != nil && qtype != dns.TypeCNAME && hops < 8 {
			m.Answer = append(m.Answer, cname)
			name = canonical(cname.(*dns.CNAME).Target)
			continue
		}
		if len(m.Answer) == 0 || !exists {
			if !exists {
				m.Rcode = dns.RcodeNameError
			}
			soa, _ := dns.NewRR(". 60 IN SOA ns.dnstest. hostmaster.dnstest. 1 3600 600 86400 60")
			m.Ns = append(m.Ns, soa)
		}
		return m
	}
}
