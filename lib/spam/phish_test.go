package spam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"gannet/lib/config"
	"gannet/lib/msgauth"
	"gannet/lib/store"
)

// fakeDomains is a store's domain list, counting the calls.
type fakeDomains struct {
	mu       sync.Mutex
	names    []string
	accounts []store.Account
	calls    int
	err      error
}

func (f *fakeDomains) ListAccounts(ctx context.Context, domain string) ([]store.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return f.accounts, nil
}

func (f *fakeDomains) ListDomains(ctx context.Context) ([]store.Domain, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	var out []store.Domain
	for _, n := range f.names {
		out = append(out, store.Domain{Name: n})
	}
	return out, nil
}

func newTestPhish(local ...string) (*phishChecker, *fakeDomains) {
	f := &fakeDomains{names: local}
	c := newPhishChecker(config.Default().Spam.Phishing, f, slog.New(slog.DiscardHandler))
	return c, f
}

func link(host, text string) URL {
	return URL{Raw: "https://" + host + "/", Host: host, Text: text, FromHTML: text != ""}
}

// wantTags checks that exactly the tags named were added.
func wantTags(t *testing.T, name string, got map[string]Tag, want ...string) {
	t.Helper()
	for _, w := range want {
		if _, ok := got[w]; !ok {
			t.Errorf("%s: missing %s; got %v", name, w, got)
		}
	}
	for g := range got {
		found := false
		for _, w := range want {
			found = found || g == w
		}
		if !found {
			t.Errorf("%s: unexpected %s (%s); want only %v", name, g, got[g].Detail, want)
		}
	}
}

func TestSkeleton(t *testing.T) {
	if len(confusableFrom) < 6000 || confusablesVersion == "" {
		t.Fatalf("table of %d entries, version %q", len(confusableFrom), confusablesVersion)
	}
	for _, tt := range []struct {
		a, b string
		same bool
	}{
		{"paypal", "p\u0430yp\u0430l", true}, // Cyrillic а
		{"microsoft", "rnicrosoft", true},    // m → rn
		{"apple", "\u0430pple", true},
		{"google", "g\u03bf\u03bfgle", true}, // Greek omicron
		{"paypal", "paypa1", true},           // digit one → l
		{"paypal", "paypol", false},
		{"example", "exarnple", true},
	} {
		if got := domainSkeleton(tt.a) == domainSkeleton(tt.b); got != tt.same {
			t.Errorf("%q and %q: same skeleton %v, want %v (%q, %q)", tt.a, tt.b, got, tt.same, domainSkeleton(tt.a), domainSkeleton(tt.b))
		}
	}
	// The digit zero's prototype is the capital O: equal only case-folded,
	// as DNS names are compared.
	if Skeleton("g00gle") == Skeleton("google") || domainSkeleton("g00gle") != domainSkeleton("google") {
		t.Errorf("g00gle: Skeleton %q, domainSkeleton %q", Skeleton("g00gle"), domainSkeleton("g00gle"))
	}
	// Bounded input.
	if got := Skeleton(strings.Repeat("\u0430", 10000)); len(got) > 4*maxSkeletonInput {
		t.Errorf("Skeleton of a long string is %d bytes", len(got))
	}
}

func TestMixedScripts(t *testing.T) {
	for s, want := range map[string]bool{
		"paypal":                               false,
		"p\u0430ypal":                          true,  // Latin + Cyrillic
		"\u043f\u0440\u0438\u043c\u0435\u0440": false, // all Cyrillic
		"g\u03bfogle":                          true,  // Latin + Greek
		"日本語とカタカナ":                             false, // Han + Hiragana + Katakana
		"abc日本":                                false, // Latin + Han
		"xn--80ak6aa92e":                       false,
		"mail-2024":                            false,
		"한국abc":                                false,
		"\u0561pple":                           true, // Armenian ա
	} {
		if got, scripts := mixedScripts(s); got != want {
			t.Errorf("mixedScripts(%q) = %v (%v), want %v", s, got, scripts, want)
		}
	}
}

func TestEditDistance1(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"example.org", "examp1e.org", true},
		{"example.org", "exampl.org", true},
		{"example.org", "examplee.org", true},
		{"example.org", "exmaple.org", true}, // swapped neighbours
		{"example.org", "example.org", false},
		{"example.org", "example.com", false},
		{"example.org", "elpmaxe.org", false},
		{"ab", "ba", true},
		{"abc", "cba", false},
	} {
		if got := editDistance1(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance1(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestDomainInText(t *testing.T) {
	for in, want := range map[string]string{
		"https://www.paypal.com/signin?x=1": "www.paypal.com",
		"www.PayPal.com":                    "www.paypal.com",
		"paypal.com/login":                  "paypal.com",
		" (example.org) ":                   "example.org",
		"Click here":                        "",
		"version 1.2":                       "",
		"v1.2":                              "",
		"e.g.":                              "",
		"alice@example.org":                 "",
		"http://192.0.2.1/x":                "192.0.2.1",
		"not-a-suffix.invalidtld":           "",
		"":                                  "",
	} {
		if got := domainInText(in); got != want {
			t.Errorf("domainInText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPhishLinks(t *testing.T) {
	c, _ := newTestPhish("example.org")
	for _, tt := range []struct {
		name string
		urls []URL
		want []string
	}{
		{"plain", []URL{link("www.paypal.com", ""), link("news.example.net", "")}, nil},
		{"cyrillic a", []URL{link("www.p\u0430ypal.com", "")}, []string{TagHomograph, TagMixedScriptURL}},
		{"digit one", []URL{link("paypa1.com", "")}, []string{TagHomograph}},
		{"rn for m", []URL{link("login.rnicrosoft.com", "")}, []string{TagHomograph}},
		{"greek omicron", []URL{link("g\u03bfogle.com", "")}, []string{TagHomograph, TagMixedScriptURL}},
		{"all cyrillic", []URL{link("\u0440\u0430\u0443\u0440\u0430l.com", "")}, []string{TagHomograph, TagMixedScriptURL}},
		{"punycode", []URL{link("www.xn--pypal-4ve.com", "")}, []string{TagHomograph, TagMixedScriptURL}},
		{"japanese", []URL{link("日本語とカタカナ.jp", "")}, nil},
		{"text names another site", []URL{link("evil.test", "www.paypal.com")}, []string{TagLinkMismatch}},
		{"text names the same site", []URL{link("www.paypal.com", "https://paypal.com/login")}, nil},
		{"text names an unguarded site", []URL{link("click.esp.test", "www.example.net")}, []string{TagLinkText}},
		{"text is words", []URL{link("evil.test", "Log in now")}, nil},
		{"IP link", []URL{link("192.0.2.1", "paypal.com")}, []string{TagLinkMismatch}},
		{"lookalike local", []URL{link("exarnple.org", "")}, []string{TagLookalikeLocal}},
		{"one edit from local", []URL{link("www.exampel.org", "")}, []string{TagLookalikeLocal}},
		{"local itself", []URL{link("www.example.org", "")}, nil},
	} {
		got, err := tagsOf(t, c, &Message{URLs: tt.urls})
		if err != nil {
			t.Fatal(err)
		}
		wantTags(t, tt.name, got, tt.want...)
	}
}

func TestPhishTrackedLinksOfAnAuthenticatedSender(t *testing.T) {
	c, _ := newTestPhish()
	m := &Message{From: "news@example.net", URLs: []URL{link("click.esp.test", "www.example.net")}}
	got, _ := tagsOf(t, c, m)
	wantTags(t, "no DMARC", got, TagLinkText)
	m.Envelope.Auth = &msgauth.Results{DMARC: &msgauth.DMARCResult{Value: authres.ResultPass, Domain: "example.net"}}
	got, _ = tagsOf(t, c, m)
	wantTags(t, "DMARC pass", got)
	// DMARC for example.net says nothing about links shown as PayPal's.
	m.URLs = append(m.URLs, link("click.esp.test", "paypal.com"))
	got, _ = tagsOf(t, c, m)
	wantTags(t, "DMARC pass, PayPal text", got, TagLinkMismatch)
}

func TestPhishDetails(t *testing.T) {
	c, _ := newTestPhish()
	got, _ := tagsOf(t, c, &Message{URLs: []URL{link("www.p\u0430ypal.com", ""), link("evil.test", "paypal.com")}})
	if d := got[TagHomograph].Detail; !strings.Contains(d, "xn--") || !strings.Contains(d, "paypal.com") {
		t.Errorf("homograph detail %q: want the punycode name and the imitated one", d)
	}
	if d := got[TagMixedScriptURL].Detail; !strings.Contains(d, "Latin") || !strings.Contains(d, "Cyrillic") {
		t.Errorf("mixed-script detail %q", d)
	}
	if d := got[TagLinkMismatch].Detail; !strings.Contains(d, "paypal.com") || !strings.Contains(d, "evil.test") {
		t.Errorf("mismatch detail %q", d)
	}
	cfg := config.Default().Spam.Phishing
	if got[TagHomograph].Score != cfg.HomographScore || got[TagLinkMismatch].Score != cfg.LinkMismatchScore {
		t.Errorf("scores %v, want the configured ones", got)
	}
}

func TestPhishSender(t *testing.T) {
	c, _ := newTestPhish("example.org")
	for _, tt := range []struct {
		name       string
		from, disp string
		auth       string
		want       []string
	}{
		{"brand display name", "service@evil.test", "PayPal", "", []string{TagDisplayName}},
		{"brand with filler", "x@evil.test", "PayPal Support Team", "", []string{TagDisplayName}},
		{"brand homoglyph display", "x@evil.test", "P\u0430yPal", "", []string{TagDisplayName}},
		{"the brand itself", "service@paypal.com", "PayPal", "", nil},
		{"the brand abroad", "service@paypal.de", "PayPal", "", nil},
		{"a person's name", "chase@gmail.com", "Chase Smith", "", nil},
		{"a common word", "office@smallbiz.test", "Office", "", nil},
		{"brand in a sentence", "x@shop.test", "Apple pie recipes weekly", "", nil},
		{"local address in display", "x@evil.test", "support@example.org", "", []string{TagDisplayName}},
		{"local brand in display", "x@evil.test", "Example IT Support", "", []string{TagDisplayName}},
		{"protected domain in display", "x@evil.test", "Amazon.com", "", []string{TagDisplayName}},
		{"mailing list rewrite", "group@lists.test", "'bob@gmail.com' via Group", "", nil},
		{"role address at a provider", "x@evil.test", "no-reply@gmail.com", "", nil},
		{"lookalike local sender", "ceo@examp1e.org", "The CEO", "", []string{TagLookalikeLocal}},
		{"homograph sender", "service@paypa1.com", "", "", []string{TagHomograph}},
		{"local sender", "alice@example.org", "Example Support", "", nil},
		{"authenticated", "alice@example.org", "PayPal", "alice", nil},
		{"no display name", "x@evil.test", "", "", nil},
	} {
		m := &Message{From: tt.from, FromName: tt.disp, Envelope: Envelope{Authenticated: tt.auth}}
		got, err := tagsOf(t, c, m)
		if err != nil {
			t.Fatal(err)
		}
		wantTags(t, tt.name, got, tt.want...)
	}
}

func TestPhishLocalUserName(t *testing.T) {
	c, f := newTestPhish("example.org")
	f.accounts = []store.Account{
		{Address: "ceo@example.org", DisplayName: "Jane Q. Director"},
		{Address: "bob@example.org", DisplayName: "Bob"}, // too vague
	}
	for _, tt := range []struct {
		name, from, disp string
		want             []string
	}{
		{"outsider with a local name", "jane.director@freemail.test", "Jane Q. Director", []string{TagDisplayName}},
		{"spelt with homoglyphs", "x@evil.test", "J\u0430ne Q Director", []string{TagDisplayName}},
		{"the user herself", "ceo@example.org", "Jane Q. Director", nil},
		{"a one-word name", "bob@elsewhere.test", "Bob", nil},
		{"someone else", "x@evil.test", "Jane Doe", nil},
	} {
		got, err := tagsOf(t, c, &Message{From: tt.from, FromName: tt.disp})
		if err != nil {
			t.Fatal(err)
		}
		wantTags(t, tt.name, got, tt.want...)
		if d := got[TagDisplayName].Detail; tt.want != nil && !strings.Contains(d, "ceo@example.org") {
			t.Errorf("%s: detail %q", tt.name, d)
		}
	}
}

func TestPhishLocalDomainsRefresh(t *testing.T) {
	c, f := newTestPhish("example.org")
	now := time.Now()
	c.now = func() time.Time { return now }
	m := &Message{URLs: []URL{link("exarnple.org", "")}}
	for range 3 {
		if got, err := tagsOf(t, c, m); err != nil || len(got) != 1 {
			t.Fatalf("got %v, %v", got, err)
		}
	}
	if f.calls != 1 {
		t.Errorf("%d store calls for 3 checks, want 1", f.calls)
	}

	// A domain added shows within a minute.
	f.mu.Lock()
	f.names = append(f.names, "shop.test")
	f.mu.Unlock()
	now = now.Add(localDomainsTTL + time.Second)
	got, _ := tagsOf(t, c, &Message{URLs: []URL{link("sh0p.test", "")}})
	wantTags(t, "new local domain", got, TagLookalikeLocal)

	// A failing store: the last list is kept, and the error reported.
	f.mu.Lock()
	f.err = errors.New("database is locked")
	f.mu.Unlock()
	now = now.Add(localDomainsTTL + time.Second)
	got, err := tagsOf(t, c, m)
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("err = %v, want the store's", err)
	}
	wantTags(t, "store failing", got, TagLookalikeLocal)
}

func TestPhishBuild(t *testing.T) {
	cfg := config.Default()
	ch, err := buildPhish(context.Background(), Deps{Config: cfg})
	if err != nil || ch == nil || ch.Name() != "phishing" {
		t.Fatalf("got %v, %v", ch, err)
	}
	// Without a store it still knows the protected domains.
	got, err := tagsOf(t, ch, &Message{URLs: []URL{link("paypa1.com", "")}})
	if err != nil {
		t.Fatal(err)
	}
	wantTags(t, "no store", got, TagHomograph)

	cfg.Spam.Phishing.Enabled = false
	if ch, err := buildPhish(context.Background(), Deps{Config: cfg}); ch != nil || err != nil {
		t.Errorf("disabled: got %v, %v", ch, err)
	}
}

// FuzzPhish: no panic on any host, link text or display name.
func FuzzPhish(f *testing.F) {
	f.Add("www.p\u0430ypal.com", "paypal.com", "PayPal Support", "x@evil.test")
	f.Add("192.0.2.1", "http://[::1]:80/", "a@b@c", "@")
	f.Add("xn--80ak6aa92e.com", "....", "\u0301\u0301", "x@xn--")
	c, _ := newTestPhish("example.org")
	f.Fuzz(func(t *testing.T, host, text, disp, from string) {
		m := &Message{URLs: []URL{{Raw: host, Host: host, Text: text}}, FromName: disp, From: from}
		if err := c.Check(context.Background(), m, &Result{}); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkPhishCheck: a message with MaxURLs distinct links and 1000
// local domains.
func BenchmarkPhishCheck(b *testing.B) {
	var local []string
	for i := range 1000 {
		local = append(local, fmt.Sprintf("customer%d.example", i))
	}
	c, _ := newTestPhish(local...)
	m := &Message{From: "x@evil.test", FromName: "PayPal Support"}
	for i := range MaxURLs {
		m.URLs = append(m.URLs, link(fmt.Sprintf("www.site%d.test", i), fmt.Sprintf("site%d.test", i)))
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Check(context.Background(), m, &Result{})
	}
}

func BenchmarkSkeleton(b *testing.B) {
	for b.Loop() {
		domainSkeleton("www.p\u0430ypal-secure-login.com")
	}
}
