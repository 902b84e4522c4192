package msgauth

import (
	"bytes"
	"strings"
	"unicode"

	"github.com/emersion/go-msgauth/authres"
)

// maxReason bounds the length of a reason in the header.
const maxReason = 200

// AuthenticationResults returns one Authentication-Results header field
// (RFC 8601) holding every result present, in the order spf, dkim (one per
// signature), dmarc, arc, iprev; authservID names this server (its host
// name). The field is folded, one result a line, and ends in CRLF.
//
// Values taken from the message or the SMTP session (domains, addresses)
// are written only when made of characters that cannot end or disguise a
// result, so that a crafted address cannot add a result of its own.
func (r *Results) AuthenticationResults(authservID string) string {
	var results []authres.Result
	if s := r.SPF; s != nil {
		params := map[string]string{"reason": reason(s.Reason)}
		if s.MailFrom != "" {
			params["smtp.mailfrom"] = safeAddress(s.MailFrom)
		} else {
			params["smtp.helo"] = safeValue(s.HELO)
		}
		results = append(results, &authres.GenericResult{Method: "spf", Value: s.Value, Params: params})
	}
	for _, d := range r.DKIM {
		results = append(results, &authres.GenericResult{Method: "dkim", Value: d.Value, Params: map[string]string{
			"reason":   reason(d.Reason),
			"header.d": safeValue(d.Domain),
			"header.i": safeAddress(d.Identifier),
			"header.s": safeValue(d.Selector),
			"header.a": safeValue(d.Algorithm),
			"header.b": safeValue(d.Signature),
		}})
	}
	if d := r.DMARC; d != nil {
		results = append(results, &authres.GenericResult{Method: "dmarc", Value: d.Value, Params: map[string]string{
			"reason":      reason(d.Reason),
			"header.from": safeValue(d.Domain),
		}})
	}
	if a := r.ARC; a != nil {
		params := map[string]string{"reason": reason(a.Reason)}
		if a.ClientIP.IsValid() {
			params["smtp.remote-ip"] = a.ClientIP.String()
		}
		results = append(results, &authres.GenericResult{Method: "arc", Value: a.Value, Params: params})
	}
	if i := r.IPRev; i != nil {
		params := map[string]string{"reason": reason(i.Reason)}
		if i.IP.IsValid() {
			params["policy.iprev"] = i.IP.String()
		}
		results = append(results, &authres.GenericResult{Method: "iprev", Value: i.Value, Params: params})
	}

	var b strings.Builder
	b.WriteString("Authentication-Results: ")
	b.WriteString(authservID)
	if len(results) == 0 {
		// RFC 8601 section 2.2: no method was applied.
		b.WriteString("; none\r\n")
		return b.String()
	}
	prefix := authservID + "; "
	for _, res := range results {
		// Format each result alone, to fold between them.
		one := strings.TrimPrefix(authres.Format(authservID, []authres.Result{res}), prefix)
		b.WriteString(";\r\n\t")
		b.WriteString(strings.TrimSpace(one))
	}
	b.WriteString("\r\n")
	return b.String()
}

// safeValue returns s when it holds only letters, digits and . - _ + /
// (domains, selectors, algorithms, the start of base64), else "" (left out).
func safeValue(s string) string {
	if len(s) > 255 {
		return ""
	}
	for _, c := range s {
		if !unicode.IsLetter(c) && !unicode.IsDigit(c) && !strings.ContainsRune(".-_+/", c) {
			return ""
		}
	}
	return s
}

// safeAddress returns an address when its local part and domain are safe
// values, else its domain alone when that is, else "".
func safeAddress(a string) string {
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return safeValue(a)
	}
	local, domain := a[:at], safeValue(a[at+1:])
	if domain == "" {
		return ""
	}
	if local == "" || safeValue(local) != "" {
		return a
	}
	return domain
}

// reason makes a reason fit for a quoted string: printable characters but
// for quotes, backslashes, parentheses and semicolons, at most 200 bytes.
func reason(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r < ' ' || r == 0x7f:
			return ' '
		case strings.ContainsRune("\"\\();", r):
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxReason {
		s = s[:maxReason]
	}
	return strings.ToValidUTF8(s, "")
}

var nameAuthResults = []byte("Authentication-Results")

// RemoveAuthenticationResults returns msg without the
// Authentication-Results fields that claim to come from authservID: an
// MTA removes them before adding its own, so that results forged by the
// sender are not taken for this server's (RFC 8601 section 5). msg is
// returned as is when it has none.
func RemoveAuthenticationResults(msg []byte, authservID string) []byte {
	fields, _, _ := splitMessage(msg)
	var drop []field
	for _, f := range fields {
		if bytes.EqualFold(f.name, nameAuthResults) && strings.EqualFold(authservIDOf(f.value()), authservID) {
			drop = append(drop, f)
		}
	}
	if len(drop) == 0 {
		return msg
	}
	out := make([]byte, 0, len(msg))
	pos := 0
	for _, f := range drop {
		out = append(out, msg[pos:f.off]...)
		pos = f.off + len(f.raw)
	}
	return append(out, msg[pos:]...)
}

// authservIDOf reads the authserv-id at the start of an
// Authentication-Results value: a token or quoted string, after comments
// and whitespace (RFC 8601 section 2.2).
func authservIDOf(v []byte) string {
	s := []byte(unfold(v))
	i := skipCFWS(s, 0)
	if i < len(s) && s[i] == '"' {
		var id []byte
		for i++; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			id = append(id, s[i])
		}
		return string(id)
	}
	start := i
	for i < len(s) && s[i] != ';' && s[i] != ' ' && s[i] != '\t' && s[i] != '(' {
		i++
	}
	return string(s[start:i])
}

// skipCFWS skips whitespace and (nested) comments from i.
func skipCFWS(s []byte, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == '\\' && depth > 0:
			i++
		case depth == 0 && c != ' ' && c != '\t':
			return i
		}
	}
	return len(s)
}
