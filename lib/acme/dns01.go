package acme

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"

	"gannet/lib/config"
)

// dnsUpdater sets and removes the TXT records of dns-01 challenges (RFC
// 8555 section 8.4) with RFC 2136 dynamic updates, signed with TSIG (RFC
// 8945) when a key is configured.
type dnsUpdater struct {
	server  string
	zone    string // "" finds it through the SOA record
	keyName string // fully qualified
	secret  string // base64
	alg     string // fully qualified algorithm name
	timeout time.Duration
}

func newDNSUpdater(c config.ACME) (*dnsUpdater, error) {
	if c.DNS01Server == "" {
		return nil, errors.New("acme: dns-01 needs acme.dns01_server")
	}
	u := &dnsUpdater{server: c.DNS01Server, timeout: 10 * time.Second}
	if c.DNS01Zone != "" {
		u.zone = dns.Fqdn(strings.ToLower(c.DNS01Zone))
	}
	if c.DNS01TSIGKey != "" {
		u.keyName = dns.Fqdn(strings.ToLower(c.DNS01TSIGKey))
		u.secret = c.DNS01TSIGSecret
		switch c.DNS01TSIGAlgorithm {
		case "", "hmac-sha256":
			u.alg = dns.HmacSHA256
		case "hmac-sha384":
			u.alg = dns.HmacSHA384
		case "hmac-sha512":
			u.alg = dns.HmacSHA512
		case "hmac-sha1":
			u.alg = dns.HmacSHA1
		default:
			return nil, fmt.Errorf("acme: unknown TSIG algorithm %q", c.DNS01TSIGAlgorithm)
		}
	}
	return u, nil
}

// exchange sends m (signing it) over TCP, which any size of update fits.
func (u *dnsUpdater) exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Net: "tcp", Timeout: u.timeout}
	if u.keyName != "" {
		c.TsigSecret = map[string]string{u.keyName: u.secret}
		m.SetTsig(u.keyName, u.alg, 300, time.Now().Unix())
	}
	r, _, err := c.ExchangeContext(ctx, m, u.server)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// findZone returns the zone holding fqdn: the owner of the SOA record the
// server returns for it, in the answer or (for a name without records) in
// the authority section (RFC 2308 section 3).
func (u *dnsUpdater) findZone(ctx context.Context, fqdn string) (string, error) {
	if u.zone != "" {
		return u.zone, nil
	}
	m := new(dns.Msg)
	m.SetQuestion(fqdn, dns.TypeSOA)
	m.RecursionDesired = false
	r, err := u.exchange(ctx, m)
	if err != nil {
		return "", fmt.Errorf("acme: dns-01: finding the zone of %s at %s: %w", fqdn, u.server, err)
	}
	for _, rr := range append(r.Answer, r.Ns...) {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa.Hdr.Name, nil
		}
	}
	return "", fmt.Errorf("acme: dns-01: %s is in no zone %s serves (%s); set acme.dns01_zone", fqdn, u.server, dns.RcodeToString[r.Rcode])
}

func txt(fqdn, value string) *dns.TXT {
	return &dns.TXT{Hdr: dns.RR_Header{Name: fqdn, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{value}}
}

// set adds the TXT record fqdn with value (RFC 2136 section 2.5.1) and
// waits until the server answers with it.
func (u *dnsUpdater) set(ctx context.Context, fqdn, value string) error {
	if err := u.update(ctx, fqdn, func(m *dns.Msg) { m.Insert([]dns.RR{txt(fqdn, value)}) }, "adding"); err != nil {
		return err
	}
	return u.waitVisible(ctx, fqdn, value)
}

// visibleTimeout bounds the wait for an added record to be served.
const visibleTimeout = 30 * time.Second

// waitVisible asks the server for the TXT records of fqdn until value is
// among them. (Secondary servers may lag behind the primary: the
// certificate authority may ask one of them.)
func (u *dnsUpdater) waitVisible(ctx context.Context, fqdn, value string) error {
	ctx, cancel := context.WithTimeout(ctx, visibleTimeout)
	defer cancel()
	for {
		m := new(dns.Msg)
		m.SetQuestion(fqdn, dns.TypeTXT)
		m.RecursionDesired = false
		c := &dns.Client{Net: "tcp", Timeout: u.timeout}
		r, _, err := c.ExchangeContext(ctx, m, u.server)
		if err == nil {
			for _, rr := range r.Answer {
				if t, ok := rr.(*dns.TXT); ok && strings.Join(t.Txt, "") == value {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("acme: dns-01: %s at %s does not show the TXT record that was added", fqdn, u.server)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// remove deletes that one record (RFC 2136 section 2.5.4).
func (u *dnsUpdater) remove(ctx context.Context, fqdn, value string) error {
	return u.update(ctx, fqdn, func(m *dns.Msg) { m.Remove([]dns.RR{txt(fqdn, value)}) }, "removing")
}

func (u *dnsUpdater) update(ctx context.Context, fqdn string, fill func(*dns.Msg), what string) error {
	zone, err := u.findZone(ctx, fqdn)
	if err != nil {
		return err
	}
	m := new(dns.Msg)
	m.SetUpdate(zone)
	fill(m)
	r, err := u.exchange(ctx, m)
	if err != nil {
		return fmt.Errorf("acme: dns-01: %s the TXT record %s at %s: %w", what, fqdn, u.server, err)
	}
	if r.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("acme: dns-01: %s the TXT record %s in zone %s at %s: refused with %s", what, fqdn, zone, u.server, dns.RcodeToString[r.Rcode])
	}
	return nil
}
