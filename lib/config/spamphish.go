package config

// Phishing configures [spam.phishing]. Its keys are added with the code that reads them.
type Phishing struct {
}

// defaultPhishing returns the defaults of [spam.phishing].
func defaultPhishing() Phishing {
	return Phishing{}
}

// validatePhishing checks [spam.phishing].
func (c *Config) validatePhishing(v *validator) {
}
