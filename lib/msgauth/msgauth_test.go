package msgauth

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"
	"github.com/miekg/dns"

	"gannet/lib/config"
)

var (
	ip1 = netip.MustParseAddr("192.0.2.1")
	ip2 = netip.MustParseAddr("198.51.100.2")
)

func TestSPF(t *testing.T) {
	e := newEnv(t, allRelaxed)
	e.dns.Add(
		txtRR("pass.test", "v=spf1 ip4:192.0.2.1 -all"),
		txtRR("soft.test", "v=spf1 ip4:192.0.2.1 ~all"),
		txtRR("neutral.test", "v=spf1 ?all"),
		txtRR("bad.test", "v=spf1 frobnicate ip4:192.0.2.1 -all"),
		txtRR("two.test", "v=spf1 -all"), txtRR("two.test", "v=spf1 +all"),
		txtRR("other.test", "some-site-verification=abc"),
		txtRR("a.test", "v=spf1 a:mail.a.test mx -all"),
		"mail.a.test. 300 IN A 192.0.2.1",
		"a.test. 300 IN MX 10 mx.a.test.",
		"mx.a.test. 300 IN AAAA 2001:db8::25",
		txtRR("include.test", "v=spf1 include:pass.test -all"),
		txtRR("mx.helo.test", "v=spf1 ip4:192.0.2.1 -all"),
		txtRR("servfail.test", "v=spf1 -all"),
	)
	e.dns.Fail("servfail.test", dns.RcodeServerFailure)

	tests := []struct {
		ip             netip.Addr
		helo, mailFrom string
		want           authres.ResultValue
		domain         string
	}{
		{ip1, "mx.example", "user@pass.test", authres.ResultPass, "pass.test"},
		{ip2, "mx.example", "user@pass.test", authres.ResultFail, "pass.test"},
		{ip2, "mx.example", "user@soft.test", authres.ResultSoftFail, "soft.test"},
		{ip2, "mx.example", "user@neutral.test", authres.ResultNeutral, "neutral.test"},
		{ip1, "mx.example", "user@other.test", authres.ResultNone, "other.test"},
		{ip1, "mx.example", "user@nowhere.test", authres.ResultNone, "nowhere.test"},
		{ip1, "mx.example", "user@bad.test", authres.ResultPermError, "bad.test"},
		{ip1, "mx.example", "user@two.test", authres.ResultPermError, "two.test"},
		{ip1, "mx.example", "user@servfail.test", authres.ResultTempError, "servfail.test"},
		{ip1, "mx.example", "user@A.Test", authres.ResultPass, "a.test"},                                 // a: through our resolver
		{netip.MustParseAddr("2001:db8::25"), "mx.example", "user@a.test", authres.ResultPass, "a.test"}, // mx
		{ip2, "mx.example", "user@a.test", authres.ResultFail, "a.test"},
		{ip1, "mx.example", "user@include.test", authres.ResultPass, "include.test"},
		{ip1, "mx.helo.test", "", authres.ResultPass, "mx.helo.test"}, // null sender: HELO
		{ip2, "mx.helo.test", "", authres.ResultFail, "mx.helo.test"},
		{ip1, "[192.0.2.1]", "", authres.ResultNone, ""},
		{netip.MustParseAddr("::ffff:192.0.2.1"), "x", "user@pass.test", authres.ResultPass, "pass.test"},
	}
	for _, tt := range tests {
		res := e.c.CheckSPF(context.Background(), tt.ip, tt.helo, tt.mailFrom)
		if res.Value != tt.want || res.Domain != tt.domain {
			t.Errorf("SPF(%s, %q, %q) = %s for %q (%s), want %s for %q", tt.ip, tt.helo, tt.mailFrom, res.Value, res.Domain, res.Reason, tt.want, tt.domain)
		}
	}
}

func TestDKIM(t *testing.T) {
	e := newEnv(t, allRelaxed)
	ed, rk := newEd25519(t), testRSAKey(t)
	e.publishKey(t, "ed", "example.test", ed)
	e.publishKey(t, "rsa", "example.test", rk)
	e.dns.Add(txtRR("down._domainkey.example.test", keyRecord(t, ed)))
	e.dns.Fail("down._domainkey.example.test", dns.RcodeServerFailure)

	msg := message("a@example.test", "Hello.\r\n")
	relaxedC := dkim.Canonicalization(dkim.CanonicalizationRelaxed)
	signed := dkimSign(t, msg, "example.test", "ed", ed, relaxedC, relaxedC)
	both := dkimSign(t, signed, "Example.Test", "rsa", rk, relaxedC, dkim.CanonicalizationSimple)

	tests := []struct {
		name string
		msg  []byte
		want []authres.ResultValue
	}{
		{"unsigned", msg, []authres.ResultValue{authres.ResultNone}},
		{"ed25519", signed, []authres.ResultValue{authres.ResultPass}},
		{"two signatures", both, []authres.ResultValue{authres.ResultPass, authres.ResultPass}},
		{"body changed", append(bytes.Clone(signed), "P.S.\r\n"...), []authres.ResultValue{authres.ResultFail}},
		{"subject changed", bytes.Replace(both, []byte("a test"), []byte("a jest"), 1), []authres.ResultValue{authres.ResultFail, authres.ResultFail}},
		{"no key", dkimSign(t, msg, "example.test", "gone", ed, relaxedC, relaxedC), []authres.ResultValue{authres.ResultPermError}},
		{"key unreachable", dkimSign(t, msg, "example.test", "down", ed, relaxedC, relaxedC), []authres.ResultValue{authres.ResultTempError}},
	}
	for _, tt := range tests {
		res := e.c.CheckDKIM(context.Background(), tt.msg)
		var got []authres.ResultValue
		for _, r := range res {
			got = append(got, r.Value)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v (%+v), want %v", tt.name, got, res, tt.want)
		}
	}

	res := e.c.CheckDKIM(context.Background(), both)
	if r := res[0]; r.Domain != "example.test" || r.Selector != "rsa" || r.Algorithm != "rsa-sha256" || r.Identifier != "@Example.Test" || r.Signature == "" {
		t.Errorf("first signature: %+v", r)
	}
	if r := res[1]; r.Selector != "ed" || r.Algorithm != "ed25519-sha256" {
		t.Errorf("second signature: %+v", r)
	}

	// Only the first MaxSignatures are verified.
	many := signed
	for range 7 {
		many = dkimSign(t, many, "example.test", "ed", ed, relaxedC, relaxedC)
	}
	if res := e.c.CheckDKIM(context.Background(), many); len(res) != DefaultMaxSignatures {
		t.Errorf("8 signatures gave %d results, want %d", len(res), DefaultMaxSignatures)
	}
}

func TestIPRev(t *testing.T) {
	e := newEnv(t, allRelaxed)
	e.dns.Add(
		"1.2.0.192.in-addr.arpa. 300 IN PTR mx.example.test.",
		"1.2.0.192.in-addr.arpa. 300 IN PTR other.example.test.",
		"mx.example.test. 300 IN A 192.0.2.1",
		"other.example.test. 300 IN A 192.0.2.200",
		"2.2.0.192.in-addr.arpa. 300 IN PTR liar.example.test.",
		"liar.example.test. 300 IN A 192.0.2.99",
		"4.2.0.192.in-addr.arpa. 300 IN PTR x.example.test.",
		"5.2.0.192.in-addr.arpa. 300 IN PTR slow.example.test.",
		"slow.example.test. 300 IN A 192.0.2.5",
		"6.2.0.192.in-addr.arpa. 300 IN PTR bad_name.example.test.",
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 300 IN PTR v6.example.test.",
		"v6.example.test. 300 IN AAAA 2001:db8::1",
		"v6.example.test. 300 IN A 192.0.2.1",
	)
	// Twelve names, only the last two resolving back: beyond the bound.
	for i := range 12 {
		e.dns.Add(fmt.Sprintf("7.2.0.192.in-addr.arpa. 300 IN PTR n%02d.example.test.", i))
		if i >= 10 {
			e.dns.Add(fmt.Sprintf("n%02d.example.test. 300 IN A 192.0.2.7", i))
		}
	}
	e.dns.Fail("4.2.0.192.in-addr.arpa", dns.RcodeServerFailure)
	e.dns.Fail("slow.example.test", dns.RcodeServerFailure)

	tests := []struct {
		ip    string
		want  authres.ResultValue
		names []string
	}{
		{"192.0.2.1", authres.ResultPass, []string{"mx.example.test"}},
		{"192.0.2.2", authres.ResultFail, nil},
		{"192.0.2.3", authres.ResultFail, nil}, // no PTR
		{"192.0.2.4", authres.ResultTempError, nil},
		{"192.0.2.5", authres.ResultTempError, nil},
		{"192.0.2.6", authres.ResultFail, nil},
		{"192.0.2.7", authres.ResultFail, nil},
		{"2001:db8::1", authres.ResultPass, []string{"v6.example.test"}},
		{"::ffff:192.0.2.1", authres.ResultPass, []string{"mx.example.test"}},
	}
	for _, tt := range tests {
		res := e.c.CheckIPRev(context.Background(), netip.MustParseAddr(tt.ip))
		if res.Value != tt.want || !slices.Equal(res.Names, tt.names) {
			t.Errorf("iprev %s = %s %v (%s), want %s %v", tt.ip, res.Value, res.Names, res.Reason, tt.want, tt.names)
		}
	}
}

// dmarcZone publishes the records the DMARC tests use, DKIM keys of k.
func dmarcZone(t *testing.T, e *env, k crypto.Signer) {
	e.dns.Add(
		txtRR("_dmarc.example.test", "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.test"),
		txtRR("example.test", "v=spf1 ip4:192.0.2.1 -all"),
		txtRR("sub.example.test", "v=spf1 ip4:192.0.2.1 -all"),
		txtRR("other.test", "v=spf1 ip4:192.0.2.1 -all"),
		txtRR("_dmarc.strict.test", "v=DMARC1; p=reject; aspf=s; adkim=s"),
		txtRR("mail.strict.test", "v=spf1 ip4:192.0.2.1 -all"),
		txtRR("_dmarc.none.test", "v=DMARC1; p=none"),
		txtRR("none.test", "v=spf1 -all"),
		txtRR("_dmarc.pct.test", "v=DMARC1; p=reject; pct=0"),
		txtRR("_dmarc.full.test", "v=DMARC1; p=REJECT; pct=100"),
		txtRR("_dmarc.bad.test", "v=DMARC1; p=bogus"),
		txtRR("_dmarc.two.test", "v=DMARC1; p=reject"), txtRR("_dmarc.two.test", "v=DMARC1; p=none"),
		txtRR("_dmarc.noise.test", "not dmarc"), txtRR("_dmarc.noise.test", "v=DMARC1; p=quarantine"),
		txtRR("_dmarc.example.co.uk", "v=DMARC1; p=reject"),
		txtRR("_dmarc.tempfail.test", "v=DMARC1; p=reject"),
		txtRR("_dmarc.quar.test", "v=DMARC1; p=quarantine"),
	)
	e.dns.Fail("_dmarc.tempfail.test", dns.RcodeServerFailure)
	for _, d := range []string{"example.test", "sub.example.test", "other.test", "mail.strict.test", "strict.test"} {
		e.publishKey(t, "sel", d, k)
	}
	e.dns.Add(txtRR("down._domainkey.example.test", keyRecord(t, k)))
	e.dns.Fail("down._domainkey.example.test", dns.RcodeServerFailure)
}

func TestDMARC(t *testing.T) {
	e := newEnv(t, allRelaxed)
	ed := newEd25519(t)
	dmarcZone(t, e, ed)
	rel := dkim.Canonicalization(dkim.CanonicalizationRelaxed)
	sign := func(msg []byte, d, s string) []byte {
		return dkimSign(t, msg, d, s, ed, rel, rel)
	}

	tests := []struct {
		name       string
		mailFrom   string
		msg        []byte
		want       authres.ResultValue
		record     string       // where the policy was found
		policy     dmarc.Policy // Applied, for a failure
		spf, dkimA bool
	}{
		{name: "SPF aligned", mailFrom: "b@example.test", msg: message("a@example.test", "x"), want: authres.ResultPass, record: "example.test", spf: true},
		{name: "SPF passes for another domain", mailFrom: "b@other.test", msg: message("a@example.test", "x"), want: authres.ResultFail, record: "example.test", policy: dmarc.PolicyReject},
		{name: "DKIM aligned", mailFrom: "b@other.test", msg: sign(message("a@example.test", "x"), "example.test", "sel"), want: authres.ResultPass, record: "example.test", dkimA: true},
		{name: "DKIM for another domain", mailFrom: "b@other.test", msg: sign(message("a@example.test", "x"), "other.test", "sel"), want: authres.ResultFail, record: "example.test", policy: dmarc.PolicyReject},
		{name: "DKIM broken", mailFrom: "b@other.test", msg: append(sign(message("a@example.test", "x"), "example.test", "sel"), 'y'), want: authres.ResultFail, record: "example.test", policy: dmarc.PolicyReject},
		{name: "subdomain: record at the organisational domain, relaxed SPF", mailFrom: "b@example.test", msg: message("a@sub.example.test", "x"), want: authres.ResultPass, record: "example.test", spf: true},
		{name: "subdomain: relaxed DKIM", mailFrom: "b@other.test", msg: sign(message("a@sub.example.test", "x"), "example.test", "sel"), want: authres.ResultPass, record: "example.test", dkimA: true},
		{name: "subdomain fails: sp= applies", mailFrom: "b@other.test", msg: message("a@sub.example.test", "x"), want: authres.ResultFail, record: "example.test", policy: dmarc.PolicyQuarantine},
		{name: "strict SPF alignment", mailFrom: "b@mail.strict.test", msg: message("a@strict.test", "x"), want: authres.ResultFail, record: "strict.test", policy: dmarc.PolicyReject},
		{name: "strict DKIM alignment", mailFrom: "b@other.test", msg: sign(message("a@strict.test", "x"), "mail.strict.test", "sel"), want: authres.ResultFail, record: "strict.test", policy: dmarc.PolicyReject},
		{name: "strict DKIM exact", mailFrom: "b@other.test", msg: sign(message("a@strict.test", "x"), "strict.test", "sel"), want: authres.ResultPass, record: "strict.test", dkimA: true},
		{name: "p=none", mailFrom: "b@none.test", msg: message("a@none.test", "x"), want: authres.ResultFail, record: "none.test", policy: dmarc.PolicyNone},
		{name: "pct=0 softens reject", mailFrom: "b@other.test", msg: message("a@pct.test", "x"), want: authres.ResultFail, record: "pct.test", policy: dmarc.PolicyQuarantine},
		{name: "pct=100, upper case policy", mailFrom: "b@other.test", msg: message("a@full.test", "x"), want: authres.ResultFail, record: "full.test", policy: dmarc.PolicyReject},
		{name: "no record", mailFrom: "b@other.test", msg: message("a@nodmarc.test", "x"), want: authres.ResultNone},
		{name: "bad record", mailFrom: "b@other.test", msg: message("a@bad.test", "x"), want: authres.ResultPermError},
		{name: "two records", mailFrom: "b@other.test", msg: message("a@two.test", "x"), want: authres.ResultNone},
		{name: "other TXT records ignored", mailFrom: "b@other.test", msg: message("a@noise.test", "x"), want: authres.ResultFail, record: "noise.test", policy: dmarc.PolicyQuarantine},
		{name: "public suffix of two labels", mailFrom: "b@other.test", msg: message("a@mail.example.co.uk", "x"), want: authres.ResultFail, record: "example.co.uk", policy: dmarc.PolicyReject},
		{name: "DNS failure", mailFrom: "b@other.test", msg: message("a@tempfail.test", "x"), want: authres.ResultTempError},
		{name: "DKIM key unreachable", mailFrom: "b@other.test", msg: dkimSign(t, message("a@example.test", "x"), "example.test", "down", ed, rel, rel), want: authres.ResultTempError, record: "example.test"},
		{name: "two authors: the strictest policy", mailFrom: "b@none.test", msg: []byte("From: a@none.test, b@example.test\r\n\r\nx"), want: authres.ResultFail, record: "example.test", policy: dmarc.PolicyReject},
		{name: "two From fields", mailFrom: "b@example.test", msg: []byte("From: a@example.test\r\nFrom: b@quar.test\r\n\r\nx"), want: authres.ResultFail, record: "quar.test", policy: dmarc.PolicyQuarantine},
		{name: "From that does not parse", mailFrom: "b@other.test", msg: []byte("From: <<a@example.test\r\n\r\nx"), want: authres.ResultFail, record: "example.test", policy: dmarc.PolicyReject},
		{name: "no From", mailFrom: "b@example.test", msg: []byte("Subject: x\r\n\r\nx"), want: authres.ResultPermError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.c.Check(context.Background(), Input{ClientIP: ip1, HELO: "mx.other.test", MailFrom: tt.mailFrom, Message: tt.msg})
			d := res.DMARC
			if d.Value != tt.want || d.RecordDomain != tt.record || d.Applied != tt.policy || d.SPFAligned != tt.spf || d.DKIMAligned != tt.dkimA {
				t.Errorf("got %s at %q, applied %q, SPF %v, DKIM %v (%s)\nwant %s at %q, applied %q, SPF %v, DKIM %v",
					d.Value, d.RecordDomain, d.Applied, d.SPFAligned, d.DKIMAligned, d.Reason, tt.want, tt.record, tt.policy, tt.spf, tt.dkimA)
			}
		})
	}
}

func TestOrganizationalDomain(t *testing.T) {
	for in, want := range map[string]string{
		"example.test":        "example.test",
		"a.b.example.test":    "example.test",
		"mail.example.co.uk":  "example.co.uk",
		"co.uk":               "co.uk",
		"Example.COM.":        "example.com",
		"user.github.io":      "user.github.io",
		"deep.user.github.io": "user.github.io",
		"test":                "test",
	} {
		if got := OrganizationalDomain(in); got != want {
			t.Errorf("OrganizationalDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheck(t *testing.T) {
	e := newEnv(t, allRelaxed)
	ed := newEd25519(t)
	e.publishKey(t, "sel", "example.test", ed)
	e.dns.Add(
		txtRR("example.test", "v=spf1 ip4:192.0.2.1 -all"),
		txtRR("_dmarc.example.test", "v=DMARC1; p=reject"),
		"1.2.0.192.in-addr.arpa. 300 IN PTR mx.example.test.",
		"mx.example.test. 300 IN A 192.0.2.1",
	)
	e.publishKey(t, "arc", "fwd.test", ed)
	rel := dkim.Canonicalization(dkim.CanonicalizationRelaxed)
	msg := dkimSign(t, message("a@example.test", "Hello.\r\n"), "example.test", "sel", ed, rel, rel)
	msg = arcSeal(t, msg, "fwd.test", "arc", ed, "none", "dkim=pass header.d=example.test")
	in := Input{ClientIP: ip1, HELO: "mx.example.test", MailFrom: "a@example.test", Message: msg}

	res := e.c.Check(context.Background(), in)
	if res.SPF.Value != authres.ResultPass || len(res.DKIM) != 1 || res.DKIM[0].Value != authres.ResultPass ||
		res.DMARC.Value != authres.ResultPass || res.ARC.Value != authres.ResultPass || res.IPRev.Value != authres.ResultPass {
		t.Errorf("all should pass: %s", res.AuthenticationResults("mx.gannet.test"))
	}
	if v := res.Verdict(e.c.Policy()); v.Code != 0 || v.Quarantine {
		t.Errorf("verdict %+v, want acceptance", v)
	}

	// The header parses back, with one result per check.
	field := res.AuthenticationResults("mx.gannet.test")
	name, value, _ := strings.Cut(field, ":")
	if name != "Authentication-Results" || !strings.HasSuffix(value, "\r\n") {
		t.Fatalf("not a header field: %q", field)
	}
	id, results, err := authres.Parse(unfold([]byte(value)))
	if err != nil || id != "mx.gannet.test" || len(results) != 5 {
		t.Fatalf("authres.Parse(%q) = %q, %d results, %v", field, id, len(results), err)
	}
	if r, ok := results[0].(*authres.SPFResult); !ok || r.Value != authres.ResultPass || r.From != "a@example.test" {
		t.Errorf("spf result %#v", results[0])
	}
	if r, ok := results[1].(*authres.DKIMResult); !ok || r.Value != authres.ResultPass || r.Domain != "example.test" {
		t.Errorf("dkim result %#v", results[1])
	}
	if r, ok := results[2].(*authres.DMARCResult); !ok || r.Value != authres.ResultPass || r.From != "example.test" {
		t.Errorf("dmarc result %#v", results[2])
	}
	if r, ok := results[3].(*authres.ARCResult); !ok || r.Value != authres.ResultPass || r.RemoteIP != "192.0.2.1" {
		t.Errorf("arc result %#v", results[3])
	}
	if r, ok := results[4].(*authres.IPRevResult); !ok || r.Value != authres.ResultPass || r.IP != "192.0.2.1" {
		t.Errorf("iprev result %#v", results[4])
	}

	// An SPF result got at MAIL FROM is used, not looked up again.
	e.dns.Remove("example.test", dns.TypeTXT)
	pre := &SPFResult{Value: authres.ResultPass, Domain: "example.test", MailFrom: "a@example.test"}
	in.SPF = pre
	if res := e.c.Check(context.Background(), in); res.SPF != pre {
		t.Errorf("Check did not use the SPF result given")
	}
}

func TestCheckOff(t *testing.T) {
	e := newEnv(t, Policy{DMARC: Relaxed, DMARCEnforceReject: true})
	e.dns.Add(
		txtRR("example.test", "v=spf1 ip4:192.0.2.1 -all"),
		txtRR("_dmarc.example.test", "v=DMARC1; p=reject"),
	)
	res := e.c.Check(context.Background(), Input{ClientIP: ip1, HELO: "h.test", MailFrom: "a@example.test", Message: message("a@example.test", "x")})
	if res.SPF != nil || res.DKIM != nil || res.ARC != nil || res.IPRev != nil {
		t.Errorf("checks turned off have results: %+v", res)
	}
	// SPF is off but DMARC needs it, so it is worked out.
	if res.DMARC == nil || res.DMARC.Value != authres.ResultPass || !res.DMARC.SPFAligned {
		t.Errorf("DMARC = %+v, want a pass by SPF", res.DMARC)
	}
	field := res.AuthenticationResults("mx.test")
	if strings.Contains(field, "spf=") || !strings.Contains(field, "dmarc=pass") {
		t.Errorf("header %q", field)
	}
	if got := (&Results{}).AuthenticationResults("mx.test"); got != "Authentication-Results: mx.test; none\r\n" {
		t.Errorf("no results: %q", got)
	}
	if n := e.dns.Queries("1.2.0.192.in-addr.arpa", dns.TypePTR); n != 0 {
		t.Errorf("iprev is off but PTR was asked %d times", n)
	}
}

func TestAuthenticationResultsInjection(t *testing.T) {
	res := &Results{
		SPF:   &SPFResult{Value: authres.ResultFail, Reason: `x; dmarc=pass (y) "z"`, MailFrom: `"a;dmarc=pass"@evil.test`, Domain: "evil.test"},
		DKIM:  []DKIMResult{{Value: authres.ResultFail, Domain: "evil.test;dkim=pass", Identifier: "@evil.test;arc=pass", Selector: "s;x"}},
		DMARC: &DMARCResult{Value: authres.ResultFail, Domain: "bank.test\r\nX-Injected: yes"},
	}
	field := res.AuthenticationResults("mx.test")
	value := strings.TrimPrefix(field, "Authentication-Results: ")
	_, results, err := authres.Parse(unfold([]byte(value)))
	if err != nil || len(results) != 3 {
		t.Fatalf("parsed %d results (%v) from %q, want 3", len(results), err, field)
	}
	for _, r := range results {
		for _, v := range []authres.ResultValue{resultValue(r)} {
			if v == authres.ResultPass {
				t.Errorf("an injected pass: %q", field)
			}
		}
	}
	if strings.Count(field, "\n") != 4 || strings.Contains(field, "X-Injected") {
		t.Errorf("the field holds a line of the message's: %q", field)
	}
	if !strings.Contains(field, "smtp.mailfrom=evil.test") {
		t.Errorf("an unsafe address should leave its domain: %q", field)
	}
}

func resultValue(r authres.Result) authres.ResultValue {
	switch r := r.(type) {
	case *authres.SPFResult:
		return r.Value
	case *authres.DKIMResult:
		return r.Value
	case *authres.DMARCResult:
		return r.Value
	case *authres.GenericResult:
		return r.Value
	}
	return ""
}

func TestVerdict(t *testing.T) {
	fail := authres.ResultValue(authres.ResultFail)
	temp := authres.ResultValue(authres.ResultTempError)
	strictAll := Policy{SPF: Strict, DKIM: Strict, DMARC: Strict, ARC: Strict, IPRev: Strict, DMARCEnforceReject: true}
	dmarcFail := func(p dmarc.Policy) *DMARCResult {
		return &DMARCResult{Value: fail, Domain: "example.test", Policy: p, Applied: p}
	}
	tests := []struct {
		name       string
		res        Results
		p          Policy
		code       int
		enhanced   [3]int
		check      string
		quarantine bool
	}{
		{"nothing", Results{}, strictAll, 0, [3]int{}, "", false},
		{"DMARC reject", Results{DMARC: dmarcFail(dmarc.PolicyReject)}, allRelaxed, 550, [3]int{5, 7, 1}, "dmarc", false},
		{"DMARC reject not enforced", Results{DMARC: dmarcFail(dmarc.PolicyReject)}, Policy{DMARC: Relaxed}, 0, [3]int{}, "", true},
		{"DMARC reject, DMARC off", Results{DMARC: dmarcFail(dmarc.PolicyReject)}, Policy{DMARCEnforceReject: true}, 0, [3]int{}, "", false},
		{"DMARC quarantine", Results{DMARC: dmarcFail(dmarc.PolicyQuarantine)}, allRelaxed, 0, [3]int{}, "", true},
		{"DMARC quarantine, strict", Results{DMARC: dmarcFail(dmarc.PolicyQuarantine)}, strictAll, 550, [3]int{5, 7, 1}, "dmarc", false},
		{"DMARC none, strict", Results{DMARC: dmarcFail(dmarc.PolicyNone)}, strictAll, 0, [3]int{}, "", false},
		{"DMARC temperror, relaxed", Results{DMARC: &DMARCResult{Value: temp}}, allRelaxed, 0, [3]int{}, "", false},
		{"DMARC temperror, strict", Results{DMARC: &DMARCResult{Value: temp}}, strictAll, 451, [3]int{4, 7, 1}, "dmarc", false},
		{"SPF fail, relaxed", Results{SPF: &SPFResult{Value: fail}}, allRelaxed, 0, [3]int{}, "", false},
		{"SPF fail, strict", Results{SPF: &SPFResult{Value: fail}}, strictAll, 550, [3]int{5, 7, 23}, "spf", false},
		{"SPF softfail, strict", Results{SPF: &SPFResult{Value: authres.ResultSoftFail}}, strictAll, 0, [3]int{}, "", false},
		{"SPF temperror, strict", Results{SPF: &SPFResult{Value: temp}}, strictAll, 451, [3]int{4, 7, 24}, "spf", false},
		{"DKIM fail, strict", Results{DKIM: []DKIMResult{{Value: fail}}}, strictAll, 550, [3]int{5, 7, 20}, "dkim", false},
		{"DKIM one passes, strict", Results{DKIM: []DKIMResult{{Value: fail}, {Value: authres.ResultPass}}}, strictAll, 0, [3]int{}, "", false},
		{"DKIM none, strict", Results{DKIM: []DKIMResult{{Value: authres.ResultNone}}}, strictAll, 0, [3]int{}, "", false},
		{"DKIM temperror, strict", Results{DKIM: []DKIMResult{{Value: temp}}}, strictAll, 451, [3]int{4, 7, 20}, "dkim", false},
		{"ARC fail, strict", Results{ARC: &ARCResult{Value: fail}}, strictAll, 550, [3]int{5, 7, 29}, "arc", false},
		{"ARC fail for now, strict", Results{ARC: &ARCResult{Value: fail, Temporary: true}}, strictAll, 451, [3]int{4, 7, 29}, "arc", false},
		{"iprev fail, strict", Results{IPRev: &IPRevResult{Value: fail}}, strictAll, 550, [3]int{5, 7, 25}, "iprev", false},
		{"iprev temperror, strict", Results{IPRev: &IPRevResult{Value: temp}}, strictAll, 451, [3]int{4, 7, 25}, "iprev", false},
		{"iprev fail, relaxed", Results{IPRev: &IPRevResult{Value: fail}}, allRelaxed, 0, [3]int{}, "", false},
		{"a refusal wins over a temporary failure", Results{SPF: &SPFResult{Value: temp}, IPRev: &IPRevResult{Value: fail}}, strictAll, 550, [3]int{5, 7, 25}, "iprev", false},
	}
	for _, tt := range tests {
		v := tt.res.Verdict(tt.p)
		if v.Code != tt.code || v.Enhanced != tt.enhanced || v.Check != tt.check || v.Quarantine != tt.quarantine {
			t.Errorf("%s: verdict %+v, want %d %v by %q, quarantine %v", tt.name, v, tt.code, tt.enhanced, tt.check, tt.quarantine)
		}
		if v.Reject() != (tt.code >= 500) || v.Temporary() != (tt.code == 451) || (v.Code != 0) == (v.Message == "") {
			t.Errorf("%s: Reject %v, Temporary %v, message %q", tt.name, v.Reject(), v.Temporary(), v.Message)
		}
	}
}

func TestPolicyFromConfig(t *testing.T) {
	p, err := PolicyFromConfig(config.Default().SMTPD.Checks)
	if err != nil || p != allRelaxed {
		t.Errorf("default policy %+v, %v; want all relaxed, reject enforced", p, err)
	}
	p, err = PolicyFromConfig(config.AuthChecks{SPF: "strict", DKIM: "off", DMARC: "relaxed", ARC: "off", IPRev: "strict"})
	if err != nil || p != (Policy{SPF: Strict, DMARC: Relaxed, IPRev: Strict}) {
		t.Errorf("got %+v, %v", p, err)
	}
	if _, err := PolicyFromConfig(config.AuthChecks{SPF: "loose", DKIM: "off", DMARC: "off", ARC: "off", IPRev: "off"}); err == nil || !strings.Contains(err.Error(), "smtpd.checks.spf") {
		t.Errorf("bad mode: %v", err)
	}
}

func TestRemoveAuthenticationResults(t *testing.T) {
	msg := []byte("Received: from x\r\n" +
		"Authentication-Results: mx.gannet.test; dmarc=pass header.from=bank.test\r\n" +
		"Authentication-Results: other.test; spf=fail\r\n" +
		"authentication-results: (forged) \"MX.Gannet.Test\" 1;\r\n\tdkim=pass\r\n" +
		"Authentication-Results: mx.gannet.test.evil; none\r\n" +
		"Subject: hi\r\n\r\nAuthentication-Results: mx.gannet.test; in the body\r\n")
	want := "Received: from x\r\n" +
		"Authentication-Results: other.test; spf=fail\r\n" +
		"Authentication-Results: mx.gannet.test.evil; none\r\n" +
		"Subject: hi\r\n\r\nAuthentication-Results: mx.gannet.test; in the body\r\n"
	if got := string(RemoveAuthenticationResults(msg, "mx.gannet.test")); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	clean := message("a@b.test", "x")
	if got := RemoveAuthenticationResults(clean, "mx.gannet.test"); &got[0] != &clean[0] {
		t.Errorf("a message without such fields was copied")
	}
}
