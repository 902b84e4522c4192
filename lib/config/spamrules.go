package config

// SpamRule is one [[spam.rule]]: a condition over the message's features
// with the score and tag it gives. Its keys are added with the code that
// reads them (lib/spam/rules.go).
type SpamRule struct {
}

// defaultSpamRules returns the default rule set.
func defaultSpamRules() []SpamRule {
	return nil
}

// validateSpamRules checks [[spam.rule]].
func (c *Config) validateSpamRules(v *validator) {
}
