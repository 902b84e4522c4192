package msgauth

import (
	"fmt"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dmarc"

	"gannet/lib/config"
)

// Mode is what one check does.
type Mode uint8

const (
	// Off skips the check.
	Off Mode = iota
	// Relaxed records the result; only a DMARC reject policy is acted on.
	Relaxed
	// Strict also refuses mail the check fails.
	Strict
)

// ParseMode reads "off", "relaxed" or "strict".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "off":
		return Off, nil
	case "relaxed":
		return Relaxed, nil
	case "strict":
		return Strict, nil
	}
	return Off, fmt.Errorf("check mode %q: want \"relaxed\", \"strict\" or \"off\"", s)
}

// String returns the mode as the configuration writes it.
func (m Mode) String() string {
	switch m {
	case Relaxed:
		return "relaxed"
	case Strict:
		return "strict"
	}
	return "off"
}

// Policy says which checks run and what their results do.
type Policy struct {
	SPF, DKIM, DMARC, ARC, IPRev Mode
	// DMARCEnforceReject refuses mail failing DMARC under p=reject;
	// without it such mail is treated as under p=quarantine.
	DMARCEnforceReject bool
}

// PolicyFromConfig converts the [smtpd.checks] section.
func PolicyFromConfig(c config.AuthChecks) (Policy, error) {
	p := Policy{DMARCEnforceReject: c.DMARCEnforceReject}
	for _, m := range []struct {
		key  string
		in   string
		mode *Mode
	}{
		{"spf", c.SPF, &p.SPF}, {"dkim", c.DKIM, &p.DKIM}, {"dmarc", c.DMARC, &p.DMARC},
		{"arc", c.ARC, &p.ARC}, {"iprev", c.IPRev, &p.IPRev},
	} {
		mode, err := ParseMode(m.in)
		if err != nil {
			return Policy{}, fmt.Errorf("smtpd.checks.%s: %w", m.key, err)
		}
		*m.mode = mode
	}
	return p, nil
}

// Verdict is what smtpd should answer at the end of DATA.
type Verdict struct {
	// Code is the SMTP reply code: 0 to accept, 550 to refuse, 451 to
	// ask the client to try again later.
	Code int
	// Enhanced is the enhanced status code (RFC 3463, RFC 7372).
	Enhanced [3]int
	// Message is the reply text.
	Message string
	// Check is the check that decided: "spf", "dkim", "dmarc", "arc",
	// "iprev", or "" for acceptance.
	Check string
	// Quarantine asks for the message to be accepted but filed as junk:
	// it fails DMARC for a domain asking for quarantine (or for reject,
	// when that is not enforced).
	Quarantine bool
}

// Reject reports whether the message is to be refused for good.
func (v Verdict) Reject() bool { return v.Code >= 500 }

// Temporary reports whether the client is to try again later.
func (v Verdict) Temporary() bool { return v.Code >= 400 && v.Code < 500 }

// Verdict decides what to answer under policy p: a refusal that a check
// asks for wins over a temporary failure, which wins over acceptance.
//
//   - DMARC fail with p=reject (sp= for a subdomain, after pct=): 550 5.7.1
//     unless DMARC is off or the reject is not enforced; under strict, so
//     does p=quarantine. A quarantine otherwise sets Quarantine.
//   - Strict SPF: fail 550 5.7.23; temperror 451 4.7.24.
//   - Strict DKIM: signatures present, none passing, one failing:
//     550 5.7.20; none passing and one temperror: 451 4.7.20.
//   - Strict ARC: fail 550 5.7.29 (451 4.7.29 when a key could not be
//     fetched for now).
//   - Strict iprev: fail 550 5.7.25; temperror 451 4.7.25.
//   - Strict DMARC: temperror 451 4.7.1.
func (r *Results) Verdict(p Policy) Verdict {
	var temp *Verdict
	tempfail := func(v Verdict) {
		if temp == nil {
			temp = &v
		}
	}
	quarantine := false

	if d := r.DMARC; d != nil && p.DMARC != Off {
		if d.Value == authres.ResultFail {
			applied := d.Applied
			if applied == dmarc.PolicyReject && !p.DMARCEnforceReject {
				applied = dmarc.PolicyQuarantine
			}
			if applied == dmarc.PolicyReject || applied == dmarc.PolicyQuarantine && p.DMARC == Strict {
				return Verdict{Code: 550, Enhanced: [3]int{5, 7, 1}, Check: "dmarc",
					Message: fmt.Sprintf("DMARC policy of %s refuses this message (no aligned SPF or DKIM pass)", d.Domain)}
			}
			quarantine = applied == dmarc.PolicyQuarantine
		}
		if d.Value == authres.ResultTempError && p.DMARC == Strict {
			tempfail(Verdict{Code: 451, Enhanced: [3]int{4, 7, 1}, Check: "dmarc",
				Message: fmt.Sprintf("DMARC check of %s failed for now, try again later", d.Domain)})
		}
	}

	if s := r.SPF; s != nil && p.SPF == Strict {
		switch s.Value {
		case authres.ResultFail:
			return Verdict{Code: 550, Enhanced: [3]int{5, 7, 23}, Check: "spf",
				Message: fmt.Sprintf("SPF of %s does not allow this client", s.Domain)}
		case authres.ResultTempError:
			tempfail(Verdict{Code: 451, Enhanced: [3]int{4, 7, 24}, Check: "spf",
				Message: fmt.Sprintf("SPF check of %s failed for now, try again later", s.Domain)})
		}
	}

	if len(r.DKIM) > 0 && p.DKIM == Strict {
		var pass, fail, tempErr bool
		for _, d := range r.DKIM {
			switch d.Value {
			case authres.ResultPass:
				pass = true
			case authres.ResultFail:
				fail = true
			case authres.ResultTempError:
				tempErr = true
			}
		}
		switch {
		case pass:
		case fail:
			return Verdict{Code: 550, Enhanced: [3]int{5, 7, 20}, Check: "dkim",
				Message: "no valid DKIM signature"}
		case tempErr:
			tempfail(Verdict{Code: 451, Enhanced: [3]int{4, 7, 20}, Check: "dkim",
				Message: "DKIM key unavailable for now, try again later"})
		}
	}

	if a := r.ARC; a != nil && p.ARC == Strict && a.Value == authres.ResultFail {
		if !a.Temporary {
			return Verdict{Code: 550, Enhanced: [3]int{5, 7, 29}, Check: "arc",
				Message: "ARC chain does not validate"}
		}
		tempfail(Verdict{Code: 451, Enhanced: [3]int{4, 7, 29}, Check: "arc",
			Message: "ARC key unavailable for now, try again later"})
	}

	if i := r.IPRev; i != nil && p.IPRev == Strict {
		switch i.Value {
		case authres.ResultFail, authres.ResultPermError:
			return Verdict{Code: 550, Enhanced: [3]int{5, 7, 25}, Check: "iprev",
				Message: fmt.Sprintf("reverse DNS of %s does not resolve back to it", i.IP)}
		case authres.ResultTempError:
			tempfail(Verdict{Code: 451, Enhanced: [3]int{4, 7, 25}, Check: "iprev",
				Message: fmt.Sprintf("reverse DNS of %s failed for now, try again later", i.IP)})
		}
	}

	if temp != nil {
		return *temp
	}
	return Verdict{Quarantine: quarantine}
}
