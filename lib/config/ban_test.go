package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBanAndLimits(t *testing.T) {
	c, err := Parse("g.toml", []byte(minimal+`
[ban]
allow = ["192.0.2.1", "2001:db8::/32"]
ban_for = "0s"
auth_failures = 0
login_lock_for = "2d"

[limits]
connections_per_ip = 0
message_window = "10m"
`))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Ban
	if b.BanFor.Duration != 0 || b.AuthFailures != 0 || b.LoginLockFor.Duration != 48*time.Hour || !b.Enabled {
		t.Errorf("[ban] = %+v", b)
	}
	want := []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("2001:db8::/32")}
	if got := b.AllowPrefixes(); !slices.Equal(got, want) {
		t.Errorf("AllowPrefixes = %v, want %v", got, want)
	}
	if c.Limits.ConnectionsPerIP != 0 || c.Limits.MessageWindow.Duration != 10*time.Minute || c.Limits.ConnectionRate != 300 {
		t.Errorf("[limits] = %+v", c.Limits)
	}

	for _, tt := range []struct{ text, key, msg string }{
		{"[ban]\nallow = [\"10.0.0.0/33\"]\n", "ban.allow[0]", "CIDR"},
		{"[ban]\nban_for = \"-1h\"\n", "ban.ban_for", "negative"},
		{"[ban]\nauth_failures = -1\n", "ban.auth_failures", "too small"},
		{"[ban]\nlogin_window = \"0s\"\n", "ban.login_window", "longer than zero"},
		{"[ban]\nscanner_paths = [\"wp-login.php\"]\n", "ban.scanner_paths[0]", "begins with /"},
		{"[limits]\nconnection_rate = -5\n", "limits.connection_rate", "too small"},
		{"[limits]\nconnection_window = \"0s\"\n", "limits.connection_window", "longer than zero"},
		{"[limits]\nmessage_window = \"0s\"\n", "limits.message_window", "longer than zero"},
	} {
		_, err := Parse("g.toml", []byte(minimal+tt.text))
		errs := errorList(t, err)
		if len(errs) != 1 || errs[0].Key != tt.key || !strings.Contains(errs[0].Msg, tt.msg) {
			t.Errorf("%q: got %v, want one error about %s saying %q", tt.text, err, tt.key, tt.msg)
		}
	}
	// A rule turned off needs no window.
	if _, err := Parse("g.toml", []byte(minimal+"[ban]\nrcpt_failures = 0\nrcpt_window = \"0s\"\n")); err != nil {
		t.Errorf("a rule turned off with a zero window: %v", err)
	}
}
