package spam

import (
	"net/netip"
	"testing"
)

func TestReceivedClient(t *testing.T) {
	for _, tc := range []struct {
		name     string
		received []string // top first
		ip, helo string   // "" when none is found
	}{
		{"postfix", []string{"from mail.example.org (mail.example.org [203.0.113.5]) by mx.example.net (Postfix) with ESMTPS id 4A; Thu, 3 Dec 2026 10:00:00 +0000"}, "203.0.113.5", "mail.example.org"},
		{"helo literal", []string{"from [10.0.0.5] (unknown [203.0.113.5]) by mx.example.net (Postfix) with ESMTP id 4A"}, "203.0.113.5", "10.0.0.5"},
		{"exim without rdns", []string{"from [203.0.113.5] (helo=foo.example) by mx.example.net with esmtp (Exim 4.96)"}, "203.0.113.5", "foo.example"},
		{"exim", []string{"from host.example ([203.0.113.5] helo=foo.example) by mx.example.net with esmtps (Exim 4.96)"}, "203.0.113.5", "foo.example"},
		{"qmail", []string{"from unknown (HELO foo.example) (203.0.113.5) by mx.example.net with SMTP; 3 Dec 2026 10:00:00 -0000"}, "203.0.113.5", "foo.example"},
		{"ipv6", []string{"from mail.example.org (mail.example.org [IPv6:2001:db8::1]) by mx.example.net (Postfix)"}, "2001:db8::1", "mail.example.org"},
		{"own hops passed over", []string{
			"from localhost (localhost [127.0.0.1]) by mx.example.net (Postfix) with ESMTP id 5B",
			"from relay.internal (relay.internal [192.168.1.2]) by mx.example.net (Postfix)",
			"from mail.example.org (mail.example.org [203.0.113.5]) by relay.internal (Postfix)",
			"from laptop (laptop [198.51.100.7]) by mail.example.org",
		}, "203.0.113.5", "mail.example.org"},
		{"no from clause", []string{"by mx.example.net (Postfix, from userid 1000) id 4A"}, "", ""},
		{"only private hops", []string{"from a.internal (a.internal [10.1.2.3]) by b.internal", "from c (c [100.64.0.9]) by a.internal"}, "", ""},
	} {
		raw := ""
		for _, r := range tc.received {
			raw += "Received: " + r + "\r\n"
		}
		raw += "From: a@example.org\r\nSubject: s\r\n\r\nbody\r\n"
		m, err := NewMessage([]byte(raw), Envelope{})
		if err != nil {
			t.Fatal(err)
		}
		r, ok := receivedClient(m)
		ip, helo := r.ip, r.helo
		if tc.ip == "" {
			if ok {
				t.Errorf("%s: found %v %q, want none", tc.name, ip, helo)
			}
			continue
		}
		if !ok || ip != netip.MustParseAddr(tc.ip) || helo != tc.helo {
			t.Errorf("%s: got %v %q %v, want %s %q", tc.name, ip, helo, ok, tc.ip, tc.helo)
		}
		if !m.ClientFromReceived() || m.Envelope.ClientIP != ip || m.Envelope.HELO != helo {
			t.Errorf("%s: ClientFromReceived set %v %q", tc.name, m.Envelope.ClientIP, m.Envelope.HELO)
		}
	}
	// A client the SMTP session gave is kept.
	m, _ := NewMessage([]byte("Received: from x (x [203.0.113.5]) by y\r\n\r\nb\r\n"), Envelope{ClientIP: netip.MustParseAddr("198.51.100.1"), HELO: "h"})
	if m.ClientFromReceived() || m.Envelope.ClientIP.String() != "198.51.100.1" {
		t.Errorf("the session's client was replaced: %v", m.Envelope.ClientIP)
	}
}

// TestReceivedRDNS: the reverse name the receiving MTA wrote, "" with
// known true when it found none, known false when the form does not say.
func TestReceivedRDNS(t *testing.T) {
	for _, tc := range []struct {
		from  string
		rdns  string
		known bool
	}{
		{"from helo.example (mail.example.org [203.0.113.5]) by mx", "mail.example.org", true},
		{"from helo.example (unknown [203.0.113.5]) by mx", "", true},
		{"from helo.example ([203.0.113.5]) by mx", "", true},
		{"from host.example ([203.0.113.5] helo=foo.example) by mx", "host.example", true},
		{"from [203.0.113.5] (helo=foo.example) by mx", "", true},
		{"from unknown (HELO foo.example) (203.0.113.5) by mx", "", true},
		{"from mail.example.com (203.0.113.5) by mx", "", false},
	} {
		r, ok := parseReceivedFrom(tc.from)
		if !ok || r.rdns != tc.rdns || r.rdnsKnown != tc.known {
			t.Errorf("%q: rdns %q known %v (ok %v), want %q %v", tc.from, r.rdns, r.rdnsKnown, ok, tc.rdns, tc.known)
		}
	}
}

func FuzzReceivedClient(f *testing.F) {
	f.Add("from mail.example.org (mail.example.org [203.0.113.5]) by mx")
	f.Add("from [10.0.0.5] (unknown [IPv6:2001:db8::1]) by mx")
	f.Add("from unknown (HELO x) (203.0.113.5) by y")
	f.Add("from [[[(((]]])")
	f.Fuzz(func(t *testing.T, v string) {
		m, err := NewMessage([]byte("Received: "+v+"\r\n\r\nb\r\n"), Envelope{})
		if err != nil {
			return
		}
		if r, ok := receivedClient(m); ok && (!r.ip.IsValid() || !isPublic(r.ip)) {
			t.Errorf("receivedClient(%q) = %v", v, r.ip)
		}
	})
}
