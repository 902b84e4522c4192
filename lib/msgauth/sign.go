package msgauth

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"golang.org/x/net/idna"

	"gannet/lib/store"
)

// DKIM signing algorithms, as a= names them (RFC 6376 section 3.3, RFC 8463
// section 3) and store.DKIMKey.Algorithm holds them.
const (
	AlgRSASHA256     = "rsa-sha256"
	AlgEd25519SHA256 = "ed25519-sha256"
)

// Bounds on RSA signing keys. RFC 8301 section 3.2: signers MUST use at
// least 1024 bits and SHOULD use 2048; verifiers must handle up to 4096.
// Keys are made with at least MinRSABits; older 1024-bit keys still sign.
const (
	MinRSABits     = 2048
	MaxRSABits     = 4096
	DefaultRSABits = 2048
	minRSASignBits = 1024
)

// signedHeaders are the header fields signed when the message has them
// (RFC 6376 section 5.4.1), each instance present; every field whose name
// starts with "List-" is signed as well. From is signed once more than it
// appears ("oversigned"), so that no From field can be added without
// breaking the signature (RFC 6376 section 8.15).
var signedHeaders = []string{
	"From", "Sender", "Reply-To", "To", "Cc", "Subject", "Date",
	"Message-ID", "In-Reply-To", "References",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding",
}

// signKey is one parsed key of a Signer.
type signKey struct {
	selector string
	signer   crypto.Signer
}

// Signer makes the DKIM signatures of outbound mail (RFC 6376) with the
// active keys of the local domains: relaxed/relaxed canonicalisation,
// SHA-256, one signature per key, so a domain with an RSA and an Ed25519
// key signs twice (RFC 8463 section 4). It is safe for concurrent use.
type Signer struct {
	keys map[string][]signKey // by lower-case A-label domain
}

// NewSigner parses the active keys among keys once, for many messages.
// Inactive keys are left out. A key that does not parse, whose type does
// not match its Algorithm, or an RSA key under 1024 bits is an error.
func NewSigner(keys []store.DKIMKey) (*Signer, error) {
	s := &Signer{keys: map[string][]signKey{}}
	for _, k := range keys {
		if !k.Active {
			continue
		}
		priv, err := parseKey(k)
		if err != nil {
			return nil, err
		}
		d := strings.ToLower(strings.TrimSuffix(k.Domain, "."))
		s.keys[d] = append(s.keys[d], signKey{selector: k.Selector, signer: priv})
	}
	return s, nil
}

// parseKey reads k's PKCS #8 private key and checks it against
// k.Algorithm.
func parseKey(k store.DKIMKey) (crypto.Signer, error) {
	key, err := x509.ParsePKCS8PrivateKey(k.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("dkim key %s._domainkey.%s: %w", k.Selector, k.Domain, err)
	}
	switch key := key.(type) {
	case *rsa.PrivateKey:
		if k.Algorithm != AlgRSASHA256 {
			break
		}
		if n := key.N.BitLen(); n < minRSASignBits {
			return nil, fmt.Errorf("dkim key %s._domainkey.%s: RSA key of %d bits, under %d (RFC 8301)", k.Selector, k.Domain, n, minRSASignBits)
		}
		return key, nil
	case ed25519.PrivateKey:
		if k.Algorithm == AlgEd25519SHA256 {
			return key, nil
		}
	default:
		return nil, fmt.Errorf("dkim key %s._domainkey.%s: unsupported key type %T", k.Selector, k.Domain, key)
	}
	return nil, fmt.Errorf("dkim key %s._domainkey.%s: a %T is not an %s key", k.Selector, k.Domain, key, k.Algorithm)
}

// Sign signs msg, a whole message in its wire form (CRLF line endings),
// for domain (d=), with every active key of the domain. It returns the
// DKIM-Signature header fields, each ending in CRLF, to put before the
// message, or nil when the domain has no active key. A message whose
// header section does not end with an empty line (RFC 5322 section 2.1)
// is an error.
func (s *Signer) Sign(domain string, msg []byte) ([]byte, error) {
	d, err := signingDomain(domain)
	if err != nil {
		return nil, err
	}
	keys := s.keys[d]
	if len(keys) == 0 {
		return nil, nil
	}
	fields, bodyAt, err := splitMessage(msg)
	if err != nil {
		return nil, fmt.Errorf("dkim sign: %w", err)
	}
	if bodyAt == len(msg) && !bytes.HasSuffix(msg, []byte("\n\r\n")) && !bytes.Equal(msg, []byte("\r\n")) {
		// go-msgauth, like other verifiers, wants the empty line.
		return nil, errors.New("dkim sign: the header section does not end with an empty line")
	}
	hkeys := headerKeys(fields)
	var out bytes.Buffer
	for _, k := range keys {
		ds, err := dkim.NewSigner(&dkim.SignOptions{
			Domain:   d,
			Selector: k.selector,
			Signer:   k.signer,
			Hash:     crypto.SHA256,
			// RFC 6376 section 3.4.2 and 3.4.4: relaxed survives the
			// header refolding and whitespace changes of relays.
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             hkeys,
		})
		if err == nil {
			_, err = ds.Write(msg)
			if cerr := ds.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return nil, fmt.Errorf("dkim sign with %s._domainkey.%s: %w", k.selector, d, err)
		}
		out.WriteString(ds.Signature())
	}
	return out.Bytes(), nil
}

// signingDomain gives domain as d= and the key map hold it: lower-case
// A-labels, without a final dot.
func signingDomain(domain string) (string, error) {
	d := strings.TrimSuffix(domain, ".")
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			a, err := idna.Lookup.ToASCII(d)
			if err != nil {
				return "", fmt.Errorf("dkim sign: domain %q: %w", domain, err)
			}
			d = a
			break
		}
	}
	if d == "" {
		return "", errors.New("dkim sign: empty domain")
	}
	return strings.ToLower(d), nil
}

// headerKeys lists the h= tag for a message with fields: each signed field
// as often as it appears, From once more (RFC 6376 section 5.4.2 counts
// fields from the bottom; a name listed more often than present signs the
// absence of further instances).
func headerKeys(fields []field) []string {
	count := map[string]int{}
	var lists []string // List-* names in order of first appearance
	for _, f := range fields {
		name := textproto.CanonicalMIMEHeaderKey(string(f.name))
		if strings.HasPrefix(name, "List-") && count[name] == 0 {
			lists = append(lists, name)
		}
		count[name]++
	}
	// CanonicalMIMEHeaderKey spells Message-ID and MIME-Version as
	// Message-Id and Mime-Version.
	canon := func(n string) string { return textproto.CanonicalMIMEHeaderKey(n) }
	var keys []string
	for _, n := range signedHeaders {
		c := count[canon(n)]
		if n == "From" {
			c++
		}
		for range c {
			keys = append(keys, n)
		}
	}
	for _, n := range lists {
		for range count[n] {
			keys = append(keys, n)
		}
	}
	return keys
}

// DNSRecord returns the DNS name and TXT value that publish k's public key
// (RFC 6376 section 3.6.1): "SELECTOR._domainkey.DOMAIN." and
// "v=DKIM1; k=rsa; p=..." with the SubjectPublicKeyInfo DER of an RSA key
// (as opendkim-genkey writes it), or "v=DKIM1; k=ed25519; p=..." with the
// raw 32-byte Ed25519 public key (RFC 8463 section 4.2). The value is one
// string; ZoneRecord splits it for a zone file.
func DNSRecord(k store.DKIMKey) (name, value string, err error) {
	priv, err := parseKey(k)
	if err != nil {
		return "", "", err
	}
	var p []byte
	kind := "rsa"
	switch pub := priv.Public().(type) {
	case *rsa.PublicKey:
		if p, err = x509.MarshalPKIXPublicKey(pub); err != nil {
			return "", "", fmt.Errorf("dkim key %s._domainkey.%s: %w", k.Selector, k.Domain, err)
		}
	case ed25519.PublicKey:
		kind, p = "ed25519", pub
	}
	name = strings.ToLower(k.Selector + "._domainkey." + strings.TrimSuffix(k.Domain, ".") + ".")
	return name, "v=DKIM1; k=" + kind + "; p=" + base64.StdEncoding.EncodeToString(p), nil
}

// ZoneRecord writes a TXT record as a zone-file line (RFC 1035 section
// 5.1): "NAME IN TXT "..." "..."", the value split into character-strings
// of at most 255 bytes (RFC 1035 section 3.3.14), which resolvers join
// again (RFC 6376 section 3.6.2.2). The line takes the zone's default TTL.
func ZoneRecord(name, value string) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteString(" IN TXT")
	for len(value) > 0 {
		n := min(len(value), 255)
		b.WriteString(` "`)
		for i := 0; i < n; i++ {
			if c := value[i]; c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(value[i])
		}
		b.WriteByte('"')
		value = value[n:]
	}
	return b.String()
}

// GenerateDKIMKey makes a new, active signing key for domain and selector:
// algorithm AlgRSASHA256 with bits bits (0: DefaultRSABits; MinRSABits to
// MaxRSABits), or AlgEd25519SHA256 (bits ignored).
func GenerateDKIMKey(domain, selector, algorithm string, bits int) (store.DKIMKey, error) {
	k := store.DKIMKey{Domain: domain, Selector: selector, Algorithm: algorithm, Active: true}
	if err := CheckSelector(selector); err != nil {
		return k, err
	}
	var priv any
	switch algorithm {
	case AlgRSASHA256:
		if bits == 0 {
			bits = DefaultRSABits
		}
		if bits < MinRSABits || bits > MaxRSABits {
			return k, fmt.Errorf("dkim: RSA key size %d: want %d to %d bits", bits, MinRSABits, MaxRSABits)
		}
		key, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			return k, fmt.Errorf("dkim: generate RSA key: %w", err)
		}
		priv = key
	case AlgEd25519SHA256:
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return k, fmt.Errorf("dkim: generate Ed25519 key: %w", err)
		}
		priv = key
	default:
		return k, fmt.Errorf("dkim: unknown algorithm %q: want %s or %s", algorithm, AlgRSASHA256, AlgEd25519SHA256)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return k, fmt.Errorf("dkim: %w", err)
	}
	k.PrivateKey = der
	k.Created = time.Now().UTC().Truncate(time.Millisecond)
	return k, nil
}

// CheckSelector checks that s is a selector as RFC 6376 section 3.1 has
// it: dot-separated labels of letters, digits and hyphens, a hyphen
// neither first nor last, 63 bytes a label at most.
func CheckSelector(s string) error {
	if s == "" || len(s) > 200 {
		return fmt.Errorf("dkim: selector %q: want 1 to 200 characters", s)
	}
	for _, label := range strings.Split(s, ".") {
		ok := label != "" && len(label) <= 63 && label[0] != '-' && label[len(label)-1] != '-'
		for i := 0; ok && i < len(label); i++ {
			c := label[i]
			ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
		}
		if !ok {
			return fmt.Errorf("dkim: selector %q: want labels of letters, digits and inner hyphens, separated by dots", s)
		}
	}
	return nil
}

// DefaultSelector is the selector given to a key made at t without one:
// "gannet" and the year and month, then "r" for RSA or "e" for Ed25519,
// as in gannet202612r. Rotating keys monthly or yearly then never reuses
// a selector still cached by verifiers.
func DefaultSelector(t time.Time, algorithm string) string {
	suffix := "r"
	if algorithm == AlgEd25519SHA256 {
		suffix = "e"
	}
	return "gannet" + t.UTC().Format("200601") + suffix
}
