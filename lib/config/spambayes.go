package config

// SpamBayes configures [spam.bayes]. Its keys are added with the code that reads them.
type SpamBayes struct {
}

// defaultSpamBayes returns the defaults of [spam.bayes].
func defaultSpamBayes() SpamBayes {
	return SpamBayes{}
}

// validateSpamBayes checks [spam.bayes].
func (c *Config) validateSpamBayes(v *validator) {
}
