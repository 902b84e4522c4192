package spam

import (
	"net/netip"
	"strings"
)

// maxReceivedWalk bounds the Received fields receivedClient reads.
const maxReceivedWalk = 20

// cgnat is the shared address space of RFC 6598, internal like RFC 1918's.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// isPublic reports whether ip is a public unicast address, one outside
// the networks a site uses for its own hosts: not loopback, private (RFC
// 1918, fc00::/7), link-local, shared (RFC 6598), unspecified or
// multicast. Only such an address is worth asking a blocklist about, or
// names the client that handed a message to this site.
func isPublic(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsValid() && ip.IsGlobalUnicast() && !ip.IsPrivate() && !cgnat.Contains(ip)
}

// relay is what a Received field's "from" clause says of the client.
type relay struct {
	ip   netip.Addr
	helo string
	// rdns is the name the receiving MTA found by reverse DNS; rdnsKnown
	// says whether the field tells (with rdns "" when there was none).
	rdns      string
	rdnsKnown bool
}

// receivedClient finds, in the Received fields of m, the client that
// handed the message to this site: what the topmost "from" clause with a
// public address says. Fields naming a private, loopback, link-local or
// shared (RFC 6598) address are this site's own hops (a content filter,
// fetchmail, an internal relay) and are passed over, as SpamAssassin
// passes over its trusted relays. ok is false when no field names a
// public address.
func receivedClient(m *Message) (relay, bool) {
	if m == nil || m.Parsed == nil {
		return relay{}, false
	}
	n := 0
	for _, f := range m.Parsed.Header {
		if !strings.EqualFold(f.Name, "Received") {
			continue
		}
		if n++; n > maxReceivedWalk {
			break
		}
		r, found := parseReceivedFrom(fieldValue(m.Raw, f))
		if !found {
			continue
		}
		ip := r.ip.Unmap()
		if !isPublic(ip) {
			continue // one of this site's own hops
		}
		r.ip = ip
		return r, true
	}
	return relay{}, false
}

// parseReceivedFrom reads the "from" clause of a Received field (RFC 5321
// section 4.4): the client's address, in brackets as Postfix, Sendmail and
// Exim write it ("from helo (rdns [192.0.2.1])", "from [192.0.2.1]
// (helo=x)") or in parentheses as qmail does ("from unknown (HELO x)
// (192.0.2.1)"), the HELO name, and the reverse name where the form puts
// one.
func parseReceivedFrom(v string) (r relay, ok bool) {
	if indexFold(v, "from ") != 0 {
		return relay{}, false
	}
	clause := v[len("from "):]
	if i := indexFold(clause, " by "); i >= 0 {
		clause = clause[:i]
	}
	ip, inParens, ok := firstAddr(clause)
	if !ok {
		return relay{}, false
	}
	r.ip = ip
	first, _, _ := strings.Cut(clause, " ")
	helo := strings.Trim(first, "[]()")
	exim, qmail := indexFold(clause, "helo="), indexFold(clause, "(helo ")
	switch {
	case exim >= 0: // "rdns ([ip] helo=x)", "[ip] (helo=x)"
		helo = clause[exim+len("helo="):]
		if j := strings.IndexAny(helo, ") "); j >= 0 {
			helo = helo[:j]
		}
		r.rdns, r.rdnsKnown = nameOrNone(first)
	case qmail >= 0: // "rdns (HELO x) (ip)", "unknown (HELO x) (ip)"
		helo, _, _ = strings.Cut(clause[qmail+len("(helo "):], ")")
		r.rdns, r.rdnsKnown = nameOrNone(first)
	case inParens >= 0: // Postfix, Sendmail: "helo (rdns [ip])", "helo (unknown [ip])"
		before := strings.Fields(clause[strings.LastIndexByte(clause[:inParens], '(')+1 : inParens])
		name := ""
		if len(before) > 0 {
			name = before[len(before)-1]
		}
		r.rdns, r.rdnsKnown = nameOrNone(name)
	}
	r.helo = strings.TrimSpace(helo)
	return r, true
}

// nameOrNone reads the reverse name an MTA wrote: a host name, or
// "unknown", a bracketed address or nothing for none.
func nameOrNone(w string) (string, bool) {
	if w == "" || strings.EqualFold(w, "unknown") || strings.HasPrefix(w, "[") {
		return "", true
	}
	if strings.IndexByte(w, '.') > 0 && isHostname(w) {
		return strings.ToLower(w), true
	}
	return "", false
}

// indexFold is strings.Index for an ASCII lower-case sub, ignoring the
// case of ASCII letters of s (byte offsets of s, whatever else it holds).
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for j < len(sub) {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				break
			}
			j++
		}
		if j == len(sub) {
			return i
		}
	}
	return -1
}

// firstAddr returns the client's address in a "from" clause, and the
// offset of its "[" when it was in brackets within parentheses (else -1).
// The address
// the receiving MTA saw is written in brackets inside the parentheses
// (Postfix, Sendmail: "helo (rdns [192.0.2.1])"; Exim: "rdns ([192.0.2.1]
// helo=x)"), or in brackets alone when there is no reverse name (Exim:
// "[192.0.2.1] (helo=x)"); a bracketed literal before the parentheses is
// otherwise only the HELO the client claimed. Failing brackets, the first
// address in parentheses or alone (qmail: "unknown (HELO x) (192.0.2.1)").
func firstAddr(s string) (ip netip.Addr, inParens int, ok bool) {
	var first netip.Addr
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			if depth > 0 {
				depth--
			}
		case '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				i = len(s)
				break
			}
			if ip, ok := parseAddrWord(s[i+1 : i+j]); ok {
				if depth > 0 {
					return ip, i, true
				}
				if !first.IsValid() {
					first = ip
				}
			}
			i += j
		}
	}
	if first.IsValid() {
		return first, -1, true
	}
	for _, w := range strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '(' || r == ')' || r == '[' || r == ']' || r == '\t'
	}) {
		if ip, ok := parseAddrWord(w); ok {
			return ip, -1, true
		}
	}
	return netip.Addr{}, -1, false
}

// parseAddrWord reads an IP address, with or without an "IPv6:" prefix.
func parseAddrWord(w string) (netip.Addr, bool) {
	if len(w) > 5 && strings.EqualFold(w[:5], "IPv6:") {
		w = w[5:]
	}
	if len(w) < 3 || !(w[0] >= '0' && w[0] <= '9' || strings.IndexByte(w, ':') >= 0) {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(w)
	return ip, err == nil
}

// ClientFromReceived sets m's client address, HELO and reverse name from
// its Received fields (receivedClient) when no SMTP session gave them:
// spamd, spamc and deliver see a message after an MTA received it. It
// reports whether it set them.
func (m *Message) ClientFromReceived() bool {
	if m.Envelope.ClientIP.IsValid() {
		return false
	}
	r, ok := receivedClient(m)
	if !ok {
		return false
	}
	m.Envelope.ClientIP = r.ip
	if m.Envelope.HELO == "" {
		m.Envelope.HELO = r.helo
	}
	m.Envelope.RDNS, m.Envelope.NoRDNS = r.rdns, r.rdnsKnown && r.rdns == ""
	return true
}
