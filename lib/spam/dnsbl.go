package spam

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/idna"

	"gannet/lib/cache"
	"gannet/lib/config"
	"gannet/lib/message"
	"gannet/lib/msgauth"
)

// Bounds of the blocklist checks.
const (
	// dnsblMaxItems is the most names one list is asked about for one
	// message (SpamAssassin's uridnsbl_max_domains is 20).
	dnsblMaxItems = 20
	// dnsblMaxAttachments is the most attachments hashed for a "hash" list,
	// and dnsblMaxAttachmentSize the largest hashed.
	dnsblMaxAttachments    = 10
	dnsblMaxAttachmentSize = 32 << 20
	// dnsblParallel bounds the lookups in flight for one message.
	dnsblParallel = 16
	// dnsblDefaultTimeout is a list's time for one message when the
	// configuration gives none.
	dnsblDefaultTimeout = 5 * time.Second
	// dnsblCacheSize, dnsblMaxTTL and dnsblNegativeTTL size the answer
	// cache: an answer is kept for its TTL, at most an hour; "not listed"
	// for five minutes.
	dnsblCacheSize   = 20000
	dnsblMaxTTL      = time.Hour
	dnsblNegativeTTL = 5 * time.Minute
)

func init() {
	register("dnsbl", 30, false, buildDNSBL)
}

// dnsblChecker asks the configured DNS blocklists about a message.
type dnsblChecker struct {
	lists    []*dnsbl
	resolver *msgauth.Resolver
	cache    *cache.Cache[string, dnsblAnswer]
	now      func() time.Time
	log      *slog.Logger
}

// dnsbl is one configured list, its answers parsed.
type dnsbl struct {
	config.DNSBL
	zone    string // lower case, without the final dot
	timeout time.Duration
	blocked []netip.Addr
	answers []dnsblMatch
	newHash func() hash.Hash // for email and hash lists; nil for "none"
	base32  bool

	// lastWarn is when a refusal was last logged (Unix nanoseconds): a
	// list refusing every query would otherwise log for every message.
	lastWarn atomic.Int64
}

// dnsblWarnEvery spaces the warnings about a list refusing queries.
const dnsblWarnEvery = 10 * time.Minute

type dnsblMatch struct {
	low, high netip.Addr // invalid when any 127/8 answer will do
	mask      byte
	tag       string
	score     float64
}

// dnsblAnswer is a cached outcome of one query: the addresses answered,
// none for "not listed".
type dnsblAnswer struct {
	addrs   []netip.Addr
	expires time.Time
}

func buildDNSBL(ctx context.Context, d Deps) (Checker, error) {
	if d.Resolver == nil || len(d.Config.Spam.DNSBL) == 0 {
		return nil, nil
	}
	c, err := newDNSBLChecker(d.Config.Spam.DNSBL, d.Resolver, d.Log)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func newDNSBLChecker(cfg []config.DNSBL, r *msgauth.Resolver, log *slog.Logger) (*dnsblChecker, error) {
	if log == nil {
		log = slog.Default()
	}
	c := &dnsblChecker{
		resolver: r,
		cache:    cache.New[string, dnsblAnswer](dnsblCacheSize),
		now:      time.Now,
		log:      log,
	}
	for _, lc := range cfg {
		l := &dnsbl{
			DNSBL:   lc,
			zone:    strings.ToLower(strings.TrimSuffix(lc.Zone, ".")),
			timeout: lc.Timeout.Duration,
		}
		if l.timeout <= 0 {
			l.timeout = dnsblDefaultTimeout
		}
		blocked := lc.Blocked
		if len(blocked) == 0 {
			blocked = config.DefaultDNSBLBlocked
		}
		for _, b := range blocked {
			a, err := netip.ParseAddr(b)
			if err != nil {
				return nil, fmt.Errorf("dnsbl %s: blocked %q: %w", lc.Name, b, err)
			}
			l.blocked = append(l.blocked, a)
		}
		for _, a := range lc.Answers {
			m := dnsblMatch{mask: byte(a.Mask), tag: a.Tag, score: a.Score}
			if a.Code != "" {
				low, high, err := a.ParseCode()
				if err != nil {
					return nil, fmt.Errorf("dnsbl %s: %w", lc.Name, err)
				}
				m.low, m.high = low, high
			}
			l.answers = append(l.answers, m)
		}
		switch lc.Type {
		case "email":
			switch lc.Hash {
			case "", "sha1":
				l.newHash = sha1.New
			case "md5":
				l.newHash = md5.New
			case "sha256":
				l.newHash = sha256.New
			case "none":
			default:
				return nil, fmt.Errorf("dnsbl %s: unknown hash %q", lc.Name, lc.Hash)
			}
		case "hash":
			l.newHash = sha256.New
		case "ip", "domain", "url":
		default:
			return nil, fmt.Errorf("dnsbl %s: unknown type %q", lc.Name, lc.Type)
		}
		// A SHA-256 in hex is 64 characters, one more than a label holds:
		// "hash" lists write it in base32 unless told otherwise (and the
		// configuration refuses hex with SHA-256).
		// A SHA-256 in hex (64 characters) does not fit in a DNS label:
		// base32 unless told otherwise (validation refuses an explicit hex).
		l.base32 = lc.Encoding == "base32" || lc.Encoding == "" && (lc.Type == "hash" || lc.Type == "email" && lc.Hash == "sha256")
		c.lists = append(c.lists, l)
	}
	return c, nil
}

// Name implements Checker.
func (c *dnsblChecker) Name() string { return "dnsbl" }

// Remote implements Remote: the lookups wait on the network.
func (c *dnsblChecker) Remote() bool { return true }

// dnsblQuery is one name to ask a list about.
type dnsblQuery struct {
	list *dnsbl
	// item is what is looked up, for the tag's detail: an address, a
	// domain, an email address, a file name.
	item  string
	qname string
}

// Check implements Checker: it asks every list about the message at once,
// each within its timeout, and adds the tags of the answers. A list that
// fails or does not answer in time adds nothing; the error says which.
func (c *dnsblChecker) Check(ctx context.Context, m *Message, r *Result) error {
	var queries []dnsblQuery
	for _, l := range c.lists {
		for _, it := range l.items(m) {
			queries = append(queries, dnsblQuery{list: l, item: it.item, qname: it.label + "." + l.zone})
		}
	}
	if len(queries) == 0 {
		return nil
	}
	// Failures are counted per list, and the first one kept, so that a
	// list that is down gives one line in the log.
	type failure struct {
		first error
		n     int
	}
	var (
		mu       sync.Mutex
		failures = map[*dnsbl]*failure{}
		wg       sync.WaitGroup
		sem      = make(chan struct{}, dnsblParallel)
	)
	fail := func(q dnsblQuery, err error) {
		mu.Lock()
		defer mu.Unlock()
		if f := failures[q.list]; f != nil {
			f.n++
			return
		}
		failures[q.list] = &failure{fmt.Errorf("%s: %w", q.item, err), 1}
	}
	deadlines := map[*dnsbl]context.Context{}
	for _, l := range c.lists {
		lctx, cancel := context.WithTimeout(ctx, l.timeout)
		defer cancel()
		deadlines[l] = lctx
	}
	for _, q := range queries {
		qctx := deadlines[q.list]
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-qctx.Done():
				fail(q, qctx.Err())
				return
			}
			defer func() { <-sem }()
			addrs, err := c.lookup(qctx, q.qname)
			if err != nil {
				fail(q, err)
				return
			}
			c.apply(q, addrs, r)
		})
	}
	wg.Wait()
	var errs []error
	for _, l := range c.lists {
		switch f := failures[l]; {
		case f == nil:
		case f.n == 1:
			errs = append(errs, fmt.Errorf("dnsbl %s: %w", l.Name, f.first))
		default:
			errs = append(errs, fmt.Errorf("dnsbl %s: %d lookups failed, the first: %w", l.Name, f.n, f.first))
		}
	}
	return errors.Join(errs...)
}

// lookup returns the A records of qname, from the cache when it can. Not
// listed (NXDOMAIN, no A record) is no addresses and no error.
func (c *dnsblChecker) lookup(ctx context.Context, qname string) ([]netip.Addr, error) {
	if a, ok := c.cache.Get(qname); ok && c.now().Before(a.expires) {
		return a.addrs, nil
	}
	rrs, err := c.resolver.Query(ctx, qname, dns.TypeA)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			c.cache.Set(qname, dnsblAnswer{expires: c.now().Add(dnsblNegativeTTL)})
			return nil, nil
		}
		return nil, err
	}
	ttl := dnsblMaxTTL
	var addrs []netip.Addr
	for _, rr := range rrs {
		a, ok := rr.(*dns.A)
		if !ok {
			continue
		}
		if ip, ok := netip.AddrFromSlice(a.A); ok {
			addrs = append(addrs, ip.Unmap())
			ttl = min(ttl, time.Duration(a.Hdr.Ttl)*time.Second)
		}
	}
	if ttl > 0 {
		c.cache.Set(qname, dnsblAnswer{addrs: addrs, expires: c.now().Add(ttl)})
	}
	return addrs, nil
}

// loopback127 is where blocklists answer (RFC 5782 section 2.1); anything
// else is a resolver making up answers for names that do not exist.
var loopback127 = netip.MustParsePrefix("127.0.0.0/8")

// apply adds the tags the answers to q call for.
func (c *dnsblChecker) apply(q dnsblQuery, addrs []netip.Addr, r *Result) {
	l := q.list
	for _, a := range addrs {
		if !a.Is4() || !loopback127.Contains(a) {
			continue
		}
		if slices.Contains(l.blocked, a) {
			if now, last := c.now().UnixNano(), l.lastWarn.Load(); now-last >= int64(dnsblWarnEvery) && l.lastWarn.CompareAndSwap(last, now) {
				c.log.Warn("dnsbl refused the query: use a resolver of your own, or a key", "list", l.Name, "zone", l.zone, "answer", a)
			}
			r.Add(strings.ToUpper(l.Name)+"_BLOCKED", 0, fmt.Sprintf("%s refused the query (%s)", l.zone, a))
			continue
		}
		r.SetFact("dnsbl."+l.Name, float64(a.As4()[3]))
		for _, m := range l.answers {
			if m.low.IsValid() && (a.Less(m.low) || m.high.Less(a)) {
				continue
			}
			if m.mask != 0 && a.As4()[3]&m.mask == 0 {
				continue
			}
			r.Add(m.tag, m.score, fmt.Sprintf("%s listed in %s: %s", q.item, l.zone, a))
		}
	}
}

// dnsblItem is a name to look up: label goes before the zone, item is what
// it stands for.
type dnsblItem struct {
	label, item string
}

// items returns what list l is asked about for m, at most dnsblMaxItems.
func (l *dnsbl) items(m *Message) []dnsblItem {
	var out []dnsblItem
	add := func(label, item string) {
		if label == "" || len(out) >= dnsblMaxItems || len(label)+len(l.zone)+1 > 253 {
			return
		}
		for _, o := range out {
			if o.label == label {
				return
			}
		}
		out = append(out, dnsblItem{label, item})
	}
	switch l.Type {
	case "ip":
		ip := m.Envelope.ClientIP.Unmap()
		if m.Envelope.Authenticated == "" && isPublic(ip) {
			add(reverseIP(ip), ip.String())
		}
	case "domain":
		for _, addr := range senderAddresses(m) {
			_, domain, _ := strings.Cut(addr, "@")
			if d := registrable(domain); d != "" {
				add(d, d)
			}
		}
	case "url":
		for _, u := range m.URLs {
			if _, err := netip.ParseAddr(strings.Trim(u.Host, "[]")); err == nil {
				continue // an IP literal: domain lists do not list addresses
			}
			if d := registrable(u.Host); d != "" {
				add(d, d)
			}
		}
	case "email":
		for _, addr := range senderAddresses(m) {
			add(l.hashLabel([]byte(addr), addr), addr)
		}
	case "hash":
		for _, a := range attachmentBodies(m) {
			add(l.hashLabel(a.body, a.name), a.name)
		}
	}
	return out
}

// hashLabel returns the query label for data: its hash, encoded, or for
// hash "none" the email address as a name (local part and domain joined
// with a dot).
func (l *dnsbl) hashLabel(data []byte, item string) string {
	if l.newHash == nil {
		local, domain, ok := strings.Cut(item, "@")
		if !ok || !isLabel(local) {
			return ""
		}
		d, err := idna.Lookup.ToASCII(domain)
		name := local + "." + d
		if err != nil || d == "" || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") || strings.Contains(d, "..") {
			return ""
		}
		if _, ok := dns.IsDomainName(name); !ok {
			return ""
		}
		return name
	}
	h := l.newHash()
	h.Write(data)
	sum := h.Sum(nil)
	label := hex.EncodeToString(sum)
	if l.base32 {
		label = strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum))
	}
	if len(label) > 63 {
		return ""
	}
	return label
}

// isLabel reports whether s can stand as one DNS label.
func isLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// reverseIP writes ip for a blocklist query (RFC 5782 section 2.1 and
// 2.4): the octets of an IPv4 address reversed, the 32 nibbles of an IPv6
// address reversed.
func reverseIP(ip netip.Addr) string {
	if ip.Is4() {
		a := ip.As4()
		return fmt.Sprintf("%d.%d.%d.%d", a[3], a[2], a[1], a[0])
	}
	a := ip.As16()
	const hexDigits = "0123456789abcdef"
	b := make([]byte, 0, 63)
	for i := 15; i >= 0; i-- {
		b = append(b, hexDigits[a[i]&0xf], '.', hexDigits[a[i]>>4])
		if i > 0 {
			b = append(b, '.')
		}
	}
	return string(b)
}

// registrable returns the registrable (organisational) domain of a host in
// A-labels, "" for something that is not a domain under a public suffix.
func registrable(host string) string {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" || strings.HasPrefix(host, ".") || strings.HasSuffix(host, ".") || strings.Contains(host, "..") {
		return ""
	}
	a, err := idna.Lookup.ToASCII(host)
	if err != nil {
		return ""
	}
	org := msgauth.OrganizationalDomain(a)
	if !strings.Contains(org, ".") {
		return ""
	}
	if _, ok := dns.IsDomainName(org); !ok {
		return ""
	}
	return org
}

// senderAddresses returns the From, Reply-To and envelope sender
// addresses of m, lower case, each once.
func senderAddresses(m *Message) []string {
	var out []string
	for _, a := range []string{m.From, m.ReplyTo, m.Envelope.MailFrom} {
		a = strings.ToLower(strings.TrimSpace(a))
		if !strings.Contains(a, "@") || slices.Contains(out, a) {
			continue
		}
		out = append(out, a)
	}
	return out
}

type attachmentBody struct {
	name string
	body []byte
}

// attachmentBodies returns the decoded bodies of m's attachments (leaf
// parts that are not text, or have a file name), at most
// dnsblMaxAttachments, each at most dnsblMaxAttachmentSize.
func attachmentBodies(m *Message) []attachmentBody {
	if m.Parsed == nil || m.Parsed.Root == nil {
		return nil
	}
	var out []attachmentBody
	raw := bytes.NewReader(m.Raw)
	var walk func(pt *message.Part, depth int)
	walk = func(pt *message.Part, depth int) {
		if len(out) >= dnsblMaxAttachments || depth > 20 {
			return
		}
		if pt.IsMultipart() {
			for _, sub := range pt.Parts {
				walk(sub, depth+1)
			}
			return
		}
		if pt.Embedded != nil {
			walk(pt.Embedded, depth+1)
			return
		}
		name := pt.DispositionParam("filename")
		if name == "" {
			name = pt.Param("name")
		}
		if pt.Type == "text" && name == "" || pt.Size() > dnsblMaxAttachmentSize {
			return
		}
		body, err := pt.Decoded(raw)
		if err != nil || len(body) == 0 {
			return
		}
		if name == "" {
			name = pt.Type + "/" + pt.Subtype
		}
		out = append(out, attachmentBody{name: name, body: body})
	}
	walk(m.Parsed.Root, 0)
	return out
}
