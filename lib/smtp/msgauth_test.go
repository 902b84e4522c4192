package smtp

import (
	"strings"
	"testing"

	"gannet/lib/config"
	"gannet/lib/dnstest"
	"gannet/lib/msgauth"
)

// The checks of lib/msgauth on the smtp role, with DNS answered by a
// server of the test's own.
func TestMessageChecks(t *testing.T) {
	dns := dnstest.New(t)
	dns.Add(`good.example. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"`)
	dns.Add(`strict.example. 300 IN TXT "v=spf1 -all"`)
	dns.Add(`_dmarc.strict.example. 300 IN TXT "v=DMARC1; p=reject"`)
	h := newHarness(t, harnessOpts{server: func(s *Server) {
		r, err := msgauth.NewResolver(config.DNS{Resolver: dns.Addr()}, 100)
		if err != nil {
			t.Fatal(err)
		}
		p, err := msgauth.PolicyFromConfig(s.Config.SMTPD.Checks)
		if err != nil {
			t.Fatal(err)
		}
		s.Checker = NewMessageChecker(msgauth.NewChecker(r, p), "mx.example.test")
	}})
	forged := "Authentication-Results: mx.example.test; dmarc=pass header.from=strict.example\r\n"
	msg := forged + "From: <a@good.example>\r\nSubject: checked\r\n\r\nhi\r\n"
	if err := sendMail(t, h.addr[RoleSMTP], "a@good.example", []string{demo}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := h.inbox(demo)
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	m := got[0]
	if !strings.Contains(m, "\r\nAuthentication-Results: mx.example.test;") || !strings.Contains(m, "spf=pass") || strings.Contains(m, forged) {
		t.Errorf("Authentication-Results not as expected:\n%s", m)
	}
	if strings.Index(m, "Authentication-Results:") > strings.Index(m, "Received:") {
		t.Errorf("Authentication-Results below Received:\n%s", m)
	}
	// DMARC p=reject, no aligned pass: refused.
	err := sendMail(t, h.addr[RoleSMTP], "x@strict.example", []string{demo}, []byte("From: <x@strict.example>\r\nSubject: spoof\r\n\r\nhi\r\n"))
	wantReply(t, err, 550, "5.7.1")
	if n := len(h.inbox(demo)); n != 1 {
		t.Errorf("%d messages", n)
	}
}
