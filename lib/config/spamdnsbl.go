package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// DNSBL is one [[spam.dnsbl]]: a DNS blocklist (lib/spam/dnsbl.go). The
// filter asks it about the message's client IP, sender domains, link
// domains, sender addresses or attachment hashes, by Type, and adds the tag
// of each Answer the list returns.
type DNSBL struct {
	// Name names the list in logs and in facts ("dnsbl.NAME"); required,
	// unique.
	Name string `toml:"name"`
	// Zone is the list's DNS zone, as in "zen.spamhaus.org".
	Zone string `toml:"zone"`
	// Type is what is looked up: "ip" (the SMTP client's address, octets
	// or nibbles reversed), "domain" (the registrable domains of the From,
	// Reply-To and envelope sender addresses), "url" (those of the links),
	// "email" (the sender addresses, hashed) or "hash" (the SHA-256 of each
	// attachment, as Spamhaus HBL's _file).
	Type string `toml:"type"`
	// Hash is how an email address is hashed for type "email": "sha1"
	// (default), "md5", "sha256" or "none" (the address as a name, its "@"
	// a dot). Type "hash" always uses SHA-256.
	Hash string `toml:"hash"`
	// Encoding writes the hash: "hex" (default for "email" with sha1 or
	// md5) or "base32" (RFC 4648, lower case, without padding, as Spamhaus
	// HBL asks; default for "hash" and for "email" with sha256). A SHA-256
	// in hex does not fit in a DNS label.
	Encoding string `toml:"encoding"`
	// Timeout bounds the list's lookups for one message (0 means 5s). A
	// list that does not answer in time adds no tag.
	Timeout Duration `toml:"timeout"`
	// Blocked are answers meaning the list refuses to answer (a public
	// resolver, a quota exceeded), as Spamhaus's 127.255.255.254: they add
	// no tag but NAME_BLOCKED with score 0, as SpamAssassin's
	// URIBL_BLOCKED. Empty means Spamhaus's 127.255.255.252, .254 and .255.
	Blocked []string `toml:"blocked"`
	// Answers map the list's answers to tags. An answer outside 127.0.0.0/8
	// is ignored (a resolver rewriting NXDOMAIN).
	Answers []DNSBLAnswer `toml:"answer"`
}

// DNSBLAnswer is one [[spam.dnsbl.answer]]: an answer of a blocklist and
// the tag it adds.
type DNSBLAnswer struct {
	// Code is the address answered, as in "127.0.0.2", or a range, as in
	// "127.0.0.10-127.0.0.11". "" means any answer in 127.0.0.0/8.
	Code string `toml:"code"`
	// Mask, when not 0, asks also that the answer's last octet have any of
	// these bits, for lists answering with a bitmask (URIBL's 2 black, 4
	// grey, 8 red). Code, Mask or both are given.
	Mask int `toml:"mask"`
	// Tag is the tag added, in upper case, as in "RCVD_IN_SBL".
	Tag string `toml:"tag"`
	// Score is the tag's score.
	Score float64 `toml:"score"`
}

// DNSBL types and encodings.
var (
	dnsblTypes     = []string{"ip", "domain", "url", "email", "hash"}
	dnsblHashes    = []string{"", "sha1", "md5", "sha256", "none"}
	dnsblEncodings = []string{"", "hex", "base32"}
)

// DefaultDNSBLBlocked are the answers of a list refusing to answer when
// DNSBL.Blocked is empty: Spamhaus's typing error in a DQS key, query
// through a public resolver, and excessive queries.
var DefaultDNSBLBlocked = []string{"127.255.255.252", "127.255.255.254", "127.255.255.255"}

// ParseCode parses an answer's Code: an address or a range "low-high".
func (a *DNSBLAnswer) ParseCode() (low, high netip.Addr, err error) {
	lo, hi, isRange := strings.Cut(a.Code, "-")
	if low, err = netip.ParseAddr(strings.TrimSpace(lo)); err != nil || !low.Is4() {
		return netip.Addr{}, netip.Addr{}, fmt.Errorf("%q: want an IPv4 address as in \"127.0.0.2\", or a range as in \"127.0.0.2-127.0.0.3\"", a.Code)
	}
	high = low
	if isRange {
		if high, err = netip.ParseAddr(strings.TrimSpace(hi)); err != nil || !high.Is4() || high.Less(low) {
			return netip.Addr{}, netip.Addr{}, fmt.Errorf("%q: want a range low-high of IPv4 addresses, as in \"127.0.0.2-127.0.0.3\"", a.Code)
		}
	}
	return low, high, nil
}

// defaultDNSBL returns the default blocklists: none. Most lists want a
// registration, a key (Spamhaus DQS) or queries from the operator's own
// resolver; contrib/gannet.toml shows how to add them.
func defaultDNSBL() []DNSBL {
	return nil
}

// validateDNSBL checks [[spam.dnsbl]].
func (c *Config) validateDNSBL(v *validator) {
	names := map[string]bool{}
	for i := range c.Spam.DNSBL {
		l := &c.Spam.DNSBL[i]
		key := indexKey("spam.dnsbl", i)
		switch {
		case l.Name == "":
			v.fail(key+".name", "required: a short name for logs, as in name = \"zen\"")
		case !isTagName(strings.ToUpper(l.Name)):
			v.fail(key+".name", "%q: use letters, digits, \"-\" and \"_\"", l.Name)
		case names[strings.ToLower(l.Name)]:
			v.fail(key+".name", "%q: a blocklist of that name is already defined", l.Name)
		}
		names[strings.ToLower(l.Name)] = true
		if l.Zone == "" {
			v.fail(key+".zone", "required: the list's DNS zone, as in zone = \"zen.spamhaus.org\"")
		} else if !isZone(strings.TrimSuffix(l.Zone, ".")) {
			v.fail(key+".zone", "%q: want a DNS name of two labels or more (letters, digits, \"-\" and \"_\"), as in \"zen.spamhaus.org\"", l.Zone)
		}
		v.oneOf(key+".type", l.Type, dnsblTypes...)
		v.oneOf(key+".hash", l.Hash, dnsblHashes...)
		v.oneOf(key+".encoding", l.Encoding, dnsblEncodings...)
		if l.Encoding == "hex" && (l.Type == "hash" || l.Type == "email" && l.Hash == "sha256") {
			v.fail(key+".encoding", "a SHA-256 in hex is 64 characters, longer than a DNS label (63): use \"base32\"")
		}
		v.nonNegative(key+".timeout", l.Timeout)
		if l.Timeout.Duration > time.Minute {
			v.fail(key+".timeout", "%s: too long (at most 1m): the message waits for it", l.Timeout)
		}
		for j, b := range l.Blocked {
			if a, err := netip.ParseAddr(b); err != nil || !a.Is4() {
				v.fail(indexKey(key+".blocked", j), "%q: want an IPv4 address, as in \"127.255.255.254\"", b)
			}
		}
		if len(l.Answers) == 0 {
			v.fail(key+".answer", "required: at least one [[spam.dnsbl.answer]] with code (or mask), tag and score")
		}
		for j := range l.Answers {
			a := &l.Answers[j]
			akey := indexKey(key+".answer", j)
			if a.Code == "" && a.Mask == 0 {
				v.fail(akey+".code", "required: the answer, as in code = \"127.0.0.2\" (or a bitmask, as in mask = 4)")
			}
			if a.Code != "" {
				if _, _, err := a.ParseCode(); err != nil {
					v.fail(akey+".code", "%v", err)
				}
			}
			if a.Mask < 0 || a.Mask > 255 {
				v.fail(akey+".mask", "%d: want 1 to 255 (bits of the answer's last octet), or 0 for none", a.Mask)
			}
			if !isTagName(a.Tag) {
				v.fail(akey+".tag", "%q: want a name in upper case, as in \"RCVD_IN_SBL\"", a.Tag)
			}
		}
	}
	c.validatePyzor(v)
}

// isZone reports whether s is a DNS zone a list can live under: two labels
// or more of letters, digits, "-" and "_" (as in Spamhaus DQS's
// "_email.KEY.hbl.dq.spamhaus.net"), at most 200 characters so that a
// query name fits.
func isZone(s string) bool {
	labels := strings.Split(s, ".")
	if len(s) > 200 || len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			if !isAlnum(l[i]) && l[i] != '-' && l[i] != '_' {
				return false
			}
		}
	}
	return true
}

// isTagName reports whether s is a tag name: upper-case letters, digits
// and "_", starting with a letter, at most 64 characters.
func isTagName(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Pyzor configures [spam.pyzor]: asking a Pyzor server how often a
// message's digest was reported as spam (lib/spam/pyzor.go).
type Pyzor struct {
	// Enabled asks the server about every message (default false: each
	// query sends the message's digest to a third party).
	Enabled bool `toml:"enabled"`
	// Server is the Pyzor server, host:port (default
	// "public.pyzor.org:24441").
	Server string `toml:"server"`
	// Timeout bounds one query (default 3s).
	Timeout Duration `toml:"timeout"`
	// Threshold is the report count from which PYZOR_CHECK is added
	// (default 5, SpamAssassin's pyzor_count_min).
	Threshold int `toml:"threshold"`
	// Score is PYZOR_CHECK's score (default 2).
	Score float64 `toml:"score"`
}

func defaultPyzor() Pyzor {
	return Pyzor{
		Server:    "public.pyzor.org:24441",
		Timeout:   Duration{3 * time.Second},
		Threshold: 5,
		Score:     2,
	}
}

// validatePyzor checks [spam.pyzor].
func (c *Config) validatePyzor(v *validator) {
	p := c.Spam.Pyzor
	if host, port, err := net.SplitHostPort(p.Server); err != nil || host == "" || port == "" {
		v.fail("spam.pyzor.server", "%q: want host:port, as in \"public.pyzor.org:24441\"", p.Server)
	}
	v.positive("spam.pyzor.timeout", p.Timeout)
	if p.Timeout.Duration > time.Minute {
		v.fail("spam.pyzor.timeout", "%s: too long (at most 1m): the message waits for it", p.Timeout)
	}
	v.atLeast("spam.pyzor.threshold", int64(p.Threshold), 1)
}
