package msgauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emersion/go-msgauth/authres"
)

// MaxARCSets is the most ARC sets a message may carry (RFC 8617 section
// 4.2.1); a longer chain fails.
const MaxARCSets = 50

// ARCResult is the outcome of ARC chain validation (RFC 8617 section 5.2).
type ARCResult struct {
	// Value is none (no ARC sets), pass or fail.
	Value authres.ResultValue
	// Reason says why the chain failed.
	Reason string
	// Instances is the number of ARC sets (N).
	Instances int
	// Sealer is the d= of the newest ARC-Seal: the last intermediary that
	// vouches for the chain.
	Sealer string
	// Temporary is set on a failure due to a key that could not be
	// fetched for now: the chain may pass when tried again.
	Temporary bool
	// ClientIP is the address of the client the message came from
	// (smtp.remote-ip in Authentication-Results).
	ClientIP netip.Addr
}

// arcSet is one ARC set: the three fields of one instance.
type arcSet struct {
	aar, ams, as *field
	amsTags      tagList
	asTags       tagList
}

// arcChain is the ARC sets of a message, index 0 for instance 1.
type arcChain []arcSet

var (
	nameAAR = []byte("ARC-Authentication-Results")
	nameAMS = []byte("ARC-Message-Signature")
	nameAS  = []byte("ARC-Seal")
)

// parseARC collects the ARC sets of a header and checks the chain's
// structure (RFC 8617 section 5.2 steps 1 and 3): one of each field per
// instance, instances 1 to N with no gap, N at most 50. It returns a nil
// chain when the message has no ARC field.
func parseARC(fields []field) (arcChain, error) {
	var sets []arcSet
	get := func(i int) (*arcSet, error) {
		if i < 1 || i > MaxARCSets {
			return nil, fmt.Errorf("instance %d out of range", i)
		}
		for len(sets) < i {
			sets = append(sets, arcSet{})
		}
		return &sets[i-1], nil
	}
	seen := 0
	for k := range fields {
		f := &fields[k]
		var kind int
		switch {
		case bytes.EqualFold(f.name, nameAAR):
			kind = 0
		case bytes.EqualFold(f.name, nameAMS):
			kind = 1
		case bytes.EqualFold(f.name, nameAS):
			kind = 2
		default:
			continue
		}
		if seen++; seen > 3*MaxARCSets {
			return nil, fmt.Errorf("more than %d ARC sets", MaxARCSets)
		}
		var inst int
		var tags tagList
		var err error
		if kind == 0 {
			inst, err = aarInstance(f.value())
		} else {
			tags, err = parseTags(string(f.value()))
			if err == nil {
				inst, err = parseInstance(tags["i"])
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		set, err := get(inst)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		slot := [...]**field{&set.aar, &set.ams, &set.as}[kind]
		if *slot != nil {
			return nil, fmt.Errorf("two %s fields for instance %d", f.name, inst)
		}
		*slot = f
		switch kind {
		case 1:
			set.amsTags = tags
		case 2:
			set.asTags = tags
		}
	}
	for i, s := range sets {
		if s.aar == nil || s.ams == nil || s.as == nil {
			return nil, fmt.Errorf("ARC set %d incomplete", i+1)
		}
	}
	return sets, nil
}

// parseInstance reads an i= value: 1 to 50.
func parseInstance(s string) (int, error) {
	s = strings.Trim(s, " \t\r\n")
	if s == "" || len(s) > 2 {
		return 0, fmt.Errorf("bad instance %q", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxARCSets || s[0] == '0' {
		return 0, fmt.Errorf("bad instance %q", s)
	}
	return n, nil
}

// aarInstance reads the instance of an ARC-Authentication-Results field:
// its value starts with "i=N;" (RFC 8617 section 4.1.1).
func aarInstance(v []byte) (int, error) {
	s := strings.TrimLeft(string(v), " \t\r\n")
	tag, rest, ok := strings.Cut(s, "=")
	if !ok || strings.TrimRight(tag, " \t\r\n") != "i" {
		return 0, errors.New("no i= tag first")
	}
	num, _, ok := strings.Cut(rest, ";")
	if !ok {
		return 0, errors.New("no authserv-id after i=")
	}
	return parseInstance(num)
}

// verifyARC validates the ARC chain of a message (RFC 8617 section 5.2).
func verifyARC(ctx context.Context, r *Resolver, fields []field, body []byte) *ARCResult {
	res := &ARCResult{Value: authres.ResultNone}
	chain, err := parseARC(fields)
	if err != nil {
		res.Value, res.Reason = authres.ResultFail, err.Error()
		return res
	}
	if len(chain) == 0 {
		return res
	}
	n := len(chain)
	res.Instances = n
	res.Sealer = strings.ToLower(stripFWS(chain[n-1].asTags["d"]))
	fail := func(err error) *ARCResult {
		res.Value, res.Reason = authres.ResultFail, err.Error()
		var se *sigError
		res.Temporary = errors.As(err, &se) && se.temporary
		return res
	}

	// Step 2: a sealer already found the chain broken.
	cvN := strings.ToLower(strings.Trim(chain[n-1].asTags["cv"], " \t\r\n"))
	if cvN == "fail" {
		return fail(fmt.Errorf("ARC-Seal %d says cv=fail", n))
	}
	// Step 3.3: cv=none for the first set, cv=pass for the others.
	for i, s := range chain {
		cv := strings.ToLower(strings.Trim(s.asTags["cv"], " \t\r\n"))
		want := "pass"
		if i == 0 {
			want = "none"
		}
		if cv != want {
			return fail(fmt.Errorf("ARC-Seal %d has cv=%s, want cv=%s", i+1, cv, want))
		}
	}
	// Step 4: the newest ARC-Message-Signature.
	if err := verifyMessageSignature(ctx, r, fields, *chain[n-1].ams, chain[n-1].amsTags, body); err != nil {
		return fail(fmt.Errorf("ARC-Message-Signature %d: %w", n, err))
	}
	// Step 7: every ARC-Seal, newest first.
	for i := n; i >= 1; i-- {
		if err := verifySeal(ctx, r, chain, i); err != nil {
			return fail(fmt.Errorf("ARC-Seal %d: %w", i, err))
		}
	}
	res.Value = authres.ResultPass
	return res
}

// verifySeal checks the ARC-Seal of instance i: its signature covers the
// ARC sets 1 to i, each as AAR, AMS, AS, in relaxed canonicalisation, the
// seal itself last without its b= value (RFC 8617 section 5.1.1).
func verifySeal(ctx context.Context, r *Resolver, chain arcChain, i int) error {
	s := chain[i-1]
	tags := s.asTags
	for _, t := range []string{"a", "b", "cv", "d", "s"} {
		if _, ok := tags[t]; !ok {
			return sigFail("no %s= tag", t)
		}
	}
	if _, ok := tags["h"]; ok {
		// Section 4.1.3: an ARC-Seal signs no other header fields.
		return sigFail("h= tag in an ARC-Seal")
	}
	keyAlgo, err := parseAlgorithm(tags["a"])
	if err != nil {
		return sigFail("%v", err)
	}
	b, err := base64.StdEncoding.DecodeString(stripFWS(tags["b"]))
	if err != nil {
		return sigFail("b= is not base64")
	}
	key, err := lookupKey(ctx, r, stripFWS(tags["d"]), stripFWS(tags["s"]), keyAlgo)
	if err != nil {
		ke := err.(*keyError)
		return &sigError{msg: ke.msg, temporary: ke.temporary}
	}
	if err := key.verify(sealHash(chain, i), b); err != nil {
		return sigFail("signature did not verify")
	}
	return nil
}

// sealHash returns the SHA-256 digest an ARC-Seal of instance i signs.
func sealHash(chain arcChain, i int) []byte {
	h := sha256.New()
	for k := 0; k < i; k++ {
		s := chain[k]
		h.Write(canonHeader(s.aar.raw, relaxed))
		h.Write(canonHeader(s.ams.raw, relaxed))
		if k < i-1 {
			h.Write(canonHeader(s.as.raw, relaxed))
		} else {
			h.Write(bytes.TrimSuffix(canonHeader(withoutSignature(s.as.raw), relaxed), []byte("\r\n")))
		}
	}
	return h.Sum(nil)
}
