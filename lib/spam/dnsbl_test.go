package spam

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"gannet/lib/config"
	"gannet/lib/dnstest"
	"gannet/lib/message"
	"gannet/lib/msgauth"
)

// zenLike is a list configured as Spamhaus ZEN is.
func zenLike() config.DNSBL {
	return config.DNSBL{
		Name: "zen", Zone: "zen.test", Type: "ip",
		Answers: []config.DNSBLAnswer{
			{Code: "127.0.0.2-127.0.0.3", Tag: "RCVD_IN_SBL", Score: 3},
			{Code: "127.0.0.10-127.0.0.11", Tag: "RCVD_IN_PBL", Score: 1},
		},
	}
}

func newTestDNSBL(t *testing.T, lists ...config.DNSBL) (*dnsblChecker, *dnstest.Server) {
	t.Helper()
	s := dnstest.New(t)
	r, err := msgauth.NewResolver(config.DNS{Resolver: s.Addr(), Timeout: config.Duration{Duration: 2 * time.Second}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newDNSBLChecker(lists, r, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

// tagsOf runs c over m and returns the tags by name.
func tagsOf(t *testing.T, c Checker, m *Message) (map[string]Tag, error) {
	t.Helper()
	r := &Result{}
	err := c.Check(context.Background(), m, r)
	out := map[string]Tag{}
	for _, tg := range r.Tags() {
		out[tg.Name] = tg
	}
	return out, err
}

func fromIP(ip string) *Message {
	return &Message{Envelope: Envelope{ClientIP: netip.MustParseAddr(ip)}}
}

func TestDNSBLClientIP(t *testing.T) {
	c, s := newTestDNSBL(t, zenLike())
	s.Add("7.100.51.198.zen.test. 300 IN A 127.0.0.2",
		"7.100.51.198.zen.test. 300 IN A 127.0.0.11")

	tags, err := tagsOf(t, c, fromIP("198.51.100.7"))
	if err != nil {
		t.Fatal(err)
	}
	if tg, ok := tags["RCVD_IN_SBL"]; !ok || tg.Score != 3 || !strings.Contains(tg.Detail, "198.51.100.7 listed in zen.test: 127.0.0.2") {
		t.Errorf("SBL tag = %+v, want score 3 and the address in the detail; all %v", tg, tags)
	}
	if tg, ok := tags["RCVD_IN_PBL"]; !ok || tg.Score != 1 {
		t.Errorf("PBL tag = %+v; all %v", tg, tags)
	}

	// Not listed: no tag, no error.
	tags, err = tagsOf(t, c, fromIP("198.51.100.8"))
	if err != nil || len(tags) != 0 {
		t.Errorf("unlisted client: tags %v, err %v; want none", tags, err)
	}
}

func TestDNSBLFact(t *testing.T) {
	c, s := newTestDNSBL(t, zenLike())
	s.Add("7.100.51.198.zen.test. 300 IN A 127.0.0.3")
	r := &Result{}
	if err := c.Check(context.Background(), fromIP("198.51.100.7"), r); err != nil {
		t.Fatal(err)
	}
	if v, ok := r.Fact("dnsbl.zen"); !ok || v != 3 {
		t.Errorf("fact dnsbl.zen = %v, %v; want 3", v, ok)
	}
}

func TestDNSBLIPv6Nibbles(t *testing.T) {
	c, s := newTestDNSBL(t, zenLike())
	// RFC 5782 section 2.4: 32 nibbles, least significant first.
	name := "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.test."
	s.Add(name + " 300 IN A 127.0.0.2")
	tags, err := tagsOf(t, c, fromIP("2001:db8::1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tags["RCVD_IN_SBL"]; !ok {
		t.Errorf("IPv6 client not found listed: %v (queries for %s: %d)", tags, name, s.Queries(name, dns.TypeA))
	}
}

func TestDNSBLSkipsPrivateAndAuthenticated(t *testing.T) {
	c, s := newTestDNSBL(t, zenLike())
	for _, m := range []*Message{
		fromIP("10.1.2.3"),
		fromIP("127.0.0.1"),
		{Envelope: Envelope{ClientIP: netip.MustParseAddr("198.51.100.7"), Authenticated: "alice"}},
		{}, // no client address (spamc on a file)
	} {
		if tags, err := tagsOf(t, c, m); err != nil || len(tags) != 0 {
			t.Errorf("%+v: tags %v, err %v", m.Envelope, tags, err)
		}
	}
	if n := s.Queries("7.100.51.198.zen.test.", dns.TypeA) + s.Queries("3.2.1.10.zen.test.", dns.TypeA); n != 0 {
		t.Errorf("%d queries, want none", n)
	}
}

func TestDNSBLBlockedAndBogusAnswers(t *testing.T) {
	c, s := newTestDNSBL(t, zenLike())
	// Spamhaus's answer to a query through a public resolver.
	s.Add("7.100.51.198.zen.test. 300 IN A 127.255.255.254")
	tags, err := tagsOf(t, c, fromIP("198.51.100.7"))
	if err != nil {
		t.Fatal(err)
	}
	if tg, ok := tags["ZEN_BLOCKED"]; !ok || tg.Score != 0 || len(tags) != 1 {
		t.Errorf("blocked answer gave %v, want ZEN_BLOCKED with score 0 only", tags)
	}

	// A resolver answering every name with its own web server.
	s.Add("8.100.51.198.zen.test. 300 IN A 192.0.2.80")
	tags, err = tagsOf(t, c, fromIP("198.51.100.8"))
	if err != nil || len(tags) != 0 {
		t.Errorf("answer outside 127/8 gave %v, %v; want nothing", tags, err)
	}
}

func TestDNSBLURLDomainsAndMask(t *testing.T) {
	uribl := config.DNSBL{
		Name: "uribl", Zone: "multi.uribl.test", Type: "url",
		Blocked: []string{"127.0.0.1"},
		Answers: []config.DNSBLAnswer{
			{Mask: 2, Tag: "URIBL_BLACK", Score: 3},
			{Mask: 8, Tag: "URIBL_RED", Score: 1},
		},
	}
	c, s := newTestDNSBL(t, uribl)
	s.Add("bad.test.multi.uribl.test. 300 IN A 127.0.0.6") // bits 2 and 4
	m := &Message{URLs: []URL{
		{Raw: "http://click.bad.test/x", Host: "click.bad.test"},
		{Raw: "http://www.good.test/", Host: "www.good.test"},
		{Raw: "http://192.0.2.1/", Host: "192.0.2.1"},
	}}
	tags, err := tagsOf(t, c, m)
	if err != nil {
		t.Fatal(err)
	}
	if tg, ok := tags["URIBL_BLACK"]; !ok || !strings.Contains(tg.Detail, "bad.test") {
		t.Errorf("URIBL_BLACK = %+v; all %v", tg, tags)
	}
	if _, ok := tags["URIBL_RED"]; ok {
		t.Errorf("URIBL_RED added though bit 8 is not set: %v", tags)
	}
	// The registrable domain is asked, once; the IP literal is not.
	if n := s.Queries("bad.test.multi.uribl.test.", dns.TypeA); n != 1 {
		t.Errorf("%d queries for bad.test, want 1", n)
	}
	if n := s.Queries("click.bad.test.multi.uribl.test.", dns.TypeA); n != 0 {
		t.Errorf("asked about the full host name, want the registrable domain")
	}
	if n := s.Queries("1.2.0.192.multi.uribl.test.", dns.TypeA) + s.Queries("192.0.2.1.multi.uribl.test.", dns.TypeA); n != 0 {
		t.Errorf("asked about an IP literal")
	}
}

func TestDNSBLSenderDomain(t *testing.T) {
	dbl := config.DNSBL{Name: "dbl", Zone: "dbl.test", Type: "domain",
		Answers: []config.DNSBLAnswer{{Code: "127.0.1.2", Tag: "DBL_SENDER", Score: 2}}}
	c, s := newTestDNSBL(t, dbl)
	s.Add("spam.test.dbl.test. 300 IN A 127.0.1.2")
	m := &Message{From: "news@mail.spam.test", Envelope: Envelope{MailFrom: "bounce@other.test"}}
	tags, err := tagsOf(t, c, m)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tags["DBL_SENDER"]; !ok {
		t.Errorf("sender domain not found listed: %v", tags)
	}
	if n := s.Queries("other.test.dbl.test.", dns.TypeA); n != 1 {
		t.Errorf("envelope sender domain asked %d times, want 1", n)
	}
}

func TestDNSBLEmailHashes(t *testing.T) {
	// The labels were computed independently (Python's hashlib and
	// base64.b32encode, lower-cased, padding removed).
	for _, tt := range []struct {
		hash, encoding, label string
	}{
		{"sha1", "base32", "edz7ndy3djqblsfqayk3p72lkezvfpl2"},
		{"", "", "20f3f68f1b1a6015c8b00615b7ff4b513352bd7a"},
		{"md5", "hex", "a83f98e0ed07e7bcdcf358ba0fe4d361"},
		{"none", "", "spammer.bad.test"},
	} {
		l := config.DNSBL{Name: "hbl", Zone: "_email.hbl.test", Type: "email", Hash: tt.hash, Encoding: tt.encoding,
			Answers: []config.DNSBLAnswer{{Code: "127.0.3.2-127.0.3.20", Tag: "HBL_EMAIL", Score: 3}}}
		c, s := newTestDNSBL(t, l)
		s.Add(tt.label + "._email.hbl.test. 300 IN A 127.0.3.2")
		tags, err := tagsOf(t, c, &Message{From: "Spammer@Bad.test"})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := tags["HBL_EMAIL"]; !ok {
			t.Errorf("hash %q encoding %q: not found listed (want query %s)", tt.hash, tt.encoding, tt.label)
		}
	}
}

func TestDNSBLAttachmentHash(t *testing.T) {
	l := config.DNSBL{Name: "filebl", Zone: "_file.hbl.test", Type: "hash",
		Answers: []config.DNSBLAnswer{{Code: "127.0.3.10", Tag: "HBL_FILE", Score: 5}}}
	c, s := newTestDNSBL(t, l)
	payload := "MZ fake executable payload\n"
	raw := "From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n" +
		"--XX\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
		"--XX\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=invoice.exe\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString([]byte(payload)) + "\r\n--XX--\r\n"
	m := &Message{Raw: []byte(raw), Parsed: message.Parse([]byte(raw))}
	// The payload's SHA-256 in base32 (Python's hashlib and base64).
	s.Add("uarlrhrgp57o5wtfmnjsjpk6xc7l75rxzhqy3tood6cm3vgegqda._file.hbl.test. 300 IN A 127.0.3.10")
	tags, err := tagsOf(t, c, m)
	if err != nil {
		t.Fatal(err)
	}
	if tg, ok := tags["HBL_FILE"]; !ok || !strings.Contains(tg.Detail, "invoice.exe") {
		t.Errorf("attachment not found listed: %v", tags)
	}
}

func TestDNSBLCache(t *testing.T) {
	c, s := newTestDNSBL(t, zenLike())
	s.Add("7.100.51.198.zen.test. 300 IN A 127.0.0.2")
	for range 3 {
		if tags, err := tagsOf(t, c, fromIP("198.51.100.7")); err != nil || len(tags) != 1 {
			t.Fatalf("tags %v, err %v", tags, err)
		}
		if tags, err := tagsOf(t, c, fromIP("198.51.100.9")); err != nil || len(tags) != 0 {
			t.Fatalf("tags %v, err %v", tags, err)
		}
	}
	if n := s.Queries("7.100.51.198.zen.test.", dns.TypeA); n != 1 {
		t.Errorf("listed: %d queries for 3 checks, want 1 (cached)", n)
	}
	if n := s.Queries("9.100.51.198.zen.test.", dns.TypeA); n != 1 {
		t.Errorf("not listed: %d queries for 3 checks, want 1 (cached)", n)
	}

	// An answer expires with its TTL.
	c.now = func() time.Time { return time.Now().Add(301 * time.Second) }
	if _, err := tagsOf(t, c, fromIP("198.51.100.7")); err != nil {
		t.Fatal(err)
	}
	if n := s.Queries("7.100.51.198.zen.test.", dns.TypeA); n != 2 {
		t.Errorf("after the TTL: %d queries, want 2", n)
	}
}

func TestDNSBLTimeoutAndFailure(t *testing.T) {
	slow := zenLike()
	slow.Timeout = config.Duration{Duration: 200 * time.Millisecond}
	other := config.DNSBL{Name: "other", Zone: "other.test", Type: "ip",
		Answers: []config.DNSBLAnswer{{Code: "127.0.0.2", Tag: "RCVD_IN_OTHER", Score: 1}}}
	c, s := newTestDNSBL(t, slow, other)
	s.Drop("7.100.51.198.zen.test.", true)
	s.Add("7.100.51.198.other.test. 300 IN A 127.0.0.2")
	tags, err := tagsOf(t, c, fromIP("198.51.100.7"))
	if err == nil || !strings.Contains(err.Error(), "zen") {
		t.Errorf("err = %v, want the zen list's timeout", err)
	}
	// The list that answered still counts.
	if _, ok := tags["RCVD_IN_OTHER"]; !ok || len(tags) != 1 {
		t.Errorf("tags %v, want RCVD_IN_OTHER only", tags)
	}

	s.Drop("7.100.51.198.zen.test.", false)
	s.Fail("8.100.51.198.zen.test.", dns.RcodeServerFailure)
	if _, err := tagsOf(t, c, fromIP("198.51.100.8")); err == nil {
		t.Error("SERVFAIL: no error")
	}
}

func TestDNSBLBuild(t *testing.T) {
	s := dnstest.New(t)
	r, err := msgauth.NewResolver(config.DNS{Resolver: s.Addr(), Timeout: config.Duration{Duration: time.Second}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	if ch, err := buildDNSBL(context.Background(), Deps{Config: cfg, Resolver: r}); ch != nil || err != nil {
		t.Errorf("no lists: got %v, %v; want nil", ch, err)
	}
	cfg.Spam.DNSBL = []config.DNSBL{zenLike()}
	if ch, err := buildDNSBL(context.Background(), Deps{Config: cfg}); ch != nil || err != nil {
		t.Errorf("no resolver: got %v, %v; want nil", ch, err)
	}
	ch, err := buildDNSBL(context.Background(), Deps{Config: cfg, Resolver: r})
	if err != nil || ch == nil || ch.Name() != "dnsbl" {
		t.Fatalf("got %v, %v", ch, err)
	}
}

func TestReverseIP(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":      "1.2.0.192",
		"2001:db8::1":    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2",
		"::ffff:1.2.3.4": "4.3.2.1",
	} {
		if got := reverseIP(netip.MustParseAddr(in).Unmap()); got != want {
			t.Errorf("reverseIP(%s) = %s, want %s", in, got, want)
		}
	}
}

// FuzzDNSBLItems: whatever the message holds, the names asked about are
// valid DNS names under the list's zone, and few.
func FuzzDNSBLItems(f *testing.F) {
	f.Add("a@b.test", "click.bad.test", "", []byte{198, 51, 100, 7})
	f.Add("Spammer@Bad.test", "xn--pypal-4ve.com", "x@[1.2.3.4]", []byte{0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add("@", "..", "a@b@c", []byte{})
	var lists []*dnsbl
	for _, typ := range []string{"ip", "domain", "url", "email"} {
		for _, enc := range []string{"", "base32"} {
			for _, h := range []string{"", "none", "md5"} {
				c, err := newDNSBLChecker([]config.DNSBL{{Name: "x", Zone: "zone.test", Type: typ, Hash: h, Encoding: enc,
					Answers: []config.DNSBLAnswer{{Code: "127.0.0.2", Tag: "X"}}}}, nil, nil)
				if err != nil {
					f.Fatal(err)
				}
				lists = append(lists, c.lists...)
			}
		}
	}
	f.Fuzz(func(t *testing.T, from, host, mailFrom string, ip []byte) {
		m := &Message{From: from, ReplyTo: from + "x", URLs: []URL{{Host: host}, {Host: "a." + host}}, Envelope: Envelope{MailFrom: mailFrom}}
		if a, ok := netip.AddrFromSlice(ip); ok {
			m.Envelope.ClientIP = a
		}
		for _, l := range lists {
			items := l.items(m)
			if len(items) > dnsblMaxItems {
				t.Fatalf("%d items", len(items))
			}
			for _, it := range items {
				q := it.label + "." + l.zone
				if _, ok := dns.IsDomainName(q); !ok || len(q) > 253 || !strings.HasSuffix(q, ".zone.test") {
					t.Errorf("%s list: bad query name %q", l.Type, q)
				}
			}
		}
	})
}
