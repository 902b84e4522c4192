package mta

import (
	"cmp"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"gannet/lib/config"
)

// secLevel is the transport security a route asks of its connections.
type secLevel int

const (
	// secNone: no TLS at all (a relay host with tls = "none").
	secNone secLevel = iota
	// secMay: STARTTLS when offered, any certificate, plaintext when the
	// handshake fails (Postfix smtp_tls_security_level = may).
	secMay
	// secVerify: STARTTLS required and the certificate verified for the
	// host name (MTA-STS enforce, REQUIRETLS, relay hosts).
	secVerify
	// secImplicit: TLS from the first byte, verified (relay tls = "implicit").
	secImplicit
)

func (s secLevel) String() string {
	return [...]string{"none", "may", "verify", "implicit"}[s]
}

// host is one place to deliver to.
type host struct {
	// name is the MX host name, the domain itself (implicit MX), the relay
	// host's name, or "" for a domain literal.
	name string
	// addrs are the addresses when known up front (domain literal,
	// implicit MX, relay host given by address); else looked up.
	addrs []netip.Addr
	port  int
}

// route is where and how a message for one destination goes.
type route struct {
	// dest names the destination for the concurrency limit: the domain,
	// or "relay:" and the relay host's address.
	dest  string
	hosts []host
	sec   secLevel
	// requireTLS: the message has REQUIRETLS (RFC 8689).
	requireTLS bool
	relay      *config.RelayHost
	// policy is the MTA-STS policy applied, nil when none.
	policy *Policy
}

// route finds the hosts for domain, or the failure that ends the delivery.
func (c *Client) route(ctx context.Context, domain string, m *Message) (*route, *failure) {
	if rh := c.relayFor(domain); rh != nil {
		return c.relayRoute(rh, m)
	}
	rt := &route{dest: domain, sec: secMay, requireTLS: m.RequireTLS}
	if m.RequireTLS {
		rt.sec = secVerify
	}
	if strings.HasPrefix(domain, "[") {
		// RFC 5321 section 4.1.3: an address literal.
		ip, ok := parseLiteral(domain)
		if !ok {
			return nil, &failure{Code: 550, Enhanced: "5.1.2", Text: "invalid address literal " + printable(domain, 64), Permanent: true}
		}
		rt.hosts = []host{{addrs: []netip.Addr{ip}, port: c.port()}}
		return rt, nil
	}
	if c.Resolver == nil {
		return nil, &failure{Code: 451, Enhanced: "4.3.5", Text: "no DNS resolver configured"}
	}

	mxs, err := c.Resolver.LookupMX(ctx, domain)
	switch {
	case err == nil && len(mxs) > 0:
		for _, mx := range mxs {
			// RFC 7505 section 3: "0 ." says the domain takes no mail;
			// section 4.1: do not try, fail with 556 5.1.10 (section 4.2).
			if mx.Host == "." || mx.Host == "" {
				return nil, &failure{Code: 556, Enhanced: "5.1.10", Text: "Recipient address has null MX", Permanent: true}
			}
		}
		rt.hosts = orderMX(mxs, c.port())
	case err == nil || isNotFound(err):
		// RFC 5321 section 5.1: no MX records at all, so the domain is
		// its own implicit MX (with preference 0).
		addrs, aerr := c.Resolver.LookupNetIP(ctx, "ip", domain)
		switch {
		case aerr == nil && len(addrs) > 0:
			rt.hosts = []host{{name: domain, addrs: usable(addrs), port: c.port()}}
		case aerr == nil || isNotFound(aerr):
			if isNXDOMAIN(err) {
				return nil, &failure{Code: 550, Enhanced: "5.1.2", Text: "domain " + domain + " does not exist", Permanent: true}
			}
			// Postfix: "Host or domain name not found", 5.4.4.
			return nil, &failure{Code: 550, Enhanced: "5.4.4", Text: "domain " + domain + " has no MX or address records", Permanent: true}
		default:
			return nil, &failure{Code: 451, Enhanced: "4.4.3", Text: "address lookup for " + domain + " failed: " + errText(aerr)}
		}
	default:
		return nil, &failure{Code: 451, Enhanced: "4.4.3", Text: "MX lookup for " + domain + " failed: " + errText(err)}
	}

	if c.MTASTS != nil {
		p, err := c.MTASTS.Policy(ctx, domain)
		if err != nil {
			// RFC 8461 section 5: no policy to be had is no policy.
			c.logger().Warn("mta-sts policy unavailable", "domain", domain, "err", err)
		}
		if p != nil && (p.Mode == "enforce" || p.Mode == "testing") {
			rt.policy = p
		}
	}
	if p := rt.policy; p != nil && p.Mode == "enforce" {
		// RFC 8461 section 4.1 and 5: in enforce mode, deliver only to MX
		// hosts that match the policy, over TLS verified for their name
		// (section 4.2); a failure is temporary, for the policy may be
		// replaced meanwhile (section 5.1).
		var keep []host
		for _, h := range rt.hosts {
			if p.Match(h.name) {
				keep = append(keep, h)
			}
		}
		if len(keep) == 0 {
			return nil, &failure{Code: 451, Enhanced: "4.7.5", Text: "no MX host of " + domain + " matches its MTA-STS policy"}
		}
		rt.hosts = keep
		rt.sec = secVerify
	}
	return rt, nil
}

// relayFor returns the relay host for domain: the first that lists it,
// else the first that lists no domain (all domains), else nil.
func (c *Client) relayFor(domain string) *config.RelayHost {
	var all *config.RelayHost
	for i := range c.RelayHosts {
		rh := &c.RelayHosts[i]
		if len(rh.Domains) == 0 {
			if all == nil {
				all = rh
			}
			continue
		}
		for _, d := range rh.Domains {
			if strings.EqualFold(strings.TrimSuffix(d, "."), domain) {
				return rh
			}
		}
	}
	return all
}

// relayRoute returns the route to a relay host.
func (c *Client) relayRoute(rh *config.RelayHost, m *Message) (*route, *failure) {
	rt := &route{dest: "relay:" + rh.Address, relay: rh, requireTLS: m.RequireTLS}
	defPort := 587
	switch strings.ToLower(rh.TLS) {
	case "", "starttls":
		rt.sec = secVerify
	case "implicit":
		rt.sec, defPort = secImplicit, 465
	case "none":
		rt.sec = secNone
		if m.RequireTLS {
			return nil, requireTLSFailure("relay host " + rh.Address + " is configured without TLS")
		}
	default:
		return nil, &failure{Code: 451, Enhanced: "4.3.5", Text: "relay host " + rh.Address + ": unknown tls setting " + rh.TLS}
	}
	name, portText, err := net.SplitHostPort(rh.Address)
	port := defPort
	if err != nil {
		name = strings.Trim(rh.Address, "[]")
	} else if port, err = strconv.Atoi(portText); err != nil || port < 1 || port > 65535 {
		return nil, &failure{Code: 451, Enhanced: "4.3.5", Text: "relay host " + rh.Address + ": bad port"}
	}
	h := host{name: name, port: port}
	if ip, err := netip.ParseAddr(name); err == nil {
		h.addrs = []netip.Addr{ip.Unmap()}
	}
	rt.hosts = []host{h}
	return rt, nil
}

// orderMX sorts MX records by preference, shuffling those of equal
// preference (RFC 5321 section 5.1), and keeps at most MaxMXHosts.
func orderMX(mxs []*net.MX, port int) []host {
	mxs = slices.Clone(mxs)
	rand.Shuffle(len(mxs), func(i, j int) { mxs[i], mxs[j] = mxs[j], mxs[i] })
	slices.SortStableFunc(mxs, func(a, b *net.MX) int { return cmp.Compare(a.Pref, b.Pref) })
	var hosts []host
	seen := map[string]bool{}
	for _, mx := range mxs {
		name := strings.ToLower(strings.TrimSuffix(mx.Host, "."))
		if seen[name] {
			continue
		}
		seen[name] = true
		hosts = append(hosts, host{name: name, port: port})
		if len(hosts) == MaxMXHosts {
			break
		}
	}
	return hosts
}

// parseLiteral parses "[192.0.2.1]" or "[IPv6:2001:db8::1]".
func parseLiteral(s string) (netip.Addr, bool) {
	s, ok := strings.CutPrefix(s, "[")
	if !ok {
		return netip.Addr{}, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return netip.Addr{}, false
	}
	if len(s) > 5 && strings.EqualFold(s[:5], "IPv6:") {
		ip, err := netip.ParseAddr(s[5:])
		return ip, err == nil && ip.Is6() && !ip.Is4In6() && ip.Zone() == ""
	}
	ip, err := netip.ParseAddr(s)
	return ip, err == nil && ip.Is4()
}

// usable drops addresses no mail can go to.
func usable(addrs []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if a.IsUnspecified() || a.IsMulticast() || !a.IsValid() {
			continue
		}
		out = append(out, a)
	}
	return out
}

// isNotFound reports whether err says the name or the records do not exist.
func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// isNXDOMAIN reports whether err says the name does not exist at all.
// *msgauth.Resolver says "no records" for an empty answer; net.Resolver
// cannot tell the two apart, so that one reads as NXDOMAIN.
func isNXDOMAIN(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound && de.Err != "no records"
}

// errText is an error's text fit for a result.
func errText(err error) string {
	var de *net.DNSError
	if errors.As(err, &de) {
		return de.Err
	}
	return printable(err.Error(), 200)
}
