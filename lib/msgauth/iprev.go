package msgauth

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/emersion/go-msgauth/authres"
)

// maxPTRNames bounds the names of a PTR answer that are checked forward
// (RFC 8601 section 3 leaves it to the receiver; RFC 7208 section 4.6.4
// uses 10 for the same work).
const maxPTRNames = 10

// IPRevResult is the outcome of the iprev check (RFC 8601 section 3).
type IPRevResult struct {
	// Value is pass, fail, temperror or permerror.
	Value authres.ResultValue
	// Reason says what went wrong.
	Reason string
	// IP is the client address checked.
	IP netip.Addr
	// Names are the PTR names of IP that resolve back to it, without the
	// final dot: the verified host names, for a Received header.
	Names []string
}

// CheckIPRev looks up the PTR records of ip and the addresses of each name
// they give (at most 10): ip passes when one of the names resolves back to
// it (RFC 8601 section 3).
func (c *Checker) CheckIPRev(ctx context.Context, ip netip.Addr) *IPRevResult {
	ip = ip.Unmap()
	res := &IPRevResult{IP: ip}
	if !ip.IsValid() {
		res.Value, res.Reason = authres.ResultPermError, "no client address"
		return res
	}
	names, err := c.resolver.LookupAddr(ctx, ip.String())
	if err != nil {
		res.Value, res.Reason = dnsErrorResult(err), "PTR lookup: "+err.Error()
		return res
	}
	var valid []string
	for _, n := range names {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if isHostName(n) && len(valid) < maxPTRNames {
			valid = append(valid, n)
		}
	}
	if len(valid) == 0 {
		res.Value, res.Reason = authres.ResultFail, "no usable PTR name"
		return res
	}
	network := "ip4"
	if ip.Is6() {
		network = "ip6"
	}
	var (
		mu        sync.Mutex
		wg        sync.WaitGroup
		temporary bool
	)
	for _, n := range valid {
		wg.Go(func() {
			addrs, err := c.resolver.LookupNetIP(ctx, network, n)
			mu.Lock()
			defer mu.Unlock()
			var de *net.DNSError
			if err != nil && errors.As(err, &de) && de.IsTemporary {
				temporary = true
			}
			for _, a := range addrs {
				if a == ip {
					res.Names = append(res.Names, n)
					return
				}
			}
		})
	}
	wg.Wait()
	switch {
	case len(res.Names) > 0:
		res.Value = authres.ResultPass
		res.Names = sortedLike(res.Names, valid)
		res.Reason = res.Names[0]
	case temporary:
		res.Value, res.Reason = authres.ResultTempError, "forward lookup of the PTR names failed"
	default:
		res.Value, res.Reason = authres.ResultFail, "no PTR name resolves back to the address"
	}
	return res
}

// sortedLike returns names in the order they have in order.
func sortedLike(names, order []string) []string {
	out := make([]string, 0, len(names))
	for _, o := range order {
		for _, n := range names {
			if n == o {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

// dnsErrorResult maps a lookup error to fail (no such name), temperror
// (the server could not answer now) or permerror (anything else).
func dnsErrorResult(err error) authres.ResultValue {
	var de *net.DNSError
	switch {
	case errors.As(err, &de) && de.IsNotFound:
		return authres.ResultFail
	case errors.As(err, &de) && de.IsTemporary:
		return authres.ResultTempError
	}
	return authres.ResultPermError
}

// isHostName checks a host name: letters, digits and hyphens in labels of
// 1 to 63 characters, at least two labels.
func isHostName(s string) bool {
	if !isDomainName(s) || !strings.Contains(s, ".") {
		return false
	}
	return !strings.ContainsAny(s, "_") && strings.IndexFunc(s, func(r rune) bool { return r >= 0x80 }) < 0
}
