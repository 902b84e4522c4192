package msgauth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"gannet/lib/config"
	"gannet/lib/dnstest"
)

// BenchmarkCheck runs every check on a 10 KB message signed with RSA, the
// DNS answers cached after the first round, as on a busy MX.
func BenchmarkCheck(b *testing.B) {
	s := dnstest.New(b)
	r, err := NewResolver(config.DNS{Resolver: s.Addr(), Timeout: config.Duration{Duration: 2 * time.Second}}, DefaultCacheSize)
	if err != nil {
		b.Fatal(err)
	}
	c := NewChecker(r, allRelaxed)
	k := testRSAKey(b)
	s.Add(
		txtRR("sel._domainkey.example.test", keyRecord(b, k)),
		txtRR("example.test", "v=spf1 ip4:192.0.2.1 -all"),
		txtRR("_dmarc.example.test", "v=DMARC1; p=reject"),
		"1.2.0.192.in-addr.arpa. 300 IN PTR mx.example.test.",
		"mx.example.test. 300 IN A 192.0.2.1",
	)
	rel := dkim.Canonicalization(dkim.CanonicalizationRelaxed)
	msg := dkimSign(b, message("a@example.test", strings.Repeat("0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n", 150)), "example.test", "sel", k, rel, rel)
	in := Input{ClientIP: ip1, HELO: "mx.example.test", MailFrom: "a@example.test", Message: msg}
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for b.Loop() {
		res := c.Check(context.Background(), in)
		if res.DMARC.Value != "pass" || res.DKIM[0].Value != "pass" || res.IPRev.Value != "pass" {
			b.Fatalf("%s", res.AuthenticationResults("mx"))
		}
	}
}
