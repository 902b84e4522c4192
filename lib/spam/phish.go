package spam

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-msgauth/authres"
	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"

	"gannet/lib/config"
	"gannet/lib/msgauth"
	"gannet/lib/store"
)

// Tags of the phishing checks.
const (
	TagHomograph      = "PHISH_HOMOGRAPH"
	TagMixedScriptURL = "MIXED_SCRIPT_URL"
	TagLinkMismatch   = "PHISH_LINK_MISMATCH"
	TagLinkText       = "LINK_TEXT_MISMATCH"
	TagDisplayName    = "PHISH_DISPLAY_NAME"
	TagLookalikeLocal = "PHISH_LOOKALIKE_LOCAL"
)

// localDomainsTTL is how long the list of local domains is reused before
// the store is asked again.
const localDomainsTTL = time.Minute

// phishMaxHosts bounds the distinct link hosts looked at in one message.
const phishMaxHosts = 100

func init() {
	register("phishing", 40, false, buildPhish)
}

func buildPhish(ctx context.Context, d Deps) (Checker, error) {
	if !d.Config.Spam.Phishing.Enabled {
		return nil, nil
	}
	var domains domainLister
	if d.Store != nil {
		domains = d.Store
	}
	return newPhishChecker(d.Config.Spam.Phishing, domains, d.Log), nil
}

// domainLister is the part of the store the phishing checks use.
type domainLister interface {
	ListDomains(ctx context.Context) ([]store.Domain, error)
	ListAccounts(ctx context.Context, domain string) ([]store.Account, error)
}

// maxLocalNames bounds the local users' display names kept.
const maxLocalNames = 100000

// phishChecker looks for look-alike domains, mixed scripts, misleading
// links and display names.
type phishChecker struct {
	cfg       config.Phishing
	protected []guarded
	store     domainLister // nil: no local domains
	log       *slog.Logger
	now       func() time.Time

	mu      sync.Mutex
	local   []guarded
	names   map[string]string // display-name key → the local address
	localAt time.Time
}

// guarded is a domain others must not imitate.
type guarded struct {
	name  string // A-labels, lower case
	uname string // U-labels
	skel  string // domainSkeleton(uname)
	brand string // the label before the public suffix: "paypal"
	local bool
}

func newGuarded(name string, local bool) guarded {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	u, err := idna.Lookup.ToUnicode(name)
	if err != nil {
		u = name
	}
	g := guarded{name: name, uname: u, skel: domainSkeleton(u), local: local}
	if suffix, _ := publicsuffix.PublicSuffix(u); len(u) > len(suffix)+1 {
		rest := strings.TrimSuffix(u, "."+suffix)
		g.brand = rest[strings.LastIndexByte(rest, '.')+1:]
	}
	return g
}

func newPhishChecker(cfg config.Phishing, domains domainLister, log *slog.Logger) *phishChecker {
	if log == nil {
		log = slog.Default()
	}
	c := &phishChecker{cfg: cfg, store: domains, log: log, now: time.Now}
	for _, d := range cfg.ProtectedDomains {
		c.protected = append(c.protected, newGuarded(d, false))
	}
	return c
}

// Name implements Checker.
func (c *phishChecker) Name() string { return "phishing" }

// localDomains returns the local domains and the local users' display
// names (by displayNameKey), asking the store at most once a minute. When
// the store fails, the last lists are kept and the error returned.
func (c *phishChecker) localDomains(ctx context.Context) ([]guarded, map[string]string, error) {
	if c.store == nil {
		return nil, nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.local != nil && c.now().Sub(c.localAt) < localDomainsTTL {
		return c.local, c.names, nil
	}
	ds, err := c.store.ListDomains(ctx)
	if err != nil {
		return c.local, c.names, fmt.Errorf("phishing: listing the local domains: %w", err)
	}
	accounts, err := c.store.ListAccounts(ctx, "")
	if err != nil {
		return c.local, c.names, fmt.Errorf("phishing: listing the local accounts: %w", err)
	}
	local := make([]guarded, 0, len(ds))
	for _, d := range ds {
		local = append(local, newGuarded(d.Name, true))
	}
	names := map[string]string{}
	for _, a := range accounts {
		if k := displayNameKey(a.DisplayName); k != "" && len(names) < maxLocalNames {
			names[k] = a.Address
		}
	}
	c.local, c.names, c.localAt = local, names, c.now()
	return local, names, nil
}

// displayNameKey is how display names are compared: the skeleton of the
// words, lower case, one space apart; "" for a name too vague to be
// impersonated (one word, or fewer than 6 letters).
func displayNameKey(name string) string {
	words := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.Is(unicode.Mn, r)
	})
	if len(words) < 2 || len(words) > 8 {
		return ""
	}
	n := 0
	for _, w := range words {
		n += utf8.RuneCountInString(w)
	}
	if n < 6 {
		return ""
	}
	return domainSkeleton(strings.Join(words, " "))
}

// Check implements Checker.
func (c *phishChecker) Check(ctx context.Context, m *Message, r *Result) error {
	local, names, err := c.localDomains(ctx)
	guards := append(slices.Clip(c.protected), local...)

	// Links.
	authedOrg := dmarcOrg(m)
	seen := map[string]bool{}
	for _, u := range m.URLs {
		host := strings.ToLower(strings.TrimSuffix(u.Host, "."))
		if strings.Contains(host, "xn--") {
			// NewMessage decodes punycode; a host it could not decode is
			// looked at as its labels say.
			if uh, err := idna.Punycode.ToUnicode(host); err == nil {
				host = uh
			}
		}
		if u.Text != "" {
			c.checkLinkText(u, host, guards, authedOrg, r)
		}
		if host == "" || seen[host] || len(seen) >= phishMaxHosts {
			continue
		}
		seen[host] = true
		if isIPHost(host) {
			continue
		}
		for _, label := range strings.Split(host, ".") {
			if mixed, scripts := mixedScripts(label); mixed {
				r.Add(TagMixedScriptURL, c.cfg.MixedScriptScore, fmt.Sprintf("%s mixes %s", toASCIIOr(host), strings.Join(scripts, "+")))
				break
			}
		}
		c.checkLookalike(host, "link to", guards, r)
	}

	// The sender. An authenticated submission is our own user's mail.
	if m.Envelope.Authenticated != "" {
		return err
	}
	_, fromDomain, _ := strings.Cut(m.From, "@")
	if fromDomain != "" {
		c.checkLookalike(fromDomain, "sender", guards, r)
	}
	if m.FromName != "" {
		c.checkDisplayName(m.FromName, fromDomain, guards, r)
		// A local user's name on mail from outside ("CEO fraud").
		if addr, ok := names[displayNameKey(m.FromName)]; ok && !isLocal(fromDomain, local) {
			r.Add(TagDisplayName, c.cfg.DisplayNameScore, fmt.Sprintf("display name of local user %s, sender is %s", addr, orEmpty(strings.ToLower(fromDomain))))
		}
	}
	return err
}

// isLocal reports whether domain is one of the local domains.
func isLocal(domain string, local []guarded) bool {
	d, _ := orgDomain(domain)
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	for _, g := range local {
		if g.name == domain || g.name == d {
			return true
		}
	}
	return false
}

// checkLookalike tags a host whose registrable domain imitates a guarded
// one: the same skeleton without being it (PHISH_HOMOGRAPH, or
// PHISH_LOOKALIKE_LOCAL for a local domain), or for a local domain also
// one edit away.
func (c *phishChecker) checkLookalike(host, what string, guards []guarded, r *Result) {
	org, uorg := orgDomain(host)
	if org == "" {
		return
	}
	skel := domainSkeleton(uorg)
	for _, g := range guards {
		if org == g.name {
			return // it is a guarded domain itself
		}
	}
	for _, g := range guards {
		same := skel == g.skel
		if g.local {
			// One edit on a name of six characters or more: "examp1e.org",
			// "exampel.org" or "example.co" for example.org.
			if same || len(g.name) >= 6 && editDistance1(org, g.name) {
				r.Add(TagLookalikeLocal, c.cfg.LookalikeLocalScore, fmt.Sprintf("%s %s looks like local %s", what, org, g.name))
			}
			continue
		}
		if same {
			r.Add(TagHomograph, c.cfg.HomographScore, fmt.Sprintf("%s %s looks like %s", what, org, g.name))
		}
	}
}

// checkLinkText tags a link whose visible text names a domain other than
// the one the link leads to, as <a href="http://evil.test/">www.paypal.com</a>:
// PHISH_LINK_MISMATCH when the text names a guarded domain or the link goes
// to an IP address, LINK_TEXT_MISMATCH otherwise. Text naming the domain of
// a sender that passed DMARC is its own (its links tracked by its mail
// provider), and not tagged.
func (c *phishChecker) checkLinkText(u URL, host string, guards []guarded, authedOrg string, r *Result) {
	named := domainInText(u.Text)
	if named == "" {
		return
	}
	namedOrg, _ := orgDomain(named)
	if namedOrg == "" || namedOrg == authedOrg {
		return
	}
	ip := isIPHost(host)
	target := host
	if !ip {
		target, _ = orgDomain(host)
	}
	if target == namedOrg {
		return
	}
	if target == "" {
		target = host
	}
	detail := fmt.Sprintf("text names %s, link goes to %s", namedOrg, target)
	if ip || slices.ContainsFunc(guards, func(g guarded) bool { return g.name == namedOrg }) {
		r.Add(TagLinkMismatch, c.cfg.LinkMismatchScore, detail)
		return
	}
	r.Add(TagLinkText, c.cfg.LinkTextMismatchScore, detail)
}

// dmarcOrg returns the organisational domain of m's From address when the
// message passed DMARC, "" otherwise.
func dmarcOrg(m *Message) string {
	a := m.Envelope.Auth
	if a == nil || a.DMARC == nil || a.DMARC.Value != authres.ResultPass {
		return ""
	}
	_, d, _ := strings.Cut(m.From, "@")
	org, _ := orgDomain(d)
	return org
}

// displayFiller are the words a display name puts next to a brand it
// impersonates ("PayPal Support", "Apple ID Security Team").
var displayFiller = map[string]bool{
	"support": true, "service": true, "services": true, "team": true, "security": true,
	"account": true, "accounts": true, "billing": true, "customer": true, "help": true,
	"helpdesk": true, "noreply": true, "no": true, "reply": true, "alert": true, "alerts": true,
	"notification": true, "notifications": true, "notice": true, "inc": true, "ltd": true,
	"llc": true, "online": true, "verification": true, "center": true, "centre": true,
	"id": true, "admin": true, "administrator": true, "it": true, "mail": true, "email": true,
	"webmail": true, "office": true, "info": true, "care": true, "payments": true, "payment": true,
	"official": true, "the": true, "from": true, "via": true, "dept": true, "department": true,
	"desk": true, "system": true, "mailer": true, "daemon": true, "postmaster": true,
}

// commonWordBrands are brands that are also everyday words or names: a
// display name of just "Live" or "Chase" says nothing.
var commonWordBrands = map[string]bool{"live": true, "chase": true, "ups": true, "office": true}

// freemail are mail providers where people have their own addresses.
var freemail = map[string]bool{
	"gmail.com": true, "googlemail.com": true, "outlook.com": true, "hotmail.com": true,
	"live.com": true, "msn.com": true, "icloud.com": true, "me.com": true, "yahoo.com": true,
	"aol.com": true, "proton.me": true, "protonmail.com": true, "gmx.com": true, "gmx.net": true,
}

// checkDisplayName tags a From display name that names a guarded domain or
// brand the sender is not from: "PayPal <service@evil.test>",
// "support@example.org <x@evil.test>" for a local example.org.
func (c *phishChecker) checkDisplayName(name, fromDomain string, guards []guarded, r *Result) {
	senderOrg, _ := orgDomain(fromDomain)
	senderBrand := newGuarded(senderOrg, false).brand
	lower := strings.ToLower(name)
	if len(lower) > maxSkeletonInput {
		lower = lower[:maxSkeletonInput]
	}
	is := func(g guarded) bool { return g.name == senderOrg || g.brand != "" && g.brand == senderBrand }

	// Domains and addresses written in the display name. An address at a
	// mail provider is a person's ("'bob@gmail.com' via Group", as mailing
	// lists rewrite From): only a role address there, or any address of
	// another guarded domain, counts.
	for _, tok := range strings.FieldsFunc(lower, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune(`"'<>()[],;:`, r)
	}) {
		localPart, d, isAddr := strings.Cut(tok, "@")
		if !isAddr {
			d = tok
		}
		d = domainInText(d)
		if d == "" {
			continue
		}
		org, _ := orgDomain(d)
		if org == "" || org == senderOrg {
			continue
		}
		if isAddr && freemail[org] && !displayFiller[localPart] {
			continue
		}
		for _, g := range guards {
			if g.name == org && !is(g) {
				r.Add(TagDisplayName, c.cfg.DisplayNameScore, fmt.Sprintf("display name names %s, sender is %s", g.name, orEmpty(senderOrg)))
				return
			}
		}
	}

	// A display name that is a brand, with only filler words around it.
	words := strings.FieldsFunc(lower, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.Is(unicode.Mn, r) })
	if len(words) == 0 || len(words) > 6 {
		return
	}
	for _, g := range guards {
		if g.brand == "" || utf8.RuneCountInString(g.brand) < 3 || is(g) || displayFiller[g.brand] || commonWordBrands[g.brand] {
			continue
		}
		bskel := domainSkeleton(g.brand)
		found, other := false, false
		for _, w := range words {
			switch {
			case domainSkeleton(w) == bskel:
				found = true
			case !displayFiller[w]:
				other = true
			}
		}
		// Also "Pay Pal" and "PayPal.com" written apart or together.
		if !found && domainSkeleton(strings.Join(words, "")) == bskel {
			found, other = true, false
		}
		if found && !other {
			r.Add(TagDisplayName, c.cfg.DisplayNameScore, fmt.Sprintf("display name %q, sender is %s", g.brand, orEmpty(senderOrg)))
			return
		}
	}
}

func orEmpty(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// orgDomain returns the registrable domain of host in A-labels and in
// U-labels, "" when host is not a name under a public suffix.
func orgDomain(host string) (ascii, uni string) {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" || isIPHost(host) {
		return "", ""
	}
	a, err := idna.Lookup.ToASCII(host)
	if err != nil {
		// Not valid IDNA (a phisher's name may not be): compare it as
		// written.
		org := msgauth.OrganizationalDomain(host)
		if !strings.Contains(org, ".") {
			return "", ""
		}
		return org, org
	}
	org := msgauth.OrganizationalDomain(a)
	if !strings.Contains(org, ".") {
		return "", ""
	}
	u, err := idna.Lookup.ToUnicode(org)
	if err != nil {
		u = org
	}
	return org, u
}

func toASCIIOr(host string) string {
	if a, err := idna.Lookup.ToASCII(host); err == nil {
		return a
	}
	return host
}

func isIPHost(host string) bool {
	_, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil
}

// domainInText returns the host a link text names when the text is a URL
// or a bare domain ("https://www.paypal.com/signin", "www.paypal.com",
// "PayPal.com"), lower case; "" for any other text.
func domainInText(text string) string {
	s := strings.TrimSpace(text)
	s = strings.Trim(s, `"'<>()[].,;:!?`)
	if s == "" || len(s) > 2048 || strings.ContainsAny(s, " \t\r\n") {
		return ""
	}
	s = strings.ToLower(s)
	if i := strings.Index(s, "://"); i > 0 {
		u, err := url.Parse(s)
		if err != nil || u.Hostname() == "" {
			return ""
		}
		if isIPHost(u.Hostname()) {
			return u.Hostname()
		}
		s = u.Hostname()
	} else {
		if strings.Contains(s, "@") {
			return "" // an email address, not a link target
		}
		if i := strings.IndexAny(s, "/?#"); i >= 0 {
			s = s[:i]
		}
		if j := strings.LastIndexByte(s, ':'); j >= 0 {
			s = s[:j]
		}
	}
	s = strings.TrimSuffix(s, ".")
	if !strings.Contains(s, ".") || isIPHost(s) {
		return ""
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 {
			return ""
		}
		for _, r := range l {
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && !unicode.Is(unicode.Mn, r) {
				return ""
			}
		}
	}
	// The name must end in a known suffix: "v1.2" or "e.g" are not hosts.
	a, err := idna.Lookup.ToASCII(s)
	if err != nil {
		return ""
	}
	if suffix, icann := publicsuffix.PublicSuffix(a); !icann || suffix == a {
		return ""
	}
	return s
}

// editDistance1 reports whether a and b are one insertion, deletion or
// substitution apart (Levenshtein distance 1), or two neighbouring
// characters swapped ("exmaple").
func editDistance1(a, b string) bool {
	if a == b || len(a)-len(b) > utf8.UTFMax || len(b)-len(a) > utf8.UTFMax {
		return false
	}
	if isASCII(a) && isASCII(b) {
		return editDistance1Of([]byte(a), []byte(b))
	}
	return editDistance1Of([]rune(a), []rune(b))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func editDistance1Of[T byte | rune](ra, rb []T) bool {
	if len(ra) > len(rb) {
		ra, rb = rb, ra
	}
	switch len(rb) - len(ra) {
	case 0:
		diff := -1
		for i := range ra {
			if ra[i] != rb[i] {
				if diff >= 0 {
					// A second difference: a swap of neighbours is one edit.
					return diff == i-1 && ra[diff] == rb[i] && ra[i] == rb[diff] && slices.Equal(ra[i+1:], rb[i+1:])
				}
				diff = i
			}
		}
		return true
	case 1:
		i := 0
		for i < len(ra) && ra[i] == rb[i] {
			i++
		}
		return slices.Equal(ra[i:], rb[i+1:])
	}
	return false
}
