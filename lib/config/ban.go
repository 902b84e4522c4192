package config

// Ban configures the [ban] section. Its keys are added with the code that
// reads them.
type Ban struct {
}

// defaultBan returns the defaults of [ban].
func defaultBan() Ban {
	return Ban{}
}

// validateBan checks [ban].
func (c *Config) validateBan(v *validator) {
}
