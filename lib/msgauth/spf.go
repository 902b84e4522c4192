package msgauth

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
)

// SPFResult is the outcome of an SPF check (RFC 7208).
type SPFResult struct {
	// Value is none, neutral, pass, fail, softfail, temperror or permerror
	// (RFC 7208 section 2.6).
	Value authres.ResultValue
	// Reason says which mechanism matched, or what went wrong.
	Reason string
	// Domain is the domain checked: that of MAIL FROM, or the HELO name
	// for a null reverse-path (RFC 7208 section 2.4).
	Domain string
	// MailFrom and HELO are the identities the client gave.
	MailFrom string
	HELO     string
}

// CheckSPF checks whether ip may send mail from mailFrom (the reverse-path
// without angle brackets, "" for the null one), using helo for the null
// reverse-path (RFC 7208 section 2.4). smtpd may run it at MAIL FROM and
// pass the result to Check in Input.SPF.
func (c *Checker) CheckSPF(ctx context.Context, ip netip.Addr, helo, mailFrom string) *SPFResult {
	res := &SPFResult{MailFrom: mailFrom, HELO: helo}
	sender := mailFrom
	if at := strings.LastIndexByte(mailFrom, '@'); at >= 0 && at < len(mailFrom)-1 {
		res.Domain = domainOf(mailFrom[at+1:])
	} else {
		// RFC 7208 section 2.4: for the null reverse-path, check
		// postmaster@ the HELO name.
		res.Domain = domainOf(helo)
		sender = "postmaster@" + res.Domain
	}
	if res.Domain == "" || !isDomainName(res.Domain) || !strings.Contains(res.Domain, ".") {
		// An address literal as HELO, or no usable domain at all: nothing
		// to look up (RFC 7208 section 4.3).
		res.Value, res.Reason = authres.ResultNone, "no domain to check"
		return res
	}
	if !ip.IsValid() {
		res.Value, res.Reason = authres.ResultNone, "no client address"
		return res
	}
	v, err := spf.CheckHostWithSender(net.IP(ip.Unmap().AsSlice()), domainOf(helo), sender,
		spf.WithContext(ctx), spf.WithResolver(c.resolver))
	res.Value = authres.ResultValue(v)
	if v == "" {
		res.Value = authres.ResultPermError
	}
	switch {
	case err == nil:
	case errors.Is(err, spf.ErrNoResult):
		res.Reason = "no SPF record"
	default:
		res.Reason = err.Error()
	}
	return res
}

// domainOf returns a domain lower case, without a trailing dot, in
// A-labels when it can be converted; "" for an address literal.
func domainOf(d string) string {
	d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
	if strings.HasPrefix(d, "[") {
		return ""
	}
	if a, err := toQueryName(d); err == nil {
		return strings.TrimSuffix(a, ".")
	}
	return d
}
