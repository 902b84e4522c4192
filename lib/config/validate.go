package config

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Roles lists, for each daemon's section, the listener names (systemd
// FileDescriptorName values) it serves.
var Roles = map[string][]string{
	"smtpd":  {"smtp", "submission", "submissions", "lmtp"},
	"imapd":  {"imap", "imaps"},
	"jmapd":  {"http", "https"},
	"sieved": {"sieve"},
	"spamd":  {"spamd", "milter"},
}

// sections lists the daemon sections in the order the file shows them.
var sections = []string{"smtpd", "imapd", "jmapd", "sieved", "spamd"}

// ListenersFor returns the listeners of a daemon's section ("smtpd",
// "imapd", "jmapd", "sieved", "spamd"), or nil for any other name.
func (c *Config) ListenersFor(section string) []Listener {
	switch section {
	case "smtpd":
		return c.SMTPD.Listeners
	case "imapd":
		return c.IMAPD.Listeners
	case "jmapd":
		return c.JMAPD.Listeners
	case "sieved":
		return c.Sieved.Listeners
	case "spamd":
		return c.Spamd.Listeners
	}
	return nil
}

// Validate checks every value and returns all the problems found, each an
// *Error naming the key and, for a configuration read by Parse or Load, the
// line; several are joined with errors.Join.
func (c *Config) Validate() error {
	return joinErrors(c.validate())
}

// validator collects errors about c.
type validator struct {
	c    *Config
	errs []*Error
}

func (v *validator) fail(key, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.c.Path, Line: lineOf(v.c.lines, key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) oneOf(key, value string, allowed ...string) {
	if !slices.Contains(allowed, value) {
		v.fail(key, "%q is not one of %s", value, quoteList(allowed))
	}
}

func (v *validator) atLeast(key string, value, low int64) {
	if value < low {
		v.fail(key, "%d is too small (at least %d)", value, low)
	}
}

func (v *validator) positive(key string, d Duration) {
	if d.Duration <= 0 {
		v.fail(key, "%s: must be longer than zero", d)
	}
}

func (v *validator) nonNegative(key string, d Duration) {
	if d.Duration < 0 {
		v.fail(key, "%s: must not be negative", d)
	}
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i := range s {
		q[i] = strconv.Quote(s[i])
	}
	return strings.Join(q, ", ")
}

func (c *Config) validate() []*Error {
	v := &validator{c: c}

	s := c.Server
	switch {
	case s.Hostname == "":
		v.fail("server.hostname", "required: the fully qualified name this server greets with, as in hostname = \"mx.example.org\"")
	default:
		if err := checkHostname(s.Hostname); err != nil {
			v.fail("server.hostname", "%q: %v", s.Hostname, err)
		}
	}
	switch {
	case s.StateDir == "":
		v.fail("server.state_dir", "required: the directory for the database and certificates, as in state_dir = \"/var/lib/gannet\"")
	case !filepath.IsAbs(s.StateDir):
		v.fail("server.state_dir", "%q: must be an absolute path", s.StateDir)
	}
	if s.RuntimeDir != "" && !filepath.IsAbs(s.RuntimeDir) {
		v.fail("server.runtime_dir", "%q: must be an absolute path", s.RuntimeDir)
	}

	st := c.Store
	switch st.Driver {
	case "sqlite":
	case "postgres":
		v.fail("store.driver", `"postgres" is not supported yet; use "sqlite"`)
	default:
		v.fail("store.driver", "%q is not one of \"sqlite\"", st.Driver)
	}
	v.positive("store.busy_timeout", st.BusyTimeout)
	v.atLeast("store.read_connections", int64(st.ReadConnections), 1)
	v.nonNegative("store.group_commit_window", st.GroupCommitWindow)
	if st.GroupCommitWindow.Duration > time.Second {
		v.fail("store.group_commit_window", "%s: too long (at most 1s): every delivery waits this long", st.GroupCommitWindow)
	}
	v.atLeast("store.group_commit_max", int64(st.GroupCommitMax), 1)
	if st.ChangeLogRetention.Duration < time.Hour {
		v.fail("store.change_log_retention", "%s: too short (at least 1h): clients resynchronising from further back cost a mailbox scan", st.ChangeLogRetention)
	}

	dir := c.Directory
	if sep := dir.SubaddressSeparator; sep != "" {
		if len(sep) != 1 || sep[0] <= ' ' || sep[0] >= 0x7f || sep[0] == '@' || isAlnum(sep[0]) {
			v.fail("directory.subaddress_separator", "%q: want one punctuation character, as in \"+\", or \"\" to turn subaddressing off", sep)
		}
	}
	v.atLeast("directory.cache_size", int64(dir.CacheSize), 0)
	v.nonNegative("directory.cache_ttl", dir.CacheTTL)
	a := dir.Argon2
	v.atLeast("directory.argon2.time", int64(a.Time), 1)
	v.atLeast("directory.argon2.threads", int64(a.Threads), 1)
	if a.Memory < 8*uint32(max(a.Threads, 1)) {
		v.fail("directory.argon2.memory_kib", "%d is too small (at least 8 KiB per thread)", a.Memory)
	} else if a.Memory > 4<<20 {
		v.fail("directory.argon2.memory_kib", "%d is too large (at most 4 GiB, 4194304)", a.Memory)
	}

	t := c.TLS
	if t.CertFile != "" && t.KeyFile == "" {
		v.fail("tls.key_file", "required when tls.cert_file is set")
	}
	if t.KeyFile != "" && t.CertFile == "" {
		v.fail("tls.cert_file", "required when tls.key_file is set")
	}
	v.oneOf("tls.min_version", t.MinVersion, "1.2", "1.3")

	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "text", "json")

	c.validateListeners(v)
	c.validateProxy(v) // proxy.go

	sm := c.SMTPD
	v.atLeast("smtpd.max_message_size", sm.MaxMessageSize, 1)
	v.atLeast("smtpd.max_recipients", int64(sm.MaxRecipients), 1)
	v.atLeast("smtpd.max_messages_per_session", int64(sm.MaxMessagesPerSession), 1)
	v.atLeast("smtpd.max_received_headers", int64(sm.MaxReceivedHeaders), 1)
	// RFC 5321 section 4.5.3.1.4: a command line may be 512 octets long.
	v.atLeast("smtpd.max_line_length", int64(sm.MaxLineLength), 512)
	if sm.MaxLineLength > 1<<20 {
		v.fail("smtpd.max_line_length", "%d is too large (at most 1048576)", sm.MaxLineLength)
	}
	v.atLeast("smtpd.max_errors", int64(sm.MaxErrors), 1)
	v.positive("smtpd.idle_timeout", sm.IdleTimeout)
	v.positive("smtpd.session_timeout", sm.SessionTimeout)
	v.oneOf("smtpd.bare_line_endings", sm.BareLineEndings, "reject", "normalize")
	for _, ck := range []struct{ key, value string }{
		{"spf", sm.Checks.SPF}, {"dkim", sm.Checks.DKIM}, {"dmarc", sm.Checks.DMARC},
		{"arc", sm.Checks.ARC}, {"iprev", sm.Checks.IPRev},
	} {
		v.oneOf("smtpd.checks."+ck.key, ck.value, "relaxed", "strict", "off")
	}
	for i, n := range sm.RelayNetworks {
		if _, err := parseNetwork(n); err != nil {
			v.fail(indexKey("smtpd.relay_networks", i), "%v", err)
		}
	}

	c.validateRewrite(v)
	c.validateMilters(v)
	c.validateSMTPDSieve(v) // smtpdsieve.go
	c.validateSpam(v)
	c.validateBan(v)
	c.validateLimits(v)
	c.validateACME(v)
	c.validateSieve(v)

	q := c.Queued
	if len(q.RetrySchedule) == 0 {
		v.fail("queued.retry_schedule", "must hold at least one delay")
	}
	for i, d := range q.RetrySchedule {
		v.positive(indexKey("queued.retry_schedule", i), d)
	}
	v.nonNegative("queued.delay_warning", q.DelayWarning)
	v.positive("queued.give_up_after", q.GiveUpAfter)
	if q.DelayWarning.Duration > 0 && q.GiveUpAfter.Duration > 0 && q.DelayWarning.Duration >= q.GiveUpAfter.Duration {
		v.fail("queued.delay_warning", "%s: must be shorter than give_up_after (%s), or 0s for no warning", q.DelayWarning, q.GiveUpAfter)
	}
	v.atLeast("queued.workers", int64(q.Workers), 1)
	v.atLeast("queued.destination_concurrency", int64(q.DestinationConcurrency), 1)
	v.positive("queued.connect_timeout", q.ConnectTimeout)
	v.positive("queued.command_timeout", q.CommandTimeout)
	v.positive("queued.lease_time", q.LeaseTime)
	v.oneOf("queued.mta_sts", q.MTASTS, "enforce", "off")
	if q.RemotePort < 1 || q.RemotePort > 65535 {
		v.fail("queued.remote_port", "%d: not a TCP port", q.RemotePort)
	}
	for i, r := range q.RelayHosts {
		key := indexKey("queued.relay_host", i)
		if r.Address == "" {
			v.fail(key+".address", "must be set (host:port)")
		}
		v.oneOf(key+".tls", r.TLS, "", "starttls", "implicit", "none")
		if (r.Username == "") != (r.Password == "") {
			v.fail(key+".password", "username and password go together")
		}
	}

	v.oneOf("deliver.quota_exceeded", c.Deliver.QuotaExceeded, "temporary", "permanent")

	v.atLeast("imapd.max_literal_size", c.IMAPD.MaxLiteralSize, 1)
	v.positive("imapd.idle_timeout", c.IMAPD.IdleTimeout)

	v.atLeast("spamd.max_message_size", c.Spamd.MaxMessageSize, 1)
	v.positive("spamd.timeout", c.Spamd.Timeout)

	if r := c.DNS.Resolver; r != "" {
		if _, err := parseResolver(r); err != nil {
			v.fail("dns.resolver", "%v", err)
		}
	}
	v.positive("dns.timeout", c.DNS.Timeout)

	return v.errs
}

func (c *Config) validateListeners(v *validator) {
	seen := map[string]string{} // address to the key that uses it
	for _, sec := range sections {
		for i, l := range c.ListenersFor(sec) {
			key := indexKey(sec+".listener", i)
			if l.Name == "" {
				v.fail(key+".name", "required: one of %s", quoteList(Roles[sec]))
			} else {
				v.oneOf(key+".name", l.Name, Roles[sec]...)
			}
			addr, err := checkAddress(l.Address)
			if err != nil {
				v.fail(key+".address", "%v", err)
				continue
			}
			if addr == "" {
				continue // port 0: the system picks, so never a clash
			}
			if other, ok := seen[addr]; ok {
				// Report the clash where the file wrote it, not at a
				// default listener the file never mentions.
				_, here := c.lines[key]
				_, there := c.lines[other]
				if there && !here {
					key, other = other, key
				}
				v.fail(key+".address", "%q is also used by %s", l.Address, other)
				continue
			}
			seen[addr] = key
		}
	}
}

// checkAddress accepts host:port (host may be empty, an IP address or a
// name) or an absolute path for a Unix socket. It returns a form for
// finding duplicates, "" for port 0.
func checkAddress(a string) (string, error) {
	if a == "" {
		return "", fmt.Errorf("required: host:port, as in \"127.0.0.1:25\" or \":25\", or a socket path")
	}
	if strings.HasPrefix(a, "/") {
		return "unix:" + filepath.Clean(a), nil
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return "", fmt.Errorf("%q: want host:port, as in \"127.0.0.1:25\" or \":25\", or an absolute socket path", a)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", fmt.Errorf("%q: port %q is not a number from 0 to 65535", a, port)
	}
	if host != "" {
		if ip, err := netip.ParseAddr(host); err == nil {
			host = ip.String()
		} else if err := checkDNSName(host, false); err != nil {
			return "", fmt.Errorf("%q: host %q is neither an IP address nor a host name", a, host)
		}
	}
	if p == 0 {
		return "", nil
	}
	return net.JoinHostPort(strings.ToLower(host), strconv.FormatUint(p, 10)), nil
}

// parseNetwork reads a CIDR prefix or a single IP address.
func parseNetwork(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, nil
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(ip, ip.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("%q: want an address or network in CIDR form, as in \"192.0.2.0/24\" or \"2001:db8::/32\"", s)
}

// parseResolver reads ip:port or a bare IP address (port 53).
func parseResolver(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(ip, 53), nil
	}
	return netip.AddrPort{}, fmt.Errorf("%q: want an IP address and port, as in \"127.0.0.1:53\" or \"[::1]:53\"", s)
}

// RelayPrefixes returns RelayNetworks parsed, bare addresses as single-host
// prefixes. Entries that do not parse (Validate reports them) are left out.
func (s *SMTPD) RelayPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, n := range s.RelayNetworks {
		if p, err := parseNetwork(n); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// checkHostname accepts a fully qualified domain name in ASCII (A-labels
// for an internationalised name).
func checkHostname(h string) error {
	return checkDNSName(h, true)
}

// checkDNSName checks the syntax of a host name (RFC 1123 section 2.1);
// fqdn also asks for at least two labels and a top-level label that is not
// all digits (so that an IP address is not taken for a name).
func checkDNSName(h string, fqdn bool) error {
	if len(h) > 253 {
		return fmt.Errorf("longer than 253 characters")
	}
	labels := strings.Split(h, ".")
	if fqdn && len(labels) < 2 {
		return fmt.Errorf("not a fully qualified domain name (as in \"mx.example.org\")")
	}
	for _, l := range labels {
		if l == "" {
			return fmt.Errorf("empty label (no leading, trailing or double dots)")
		}
		if len(l) > 63 {
			return fmt.Errorf("label %q is longer than 63 characters", l)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("label %q starts or ends with a hyphen", l)
		}
		for i := 0; i < len(l); i++ {
			if !isAlnum(l[i]) && l[i] != '-' {
				return fmt.Errorf("label %q holds %q: only letters, digits and hyphens (A-labels for international names)", l, l[i])
			}
		}
	}
	if fqdn {
		tld := labels[len(labels)-1]
		if strings.Trim(tld, "0123456789") == "" {
			return fmt.Errorf("not a fully qualified domain name (the last label is all digits)")
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Bounds on the text of a rewrite rule: an address is at most 254 octets
// (RFC 5321 section 4.5.3.1.3), so longer patterns serve no purpose.
const (
	maxRewritePattern     = 1024
	maxRewriteReplacement = 512
	// maxRewriteProgram bounds a compiled pattern: matching a 254-octet
	// address against 1,000 instructions takes about 2 ms at worst.
	maxRewriteProgram = 1000
)

func (c *Config) validateRewrite(v *validator) {
	rules := c.SMTPD.Rewrite
	if len(rules) > MaxRewriteRules {
		v.fail("smtpd.rewrite", "%d rules: at most %d", len(rules), MaxRewriteRules)
	}
	for i := range rules {
		r := &rules[i]
		key := indexKey("smtpd.rewrite", i)
		re, err := r.Compile()
		if err != nil {
			v.fail(key+".match", "%v", err)
		}
		switch {
		case r.Replace == "":
			v.fail(key+".replace", "required: the new address, as in replace = '$1@example.org'")
		case len(r.Replace) > maxRewriteReplacement:
			v.fail(key+".replace", "longer than %d characters", maxRewriteReplacement)
		case re != nil:
			if err := checkTemplate(re, r.Replace); err != nil {
				v.fail(key+".replace", "%v", err)
			}
		}
		v.oneOf(key+".apply", r.Apply, "", "sender", "recipient", "both")
	}
}

// CheckRewrite checks rules made in code as Validate checks smtpd.rewrite
// in a file; the errors name keys as if the rules were written there.
func CheckRewrite(rules []RewriteRule) error {
	c := &Config{SMTPD: SMTPD{Rewrite: rules}}
	v := &validator{c: c}
	c.validateRewrite(v)
	return joinErrors(v.errs)
}

// Compile returns the rule's pattern as it is matched: anchored at both
// ends of the address and case-insensitive unless it says (?-i).
func (r *RewriteRule) Compile() (*regexp.Regexp, error) {
	if r.Match == "" {
		return nil, fmt.Errorf("required: a regular expression for the whole address, as in match = '(.+)@old\\.example'")
	}
	if len(r.Match) > maxRewritePattern {
		return nil, fmt.Errorf("longer than %d characters", maxRewritePattern)
	}
	// Parse the pattern alone first: wrapped unchecked, "a)|(b" would
	// close the anchoring group and match anywhere.
	if _, err := syntax.Parse(r.Match, syntax.Perl); err != nil {
		return nil, fmt.Errorf("not a regular expression: %v", err)
	}
	expr := "(?i)^(?:" + r.Match + ")$"
	// RE2 matches in time linear in the address times the size of the
	// compiled pattern, and a short pattern can compile large: (.?){1000}
	// takes seconds. Bound the size as regexp.Compile will build it.
	sre, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("not a regular expression: %v", err)
	}
	prog, err := syntax.Compile(sre.Simplify())
	if err != nil {
		return nil, fmt.Errorf("not a regular expression: %v", err)
	}
	if n := len(prog.Inst); n > maxRewriteProgram {
		return nil, fmt.Errorf("too complex (%d instructions compiled, at most %d): use smaller repetition counts", n, maxRewriteProgram)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("not a regular expression: %v", err)
	}
	return re, nil
}

// checkTemplate checks that every $n and ${name} of a replacement names a
// group of re (regexp.Expand would silently put nothing there: "$1x" is
// the group named "1x", not $1 followed by x). In the file, ${ is written
// $${, since ${...} there names a secret.
func checkTemplate(re *regexp.Regexp, tmpl string) error {
	for {
		i := strings.IndexByte(tmpl, '$')
		if i < 0 {
			return nil
		}
		tmpl = tmpl[i+1:]
		if strings.HasPrefix(tmpl, "$") {
			tmpl = tmpl[1:]
			continue
		}
		var name string
		if strings.HasPrefix(tmpl, "{") {
			end := strings.IndexByte(tmpl, '}')
			if end < 0 {
				return fmt.Errorf("unclosed ${ (write $$ for a dollar sign)")
			}
			name, tmpl = tmpl[1:end], tmpl[end+1:]
		} else {
			n := 0
			for n < len(tmpl) && (isAlnum(tmpl[n]) || tmpl[n] == '_') {
				n++
			}
			name, tmpl = tmpl[:n], tmpl[n:]
		}
		if name == "" {
			return fmt.Errorf("a $ names no group (write $$ for a dollar sign)")
		}
		if k, err := strconv.Atoi(name); err == nil {
			if k < 0 || k > re.NumSubexp() {
				return fmt.Errorf("$%s: the pattern has %d groups", name, re.NumSubexp())
			}
			continue
		}
		if re.SubexpIndex(name) < 0 {
			return fmt.Errorf("$%s: the pattern has no group named %q (for group 1 followed by x, write $${1}x)", name, name)
		}
	}
}

func (c *Config) validateMilters(v *validator) {
	for i := range c.SMTPD.Milters {
		m := &c.SMTPD.Milters[i]
		key := indexKey("smtpd.milter", i)
		if _, _, err := m.Endpoint(); err != nil {
			v.fail(key+".address", "%v", err)
		}
		if m.Protocol != 0 && m.Protocol != 2 && m.Protocol != 6 {
			v.fail(key+".protocol", "%d: want 2 or 6", m.Protocol)
		}
		v.nonNegative(key+".timeout", m.Timeout)
		v.oneOf(key+".default_action", m.DefaultAction, "", "tempfail", "accept", "reject")
	}
}

// Endpoint returns the network ("tcp" or "unix") and address to dial for
// the milter's Address: "inet:host:port" or "unix:/path" as Postfix writes
// them, or "inet:port@host" and "local:/path" as Sendmail does.
func (m *Milter) Endpoint() (network, address string, err error) {
	kind, rest, ok := strings.Cut(m.Address, ":")
	const want = "want \"inet:host:port\" or \"unix:/path\""
	if !ok {
		return "", "", fmt.Errorf("%q: %s", m.Address, want)
	}
	switch kind {
	case "unix", "local":
		if !filepath.IsAbs(rest) {
			return "", "", fmt.Errorf("%q: the socket path must be absolute", m.Address)
		}
		return "unix", filepath.Clean(rest), nil
	case "inet", "inet6":
		var host, port string
		if p, h, ok := strings.Cut(rest, "@"); ok {
			host, port = h, p
		} else if host, port, err = net.SplitHostPort(rest); err != nil {
			return "", "", fmt.Errorf("%q: %s", m.Address, want)
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if host == "" {
			return "", "", fmt.Errorf("%q: no host (write inet:127.0.0.1:%s for this machine)", m.Address, port)
		}
		if _, err := netip.ParseAddr(host); err != nil {
			if err := checkDNSName(host, false); err != nil {
				return "", "", fmt.Errorf("%q: host %q is neither an IP address nor a host name", m.Address, host)
			}
		}
		if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
			return "", "", fmt.Errorf("%q: port %q is not a number from 1 to 65535", m.Address, port)
		}
		return "tcp", net.JoinHostPort(host, port), nil
	}
	return "", "", fmt.Errorf("%q: %s", m.Address, want)
}
