package msgauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// The example of RFC 6376 section 3.4.5.
const rfcExample = "A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n"

func TestCanonicalizationRFC6376Example(t *testing.T) {
	msg := []byte(rfcExample)
	fields, bodyAt, err := splitMessage(msg)
	if err != nil || len(fields) != 2 {
		t.Fatalf("splitMessage: %d fields, %v", len(fields), err)
	}
	var relaxedHeader, simpleHeader []byte
	for _, f := range fields {
		relaxedHeader = append(relaxedHeader, canonHeader(f.raw, relaxed)...)
		simpleHeader = append(simpleHeader, canonHeader(f.raw, simple)...)
	}
	if got, want := string(relaxedHeader), "a:X\r\nb:Y Z\r\n"; got != want {
		t.Errorf("relaxed header = %q, want %q", got, want)
	}
	if got, want := string(simpleHeader), "A: X\r\nB : Y\t\r\n\tZ  \r\n"; got != want {
		t.Errorf("simple header = %q, want %q", got, want)
	}
	body := msg[bodyAt:]
	for _, tt := range []struct {
		c    canon
		want string
	}{
		{relaxed, " C\r\nD E\r\n"},
		{simple, " C \r\nD \t E\r\n"},
	} {
		want := sha256.Sum256([]byte(tt.want))
		if got := bodyHash(body, tt.c); !bytes.Equal(got, want[:]) {
			t.Errorf("body hash (relaxed %v) is not that of %q", tt.c, tt.want)
		}
	}
}

func TestBodyHashEdges(t *testing.T) {
	tests := []struct {
		body string
		c    canon
		want string
	}{
		{"", simple, "\r\n"},
		{"", relaxed, ""},
		{"\r\n\r\n", simple, "\r\n"},
		{"\r\n \r\n", relaxed, ""},
		{"abc", simple, "abc\r\n"},
		{"abc", relaxed, "abc\r\n"},
		{"a  b \t\r\n\r\nc\r\n\r\n", relaxed, "a b\r\n\r\nc\r\n"},
		{"bare\nlf\n", simple, "bare\r\nlf\r\n"},
	}
	for _, tt := range tests {
		want := sha256.Sum256([]byte(tt.want))
		if got := bodyHash([]byte(tt.body), tt.c); !bytes.Equal(got, want[:]) {
			t.Errorf("bodyHash(%q, relaxed %v) is not that of %q", tt.body, tt.c, tt.want)
		}
	}
}

func TestWithoutSignature(t *testing.T) {
	tests := []struct{ in, want string }{
		{"X: a=1; b=abc; bh=xyz\r\n", "X: a=1; b=; bh=xyz\r\n"},
		{"X: a=1; bh=xb=; b=ab\r\n\tcd\r\n", "X: a=1; bh=xb=; b=\r\n"},
		{"X: b = abc ;c=d\r\n", "X: b =;c=d\r\n"},
		{"X: a=1\r\n", "X: a=1\r\n"},
	}
	for _, tt := range tests {
		if got := string(withoutSignature([]byte(tt.in))); got != tt.want {
			t.Errorf("withoutSignature(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseTags(t *testing.T) {
	tags, err := parseTags(" v=1; a = rsa-sha256 ;\r\n\tb=ab\r\n cd; h=From : To;")
	if err != nil || tags["v"] != "1" || tags["a"] != "rsa-sha256" || tags["b"] != "ab\r\n cd" || tags["h"] != "From : To" {
		t.Errorf("parseTags = %q, %v", tags, err)
	}
	for _, bad := range []string{"a=1; a=2", "=1", "1a=2", "a", "a-b=1"} {
		if _, err := parseTags(bad); err == nil {
			t.Errorf("parseTags(%q) accepted", bad)
		}
	}
}

// TestVerifierAgreesWithGoMsgauth checks our canonicalisation and
// signature code, which ARC uses, against DKIM signatures made by
// go-msgauth, in every combination of canonicalisations and both key
// types.
func TestVerifierAgreesWithGoMsgauth(t *testing.T) {
	e := newEnv(t, allRelaxed)
	keys := map[string]crypto.Signer{"rsa": testRSAKey(t), "ed": newEd25519(t)}
	for sel, k := range keys {
		e.publishKey(t, sel, "example.test", k)
	}
	msg := []byte("From: A <a@example.test>\r\nTo:  b@example.test \r\nSubject: Hello\r\n\tfolded  line\r\n" +
		"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nMessage-ID: <x@example.test>\r\n\r\n" +
		"Body  with \t spaces  \r\n\r\nand lines\r\n\r\n\r\n")
	cans := []dkim.Canonicalization{dkim.CanonicalizationSimple, dkim.CanonicalizationRelaxed}
	for sel, k := range keys {
		for _, hc := range cans {
			for _, bc := range cans {
				signed := dkimSign(t, msg, "example.test", sel, k, hc, bc)
				fields, bodyAt, err := splitMessage(signed)
				if err != nil {
					t.Fatal(err)
				}
				sig := fields[0]
				tags, err := parseTags(string(sig.value()))
				if err != nil {
					t.Fatal(err)
				}
				if err := verifyMessageSignature(context.Background(), e.r, fields, sig, tags, signed[bodyAt:]); err != nil {
					t.Errorf("%s %s/%s: %v", sel, hc, bc, err)
				}
				// And a change where the canonicalisation does not allow one.
				tampered := bytes.Replace(signed, []byte("Hello"), []byte("Hullo"), 1)
				fields, bodyAt, _ = splitMessage(tampered)
				if err := verifyMessageSignature(context.Background(), e.r, fields, fields[0], tags, tampered[bodyAt:]); err == nil {
					t.Errorf("%s %s/%s: a changed subject verifies", sel, hc, bc)
				}
			}
		}
	}
}

func TestParseKeyRecord(t *testing.T) {
	k := newEd25519(t)
	good := keyRecord(t, k)
	if _, err := parseKeyRecord(good, "ed25519"); err != nil {
		t.Errorf("parseKeyRecord(%q): %v", good, err)
	}
	p := good[strings.Index(good, "p="):]
	for _, tt := range []struct{ rec, algo string }{
		{good, "rsa"}, // wrong key type
		{"v=DKIM2; k=ed25519; " + p, "ed25519"},
		{"k=ed25519; h=sha1; " + p, "ed25519"},
		{"k=ed25519; s=other; " + p, "ed25519"},
		{"k=ed25519; p=", "ed25519"}, // revoked
		{"k=ed25519; p=!!!", "ed25519"},
		{"k=ed25519; p=AAAA", "ed25519"},
		{"k=rsa; p=AAAA", "rsa"},
	} {
		if _, err := parseKeyRecord(tt.rec, tt.algo); err == nil {
			t.Errorf("parseKeyRecord(%q, %s) accepted", tt.rec, tt.algo)
		}
	}
}
