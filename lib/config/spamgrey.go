package config

import (
	"strings"
	"time"
)

// Greylist configures [spam.greylist]: smtpd answers 451 4.7.1 to the first
// attempt of an unknown (client network, sender, recipient) triplet and
// accepts the retry after Delay, as postgrey does. Authenticated clients,
// relay_networks and the networks and senders listed here are exempt.
type Greylist struct {
	// Enabled turns greylisting on (default false: it delays first mail
	// from every new correspondent).
	Enabled bool `toml:"enabled"`
	// Delay is how long a new triplet waits before its retry passes.
	Delay Duration `toml:"delay"`
	// Expire forgets a triplet not seen for this long.
	Expire Duration `toml:"expire"`
	// AllowNetworks are client networks never greylisted.
	AllowNetworks []string `toml:"allow_networks"`
	// AllowSenders are sender addresses or @domains never greylisted.
	AllowSenders []string `toml:"allow_senders"`
}

// defaultGreylist returns the defaults of [spam.greylist].
func defaultGreylist() Greylist {
	return Greylist{
		Delay:         D(5 * time.Minute),     // postgrey's --delay=300
		Expire:        D(35 * 24 * time.Hour), // postgrey's --max-age=35
		AllowNetworks: []string{},
		AllowSenders:  []string{},
	}
}

// validateGreylist checks [spam.greylist].
func (c *Config) validateGreylist(v *validator) {
	g := c.Spam.Greylist
	v.nonNegative("spam.greylist.delay", g.Delay)
	v.positive("spam.greylist.expire", g.Expire)
	if g.Expire.Duration <= g.Delay.Duration {
		v.fail("spam.greylist.expire", "%s: must be longer than spam.greylist.delay (%s)", g.Expire, g.Delay)
	}
	for i, n := range g.AllowNetworks {
		if _, err := parseNetwork(n); err != nil {
			v.fail(indexKey("spam.greylist.allow_networks", i), "%v", err)
		}
	}
	for i, s := range g.AllowSenders {
		if s == "" || strings.ContainsAny(s, " <>") {
			v.fail(indexKey("spam.greylist.allow_senders", i), "%q: want an address or @domain", s)
		}
	}
}

// Reputation configures [spam.reputation]: scores from the verdicts on a
// sender's past messages, by IP, /24 (IPv6 /64) network, domain and
// address.
type Reputation struct {
	// Enabled records verdicts and scores by them (default true).
	Enabled bool `toml:"enabled"`
	// MinMessages is how many verdicts a key needs before it counts.
	MinMessages int `toml:"min_messages"`
	// Score is the most a bad reputation adds (a good one subtracts up to
	// half of it).
	Score float64 `toml:"score"`
	// Retention forgets keys not seen for this long (with greylisting
	// triplets and sent Message-IDs).
	Retention Duration `toml:"retention"`
}

func defaultReputation() Reputation {
	return Reputation{Enabled: true, MinMessages: 5, Score: 3, Retention: D(90 * 24 * time.Hour)}
}

func (c *Config) validateReputation(v *validator) {
	r := c.Spam.Reputation
	v.atLeast("spam.reputation.min_messages", int64(r.MinMessages), 1)
	if r.Score < 0 {
		v.fail("spam.reputation.score", "%g: must not be negative", r.Score)
	}
	v.positive("spam.reputation.retention", r.Retention)
}

// TrustedReplies configures [spam.trusted_replies]: a message whose
// In-Reply-To or References names a message the account sent scores
// toward ham.
type TrustedReplies struct {
	Enabled bool    `toml:"enabled"`
	Score   float64 `toml:"score"`
}

func defaultTrustedReplies() TrustedReplies {
	return TrustedReplies{Enabled: true, Score: -3}
}

func (c *Config) validateTrustedReplies(v *validator) {
	if s := c.Spam.TrustedReplies.Score; s > 0 {
		v.fail("spam.trusted_replies.score", "%g: a trusted reply scores toward ham: want 0 or below", s)
	}
}

// validateTraps checks spam.traps: addresses, lower case.
func (c *Config) validateTraps(v *validator) {
	for i, a := range c.Spam.Traps {
		if !strings.Contains(a, "@") || strings.ContainsAny(a, " <>") || a != strings.ToLower(a) {
			v.fail(indexKey("spam.traps", i), "%q: want an address in lower case, as in \"trap@example.org\"", a)
		}
	}
}
