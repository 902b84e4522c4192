package config

import "strings"

// Phishing configures [spam.phishing]: the checks for look-alike domains,
// mixed scripts, links whose text names another site than they lead to,
// and display names impersonating a brand or a local domain
// (lib/spam/phish.go).
type Phishing struct {
	// Enabled runs the checks (default true).
	Enabled bool `toml:"enabled"`
	// ProtectedDomains are domains (brands) phishing imitates: a link or a
	// sender domain looking like one of them (the same Unicode skeleton,
	// UTS #39) without being it is PHISH_HOMOGRAPH; a display name naming
	// one while the address is elsewhere is PHISH_DISPLAY_NAME. The local
	// domains are protected too, always.
	ProtectedDomains []string `toml:"protected_domains"`
	// HomographScore is PHISH_HOMOGRAPH's score (default 5).
	HomographScore float64 `toml:"homograph_score"`
	// MixedScriptScore is MIXED_SCRIPT_URL's: one label of a link's host
	// mixes scripts, as Latin with Cyrillic (default 2).
	MixedScriptScore float64 `toml:"mixed_script_score"`
	// LinkMismatchScore is PHISH_LINK_MISMATCH's: a link's text names a
	// protected or local domain, and the link leads elsewhere (or to an IP
	// address) (default 2.5).
	LinkMismatchScore float64 `toml:"link_mismatch_score"`
	// LinkTextMismatchScore is LINK_TEXT_MISMATCH's: a link's text names
	// another domain than it leads to, as newsletters' tracked links do
	// too (default 0.5).
	LinkTextMismatchScore float64 `toml:"link_text_mismatch_score"`
	// DisplayNameScore is PHISH_DISPLAY_NAME's: the From display name names
	// a protected or local domain (or a local address) the sender is not
	// from (default 2.5).
	DisplayNameScore float64 `toml:"display_name_score"`
	// LookalikeLocalScore is PHISH_LOOKALIKE_LOCAL's: the sender's or a
	// link's domain is one edit away from a local domain, or has its
	// skeleton (default 4).
	LookalikeLocalScore float64 `toml:"lookalike_local_score"`
}

// defaultPhishing returns the defaults of [spam.phishing].
func defaultPhishing() Phishing {
	return Phishing{
		Enabled: true,
		ProtectedDomains: []string{
			"paypal.com", "apple.com", "icloud.com", "microsoft.com", "office.com",
			"outlook.com", "live.com", "google.com", "gmail.com", "amazon.com",
			"facebook.com", "instagram.com", "whatsapp.com", "netflix.com",
			"linkedin.com", "dropbox.com", "docusign.com", "adobe.com", "dhl.com",
			"fedex.com", "ups.com", "usps.com", "ebay.com", "chase.com",
			"wellsfargo.com", "bankofamerica.com", "americanexpress.com",
			"coinbase.com", "binance.com",
		},
		HomographScore:        5,
		MixedScriptScore:      2,
		LinkMismatchScore:     2.5,
		LinkTextMismatchScore: 0.5,
		DisplayNameScore:      2.5,
		LookalikeLocalScore:   4,
	}
}

// validatePhishing checks [spam.phishing].
func (c *Config) validatePhishing(v *validator) {
	p := c.Spam.Phishing
	for i, d := range p.ProtectedDomains {
		key := indexKey("spam.phishing.protected_domains", i)
		switch {
		case d != strings.ToLower(d):
			v.fail(key, "%q: write it in lower case", d)
		case !strings.Contains(d, "."):
			v.fail(key, "%q: want a domain, as in \"paypal.com\"", d)
		default:
			if err := checkHostname(d); err != nil {
				v.fail(key, "%q: %v", d, err)
			}
		}
	}
}
