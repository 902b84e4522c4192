package msgauth

// The DKIM signature machinery ARC signatures share (RFC 8617 section 4.1
// defines the AMS and AS with RFC 6376's tags, canonicalisation and keys).
// go-msgauth/dkim keeps its own unexported, and it cannot verify an AMS by
// renaming it to DKIM-Signature: the field's name is part of the signed
// data, an AMS has no v= tag, and its i= is an instance number, not an
// identity.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Bounds on signatures and keys.
const (
	maxTags       = 64
	minRSABits    = 1024 // RFC 8301 section 3.2
	maxRSABits    = 8192
	maxHeaderKeys = 100 // names in h=
)

// tagList is a parsed tag=value list (RFC 6376 section 3.2).
type tagList map[string]string

var errTagSyntax = errors.New("malformed tag list")

// parseTags reads a tag list: tag-spec *(";" tag-spec) [";"], each
// [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]. Whitespace inside values
// is kept (b= and bh= values strip it before decoding). A tag given twice
// is an error (section 3.2: "Tags with duplicate names MUST NOT occur").
func parseTags(s string) (tagList, error) {
	tags := tagList{}
	for spec := range strings.SplitSeq(s, ";") {
		if strings.TrimSpace(spec) == "" {
			continue // the trailing ";", or an empty spec some signers leave
		}
		name, value, ok := strings.Cut(spec, "=")
		if !ok {
			return nil, errTagSyntax
		}
		name = strings.Trim(name, " \t\r\n")
		if !isTagName(name) {
			return nil, errTagSyntax
		}
		if _, dup := tags[name]; dup {
			return nil, fmt.Errorf("tag %s= given twice", name)
		}
		if len(tags) == maxTags {
			return nil, errors.New("too many tags")
		}
		tags[name] = strings.Trim(value, " \t\r\n")
	}
	return tags, nil
}

// isTagName checks tag-name = ALPHA *ALNUMPUNC.
func isTagName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isAlpha(s[i]) && !isDigit(s[i]) && s[i] != '_' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// stripFWS removes all whitespace, as base64 values and tag lists need.
func stripFWS(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

// canon is a canonicalisation algorithm (RFC 6376 section 3.4).
type canon bool

const (
	simple  canon = false
	relaxed canon = true
)

// parseCanon reads c= ("header/body"; simple when missing).
func parseCanon(s string) (header, body canon, err error) {
	get := func(s string) (canon, error) {
		switch s {
		case "", "simple":
			return simple, nil
		case "relaxed":
			return relaxed, nil
		}
		return simple, fmt.Errorf("unknown canonicalization %q", s)
	}
	h, b, _ := strings.Cut(stripFWS(s), "/")
	if header, err = get(h); err != nil {
		return
	}
	body, err = get(b)
	return
}

// canonHeader returns a header field canonicalised (RFC 6376 section 3.4.1
// simple, 3.4.2 relaxed), ending in CRLF.
func canonHeader(raw []byte, c canon) []byte {
	if c == simple {
		// Unchanged, but for lines ending in a bare LF, which were CRLF
		// when signed, and a last line without its line ending.
		out := crlf(raw)
		if !bytes.HasSuffix(out, []byte("\r\n")) {
			out = append(out[:len(out):len(out)], '\r', '\n')
		}
		return out
	}
	colon := bytes.IndexByte(raw, ':')
	name := bytes.TrimRight(raw[:colon], " \t")
	out := make([]byte, 0, len(raw)+2)
	out = append(out, bytes.ToLower(name)...)
	out = append(out, ':')
	out = append(out, relaxedValue(raw[colon+1:])...)
	return append(out, '\r', '\n')
}

// relaxedValue unfolds v, reduces each run of whitespace to one space and
// trims both ends (RFC 6376 section 3.4.2).
func relaxedValue(v []byte) []byte {
	out := make([]byte, 0, len(v))
	space := false
	for _, c := range v {
		switch c {
		case '\r', '\n':
			continue
		case ' ', '\t':
			space = true
			continue
		}
		if space && len(out) > 0 {
			out = append(out, ' ')
		}
		space = false
		out = append(out, c)
	}
	return out
}

// crlf turns bare LF line endings into CRLF.
func crlf(b []byte) []byte {
	if !bytes.Contains(b, []byte("\n")) || bytes.Count(b, []byte("\n")) == bytes.Count(b, []byte("\r\n")) {
		return b
	}
	out := make([]byte, 0, len(b)+8)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// bodyHash returns the SHA-256 hash of body canonicalised (RFC 6376
// sections 3.4.3 and 3.4.4).
func bodyHash(body []byte, c canon) []byte {
	h := sha256.New()
	var pendingBlank int // empty lines held back until a non-empty one
	nonEmpty := false
	for pos := 0; pos < len(body); {
		end := lineEnd(body, pos)
		line := body[pos:end]
		pos = end
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if c == relaxed {
			line = relaxedLine(line)
		}
		if len(line) == 0 {
			pendingBlank++
			continue
		}
		for ; pendingBlank > 0; pendingBlank-- {
			h.Write([]byte("\r\n"))
		}
		h.Write(line)
		h.Write([]byte("\r\n"))
		nonEmpty = true
	}
	if !nonEmpty && c == simple {
		// Section 3.4.3: an empty body is one CRLF.
		h.Write([]byte("\r\n"))
	}
	return h.Sum(nil)
}

// relaxedLine reduces whitespace runs within a body line to one space and
// removes it at the end of the line (RFC 6376 section 3.4.4).
func relaxedLine(line []byte) []byte {
	out := make([]byte, 0, len(line))
	space := false
	for _, c := range line {
		if c == ' ' || c == '\t' {
			space = true
			continue
		}
		if space {
			out = append(out, ' ')
		}
		space = false
		out = append(out, c)
	}
	return out
}

// withoutSignature returns a signature field with the value of its b= tag
// emptied (RFC 6376 section 3.7), everything else as written.
func withoutSignature(raw []byte) []byte {
	colon := bytes.IndexByte(raw, ':')
	for start := colon + 1; start < len(raw); {
		end := bytes.IndexByte(raw[start:], ';')
		if end < 0 {
			end = len(raw)
		} else {
			end += start
		}
		spec := raw[start:end]
		if eq := bytes.IndexByte(spec, '='); eq >= 0 && string(bytes.Trim(spec[:eq], " \t\r\n")) == "b" {
			valueStart := start + eq + 1
			valueEnd := end
			if end == len(raw) {
				// The last tag: keep the field's line ending.
				valueEnd = len(bytes.TrimRight(raw, "\r\n"))
			}
			out := make([]byte, 0, len(raw))
			out = append(out, raw[:valueStart]...)
			return append(out, raw[valueEnd:]...)
		}
		start = end + 1
	}
	return raw
}

// publicKey is a key from a DKIM key record (RFC 6376 section 3.6.1).
type publicKey struct {
	rsa     *rsa.PublicKey
	ed25519 ed25519.PublicKey
}

// keyError is a failure to get a usable key; temporary for DNS trouble.
type keyError struct {
	msg       string
	temporary bool
}

func (e *keyError) Error() string { return e.msg }

// lookupKey fetches and parses the key of selector s in domain d for the
// algorithm keyAlgo ("rsa", "ed25519").
func lookupKey(ctx context.Context, r *Resolver, d, s, keyAlgo string) (*publicKey, error) {
	if !isDomainName(d) || !isDomainName(s) {
		return nil, &keyError{msg: "invalid d= or s="}
	}
	name := s + "._domainkey." + d
	txts, err := r.LookupTXT(ctx, name)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsTemporary {
			return nil, &keyError{msg: "key unavailable: " + err.Error(), temporary: true}
		}
		return nil, &keyError{msg: "no key at " + name}
	}
	if len(txts) != 1 {
		// RFC 6376 section 3.6.2.2: several records give undefined results.
		return nil, &keyError{msg: fmt.Sprintf("%d key records at %s", len(txts), name)}
	}
	k, err := parseKeyRecord(txts[0], keyAlgo)
	if err != nil {
		return nil, &keyError{msg: "key record at " + name + ": " + err.Error()}
	}
	return k, nil
}

// parseKeyRecord reads a DKIM key record and checks it may sign mail with
// keyAlgo and SHA-256.
func parseKeyRecord(txt, keyAlgo string) (*publicKey, error) {
	tags, err := parseTags(txt)
	if err != nil {
		return nil, err
	}
	if v, ok := tags["v"]; ok && v != "DKIM1" {
		return nil, errors.New("not a DKIM1 key")
	}
	if h, ok := tags["h"]; ok && !hasItem(h, "sha256") {
		return nil, errors.New("key not for sha256")
	}
	if s, ok := tags["s"]; ok && !hasItem(s, "*") && !hasItem(s, "email") {
		return nil, errors.New("key not for email")
	}
	k := tags["k"]
	if k == "" {
		k = "rsa"
	}
	if k != keyAlgo {
		return nil, fmt.Errorf("key type %q, signature %q", k, keyAlgo)
	}
	p, ok := tags["p"]
	if !ok {
		return nil, errors.New("no p=")
	}
	p = stripFWS(p)
	if p == "" {
		return nil, errors.New("key revoked")
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return nil, errors.New("p= is not base64")
	}
	switch k {
	case "rsa":
		var pub *rsa.PublicKey
		if key, err := x509.ParsePKIXPublicKey(der); err == nil {
			pub, _ = key.(*rsa.PublicKey)
		} else if key, err := x509.ParsePKCS1PublicKey(der); err == nil {
			pub = key
		}
		if pub == nil {
			return nil, errors.New("p= is not an RSA public key")
		}
		if n := pub.N.BitLen(); n < minRSABits || n > maxRSABits {
			return nil, fmt.Errorf("RSA key of %d bits", n)
		}
		return &publicKey{rsa: pub}, nil
	case "ed25519":
		// RFC 8463 section 4.2: the raw 32-byte key.
		if len(der) != ed25519.PublicKeySize {
			return nil, errors.New("p= is not an Ed25519 public key")
		}
		return &publicKey{ed25519: ed25519.PublicKey(der)}, nil
	}
	return nil, fmt.Errorf("unknown key type %q", k)
}

// hasItem reports whether a colon-separated list holds item.
func hasItem(list, item string) bool {
	for it := range strings.SplitSeq(list, ":") {
		if strings.EqualFold(stripFWS(it), item) {
			return true
		}
	}
	return false
}

// parseAlgorithm reads a= and returns the key algorithm; only SHA-256 is
// accepted (RFC 8301 section 3.1 forbids SHA-1).
func parseAlgorithm(a string) (string, error) {
	switch strings.ToLower(stripFWS(a)) {
	case "rsa-sha256":
		return "rsa", nil
	case "ed25519-sha256":
		return "ed25519", nil
	}
	return "", fmt.Errorf("unsupported algorithm %q", a)
}

// verify checks sig over the SHA-256 digest hashed.
func (k *publicKey) verify(hashed, sig []byte) error {
	if k.rsa != nil {
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, hashed, sig)
	}
	// RFC 8463 section 3: Ed25519 signs the SHA-256 digest.
	if !ed25519.Verify(k.ed25519, hashed, sig) {
		return errors.New("ed25519: invalid signature")
	}
	return nil
}

// isDomainName checks the syntax of a DNS name: dot-separated labels of
// letters, digits, hyphens and underscores (selectors use them), each 1 to
// 63 long, 253 in all; non-ASCII (U-labels) is let through for IDNA.
func isDomainName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !isAlpha(c) && !isDigit(c) && c != '-' && c != '_' && c < 0x80 {
				return false
			}
		}
	}
	return true
}

// sigError is why a signature did not verify; temporary when a key could
// not be fetched for now.
type sigError struct {
	msg       string
	temporary bool
}

func (e *sigError) Error() string { return e.msg }

func sigFail(format string, args ...any) error {
	return &sigError{msg: fmt.Sprintf(format, args...)}
}

// pickHeaders returns the fields h= names, in its order, each name taking
// the last field of that name not taken yet (RFC 6376 section 5.4.2); a
// name with no field left contributes nothing.
func pickHeaders(fields []field, names []string) [][]byte {
	used := make([]bool, len(fields))
	var out [][]byte
	for _, name := range names {
		for i := len(fields) - 1; i >= 0; i-- {
			if !used[i] && strings.EqualFold(string(fields[i].name), name) {
				used[i] = true
				out = append(out, fields[i].raw)
				break
			}
		}
	}
	return out
}

// verifyMessageSignature checks a DKIM-Signature or ARC-Message-Signature
// field: the body hash, then the signature over the fields h= names and
// the signature field itself (RFC 6376 sections 3.7 and 6.1.3; RFC 8617
// section 4.1.2 for the AMS). body is the message body as received.
func verifyMessageSignature(ctx context.Context, r *Resolver, fields []field, sig field, tags tagList, body []byte) error {
	for _, t := range []string{"a", "b", "bh", "d", "h", "s"} {
		if _, ok := tags[t]; !ok {
			return sigFail("no %s= tag", t)
		}
	}
	keyAlgo, err := parseAlgorithm(tags["a"])
	if err != nil {
		return sigFail("%v", err)
	}
	hc, bc, err := parseCanon(tags["c"])
	if err != nil {
		return sigFail("%v", err)
	}
	if _, ok := tags["l"]; ok {
		// A body length limit lets anyone append to the body.
		return sigFail("l= tag not accepted")
	}
	bh, err := base64.StdEncoding.DecodeString(stripFWS(tags["bh"]))
	if err != nil {
		return sigFail("bh= is not base64")
	}
	b, err := base64.StdEncoding.DecodeString(stripFWS(tags["b"]))
	if err != nil {
		return sigFail("b= is not base64")
	}
	names := strings.Split(stripFWS(tags["h"]), ":")
	if len(names) > maxHeaderKeys {
		return sigFail("h= names more than %d fields", maxHeaderKeys)
	}
	d, s := stripFWS(tags["d"]), stripFWS(tags["s"])

	if !bytes.Equal(bodyHash(body, bc), bh) {
		return sigFail("body hash did not verify")
	}
	key, err := lookupKey(ctx, r, d, s, keyAlgo)
	if err != nil {
		ke := err.(*keyError)
		return &sigError{msg: ke.msg, temporary: ke.temporary}
	}
	h := sha256.New()
	for _, raw := range pickHeaders(fields, names) {
		h.Write(canonHeader(raw, hc))
	}
	h.Write(bytes.TrimSuffix(canonHeader(withoutSignature(sig.raw), hc), []byte("\r\n")))
	if err := key.verify(h.Sum(nil), b); err != nil {
		return sigFail("signature did not verify")
	}
	return nil
}
