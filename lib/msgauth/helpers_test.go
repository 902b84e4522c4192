package msgauth

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"gannet/lib/config"
	"gannet/lib/dnstest"
)

// env is a Checker resolving names at a loopback DNS server of the test's.
type env struct {
	dns *dnstest.Server
	r   *Resolver
	c   *Checker
}

var allRelaxed = Policy{SPF: Relaxed, DKIM: Relaxed, DMARC: Relaxed, ARC: Relaxed, IPRev: Relaxed, DMARCEnforceReject: true}

func newEnv(t *testing.T, p Policy) *env {
	t.Helper()
	s := dnstest.New(t)
	r, err := NewResolver(config.DNS{Resolver: s.Addr(), Timeout: config.Duration{Duration: 2 * time.Second}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &env{dns: s, r: r, c: NewChecker(r, p)}
}

// txtRR writes a TXT record line, the value split into strings of 255
// bytes at most, quotes and backslashes escaped.
func txtRR(name, value string) string {
	var parts []string
	for len(value) > 0 {
		n := min(len(value), 255)
		v := strings.ReplaceAll(value[:n], `\`, `\\`)
		parts = append(parts, `"`+strings.ReplaceAll(v, `"`, `\"`)+`"`)
		value = value[n:]
	}
	return fmt.Sprintf("%s. 300 IN TXT %s", strings.TrimSuffix(name, "."), strings.Join(parts, " "))
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// testRSAKey returns a 2048-bit RSA key made once for the package's tests.
func testRSAKey(t testing.TB) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		var err error
		rsaKey, err = rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
	})
	return rsaKey
}

func newEd25519(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// keyRecord returns the DKIM key record publishing the public half of k.
func keyRecord(t testing.TB, k crypto.Signer) string {
	switch pub := k.Public().(type) {
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	}
	t.Fatalf("key type %T", k)
	return ""
}

// publishKey puts k's record at selector._domainkey.domain.
func (e *env) publishKey(t testing.TB, selector, domain string, k crypto.Signer) {
	e.dns.Add(txtRR(selector+"._domainkey."+domain, keyRecord(t, k)))
}

// message makes a plain message from the author address from.
func message(from, body string) []byte {
	return []byte("From: Someone <" + from + ">\r\n" +
		"To: rcpt@gannet.test\r\n" +
		"Subject: a test\r\n" +
		"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n" +
		"Message-ID: <test@gannet.test>\r\n" +
		"\r\n" + body)
}

// dkimSign signs msg with go-msgauth's signer.
func dkimSign(t testing.TB, msg []byte, domain, selector string, k crypto.Signer, hc, bc dkim.Canonicalization) []byte {
	t.Helper()
	var b bytes.Buffer
	err := dkim.Sign(&b, bytes.NewReader(msg), &dkim.SignOptions{
		Domain: domain, Selector: selector, Signer: k,
		HeaderCanonicalization: hc, BodyCanonicalization: bc,
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// algorithmOf returns the a= value for k.
func algorithmOf(k crypto.Signer) string {
	if _, ok := k.Public().(ed25519.PublicKey); ok {
		return "ed25519-sha256"
	}
	return "rsa-sha256"
}

// signDigest signs a SHA-256 digest as DKIM does with k.
func signDigest(t testing.TB, k crypto.Signer, digest []byte) string {
	t.Helper()
	opts := crypto.SignerOpts(crypto.SHA256)
	if _, ok := k.Public().(ed25519.PublicKey); ok {
		opts = crypto.Hash(0) // RFC 8463: Ed25519 over the digest
	}
	sig, err := k.Sign(rand.Reader, digest, opts)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// arcSeal adds an ARC set to msg, as an intermediary would (RFC 8617
// section 5.1): an ARC-Authentication-Results with results ar, an
// ARC-Message-Signature over From, To, Subject, Date and the body, and an
// ARC-Seal with chain validation status cv.
func arcSeal(t testing.TB, msg []byte, domain, selector string, k crypto.Signer, cv, ar string) []byte {
	t.Helper()
	fields, bodyAt, err := splitMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := parseARC(fields)
	if err != nil {
		t.Fatal(err)
	}
	i := len(chain) + 1
	a := algorithmOf(k)

	aar := fmt.Sprintf("ARC-Authentication-Results: i=%d; %s; %s\r\n", i, domain, ar)

	bh := base64.StdEncoding.EncodeToString(bodyHash(msg[bodyAt:], relaxed))
	ams := fmt.Sprintf("ARC-Message-Signature: i=%d; a=%s; c=relaxed/relaxed; d=%s; s=%s;\r\n"+
		"\tt=1700000000; h=From:To:Subject:Date; bh=%s;\r\n\tb=\r\n", i, a, domain, selector, bh)
	h := sha256.New()
	for _, raw := range pickHeaders(fields, []string{"From", "To", "Subject", "Date"}) {
		h.Write(canonHeader(raw, relaxed))
	}
	h.Write(bytes.TrimSuffix(canonHeader([]byte(ams), relaxed), []byte("\r\n")))
	ams = strings.TrimSuffix(ams, "\r\n") + signDigest(t, k, h.Sum(nil)) + "\r\n"

	as := fmt.Sprintf("ARC-Seal: i=%d; a=%s; t=1700000000; cv=%s;\r\n\td=%s; s=%s; b=\r\n", i, a, cv, domain, selector)
	sealed := append([]byte(as+ams+aar), msg...)
	fields, _, _ = splitMessage(sealed)
	chain, err = parseARC(fields)
	if err != nil {
		t.Fatal(err)
	}
	as = strings.TrimSuffix(as, "\r\n") + signDigest(t, k, sealHash(chain, i)) + "\r\n"
	return append([]byte(as+ams+aar), msg...)
}
