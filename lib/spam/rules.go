package spam

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/BurntSushi/toml"
	"github.com/emersion/go-msgauth/authres"
	"golang.org/x/net/publicsuffix"

	"gannet/lib/config"
	"gannet/lib/expr"
	"gannet/lib/message"
	"gannet/lib/msgauth"
)

// The rules checker runs the default rule set (defaultrules.toml) and the
// [[spam.rule]] entries of the configuration, after the other checkers, so
// that a condition can test their tags (tag("BAYES_99")) and facts
// (fact("bayes")). A configured rule named as a default rule replaces it;
// one with score 0 turns it off.

//go:embed defaultrules.toml
var defaultRulesTOML string

// DefaultRules returns the default rule set.
func DefaultRules() ([]config.SpamRule, error) {
	defaultRulesOnce.Do(func() {
		var f struct {
			Rule []config.SpamRule `toml:"rule"`
		}
		md, err := toml.Decode(defaultRulesTOML, &f)
		if err != nil {
			defaultRulesErr = fmt.Errorf("defaultrules.toml: %w", err)
			return
		}
		if u := md.Undecoded(); len(u) > 0 {
			defaultRulesErr = fmt.Errorf("defaultrules.toml: unknown key %s", u[0])
			return
		}
		defaultRules = f.Rule
	})
	return defaultRules, defaultRulesErr
}

var (
	defaultRulesOnce sync.Once
	defaultRules     []config.SpamRule
	defaultRulesErr  error
)

func init() {
	register("rules", 1000, true, func(ctx context.Context, d Deps) (Checker, error) {
		var rules []config.SpamRule
		if d.Config != nil {
			rules = d.Config.Spam.Rules
		}
		return NewRules(rules)
	})
}

// Rules is the rules checker.
type Rules struct {
	rules []rule
}

type rule struct {
	name, detail string
	score        float64
	prog         *expr.Program
}

// NewRules compiles the default rules with the given ones merged in: a
// rule of the same name as a default one replaces it, a rule with score 0
// is left out.
func NewRules(extra []config.SpamRule) (*Rules, error) {
	defs, err := DefaultRules()
	if err != nil {
		return nil, err
	}
	all := make([]config.SpamRule, 0, len(defs)+len(extra))
	index := map[string]int{}
	for _, r := range append(defs[:len(defs):len(defs)], extra...) {
		if i, ok := index[r.Name]; ok {
			all[i] = r
			continue
		}
		index[r.Name] = len(all)
		all = append(all, r)
	}
	rs := &Rules{}
	for _, r := range all {
		if r.Score == 0 {
			continue
		}
		if msg := config.CheckRuleName(r.Name); msg != "" {
			return nil, fmt.Errorf("rule %q: %s", r.Name, msg)
		}
		p, err := expr.Compile(r.Condition, config.RuleSignatures)
		if err != nil {
			return nil, fmt.Errorf("rule %s: condition: %w", r.Name, err)
		}
		rs.rules = append(rs.rules, rule{name: r.Name, detail: r.Description, score: r.Score, prog: p})
	}
	return rs, nil
}

// Name names the checker in logs.
func (*Rules) Name() string { return "rules" }

// Check runs every rule over m, adding the tags of those that fire. A rule
// that fails (a type error at run time) is skipped; the first errors are
// returned for the log.
func (rs *Rules) Check(ctx context.Context, m *Message, r *Result) error {
	env := newRuleEnv(m, r)
	defer env.release()
	var errs []error
	for i := range rs.rules {
		ru := &rs.rules[i]
		if i&15 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		ok, err := ru.prog.Bool(env)
		if err != nil {
			if len(errs) < 3 {
				errs = append(errs, fmt.Errorf("rule %s: %w", ru.name, err))
			}
			continue
		}
		if ok {
			r.Add(ru.name, ru.score, ru.detail)
		}
	}
	return errors.Join(errs...)
}

// ruleEnv is the expr.Env of one message: the variables and functions of
// RuleSignatures. Derived values are worked out when first asked for.
type ruleEnv struct {
	m *Message
	r *Result

	lowBody, lowSubject   *string
	urlHosts, urls, links *expr.Value
	attTypes, attNames    *expr.Value
	dkimDomains           *expr.Value
	date                  *time.Time
	dateOK                bool
	rcvd                  time.Time
	rcvdDone              bool
	images                int
	imagesDone            bool
	hdr                   []hdrField // the top-level fields, names lower case
	hdrDone               bool

	// storage for the pointers above, so that one env is one allocation
	s1, s2       string
	v1, v2, v3   expr.Value
	v4, v5, v6   expr.Value
	dateStore    time.Time
	hdrStore     [48]hdrField
	tri          *trigrams
	spareTri     *trigrams // a filter to reuse (see release)
	counts       []containsCount
	countStore   [16]containsCount
	returnToPool bool
}

type containsKey struct {
	list  *expr.Value
	nlist int
	text  *byte
	ntext int
}

type containsCount struct {
	key containsKey
	n   int
}

type hdrField struct {
	name  string // lower case
	start int64
	end   int64
}

var ruleEnvs = sync.Pool{New: func() any { return new(ruleEnv) }}

func newRuleEnv(m *Message, r *Result) *ruleEnv {
	e := ruleEnvs.Get().(*ruleEnv)
	*e = ruleEnv{m: m, r: r, returnToPool: true, spareTri: e.spareTri}
	return e
}

func (e *ruleEnv) release() {
	if e.returnToPool {
		// The trigram filter (8 KiB) stays with the pooled environment
		// for the next message.
		tri := e.tri
		if tri == nil {
			tri = e.spareTri
		}
		*e = ruleEnv{spareTri: tri}
		ruleEnvs.Put(e)
	}
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return ""
}

// authResult is the SPF, DKIM, DMARC or ARC result smtpd found, "" when
// unknown. For DKIM it is "pass" when some signature passed, else the
// first result.
func authResult(a *msgauth.Results, which string) string {
	if a == nil {
		return ""
	}
	switch which {
	case "spf":
		if a.SPF != nil {
			return strings.ToLower(string(a.SPF.Value))
		}
	case "dkim":
		for _, d := range a.DKIM {
			if d.Value == "pass" {
				return "pass"
			}
		}
		if len(a.DKIM) > 0 {
			return strings.ToLower(string(a.DKIM[0].Value))
		}
	case "dmarc":
		if a.DMARC != nil {
			return strings.ToLower(string(a.DMARC.Value))
		}
	case "arc":
		if a.ARC != nil {
			return strings.ToLower(string(a.ARC.Value))
		}
	}
	return ""
}

// Var returns the value of a variable (see gannet-spam(5)).
func (e *ruleEnv) Var(name string) (expr.Value, bool) {
	m := e.m
	switch name {
	case "subject":
		return expr.Str(m.Subject), true
	case "from":
		return expr.Str(m.From), true
	case "from_name":
		return expr.Str(m.FromName), true
	case "from_domain":
		return expr.Str(domainOf(m.From)), true
	case "reply_to":
		return expr.Str(m.ReplyTo), true
	case "reply_to_domain":
		return expr.Str(domainOf(m.ReplyTo)), true
	case "to_count":
		n := 0
		if env := m.Parsed.Envelope(); env != nil {
			for _, a := range env.To {
				if !a.Group {
					n++
				}
			}
			for _, a := range env.Cc {
				if !a.Group {
					n++
				}
			}
		}
		return expr.Num(float64(n)), true
	case "message_id":
		return expr.Str(m.MessageID), true
	case "in_reply_to":
		return expr.Str(m.InReplyTo), true
	case "references_count":
		return expr.Num(float64(len(m.References))), true
	case "date_valid":
		_, ok := e.dateValue()
		return expr.Boolean(ok), true
	case "date_age":
		t, ok := e.dateValue()
		if !ok {
			return expr.Num(0), true
		}
		return expr.Num(e.receivedTime().Sub(t).Hours()), true
	case "client_rdns":
		name, _ := e.rdns()
		return expr.Str(name), true
	case "rdns_none":
		_, none := e.rdns()
		return expr.Boolean(none), true
	case "msgid_outlook_forged":
		return expr.Boolean(e.outlookMsgIDForged()), true
	case "received_count":
		return expr.Num(float64(e.countHeader("received"))), true
	case "mail_from":
		return expr.Str(m.Envelope.MailFrom), true
	case "mail_from_domain":
		return expr.Str(domainOf(m.Envelope.MailFrom)), true
	case "helo":
		return expr.Str(m.Envelope.HELO), true
	case "client_ip":
		if !m.Envelope.ClientIP.IsValid() {
			return expr.Str(""), true
		}
		return expr.Str(m.Envelope.ClientIP.String()), true
	case "rcpt_count":
		return expr.Num(float64(len(m.Envelope.Recipients))), true
	case "authenticated":
		return expr.Boolean(m.Envelope.Authenticated != ""), true
	case "spf", "dkim", "dmarc", "arc":
		return expr.Str(authResult(m.Envelope.Auth, name)), true
	case "dkim_domains":
		if e.dkimDomains == nil {
			var ds []string
			if a := m.Envelope.Auth; a != nil {
				for _, d := range a.DKIM {
					if string(d.Value) == "pass" && d.Domain != "" {
						ds = append(ds, strings.ToLower(d.Domain))
					}
				}
			}
			e.v6 = expr.Strings(ds)
			e.dkimDomains = &e.v6
		}
		return *e.dkimDomains, true
	case "body":
		return expr.Str(m.Text), true
	case "body_length":
		return expr.Num(float64(len(m.Text))), true
	case "html":
		return expr.Boolean(m.HTML), true
	case "html_only":
		return expr.Boolean(m.HTMLOnly), true
	case "html_images":
		return expr.Num(float64(e.htmlImages())), true
	case "url_count":
		return expr.Num(float64(len(m.URLs))), true
	case "url_hosts":
		if e.urlHosts == nil {
			seen := make(map[string]bool, len(m.URLs))
			vs := make([]expr.Value, 0, len(m.URLs))
			for _, u := range m.URLs {
				if !seen[u.Host] {
					seen[u.Host] = true
					vs = append(vs, expr.Str(u.Host))
				}
			}
			e.v1 = expr.ListOf(vs...)
			e.urlHosts = &e.v1
		}
		return *e.urlHosts, true
	case "urls":
		if e.urls == nil {
			vs := make([]expr.Value, len(m.URLs))
			for i, u := range m.URLs {
				vs[i] = expr.Str(u.Raw)
			}
			e.v2 = expr.ListOf(vs...)
			e.urls = &e.v2
		}
		return *e.urls, true
	case "link_texts":
		if e.links == nil {
			var vs []expr.Value
			for _, u := range m.URLs {
				if u.FromHTML {
					vs = append(vs, expr.Str(u.Text))
				}
			}
			e.v3 = expr.ListOf(vs...)
			e.links = &e.v3
		}
		return *e.links, true
	case "has_attachment":
		return expr.Boolean(len(m.Attachments) > 0), true
	case "attachment_types":
		if e.attTypes == nil {
			vs := make([]expr.Value, len(m.Attachments))
			for i, a := range m.Attachments {
				vs[i] = expr.Str(a.ContentType)
			}
			e.v4 = expr.ListOf(vs...)
			e.attTypes = &e.v4
		}
		return *e.attTypes, true
	case "attachment_names":
		if e.attNames == nil {
			vs := make([]expr.Value, len(m.Attachments))
			for i, a := range m.Attachments {
				vs[i] = expr.Str(strings.ToLower(a.Filename))
			}
			e.v5 = expr.ListOf(vs...)
			e.attNames = &e.v5
		}
		return *e.attNames, true
	case "size":
		return expr.Num(float64(m.Size)), true
	}
	return expr.Value{}, false
}

// LowerVar serves lower(body) and lower(subject) from a cache.
func (e *ruleEnv) LowerVar(name string) (expr.Value, bool) {
	switch name {
	case "body":
		if e.lowBody == nil {
			e.s1 = strings.ToLower(e.m.Text)
			e.lowBody = &e.s1
		}
		return expr.Str(*e.lowBody), true
	case "subject":
		if e.lowSubject == nil {
			e.s2 = strings.ToLower(e.m.Subject)
			e.lowSubject = &e.s2
		}
		return expr.Str(*e.lowSubject), true
	}
	return expr.Value{}, false
}

// Call calls a function (see gannet-spam(5)).
func (e *ruleEnv) Call(name string, args []expr.Value) (expr.Value, error) {
	arg := func(i int) string {
		if i < len(args) {
			return args[i].Text()
		}
		return ""
	}
	switch name {
	case "header":
		v, _ := e.header(arg(0))
		if strings.Contains(v, "=?") {
			v = message.DecodeText(v)
		}
		return expr.Str(v), nil
	case "raw_header":
		v, _ := e.header(arg(0))
		return expr.Str(v), nil
	case "header_values":
		lname := strings.ToLower(arg(0))
		var vs []expr.Value
		for _, f := range e.headers() {
			if f.name == lname {
				v := unfoldField(e.m.Raw[f.start:f.end])
				if strings.Contains(v, "=?") {
					v = message.DecodeText(v)
				}
				vs = append(vs, expr.Str(v))
			}
		}
		return expr.ListOf(vs...), nil
	case "headers":
		return expr.Num(float64(e.countHeader(strings.ToLower(arg(0))))), nil
	case "has_header":
		_, ok := e.header(arg(0))
		return expr.Boolean(ok), nil
	case "field_before":
		return expr.Boolean(e.fieldBefore(arg(0), arg(1))), nil
	case "tag":
		return expr.Boolean(e.r.Has(arg(0))), nil
	case "fact":
		v, _ := e.r.Fact(arg(0))
		return expr.Num(v), nil
	case "has_fact":
		_, ok := e.r.Fact(arg(0))
		return expr.Boolean(ok), nil
	case "any_url_host_matches":
		re, err := expr.Regexp(arg(0))
		if err != nil {
			return expr.Value{}, err
		}
		for _, u := range e.m.URLs {
			if re.MatchString(u.Host) {
				return expr.Boolean(true), nil
			}
		}
		return expr.Boolean(false), nil
	case "url_host_in":
		if len(args) != 1 {
			return expr.Value{}, errors.New("takes a list of domains")
		}
		for _, u := range e.m.URLs {
			for _, d := range args[0].Items() {
				if hostUnder(u.Host, d.Text()) {
					return expr.Boolean(true), nil
				}
			}
		}
		return expr.Boolean(false), nil
	case "domain":
		return expr.Str(domainOf(arg(0))), nil
	case "org_domain":
		return expr.Str(ruleOrgDomain(arg(0))), nil
	case "freemail":
		return expr.Boolean(isFreemail(arg(0))), nil
	case "count_in":
		if len(args) != 2 {
			return expr.Value{}, errors.New("takes 2 lists")
		}
		n := 0
		for _, a := range args[0].Items() {
			for _, b := range args[1].Items() {
				if a.Equal(b) {
					n++
					break
				}
			}
		}
		return expr.Num(float64(n)), nil
	case "count_contains":
		if len(args) != 2 {
			return expr.Value{}, errors.New("takes a string and a list")
		}
		s, list := args[0].Text(), args[1].Items()
		if len(list) == 0 || s == "" {
			return expr.Num(0), nil
		}
		// Several rules may count the same phrases in the same text:
		// constant lists are shared (expr interns them), so the count is
		// kept by the addresses of the list and the text.
		key := containsKey{&list[0], len(list), unsafe.StringData(s), len(s)}
		for _, c := range e.counts {
			if c.key == key {
				return expr.Num(float64(c.n)), nil
			}
		}
		var tri *trigrams
		if e.lowBody != nil && len(s) > 512 && unsafe.StringData(s) == unsafe.StringData(*e.lowBody) {
			tri = e.bodyTrigrams()
		}
		n := 0
		for _, v := range list {
			t := v.Text()
			if t == "" || tri != nil && !tri.mayContain(t) {
				continue
			}
			if strings.Contains(s, t) {
				n++
			}
		}
		if len(e.counts) < cap(e.countStore) {
			if e.counts == nil {
				e.counts = e.countStore[:0]
			}
			e.counts = append(e.counts, containsCount{key, n})
		}
		return expr.Num(float64(n)), nil
	case "count_matches":
		if len(args) != 2 {
			return expr.Value{}, errors.New("takes a string and a pattern")
		}
		re, err := expr.Regexp(arg(1))
		if err != nil {
			return expr.Value{}, err
		}
		n := 0
		switch args[0].Kind() {
		case expr.String:
			n = len(re.FindAllStringIndex(args[0].Text(), 1000))
		case expr.List:
			for _, v := range args[0].Items() {
				if re.MatchString(v.Text()) {
					n++
				}
			}
		}
		return expr.Num(float64(n)), nil
	}
	return expr.Value{}, expr.ErrUnknownFunc
}

// hostUnder reports whether host is domain or a name under it.
func hostUnder(host, domain string) bool {
	if domain == "" || !strings.HasSuffix(host, domain) {
		return false
	}
	return len(host) == len(domain) || host[len(host)-len(domain)-1] == '.'
}

// ruleOrgDomain is the registrable domain of a host name or of an address's
// domain: example.co.uk for mail.example.co.uk.
func ruleOrgDomain(s string) string {
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	if d, err := publicsuffix.EffectiveTLDPlusOne(s); err == nil {
		return d
	}
	return s
}

// headers indexes the top-level header fields once.
func (e *ruleEnv) headers() []hdrField {
	if !e.hdrDone {
		e.hdrDone = true
		e.hdr = e.hdrStore[:0]
		for _, f := range e.m.Parsed.Header {
			e.hdr = append(e.hdr, hdrField{name: strings.ToLower(f.Name), start: f.Start, end: f.End})
		}
	}
	return e.hdr
}

// fieldBefore reports whether the first field called a comes above some
// field called b in the header.
func (e *ruleEnv) fieldBefore(a, b string) bool {
	a, b = strings.ToLower(a), strings.ToLower(b)
	seen := false
	for _, f := range e.headers() {
		switch {
		case f.name == a:
			seen = true
		case seen && f.name == b:
			return true
		}
	}
	return false
}

// header is the unfolded value of the first field called name.
func (e *ruleEnv) header(name string) (string, bool) {
	name = strings.ToLower(name)
	for _, f := range e.headers() {
		if f.name == name {
			return unfoldField(e.m.Raw[f.start:f.end]), true
		}
	}
	return "", false
}

func (e *ruleEnv) countHeader(lname string) int {
	n := 0
	for _, f := range e.headers() {
		if f.name == lname {
			n++
		}
	}
	return n
}

// dateValue is the message's Date.
func (e *ruleEnv) dateValue() (time.Time, bool) {
	if e.date == nil {
		v, ok := e.header("date")
		if ok {
			if t, err := message.ParseDate(v); err == nil {
				e.dateStore, e.dateOK = t, true
			}
		}
		e.date = &e.dateStore
	}
	return *e.date, e.dateOK
}

// receivedTime is when the message arrived: the date of the topmost
// Received field, else now.
// rdns returns the client's host name by reverse DNS and whether it is
// known to have none: smtpd's iprev result when there is one (a name that
// resolves back, or none), else what the milter's MTA or the Received
// fields said. A client on this site's own networks (loopback, private,
// link-local, shared) needs no reverse name: none is never said of it.
func (e *ruleEnv) rdns() (name string, none bool) {
	env := &e.m.Envelope
	if ip := env.ClientIP.Unmap(); ip.IsValid() && !isPublic(ip) {
		return "", false
	}
	if a := env.Auth; a != nil && a.IPRev != nil {
		switch a.IPRev.Value {
		case authres.ResultPass:
			if len(a.IPRev.Names) > 0 {
				return a.IPRev.Names[0], false
			}
		case authres.ResultFail:
			return "", true
		}
		return "", false
	}
	return env.RDNS, env.NoRDNS
}

// outlookMsgID is the Message-ID Outlook Express makes: 4 hex digits, 8
// that encode the time it was written, then two more groups of 8.
var outlookMsgID = regexp.MustCompile(`^[0-9a-f]{4}([0-9a-f]{8})\$[0-9a-f]{8}\$[0-9a-f]{8}@`)

// outlookMsgIDForged reports whether the Message-ID has Outlook Express's
// form but its time stamp is neither near the Date nor near the Received
// date: spam software imitating Outlook (SpamAssassin's
// MSGID_OUTLOOK_INVALID, whose constants these are).
func (e *ruleEnv) outlookMsgIDForged() bool {
	sm := outlookMsgID.FindStringSubmatch(e.m.MessageID)
	if sm == nil {
		return false
	}
	stamp, err := strconv.ParseInt(sm[1], 16, 64)
	if err != nil {
		return false
	}
	near := func(t time.Time) bool {
		want := int64(float64(t.Unix())*0.0023283064365387 + 27111902.8329849)
		d := stamp - want
		return d > -250 && d < 250
	}
	if t, ok := e.dateValue(); ok && near(t) {
		return false
	}
	return !near(e.receivedTime())
}

func (e *ruleEnv) receivedTime() time.Time {
	if !e.rcvdDone {
		e.rcvd, e.rcvdDone = e.findReceivedTime(), true
	}
	return e.rcvd
}

func (e *ruleEnv) findReceivedTime() time.Time {
	for _, f := range e.headers() {
		if f.name != "received" {
			continue
		}
		v := unfoldField(e.m.Raw[f.start:f.end])
		if i := strings.LastIndexByte(v, ';'); i >= 0 {
			if t, err := message.ParseDate(strings.TrimSpace(v[i+1:])); err == nil {
				return t
			}
		}
		break
	}
	return time.Now()
}

// htmlImages counts the <img> elements of the HTML parts, rendering them
// again (only rules about HTML ask).
func (e *ruleEnv) htmlImages() int {
	if e.imagesDone || !e.m.HTML {
		return e.images
	}
	e.imagesDone = true
	n := 0
	var walk func(pt *message.Part, depth int)
	walk = func(pt *message.Part, depth int) {
		if n > 1000 || depth > message.MaxDepth {
			return
		}
		for _, c := range pt.Parts {
			walk(c, depth+1)
		}
		if len(pt.Parts) == 0 && pt.Type == "text" && pt.Subtype == "html" && pt.Disposition != "attachment" {
			if s, _, err := pt.Text(bytes.NewReader(e.m.Raw), maxHTML); err == nil {
				n += renderHTML(s, nil).images
			}
		}
	}
	walk(e.m.Parsed.Root, 0)
	e.images = n
	return n
}

// compileRule compiles a condition with the names of the rules.
func compileRule(cond string) (*expr.Program, error) {
	return expr.Compile(cond, config.RuleSignatures)
}

// trigrams is a Bloom-like filter of the 3-byte sequences of a text: a
// phrase with a sequence the text lacks is not in it, which spares most of
// the substring searches of long phrase lists over the body.
type trigrams [1 << 16 / 64]uint64

func trigramHash(a, b, c byte) uint32 {
	return (uint32(a)*0x9E3779B1 ^ uint32(b)*0x85EBCA77 ^ uint32(c)*0xC2B2AE3D) >> 16
}

// newTrigrams fills t (nil: a new one) with the filter of s.
func newTrigrams(t *trigrams, s string) *trigrams {
	if t == nil {
		t = new(trigrams)
	} else {
		clear(t[:])
	}
	for i := 0; i+2 < len(s); i++ {
		h := trigramHash(s[i], s[i+1], s[i+2])
		t[h>>6] |= 1 << (h & 63)
	}
	return t
}

// mayContain reports whether the text may contain p: false is sure.
func (t *trigrams) mayContain(p string) bool {
	for i := 0; i+2 < len(p); i++ {
		h := trigramHash(p[i], p[i+1], p[i+2])
		if t[h>>6]&(1<<(h&63)) == 0 {
			return false
		}
	}
	return true
}

// bodyTrigrams is the filter of the lower-case body, made once.
func (e *ruleEnv) bodyTrigrams() *trigrams {
	if e.tri == nil {
		e.tri, e.spareTri = newTrigrams(e.spareTri, *e.lowBody), nil
	}
	return e.tri
}
