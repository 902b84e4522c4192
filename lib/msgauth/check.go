// Package msgauth runs the checks smtpd makes on mail arriving from other
// servers: SPF (RFC 7208), DKIM verification (RFC 6376), DMARC with the
// organisational-domain fallback and identifier alignment (RFC 7489), ARC
// chain validation (RFC 8617) and iprev (RFC 8601 section 3). The results
// go into one Authentication-Results header field (RFC 8601), and Verdict
// says what the SMTP server should answer under the configured policy.
//
// All DNS lookups go through a Resolver asking the configured server, so
// tests point it at a loopback server (lib/dnstest).
package msgauth

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/emersion/go-msgauth/authres"
)

// DefaultTimeout bounds a whole Check when the context has no deadline.
const DefaultTimeout = 30 * time.Second

// Checker runs the checks on inbound mail. It is safe for concurrent use.
type Checker struct {
	resolver *Resolver
	policy   Policy

	// MaxSignatures is how many DKIM signatures are verified
	// (DefaultMaxSignatures when 0).
	MaxSignatures int
	// Timeout bounds a whole Check (DefaultTimeout when 0).
	Timeout time.Duration

	// randN returns a number in [0, n), for DMARC's pct= sampling.
	randN func(n int) int
}

// NewChecker returns a Checker resolving names with r and running the
// checks p does not turn off.
func NewChecker(r *Resolver, p Policy) *Checker {
	return &Checker{resolver: r, policy: p, randN: rand.IntN}
}

// Policy returns the policy the Checker was made with.
func (c *Checker) Policy() Policy { return c.policy }

// Input is what the checks look at: the SMTP session and the message.
type Input struct {
	// ClientIP is the address of the SMTP client.
	ClientIP netip.Addr
	// HELO is the name the client gave in HELO or EHLO.
	HELO string
	// MailFrom is the reverse-path without angle brackets, "" for <>.
	MailFrom string
	// Message is the message as received: header and body, CRLF line
	// endings.
	Message []byte
	// SPF is the SPF result when smtpd already got it (at MAIL FROM);
	// nil makes Check run SPF itself.
	SPF *SPFResult
}

// Results holds the outcome of each check. A check the policy turns off
// has a nil result.
type Results struct {
	SPF *SPFResult
	// DKIM holds one result per signature verified, or one result with
	// Value none for a message without signatures.
	DKIM  []DKIMResult
	DMARC *DMARCResult
	ARC   *ARCResult
	IPRev *IPRevResult
}

// Check runs every check the policy has on, those that do not depend on
// each other at once, and returns their results. DMARC needs SPF and DKIM:
// with DMARC on they are worked out even when turned off, but not reported.
func (c *Checker) Check(ctx context.Context, in Input) *Results {
	if _, ok := ctx.Deadline(); !ok {
		timeout := c.Timeout
		if timeout <= 0 {
			timeout = DefaultTimeout
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	p := c.policy
	fields, bodyAt, headerErr := splitMessage(in.Message)
	body := in.Message[bodyAt:]

	var (
		wg     sync.WaitGroup
		spfRes *SPFResult
		dkims  []DKIMResult
		arc    *ARCResult
		iprev  *IPRevResult
		recs   []dmarcRecord
	)
	needSPF := p.SPF != Off || p.DMARC != Off
	needDKIM := p.DKIM != Off || p.DMARC != Off
	if needSPF {
		if in.SPF != nil {
			spfRes = in.SPF
		} else {
			wg.Go(func() { spfRes = c.CheckSPF(ctx, in.ClientIP, in.HELO, in.MailFrom) })
		}
	}
	if needDKIM {
		wg.Go(func() { dkims = c.checkDKIM(ctx, in.Message, fields) })
	}
	if p.ARC != Off {
		wg.Go(func() {
			if headerErr != nil {
				arc = &ARCResult{Value: authres.ResultFail, Reason: headerErr.Error()}
			} else {
				arc = verifyARC(ctx, c.resolver, fields, body)
			}
			arc.ClientIP = in.ClientIP
		})
	}
	if p.IPRev != Off {
		wg.Go(func() { iprev = c.CheckIPRev(ctx, in.ClientIP) })
	}
	var domains []string
	var fromErr error
	if p.DMARC != Off {
		domains, fromErr = fromDomains(fields)
		recs = make([]dmarcRecord, len(domains))
		for i, d := range domains {
			wg.Go(func() { recs[i] = lookupDMARC(ctx, c.resolver, d) })
		}
	}
	wg.Wait()

	res := &Results{ARC: arc, IPRev: iprev}
	if p.SPF != Off {
		res.SPF = spfRes
	}
	if p.DKIM != Off {
		res.DKIM = dkims
	}
	if p.DMARC != Off {
		if fromErr != nil {
			res.DMARC = &DMARCResult{Value: authres.ResultPermError, Reason: fromErr.Error()}
		} else {
			for i, d := range domains {
				r := c.evaluateDMARC(d, recs[i], spfRes, dkims)
				if res.DMARC == nil || dmarcSeverity(r) > dmarcSeverity(res.DMARC) {
					res.DMARC = r
				}
			}
		}
	}
	return res
}
