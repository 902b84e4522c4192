package msgauth

import (
	"bytes"
	"context"
	"errors"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
)

// DefaultMaxSignatures is how many DKIM signatures of a message are
// verified; the others are ignored.
const DefaultMaxSignatures = 5

var nameDKIM = []byte("DKIM-Signature")

// DKIMResult is the outcome of verifying one DKIM signature (RFC 6376).
type DKIMResult struct {
	// Value is pass, fail (the signature or body hash did not verify),
	// neutral, temperror (the key could not be fetched for now),
	// permerror (a malformed signature or key record, no key), or none
	// for a message without signatures (RFC 8601 section 2.7.1).
	Value authres.ResultValue
	// Reason says what went wrong.
	Reason string
	// Domain is the signing domain (d=), lower case; Identifier the
	// agent or user identifier (i=).
	Domain     string
	Identifier string
	// Selector is s=; Algorithm is a=.
	Selector  string
	Algorithm string
	// Signature is the start of b=, to tell signatures apart (header.b,
	// RFC 6008).
	Signature string
}

// CheckDKIM verifies the DKIM signatures of msg, the first MaxSignatures
// of them, in header order. A message without signatures gives one result
// with Value none.
func (c *Checker) CheckDKIM(ctx context.Context, msg []byte) []DKIMResult {
	fields, _, _ := splitMessage(msg)
	return c.checkDKIM(ctx, msg, fields)
}

func (c *Checker) checkDKIM(ctx context.Context, msg []byte, fields []field) []DKIMResult {
	// Our own reading of the signature fields, for s=, a= and b=.
	var sigs []tagList
	for _, f := range fields {
		if bytes.EqualFold(f.name, nameDKIM) {
			t, _ := parseTags(string(f.value()))
			sigs = append(sigs, t)
		}
	}
	if len(sigs) == 0 {
		return []DKIMResult{{Value: authres.ResultNone, Reason: "no signature"}}
	}
	max := c.MaxSignatures
	if max <= 0 {
		max = DefaultMaxSignatures
	}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			return c.resolver.LookupTXT(ctx, name)
		},
		MaxVerifications: max,
	})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		return []DKIMResult{{Value: authres.ResultPermError, Reason: err.Error()}}
	}
	out := make([]DKIMResult, 0, len(verifs))
	for i, v := range verifs {
		r := DKIMResult{
			Domain:     strings.ToLower(v.Domain),
			Identifier: v.Identifier,
		}
		switch {
		case v.Err == nil:
			r.Value = authres.ResultPass
		case dkim.IsTempFail(v.Err):
			r.Value, r.Reason = authres.ResultTempError, v.Err.Error()
		case dkim.IsPermFail(v.Err):
			r.Value, r.Reason = authres.ResultPermError, v.Err.Error()
		default:
			r.Value, r.Reason = authres.ResultFail, v.Err.Error()
		}
		if len(verifs) <= len(sigs) && sigs[i] != nil {
			t := sigs[i]
			r.Selector = stripFWS(t["s"])
			r.Algorithm = strings.ToLower(stripFWS(t["a"]))
			b := stripFWS(t["b"])
			r.Signature = b[:min(len(b), 12)]
		}
		r.Reason = strings.TrimPrefix(r.Reason, "dkim: ")
		out = append(out, r)
	}
	return out
}
