package config

import (
	"net/netip"
	"strings"
	"time"
)

// Ban configures automatic bans (lib/ban), the [ban] section. Failures and
// abuse are counted in the store, so that every daemon of the suite counts
// together; a count of 0 turns its rule off.
type Ban struct {
	// Enabled counts failures and bans (default true). Bans made by hand
	// with banctl are enforced either way.
	Enabled bool `toml:"enabled"`
	// Allow lists the addresses and networks (CIDR) never banned (default
	// loopback: 127.0.0.0/8 and ::1). Entries added with banctl allow add
	// count as well.
	Allow []string `toml:"allow"`
	// BanFor is how long an automatic ban of an address lasts (default
	// 1h); 0s bans for good.
	BanFor Duration `toml:"ban_for"`

	// AuthFailures failed authentications from one address within
	// AuthWindow ban the address (default 10 per 1h).
	AuthFailures int      `toml:"auth_failures"`
	AuthWindow   Duration `toml:"auth_window"`
	// LoginFailures failed authentications for one login name, from any
	// number of addresses, within LoginWindow lock the login for
	// LoginLockFor (default 30 per 1h, locked 1h; 0s locks until banctl
	// unban): its password is refused whatever the address, while app
	// passwords and open sessions keep working.
	LoginFailures int      `toml:"login_failures"`
	LoginWindow   Duration `toml:"login_window"`
	LoginLockFor  Duration `toml:"login_lock_for"`
	// RcptFailures unknown recipients and relay attempts (SMTP) from one
	// address within RcptWindow ban the address (default 30 per 1h).
	RcptFailures int      `toml:"rcpt_failures"`
	RcptWindow   Duration `toml:"rcpt_window"`
	// ProtocolErrors commands refused before login (bad syntax, unknown
	// commands) from one address within ProtocolWindow ban the address
	// (default 50 per 1h).
	ProtocolErrors int      `toml:"protocol_errors"`
	ProtocolWindow Duration `toml:"protocol_window"`
	// ScannerRequests HTTP requests for ScannerPaths from one address within
	// ScannerWindow ban the address (default 3 per 1h).
	ScannerRequests int      `toml:"scanner_requests"`
	ScannerWindow   Duration `toml:"scanner_window"`
	// ScannerPaths are the HTTP path prefixes only scanners ask for,
	// compared without regard to case.
	ScannerPaths []string `toml:"scanner_paths"`
}

// defaultBan returns the defaults of [ban].
func defaultBan() Ban {
	return Ban{
		Enabled:         true,
		Allow:           []string{"127.0.0.0/8", "::1/128"},
		BanFor:          D(time.Hour),
		AuthFailures:    10,
		AuthWindow:      D(time.Hour),
		LoginFailures:   30,
		LoginWindow:     D(time.Hour),
		LoginLockFor:    D(time.Hour),
		RcptFailures:    30,
		RcptWindow:      D(time.Hour),
		ProtocolErrors:  50,
		ProtocolWindow:  D(time.Hour),
		ScannerRequests: 3,
		ScannerWindow:   D(time.Hour),
		ScannerPaths: []string{
			"/.env", "/.git/", "/wp-login.php", "/wp-admin", "/xmlrpc.php",
			"/phpmyadmin", "/cgi-bin/", "/vendor/phpunit", "/.aws/", "/boaform",
		},
	}
}

// validateBan checks [ban].
func (c *Config) validateBan(v *validator) {
	b := c.Ban
	for i, n := range b.Allow {
		if _, err := parseNetwork(n); err != nil {
			v.fail(indexKey("ban.allow", i), "%v", err)
		}
	}
	v.nonNegative("ban.ban_for", b.BanFor)
	v.nonNegative("ban.login_lock_for", b.LoginLockFor)
	rules := []struct {
		count, window string
		n             int
		w             Duration
	}{
		{"ban.auth_failures", "ban.auth_window", b.AuthFailures, b.AuthWindow},
		{"ban.login_failures", "ban.login_window", b.LoginFailures, b.LoginWindow},
		{"ban.rcpt_failures", "ban.rcpt_window", b.RcptFailures, b.RcptWindow},
		{"ban.protocol_errors", "ban.protocol_window", b.ProtocolErrors, b.ProtocolWindow},
		{"ban.scanner_requests", "ban.scanner_window", b.ScannerRequests, b.ScannerWindow},
	}
	for _, r := range rules {
		v.atLeast(r.count, int64(r.n), 0)
		if r.n > 0 {
			v.positive(r.window, r.w)
		}
	}
	for i, p := range b.ScannerPaths {
		if !strings.HasPrefix(p, "/") {
			v.fail(indexKey("ban.scanner_paths", i), "%q: a path begins with /", p)
		}
	}
}

// AllowPrefixes returns ban.allow as prefixes; entries that do not parse
// (Validate refuses them) are left out.
func (b *Ban) AllowPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, n := range b.Allow {
		if p, err := parseNetwork(n); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}
