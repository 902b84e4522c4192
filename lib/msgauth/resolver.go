package msgauth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/idna"

	"gannet/lib/cache"
	"gannet/lib/config"
)

// Limits on what the resolver accepts from the network.
const (
	// MaxAnswers is the most records of the asked type kept from one answer.
	MaxAnswers = 100
	// MaxTXTSize bounds the text of all TXT records of one name together.
	MaxTXTSize = 64 << 10
	// maxCNAMEHops bounds the CNAME chain followed within one answer.
	maxCNAMEHops = 8
	// maxTTL and maxNegativeTTL cap how long an answer stays cached.
	maxTTL         = time.Hour
	maxNegativeTTL = 5 * time.Minute
	// DefaultCacheSize is a cache size fit for a busy MX.
	DefaultCacheSize = 10000
)

// Resolver asks one recursive DNS server (config.DNS.Resolver) for TXT,
// A, AAAA, MX and PTR records, over UDP with EDNS0 and over TCP when an
// answer is truncated. It caches answers (and NXDOMAIN and NODATA, RFC
// 2308) for their TTL, capped at an hour.
//
// Its lookup methods have the signatures of net.Resolver's and return a
// *net.DNSError as it does: IsNotFound for NXDOMAIN and for an empty answer,
// IsTemporary for SERVFAIL, a refusal or a timeout. So it can stand in for a
// net.Resolver, as it does for SPF. It is safe for concurrent use.
type Resolver struct {
	server  string
	timeout time.Duration
	udp     *dns.Client
	tcp     *dns.Client
	cache   *cache.Cache[cacheKey, *cacheEntry]
	now     func() time.Time

	mu       sync.Mutex
	inflight map[cacheKey]*call
}

type cacheKey struct {
	name  string
	qtype uint16
}

type cacheEntry struct {
	rrs     []dns.RR
	err     *net.DNSError // a not-found error, cached as a negative answer
	expires time.Time
}

// call is a query in progress that other callers for the same name and
// type wait for instead of asking again.
type call struct {
	done chan struct{}
	rrs  []dns.RR
	err  error
}

// NewResolver returns a resolver asking cfg.Resolver (ip:port, or a bare IP
// for port 53; by default the first nameserver of /etc/resolv.conf), each
// query bounded by cfg.Timeout (default 5 s), with a cache of cacheSize
// entries (0 turns caching off; DefaultCacheSize suits an MX).
func NewResolver(cfg config.DNS, cacheSize int) (*Resolver, error) {
	server := cfg.Resolver
	if server == "" {
		cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return nil, fmt.Errorf("dns resolver: none configured and %w", err)
		}
		if len(cc.Servers) == 0 {
			return nil, errors.New("dns resolver: none configured and no nameserver in /etc/resolv.conf")
		}
		server = net.JoinHostPort(cc.Servers[0], cc.Port)
	} else if ip, err := netip.ParseAddr(server); err == nil {
		server = netip.AddrPortFrom(ip, 53).String()
	} else if _, err := netip.ParseAddrPort(server); err != nil {
		return nil, fmt.Errorf("dns resolver %q: want ip:port", server)
	}
	timeout := cfg.Timeout.Duration
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &Resolver{
		server:   server,
		timeout:  timeout,
		udp:      &dns.Client{Net: "udp", UDPSize: dns.DefaultMsgSize},
		tcp:      &dns.Client{Net: "tcp"},
		cache:    cache.New[cacheKey, *cacheEntry](cacheSize),
		now:      time.Now,
		inflight: map[cacheKey]*call{},
	}, nil
}

// Server returns the address of the DNS server asked.
func (r *Resolver) Server() string { return r.server }

// LookupTXT returns the TXT records of name, the strings of each record
// joined (as net.Resolver does).
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := r.Query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	size := 0
	for _, rr := range rrs {
		var b strings.Builder
		for _, s := range rr.(*dns.TXT).Txt {
			b.WriteString(unescapeTXT(s))
		}
		size += b.Len()
		if size > MaxTXTSize {
			return nil, r.dnsError(name, "TXT records larger than 64 KiB", false, false)
		}
		out = append(out, b.String())
	}
	return out, nil
}

// LookupMX returns the MX records of name, by preference.
func (r *Resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	rrs, err := r.Query(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	out := make([]*net.MX, 0, len(rrs))
	for _, rr := range rrs {
		mx := rr.(*dns.MX)
		out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
	}
	slices.SortStableFunc(out, func(a, b *net.MX) int { return cmp.Compare(a.Pref, b.Pref) })
	return out, nil
}

// LookupIPAddr returns the A and AAAA records of host, asked for at once.
// It fails only when both lookups do (temporarily if either did).
func (r *Resolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	out := make([]net.IPAddr, len(ips))
	for i, ip := range ips {
		out[i] = net.IPAddr{IP: ip.AsSlice()}
	}
	return out, nil
}

// LookupNetIP returns the addresses of host: network "ip4" asks for A
// records, "ip6" for AAAA, "ip" for both.
func (r *Resolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	var types []uint16
	switch network {
	case "ip4":
		types = []uint16{dns.TypeA}
	case "ip6":
		types = []uint16{dns.TypeAAAA}
	case "ip":
		types = []uint16{dns.TypeA, dns.TypeAAAA}
	default:
		return nil, fmt.Errorf("lookup %s: unknown network %q", host, network)
	}
	rrs := make([][]dns.RR, len(types))
	errs := make([]error, len(types))
	var wg sync.WaitGroup
	for i, t := range types {
		wg.Go(func() { rrs[i], errs[i] = r.Query(ctx, host, t) })
	}
	wg.Wait()
	var out []netip.Addr
	for _, set := range rrs {
		for _, rr := range set {
			var ip net.IP
			switch a := rr.(type) {
			case *dns.A:
				ip = a.A
			case *dns.AAAA:
				ip = a.AAAA
			}
			if addr, ok := netip.AddrFromSlice(ip); ok {
				out = append(out, addr.Unmap())
			}
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	// Report a temporary failure before a not-found one: the name may
	// have addresses we could not learn.
	var first error
	for _, err := range errs {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsTemporary {
			return nil, err
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = r.dnsError(host, "no such host", true, false)
	}
	return nil, first
}

// LookupAddr returns the names of addr from its PTR records.
func (r *Resolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	arpa, err := dns.ReverseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "unrecognized address", Name: addr}
	}
	rrs, err := r.Query(ctx, arpa, dns.TypePTR)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, rr.(*dns.PTR).Ptr)
	}
	return out, nil
}

// Query returns the records of type qtype for name, following CNAME
// records in the answer, at most MaxAnswers of them. NXDOMAIN and an empty
// answer are a *net.DNSError with IsNotFound; a server failure, a refusal
// or no answer in time one with IsTemporary.
func (r *Resolver) Query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	qname, err := toQueryName(name)
	if err != nil {
		// Not a name anyone can publish records under.
		return nil, r.dnsError(name, err.Error(), true, false)
	}
	k := cacheKey{qname, qtype}
	if e, ok := r.cache.Get(k); ok && r.now().Before(e.expires) {
		if e.err != nil {
			return nil, e.err
		}
		return e.rrs, nil
	}

	r.mu.Lock()
	if c, ok := r.inflight[k]; ok {
		r.mu.Unlock()
		select {
		case <-c.done:
			return c.rrs, c.err
		case <-ctx.Done():
			return nil, r.dnsError(name, "lookup canceled", false, true)
		}
	}
	c := &call{done: make(chan struct{})}
	r.inflight[k] = c
	r.mu.Unlock()

	c.rrs, c.err = r.query(ctx, qname, qtype)
	r.mu.Lock()
	delete(r.inflight, k)
	r.mu.Unlock()
	close(c.done)
	return c.rrs, c.err
}

// toQueryName returns name fully qualified, in A-labels.
func toQueryName(name string) (string, error) {
	name = strings.TrimSuffix(name, ".")
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			a, err := idna.Lookup.ToASCII(name)
			if err != nil {
				return "", errors.New("invalid domain name")
			}
			name = a
			break
		}
	}
	name = strings.ToLower(dns.Fqdn(name))
	if _, ok := dns.IsDomainName(name); !ok || name == "." {
		return "", errors.New("invalid domain name")
	}
	return name, nil
}

// query asks the server, retrying once over UDP and over TCP when the
// answer is truncated, and caches the outcome.
func (r *Resolver) query(ctx context.Context, qname string, qtype uint16) ([]dns.RR, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	m.RecursionDesired = true
	m.SetEdns0(dns.DefaultMsgSize, false)

	var resp *dns.Msg
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		// Two UDP tries share the time, so one lost packet is not the end.
		actx, acancel := context.WithTimeout(ctx, r.timeout/2)
		resp, _, err = r.udp.ExchangeContext(actx, m, r.server)
		acancel()
		if err == nil && resp.Truncated {
			resp, _, err = r.tcp.ExchangeContext(ctx, m, r.server)
		}
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		msg := "no answer from the resolver"
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			msg = "timeout"
		}
		return nil, r.dnsError(qname, msg, false, true)
	}
	// The client checks the message ID; check the question too, as a
	// stub resolver should.
	if len(resp.Question) != 1 || !strings.EqualFold(resp.Question[0].Name, qname) || resp.Question[0].Qtype != qtype {
		return nil, r.dnsError(qname, "answer does not match the question", false, true)
	}

	switch resp.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		// SERVFAIL, REFUSED...: the recursive server could not answer now.
		return nil, r.dnsError(qname, "server answered "+dns.RcodeToString[resp.Rcode], false, true)
	}

	// Follow the CNAME chain to the records of the asked type.
	name := qname
	ttl := uint32(maxTTL / time.Second)
	for hops := 0; hops <= maxCNAMEHops; hops++ {
		next := ""
		for _, rr := range resp.Answer {
			h := rr.Header()
			if h.Rrtype == dns.TypeCNAME && qtype != dns.TypeCNAME && strings.EqualFold(h.Name, name) {
				next = strings.ToLower(rr.(*dns.CNAME).Target)
				ttl = min(ttl, h.Ttl)
				break
			}
		}
		if next == "" {
			break
		}
		name = next
	}
	var rrs []dns.RR
	for _, rr := range resp.Answer {
		h := rr.Header()
		if h.Rrtype == qtype && h.Class == dns.ClassINET && strings.EqualFold(h.Name, name) {
			if len(rrs) == MaxAnswers {
				break
			}
			rrs = append(rrs, rr)
			ttl = min(ttl, h.Ttl)
		}
	}

	k := cacheKey{qname, qtype}
	if len(rrs) == 0 {
		// RFC 2308 section 5: a negative answer is cached for the SOA's
		// MINIMUM or TTL, whichever is less; without an SOA, not at all.
		msg := "no such host"
		if resp.Rcode == dns.RcodeSuccess {
			msg = "no records" // NODATA
		}
		derr := r.dnsError(qname, msg, true, false)
		for _, rr := range resp.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				neg := time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
				if neg > 0 {
					r.cache.Set(k, &cacheEntry{err: derr, expires: r.now().Add(min(neg, maxNegativeTTL))})
				}
				break
			}
		}
		return nil, derr
	}
	if ttl > 0 {
		r.cache.Set(k, &cacheEntry{rrs: rrs, expires: r.now().Add(time.Duration(ttl) * time.Second)})
	}
	return rrs, nil
}

// dnsError makes the error a lookup returns. It leaves out the server's
// address: reasons built from it end up in headers of delivered mail.
func (r *Resolver) dnsError(name, msg string, notFound, temporary bool) *net.DNSError {
	return &net.DNSError{
		Err:         msg,
		Name:        strings.TrimSuffix(name, "."),
		IsNotFound:  notFound,
		IsTemporary: temporary,
		IsTimeout:   temporary && strings.Contains(msg, "timeout"),
	}
}

// unescapeTXT undoes the presentation-format escapes (\" \\ \DDD) that
// miekg/dns puts in the strings of a TXT record.
func unescapeTXT(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b = append(b, c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			n := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
			if n <= 255 {
				b = append(b, byte(n))
				i += 3
				continue
			}
		}
		b = append(b, s[i+1])
		i++
	}
	return string(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
