package msgauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"

	"gannet/lib/store"
)

// rsaDKIMKey stores the package's test RSA key as a DKIM key.
func rsaDKIMKey(t testing.TB, domain, selector string) store.DKIMKey {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(testRSAKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return store.DKIMKey{Domain: domain, Selector: selector, Algorithm: AlgRSASHA256, PrivateKey: der, Active: true}
}

// publishDKIM serves the records of keys from e's DNS server, written as
// ZoneRecord writes them for a zone file.
func (e *env) publishDKIM(t testing.TB, keys ...store.DKIMKey) {
	t.Helper()
	for _, k := range keys {
		name, value, err := DNSRecord(k)
		if err != nil {
			t.Fatal(err)
		}
		e.dns.Add(ZoneRecord(name, value))
	}
}

// signed returns msg with the signatures s makes for domain before it.
func signed(t testing.TB, s *Signer, domain string, msg []byte) []byte {
	t.Helper()
	sigs, err := s.Sign(domain, msg)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) == 0 {
		t.Fatalf("Sign(%s) gave no signature", domain)
	}
	return append(sigs, msg...)
}

// verdicts returns the DKIM results of msg as "a=value" strings.
func verdicts(e *env, msg []byte) []string {
	var out []string
	for _, r := range e.c.CheckDKIM(context.Background(), msg) {
		v := r.Algorithm + "=" + string(r.Value)
		if r.Value != authres.ResultPass {
			v += " (" + r.Reason + ")"
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

func TestSignDual(t *testing.T) {
	e := newEnv(t, allRelaxed)
	ed, err := GenerateDKIMKey("example.org", "gannet202612e", AlgEd25519SHA256, 0)
	if err != nil {
		t.Fatal(err)
	}
	rsaK := rsaDKIMKey(t, "example.org", "gannet202612r")
	// An inactive key of the domain and a key of another domain sign nothing.
	old := rsaDKIMKey(t, "example.org", "old")
	old.Active = false
	other, err := GenerateDKIMKey("other.example", "s1", AlgEd25519SHA256, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner([]store.DKIMKey{ed, rsaK, old, other})
	if err != nil {
		t.Fatal(err)
	}
	e.publishDKIM(t, ed, rsaK, old, other)

	msg := []byte("From: Alice <alice@example.org>\r\n" +
		"To: bob@remote.example\r\n" +
		"Cc: carol@remote.example\r\n" +
		"Subject: dual signing\r\n" +
		"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n" +
		"Message-ID: <dual@example.org>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"List-Id: <news.example.org>\r\n" +
		"List-Unsubscribe: <mailto:leave@example.org>\r\n" +
		"X-Mailer: not signed\r\n" +
		"\r\n" +
		"Hello Bob,\r\n\r\nboth keys sign this.\r\n")
	sigs, err := s.Sign("Example.ORG.", msg)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(sigs, []byte("DKIM-Signature:")); n != 2 || !bytes.HasSuffix(sigs, []byte("\r\n")) {
		t.Fatalf("Sign gave %d fields, want 2, CRLF-terminated:\n%s", n, sigs)
	}
	good := append(slices.Clone(sigs), msg...)
	want := []string{"ed25519-sha256=pass", "rsa-sha256=pass"}
	if got := verdicts(e, good); !slices.Equal(got, want) {
		t.Fatalf("verified %v, want %v\n%s", got, want, good)
	}

	// What the signatures say: d=, s=, c=, and h= with From oversigned,
	// the List-* fields and no unsigned field.
	fields, _, err := splitMessage(sigs)
	if err != nil || len(fields) != 2 {
		t.Fatalf("signature fields: %d, %v", len(fields), err)
	}
	for _, f := range fields {
		tags, err := parseTags(string(f.value()))
		if err != nil {
			t.Fatalf("%v in %q", err, f.raw)
		}
		h := strings.ToLower(stripFWS(tags["h"]))
		if stripFWS(tags["d"]) != "example.org" || stripFWS(tags["c"]) != "relaxed/relaxed" ||
			!strings.HasPrefix(h, "from:from:to:cc:subject:date:message-id:") ||
			!strings.Contains(h, "list-id:list-unsubscribe") || strings.Contains(h, "x-mailer") ||
			strings.Contains(h, "reply-to") {
			t.Errorf("signature tags d=%q c=%q h=%q", tags["d"], tags["c"], h)
		}
		if sel := stripFWS(tags["s"]); sel != "gannet202612e" && sel != "gannet202612r" {
			t.Errorf("signed with selector %q", sel)
		}
	}

	// Changes after signing break both signatures; adding a field that is
	// not signed does not.
	for _, tt := range []struct {
		name, old, new string
		pass           bool
	}{
		{"body changed", "both keys sign this.", "both keys signed this.", false},
		{"subject changed", "Subject: dual signing", "Subject: dual signing!", false},
		{"list field changed", "List-Id: <news.example.org>", "List-Id: <other.example>", false},
		{"From added on top (oversigned)", "DKIM-Signature:", "From: Mallory <boss@example.org>\r\nDKIM-Signature:", false},
		{"From added below (oversigned)", "X-Mailer:", "From: Mallory <boss@example.org>\r\nX-Mailer:", false},
		{"unsigned field added", "X-Mailer:", "X-Spam: no\r\nX-Mailer:", true},
		{"refolded and respaced header (relaxed)", "Subject: dual signing", "Subject:  dual\r\n    signing ", true},
	} {
		m := bytes.Replace(good, []byte(tt.old), []byte(tt.new), 1)
		if bytes.Equal(m, good) {
			t.Fatalf("%s: no change made", tt.name)
		}
		got := verdicts(e, m)
		allPass := slices.Equal(got, want)
		if allPass != tt.pass || len(got) != 2 {
			t.Errorf("%s: verified %v, want pass=%v for both", tt.name, got, tt.pass)
		}
		for _, v := range got {
			if !tt.pass && !strings.Contains(v, "=fail") {
				t.Errorf("%s: %s, want fail", tt.name, v)
			}
		}
	}

	// Domains without an active key: no signature, no error.
	for _, d := range []string{"remote.example", "sub.example.org"} {
		if sigs, err := s.Sign(d, msg); sigs != nil || err != nil {
			t.Errorf("Sign(%s) = %q, %v; want nil, nil", d, sigs, err)
		}
	}
	onlyOld, err := NewSigner([]store.DKIMKey{old})
	if err != nil {
		t.Fatal(err)
	}
	if sigs, err := onlyOld.Sign("example.org", msg); sigs != nil || err != nil {
		t.Errorf("Sign with only an inactive key = %q, %v; want nil, nil", sigs, err)
	}
	// A header without the empty line after it is refused; an empty body
	// is fine.
	if _, err := s.Sign("example.org", []byte("From: a@example.org\r\nSubject: x\r\n")); err == nil {
		t.Error("signed a message without the empty line after the header")
	}
	if got := verdicts(e, signed(t, s, "example.org", []byte("From: a@example.org\r\n\r\n"))); !slices.Equal(got, want) {
		t.Errorf("empty body: verified %v", got)
	}
	// The other domain's key signs its own mail.
	if got := verdicts(e, signed(t, s, "other.example", msg)); !slices.Equal(got, []string{"ed25519-sha256=pass"}) {
		t.Errorf("other.example: verified %v", got)
	}
}

// TestOversignMatters shows that the "From added" cases above test the
// oversigning: a signature listing From only once survives a From field
// added on top.
func TestOversignMatters(t *testing.T) {
	e := newEnv(t, allRelaxed)
	k := newEd25519(t)
	e.publishKey(t, "s", "example.org", k)
	msg := message("alice@example.org", "body\r\n")
	once := dkimSign(t, msg, "example.org", "s", k, dkim.CanonicalizationRelaxed, dkim.CanonicalizationRelaxed)
	added := append([]byte("From: Mallory <boss@example.org>\r\n"), once...)
	if got := verdicts(e, added); !slices.Equal(got, []string{"ed25519-sha256=pass"}) {
		t.Errorf("From listed once, From added: verified %v, want pass", got)
	}
}

func TestDNSRecord(t *testing.T) {
	e := newEnv(t, allRelaxed)
	ed, err := GenerateDKIMKey("Example.org", "Sel", AlgEd25519SHA256, 0)
	if err != nil {
		t.Fatal(err)
	}
	name, value, err := DNSRecord(ed)
	if err != nil {
		t.Fatal(err)
	}
	if name != "sel._domainkey.example.org." {
		t.Errorf("name %q", name)
	}
	p, ok := strings.CutPrefix(value, "v=DKIM1; k=ed25519; p=")
	if !ok {
		t.Fatalf("Ed25519 record %q", value)
	}
	raw, err := base64.StdEncoding.DecodeString(p)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		t.Errorf("Ed25519 p= is %d bytes (%v), want the raw 32-byte key (RFC 8463 section 4.2)", len(raw), err)
	}

	rsaK := rsaDKIMKey(t, "example.org", "r")
	name, value, err = DNSRecord(rsaK)
	if err != nil {
		t.Fatal(err)
	}
	p, ok = strings.CutPrefix(value, "v=DKIM1; k=rsa; p=")
	if !ok || name != "r._domainkey.example.org." {
		t.Fatalf("RSA record %s %q", name, value)
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatalf("RSA p= is not a SubjectPublicKeyInfo: %v", err)
	}
	if !testRSAKey(t).PublicKey.Equal(pub.(*rsa.PublicKey)) {
		t.Error("RSA p= is not the key's public half")
	}

	// The zone-file form: strings of 255 bytes at most that join to the
	// value, and that a DNS server loads and a resolver joins again.
	line := ZoneRecord(name, value)
	rr, err := dns.NewRR(line)
	if err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	txt := rr.(*dns.TXT).Txt
	if len(txt) < 2 || strings.Join(txt, "") != value {
		t.Errorf("%q: strings %q, want %q split", line, txt, value)
	}
	for _, s := range txt {
		if len(s) > 255 {
			t.Errorf("string of %d bytes", len(s))
		}
	}
	e.dns.Add(line)
	got, err := e.r.LookupTXT(context.Background(), name)
	if err != nil || len(got) != 1 || got[0] != value {
		t.Errorf("LookupTXT(%s) = %q, %v", name, got, err)
	}

	// Quotes and backslashes are escaped, exact multiples split cleanly.
	long := strings.Repeat("a", 255) + `"\` + strings.Repeat("b", 253)
	rr, err = dns.NewRR(ZoneRecord("x.example.", long))
	if err != nil {
		t.Fatal(err)
	}
	// miekg/dns keeps the strings in their escaped presentation form.
	if txt := rr.(*dns.TXT).Txt; len(txt) != 2 || unescapeTXT(strings.Join(txt, "")) != long {
		t.Errorf("escaped strings %q", txt)
	}
}

func TestGenerateDKIMKey(t *testing.T) {
	k, err := GenerateDKIMKey("example.org", "r", AlgRSASHA256, 0)
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParsePKCS8PrivateKey(k.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := key.(*rsa.PrivateKey); !ok || r.N.BitLen() != DefaultRSABits {
		t.Errorf("default RSA key: %T", key)
	}
	if !k.Active || k.Created.IsZero() || time.Since(k.Created) > time.Hour || k.Algorithm != AlgRSASHA256 {
		t.Errorf("key %+v", k)
	}
	for _, tt := range []struct {
		sel, alg string
		bits     int
	}{
		{"r", AlgRSASHA256, 1024},
		{"r", AlgRSASHA256, 8192},
		{"r", "rsa-sha1", 0},
		{"bad_sel", AlgEd25519SHA256, 0},
	} {
		if _, err := GenerateDKIMKey("example.org", tt.sel, tt.alg, tt.bits); err == nil {
			t.Errorf("GenerateDKIMKey(%s, %s, %d) made a key", tt.sel, tt.alg, tt.bits)
		}
	}
}

func TestNewSignerRejects(t *testing.T) {
	ed, err := GenerateDKIMKey("example.org", "e", AlgEd25519SHA256, 0)
	if err != nil {
		t.Fatal(err)
	}
	mislabelled := ed
	mislabelled.Algorithm = AlgRSASHA256
	garbage := ed
	garbage.PrivateKey = []byte("not a key")
	for _, k := range []store.DKIMKey{mislabelled, garbage} {
		if _, err := NewSigner([]store.DKIMKey{k}); err == nil {
			t.Errorf("NewSigner took %+v", k)
		}
		if _, _, err := DNSRecord(k); err == nil {
			t.Errorf("DNSRecord took %+v", k)
		}
	}
	// A bad key that is not active is not parsed.
	garbage.Active = false
	if _, err := NewSigner([]store.DKIMKey{garbage}); err != nil {
		t.Errorf("NewSigner with an inactive bad key: %v", err)
	}
}

func TestCheckSelector(t *testing.T) {
	for s, ok := range map[string]bool{
		"gannet202612r": true, "2026.mail": true, "a-b": true, "A1": true,
		"": false, "-a": false, "a-": false, "a..b": false, "a_b": false, "a b": false,
		"é": false, strings.Repeat("a", 64): false,
	} {
		if err := CheckSelector(s); (err == nil) != ok {
			t.Errorf("CheckSelector(%q) = %v, want ok=%v", s, err, ok)
		}
	}
	if got := DefaultSelector(time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), AlgRSASHA256); got != "gannet202612r" {
		t.Errorf("DefaultSelector = %q", got)
	}
	if got := DefaultSelector(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), AlgEd25519SHA256); got != "gannet202701e" {
		t.Errorf("DefaultSelector = %q", got)
	}
}
