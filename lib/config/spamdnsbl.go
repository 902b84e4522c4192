package config

// DNSBL is one [[spam.dnsbl]]: a DNS blocklist. Its keys are added with the
// code that reads them (lib/spam/dnsbl.go).
type DNSBL struct {
}

// defaultDNSBL returns the default blocklists.
func defaultDNSBL() []DNSBL {
	return nil
}

// validateDNSBL checks [[spam.dnsbl]].
func (c *Config) validateDNSBL(v *validator) {
}
