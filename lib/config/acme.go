package config

// ACME configures the [acme] section. Its keys are added with the code that
// reads them.
type ACME struct {
}

// defaultACME returns the defaults of [acme].
func defaultACME() ACME {
	return ACME{}
}

// validateACME checks [acme].
func (c *Config) validateACME(v *validator) {
}
