package config

// Limits configures the [limits] section. Its keys are added with the code that
// reads them.
type Limits struct {
}

// defaultLimits returns the defaults of [limits].
func defaultLimits() Limits {
	return Limits{}
}

// validateLimits checks [limits].
func (c *Config) validateLimits(v *validator) {
}
