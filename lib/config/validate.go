package config

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
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
	for i, n := range sm.RelayNetworks {
		if _, err := parseNetwork(n); err != nil {
			v.fail(indexKey("smtpd.relay_networks", i), "%v", err)
		}
	}

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

	v.oneOf("deliver.quota_exceeded", c.Deliver.QuotaExceeded, "temporary", "permanent")

	v.atLeast("imapd.max_literal_size", c.IMAPD.MaxLiteralSize, 1)
	v.positive("imapd.idle_timeout", c.IMAPD.IdleTimeout)

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
