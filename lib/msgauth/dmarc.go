package msgauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"slices"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"
)

// maxFromDomains bounds the author domains evaluated for one message.
const maxFromDomains = 5

// maxDMARCRecord bounds the length of a DMARC record read.
const maxDMARCRecord = 4096

var nameFrom = []byte("From")

// DMARCResult is the outcome of the DMARC check (RFC 7489).
type DMARCResult struct {
	// Value is none (no policy), pass, fail, temperror or permerror.
	Value authres.ResultValue
	// Reason says how the result was reached.
	Reason string
	// Domain is the author domain, from the From: header field.
	Domain string
	// RecordDomain is where the policy was found: Domain or, by the
	// fallback of RFC 7489 section 6.6.3, its organisational domain.
	RecordDomain string
	// Policy is what the domain asks for mail that fails: p=, or sp= for
	// a subdomain covered by its organisational domain's record.
	Policy dmarc.Policy
	// Applied is Policy after sampling by pct= (RFC 7489 section 6.6.4):
	// mail outside the sample gets the next milder policy. It is set only
	// for a failing message.
	Applied dmarc.Policy
	// SPFAligned and DKIMAligned tell which identifier passed in
	// alignment with Domain (RFC 7489 section 3.1).
	SPFAligned  bool
	DKIMAligned bool
}

// dmarcRecord is what a policy lookup found.
type dmarcRecord struct {
	rec    *dmarc.Record
	domain string // where it was found
	value  authres.ResultValue
	reason string
}

// lookupDMARC finds the DMARC record for an author domain: at
// _dmarc.<domain>, else at _dmarc.<organisational domain> (RFC 7489
// section 6.6.3).
func lookupDMARC(ctx context.Context, r *Resolver, domain string) dmarcRecord {
	rec, err := fetchDMARC(ctx, r, domain)
	if err == nil || !errors.Is(err, dmarc.ErrNoPolicy) {
		return recordResult(rec, domain, err)
	}
	org := OrganizationalDomain(domain)
	if org == domain {
		return dmarcRecord{value: authres.ResultNone, reason: "no DMARC record"}
	}
	rec, err = fetchDMARC(ctx, r, org)
	if errors.Is(err, dmarc.ErrNoPolicy) {
		return dmarcRecord{value: authres.ResultNone, reason: "no DMARC record"}
	}
	return recordResult(rec, org, err)
}

func recordResult(rec *dmarc.Record, domain string, err error) dmarcRecord {
	var te *tempError
	switch {
	case err == nil:
		return dmarcRecord{rec: rec, domain: domain}
	case errors.As(err, &te):
		return dmarcRecord{value: authres.ResultTempError, reason: err.Error()}
	}
	return dmarcRecord{value: authres.ResultPermError, reason: err.Error()}
}

type tempError struct{ err error }

func (e *tempError) Error() string { return e.err.Error() }

// fetchDMARC reads the record at _dmarc.<domain>. dmarc.ErrNoPolicy means
// there is none (or several, RFC 7489 section 6.6.3 step 5).
func fetchDMARC(ctx context.Context, r *Resolver, domain string) (*dmarc.Record, error) {
	txts, err := r.LookupTXT(ctx, "_dmarc."+domain)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return nil, dmarc.ErrNoPolicy
		}
		if errors.As(err, &de) && de.IsTemporary {
			return nil, &tempError{fmt.Errorf("DMARC record of %s: %w", domain, err)}
		}
		return nil, fmt.Errorf("DMARC record of %s: %w", domain, err)
	}
	return selectDMARC(txts, domain)
}

// selectDMARC picks the DMARC record among the TXT records of
// _dmarc.<domain> and parses it. Records that do not start with v=DMARC1
// are ignored; none, or more than one, is no policy (RFC 7489 section
// 6.6.3 steps 3 and 5).
func selectDMARC(txts []string, domain string) (*dmarc.Record, error) {
	var found []string
	for _, t := range txts {
		if isDMARCRecord(t) {
			found = append(found, t)
		}
	}
	if len(found) != 1 {
		return nil, dmarc.ErrNoPolicy
	}
	txt := found[0]
	if len(txt) > maxDMARCRecord {
		return nil, fmt.Errorf("DMARC record of %s longer than %d bytes", domain, maxDMARCRecord)
	}
	rec, err := dmarc.Parse(normalizeDMARC(txt))
	if err != nil {
		return nil, fmt.Errorf("DMARC record of %s: %w", domain, err)
	}
	return rec, nil
}

// isDMARCRecord reports whether a TXT record starts with the v=DMARC1 tag
// (RFC 7489 section 6.4: "v" must be the first tag).
func isDMARCRecord(txt string) bool {
	first, _, _ := strings.Cut(txt, ";")
	k, v, ok := strings.Cut(first, "=")
	return ok && strings.TrimSpace(k) == "v" && strings.TrimSpace(v) == "DMARC1"
}

// normalizeDMARC lower-cases the values of the tags whose values are
// keywords (p, sp, adkim, aspf, fo), as RFC 7489 section 6.4 reads them
// case-insensitively and go-msgauth does not.
func normalizeDMARC(txt string) string {
	parts := strings.Split(txt, ";")
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "p", "sp", "adkim", "aspf", "fo", "rf":
			parts[i] = k + "=" + strings.ToLower(v)
		}
	}
	return strings.Join(parts, ";")
}

// OrganizationalDomain returns the organisational domain of a domain: the
// public suffix plus one label (RFC 7489 section 3.2), or the domain
// itself when it is a public suffix.
func OrganizationalDomain(domain string) string {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	org, err := publicsuffix.EffectiveTLDPlusOne(domain)
	if err != nil {
		return domain
	}
	return org
}

// aligned compares an authenticated domain with the author domain: in
// strict mode they must be equal, in relaxed mode have the same
// organisational domain (RFC 7489 section 3.1).
func aligned(authenticated, author string, mode dmarc.AlignmentMode) bool {
	a := strings.ToLower(strings.TrimSuffix(authenticated, "."))
	b := strings.ToLower(strings.TrimSuffix(author, "."))
	if a == "" || b == "" {
		return false
	}
	if a == b {
		return true
	}
	return mode != dmarc.AlignmentStrict && OrganizationalDomain(a) == OrganizationalDomain(b)
}

// fromDomains returns the author domains of a message: the domains of the
// addresses in its From: fields (there should be one field with one
// address; RFC 7489 section 6.6.1 lets a receiver check each domain of
// more). A From: that does not parse as an address list still yields the
// domains written after an @, so that odd syntax does not escape DMARC.
func fromDomains(fields []field) ([]string, error) {
	var domains []string
	add := func(d string) {
		d = domainOf(d)
		if d != "" && !slices.Contains(domains, d) {
			domains = append(domains, d)
		}
	}
	for _, f := range fields {
		if !bytes.EqualFold(f.name, nameFrom) {
			continue
		}
		v := unfold(f.value())
		if list, err := mail.ParseAddressList(v); err == nil {
			for _, a := range list {
				if at := strings.LastIndexByte(a.Address, '@'); at >= 0 {
					add(a.Address[at+1:])
				}
			}
		} else {
			for _, d := range scanDomains(v) {
				add(d)
			}
		}
		if len(domains) > maxFromDomains {
			return nil, fmt.Errorf("more than %d author domains", maxFromDomains)
		}
	}
	if len(domains) == 0 {
		return nil, errors.New("no author domain in From:")
	}
	return domains, nil
}

// scanDomains returns the runs of domain characters following each @.
func scanDomains(s string) []string {
	var out []string
	for i := 0; i < len(s) && len(out) <= maxFromDomains; i++ {
		if s[i] != '@' {
			continue
		}
		j := i + 1
		for j < len(s) && (isAlpha(s[j]) || isDigit(s[j]) || s[j] == '-' || s[j] == '.' || s[j] >= 0x80) {
			j++
		}
		if d := strings.Trim(s[i+1:j], "."); d != "" {
			out = append(out, d)
		}
	}
	return out
}

// evaluateDMARC decides the DMARC result for one author domain from its
// record and the SPF and DKIM results (RFC 7489 sections 4.2 and 6.6.2).
func (c *Checker) evaluateDMARC(domain string, rec dmarcRecord, spf *SPFResult, dkims []DKIMResult) *DMARCResult {
	res := &DMARCResult{Domain: domain}
	if rec.rec == nil {
		res.Value, res.Reason = rec.value, rec.reason
		return res
	}
	r := rec.rec
	res.RecordDomain = rec.domain
	res.Policy = r.Policy
	if rec.domain != domain && r.SubdomainPolicy != "" {
		res.Policy = r.SubdomainPolicy // section 6.3, sp=
	}

	temporary := false
	if spf != nil {
		if spf.Value == authres.ResultPass && aligned(spf.Domain, domain, r.SPFAlignment) {
			res.SPFAligned = true
		}
		temporary = temporary || spf.Value == authres.ResultTempError
	}
	for _, d := range dkims {
		if d.Value == authres.ResultPass && aligned(d.Domain, domain, r.DKIMAlignment) {
			res.DKIMAligned = true
		}
		temporary = temporary || d.Value == authres.ResultTempError
	}
	switch {
	case res.SPFAligned || res.DKIMAligned:
		res.Value = authres.ResultPass
		var by []string
		if res.SPFAligned {
			by = append(by, "SPF")
		}
		if res.DKIMAligned {
			by = append(by, "DKIM")
		}
		res.Reason = strings.Join(by, " and ") + " aligned"
		return res
	case temporary:
		// A temporary SPF or DKIM failure may turn into an aligned pass.
		res.Value, res.Reason = authres.ResultTempError, "no aligned pass, and a temporary SPF or DKIM error"
		return res
	}
	res.Value = authres.ResultFail
	res.Applied = res.Policy
	if r.Percent != nil && *r.Percent < 100 && c.randN(100) >= *r.Percent {
		// Section 6.6.4: outside the pct sample, the next milder policy.
		switch res.Applied {
		case dmarc.PolicyReject:
			res.Applied = dmarc.PolicyQuarantine
		case dmarc.PolicyQuarantine:
			res.Applied = dmarc.PolicyNone
		}
	}
	res.Reason = fmt.Sprintf("no aligned SPF or DKIM pass; policy %s", res.Applied)
	return res
}

// dmarcSeverity orders DMARC outcomes for a message with several author
// domains: the one that asks the most of the receiver wins.
func dmarcSeverity(r *DMARCResult) int {
	switch r.Value {
	case authres.ResultFail:
		switch r.Applied {
		case dmarc.PolicyReject:
			return 7
		case dmarc.PolicyQuarantine:
			return 6
		}
		return 5
	case authres.ResultTempError:
		return 4
	case authres.ResultPermError:
		return 3
	case authres.ResultNone:
		return 2
	}
	return 1 // pass
}
