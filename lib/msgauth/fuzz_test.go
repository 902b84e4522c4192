package msgauth

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"gannet/lib/config"
	"gannet/lib/dnstest"
)

// FuzzARC feeds messages to the header splitter and the ARC chain parser
// and validator, keys served by a loopback DNS server.
func FuzzARC(f *testing.F) {
	s := dnstest.New(f)
	if zone, err := os.ReadFile("testdata/arc-dkimpy.zone"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(zone))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			s.Add(sc.Text())
		}
	}
	r, err := NewResolver(config.DNS{Resolver: s.Addr(), Timeout: config.Duration{Duration: time.Second}}, 1000)
	if err != nil {
		f.Fatal(err)
	}
	if msg, err := os.ReadFile("testdata/arc-dkimpy.eml"); err == nil {
		f.Add(msg)
	}
	f.Add([]byte("ARC-Seal: i=1; cv=none; a=rsa-sha256; d=hop1.test; s=arc; b=AAAA\r\n" +
		"ARC-Message-Signature: i=1; a=rsa-sha256; d=hop1.test; s=arc; h=from; bh=AAAA; b=AAAA\r\n" +
		"ARC-Authentication-Results: i=1; x; none\r\nFrom: a@b\r\n\r\nbody"))
	f.Add([]byte("ARC-Seal: i=01; cv=pass\nARC-Seal:i=2\n x\n\nbody"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		fields, bodyAt, err := splitMessage(msg)
		if bodyAt < 0 || bodyAt > len(msg) {
			t.Fatalf("body offset %d outside a message of %d bytes", bodyAt, len(msg))
		}
		var header []byte
		for _, f := range fields {
			if !bytes.Contains(f.raw, []byte(":")) || len(f.name) == 0 {
				t.Fatalf("field %q has no name", f.raw)
			}
			header = append(header, f.raw...)
		}
		if err == nil && !bytes.HasPrefix(msg, header) {
			t.Fatalf("the fields are not the message's header, in order")
		}
		chain, err := parseARC(fields)
		if err == nil {
			if len(chain) > MaxARCSets {
				t.Fatalf("%d sets", len(chain))
			}
			for i := range chain {
				if chain[i].aar == nil || chain[i].ams == nil || chain[i].as == nil {
					t.Fatalf("set %d incomplete", i+1)
				}
				sealHash(chain, i+1)
			}
		}
		res := verifyARC(context.Background(), r, fields, msg[bodyAt:])
		switch res.Value {
		case authres.ResultNone:
			if len(chain) != 0 || err != nil {
				t.Fatalf("none for a message with ARC fields")
			}
		case authres.ResultPass:
			if err != nil || len(chain) == 0 {
				t.Fatalf("pass for a chain that does not parse: %v", err)
			}
		case authres.ResultFail:
		default:
			t.Fatalf("result %q", res.Value)
		}
	})
}

// FuzzSignatureFields exercises the tag-list parser, the b= remover and
// the canonicalisations on one field and a body.
func FuzzSignatureFields(f *testing.F) {
	f.Add("DKIM-Signature: v=1; a=rsa-sha256; b=abc\r\n\tdef; bh=x=;\r\n", []byte(rfcExample))
	f.Add("X: b=;b=", []byte(" \t\r\n\r\n"))
	f.Fuzz(func(t *testing.T, field string, body []byte) {
		if tags, err := parseTags(field); err == nil {
			for k := range tags {
				if !isTagName(k) {
					t.Fatalf("tag name %q", k)
				}
			}
		}
		fields, _, _ := splitMessage([]byte(field + "\r\n\r\n"))
		if len(fields) == 0 {
			return
		}
		raw := fields[0].raw
		out := withoutSignature(raw)
		if len(out) > len(raw) {
			t.Fatalf("withoutSignature grew the field")
		}
		if bytes.Equal(withoutSignature(out), out) == false {
			t.Fatalf("withoutSignature is not idempotent: %q then %q", out, withoutSignature(out))
		}
		c := canonHeader(raw, relaxed)
		if !bytes.HasSuffix(c, []byte("\r\n")) || bytes.Count(c, []byte("\n")) != 1 {
			t.Fatalf("relaxed header %q is not one line", c)
		}
		if !bytes.HasSuffix(canonHeader(raw, simple), []byte("\r\n")) {
			t.Fatalf("simple header without CRLF")
		}
		bodyHash(body, relaxed)
		bodyHash(body, simple)
	})
}

// FuzzKeyRecord reads DKIM key records.
func FuzzKeyRecord(f *testing.F) {
	f.Add("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", "ed25519")
	f.Add("v=DKIM1; h=sha256; s=email; t=y; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC", "rsa")
	f.Fuzz(func(t *testing.T, rec, algo string) {
		k, err := parseKeyRecord(rec, algo)
		if err == nil && (k.rsa == nil) == (k.ed25519 == nil) {
			t.Fatalf("key %+v", k)
		}
	})
}

// FuzzDMARCRecord reads DMARC records as selectDMARC receives them.
func FuzzDMARCRecord(f *testing.F) {
	f.Add("v=DMARC1; p=reject; sp=quarantine; pct=50; adkim=s; aspf=r; rua=mailto:a@b", "other")
	f.Add("v=DMARC1;p=NONE", "v=spf1 -all")
	f.Add("v = DMARC1 ; p = reject ; fo = 0:1:d:s", "")
	f.Fuzz(func(t *testing.T, txt, other string) {
		rec, err := selectDMARC([]string{txt, other}, "example.test")
		if err == nil {
			switch rec.Policy {
			case "none", "quarantine", "reject":
			default:
				t.Fatalf("policy %q", rec.Policy)
			}
			if rec.Percent != nil && (*rec.Percent < 0 || *rec.Percent > 100) {
				t.Fatalf("pct %d", *rec.Percent)
			}
		}
		if n := normalizeDMARC(txt); normalizeDMARC(n) != n {
			t.Fatalf("normalizeDMARC is not idempotent")
		}
	})
}

// FuzzFromDomains reads author domains from From: fields.
func FuzzFromDomains(f *testing.F) {
	f.Add("Alice <alice@example.test>")
	f.Add(`"a@b" <x@y.test>, c@d.test`)
	f.Add("=?utf-8?q?a?= <@route:a@b.test>")
	f.Add("<<a@ex\xffample.test")
	f.Fuzz(func(t *testing.T, from string) {
		fields, _, _ := splitMessage([]byte("From: " + from + "\r\n\r\n"))
		domains, err := fromDomains(fields)
		if err != nil {
			return
		}
		if len(domains) == 0 || len(domains) > maxFromDomains {
			t.Fatalf("%d domains", len(domains))
		}
		for _, d := range domains {
			if d == "" || d != strings.ToLower(d) {
				t.Fatalf("domain %q", d)
			}
		}
	})
}

// FuzzAuthenticationResults checks that no value from the network can
// add a result or a line to the header.
func FuzzAuthenticationResults(f *testing.F) {
	f.Add("user@example.test", "example.test", "matched all", "sel")
	f.Add(`"a;dmarc=pass"@x`, "x;dkim=pass", "a)(b\"c\\", "s\r\nX: y")
	f.Fuzz(func(t *testing.T, mailFrom, domain, why, selector string) {
		res := &Results{
			SPF:   &SPFResult{Value: authres.ResultFail, Reason: why, MailFrom: mailFrom, HELO: domain},
			DKIM:  []DKIMResult{{Value: authres.ResultFail, Reason: why, Domain: domain, Identifier: mailFrom, Selector: selector}},
			DMARC: &DMARCResult{Value: authres.ResultFail, Reason: why, Domain: domain},
		}
		field := res.AuthenticationResults("mx.test")
		if strings.Count(field, "\n") != 4 || strings.Count(field, "\r") != 4 {
			t.Fatalf("%q is not four lines", field)
		}
		_, results, err := authres.Parse(unfold([]byte(strings.TrimPrefix(field, "Authentication-Results:"))))
		if err != nil || len(results) != 3 {
			t.Fatalf("%q parses to %d results, %v", field, len(results), err)
		}
		for _, r := range results {
			if resultValue(r) != authres.ResultFail {
				t.Fatalf("%q: a result %q", field, resultValue(r))
			}
		}
	})
}

// FuzzUnescapeTXT undoes miekg/dns's escapes.
func FuzzUnescapeTXT(f *testing.F) {
	f.Add(`a\"b\\c\009\255\256\`)
	f.Fuzz(func(t *testing.T, s string) {
		if len(unescapeTXT(s)) > len(s) {
			t.Fatalf("unescaping %q made it longer", s)
		}
	})
}

// FuzzRemoveAuthenticationResults reads authserv-ids of the
// Authentication-Results fields a message arrives with.
func FuzzRemoveAuthenticationResults(f *testing.F) {
	f.Add([]byte("Authentication-Results: mx.test; spf=pass\r\nAuthentication-Results: (c) \"MX.test\" 1; none\r\n\r\nbody"))
	f.Add([]byte("Authentication-Results:\r\n\tmx.test;\r\nX: y\r\n\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		out := RemoveAuthenticationResults(msg, "mx.test")
		if len(out) > len(msg) {
			t.Fatalf("the message grew")
		}
		fields, _, _ := splitMessage(out)
		for _, f := range fields {
			if bytes.EqualFold(f.name, nameAuthResults) && strings.EqualFold(authservIDOf(f.value()), "mx.test") {
				t.Fatalf("a field of ours is left: %q", f.raw)
			}
		}
		_, bodyAt, _ := splitMessage(msg)
		_, outBodyAt, _ := splitMessage(out)
		if !bytes.Equal(msg[bodyAt:], out[outBodyAt:]) {
			t.Fatalf("the body changed")
		}
	})
}
