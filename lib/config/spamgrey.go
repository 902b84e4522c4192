package config

// Greylist configures [spam.greylist]. Its keys are added with the code that reads them.
type Greylist struct {
}

// defaultGreylist returns the defaults of [spam.greylist].
func defaultGreylist() Greylist {
	return Greylist{}
}

// validateGreylist checks [spam.greylist].
func (c *Config) validateGreylist(v *validator) {
}
