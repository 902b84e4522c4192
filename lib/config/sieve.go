package config

// Sieve configures the [sieve] section. Its keys are added with the code that
// reads them.
type Sieve struct {
}

// defaultSieve returns the defaults of [sieve].
func defaultSieve() Sieve {
	return Sieve{}
}

// validateSieve checks [sieve].
func (c *Config) validateSieve(v *validator) {
}
