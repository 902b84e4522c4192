package config

// Spam configures the spam and phishing filter (lib/spam), the [spam]
// section. Each part's keys live in a file of its own: spamrules.go,
// spambayes.go, spamdnsbl.go, spamphish.go, spamgrey.go.
type Spam struct {
	// Enabled runs the filter in smtpd and deliver (default true).
	Enabled bool `toml:"enabled"`
	// Threshold is the score from which a message is spam and goes to the
	// account's Junk mailbox (default 5, as SpamAssassin's required_score).
	Threshold float64 `toml:"threshold"`
	// RejectThreshold is the score from which smtpd refuses a message with
	// 550 5.7.1 (default 15); 0 never refuses.
	RejectThreshold float64 `toml:"reject_threshold"`

	Rules    []SpamRule `toml:"rule"`     // spamrules.go
	Bayes    SpamBayes  `toml:"bayes"`    // spambayes.go
	DNSBL    []DNSBL    `toml:"dnsbl"`    // spamdnsbl.go
	Phishing Phishing   `toml:"phishing"` // spamphish.go
	Greylist Greylist   `toml:"greylist"` // spamgrey.go
	// Reputation, TrustedReplies and Traps: spamgrey.go.
	Reputation     Reputation     `toml:"reputation"`
	TrustedReplies TrustedReplies `toml:"trusted_replies"`
	// Traps are spam-trap addresses: smtpd accepts mail to them (whether
	// or not an account has the address), discards it and trains it as
	// spam, and counts it against the sender's reputation.
	Traps []string `toml:"traps"`
	Pyzor Pyzor    `toml:"pyzor"` // spamdnsbl.go
}

// defaultSpam returns the defaults of [spam].
func defaultSpam() Spam {
	return Spam{
		Enabled:         true,
		Threshold:       5,
		RejectThreshold: 15,
		Rules:           defaultSpamRules(),
		Bayes:           defaultSpamBayes(),
		DNSBL:           defaultDNSBL(),
		Phishing:        defaultPhishing(),
		Greylist:        defaultGreylist(),
		Reputation:      defaultReputation(),
		TrustedReplies:  defaultTrustedReplies(),
		Traps:           []string{},
		Pyzor:           defaultPyzor(),
	}
}

// validateSpam checks [spam].
func (c *Config) validateSpam(v *validator) {
	s := c.Spam
	if s.RejectThreshold != 0 && s.RejectThreshold < s.Threshold {
		v.fail("spam.reject_threshold", "%g is below spam.threshold (%g): set it above, or 0 to never reject", s.RejectThreshold, s.Threshold)
	}
	c.validateSpamRules(v)
	c.validateSpamBayes(v)
	c.validateDNSBL(v)
	c.validatePhishing(v)
	c.validateGreylist(v)
	c.validateReputation(v)
	c.validateTrustedReplies(v)
	c.validateTraps(v)
}
