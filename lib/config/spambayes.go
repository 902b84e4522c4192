package config

import (
	"math"
	"strings"
	"time"
)

// SpamBayes configures [spam.bayes], the Bayes classifier (lib/spam/bayes.go).
type SpamBayes struct {
	// Enabled runs the classifier (default true). It tags nothing until a
	// database has learned MinSpam spam and MinHam ham messages.
	Enabled bool `toml:"enabled"`
	// MinSpam and MinHam are how many spam and ham messages a database
	// must have learned before it is used (default 200 each, as
	// SpamAssassin's bayes_min_spam_num): an account's own database below
	// them gives way to the global one.
	MinSpam int64 `toml:"min_spam"`
	MinHam  int64 `toml:"min_ham"`
	// Scores are the scores of the tags ([spam.bayes.scores]).
	Scores BayesScores `toml:"scores"`
	// AutoLearn trains the classifier with the messages the other checks
	// score clearly (default true): spam from AutoLearnSpam up (default
	// 12), ham up to AutoLearnHam (default 0.1). The Bayes tags' own
	// scores do not count toward these.
	AutoLearn     bool    `toml:"auto_learn"`
	AutoLearnSpam float64 `toml:"auto_learn_spam"`
	AutoLearnHam  float64 `toml:"auto_learn_ham"`
	// Refresh is how often a process looks whether the token counts it
	// caches changed (default 2s).
	Refresh Duration `toml:"refresh"`
	// TrainInterval is how often the trainer applies the users' verdicts
	// (messages moved into or out of Junk) to the databases (default 20s).
	TrainInterval Duration `toml:"train_interval"`
	// MaxTokens caps the tokens of each database (default 150,000, as
	// SpamAssassin's bayes_expiry_max_db_size): once a day the trainer
	// drops tokens seen in one message and not for 21 days, then the least
	// recently seen tokens beyond the cap (SpamAssassin's
	// bayes_auto_expire).
	MaxTokens int64 `toml:"max_tokens"`
}

// BayesScores are the scores of the Bayes tags, each for a band of spam
// probability; BAYES_999 is added on top of BAYES_99 from 0.999.
//
// The defaults make the classifier the primary evidence and the rules
// adjustments: a confident Bayes alone (0.999 and above: 4.0 + 1.0) reaches
// the default threshold of 5, 0.99 needs one point of rules, and an unsure
// Bayes (0.40 to 0.60) adds nothing, where SpamAssassin 4.0's scores (3.5 +
// 0.2 and 0.8) leave a confident Bayes to rules that also fire on wanted
// bulk mail. Checked by cross-validation on the benchmark's training
// sets (go run ./bench/spam -cv 5): spam caught 93.5 -> 94.7 %, ham flagged
// 0.08 -> 0.04 %.
type BayesScores struct {
	B00  float64 `toml:"bayes_00"`  // below 0.01 (default -1.9)
	B05  float64 `toml:"bayes_05"`  // 0.01 to 0.05 (-0.5)
	B20  float64 `toml:"bayes_20"`  // 0.05 to 0.20 (-0.001)
	B40  float64 `toml:"bayes_40"`  // 0.20 to 0.40 (-0.001)
	B50  float64 `toml:"bayes_50"`  // 0.40 to 0.60 (0)
	B60  float64 `toml:"bayes_60"`  // 0.60 to 0.80 (1.0)
	B80  float64 `toml:"bayes_80"`  // 0.80 to 0.95 (2.5)
	B95  float64 `toml:"bayes_95"`  // 0.95 to 0.99 (3.5)
	B99  float64 `toml:"bayes_99"`  // 0.99 and above (4.0)
	B999 float64 `toml:"bayes_999"` // 0.999 and above, on top (1.0)
}

// BayesTags lists the Bayes tag names in order of probability.
var BayesTags = []string{"BAYES_00", "BAYES_05", "BAYES_20", "BAYES_40", "BAYES_50",
	"BAYES_60", "BAYES_80", "BAYES_95", "BAYES_99", "BAYES_999"}

// defaultBayesScores are the default scores of the Bayes tags (see
// BayesScores).
func defaultBayesScores() BayesScores {
	return BayesScores{B00: -1.9, B05: -0.5, B20: -0.001, B40: -0.001, B50: 0,
		B60: 1.0, B80: 2.5, B95: 3.5, B99: 4.0, B999: 1.0}
}

// defaultSpamBayes returns the defaults of [spam.bayes].
func defaultSpamBayes() SpamBayes {
	return SpamBayes{
		Enabled:       true,
		MinSpam:       200,
		MinHam:        200,
		Scores:        defaultBayesScores(),
		AutoLearn:     true,
		AutoLearnSpam: 12,
		AutoLearnHam:  0.1,
		Refresh:       Duration{2 * time.Second},
		TrainInterval: Duration{20 * time.Second},
		MaxTokens:     150000,
	}
}

// BayesScore returns the score of a Bayes tag (BAYES_00 ... BAYES_999); 0
// for another name.
func (b *SpamBayes) BayesScore(tag string) float64 {
	s := &b.Scores
	switch tag {
	case "BAYES_00":
		return s.B00
	case "BAYES_05":
		return s.B05
	case "BAYES_20":
		return s.B20
	case "BAYES_40":
		return s.B40
	case "BAYES_50":
		return s.B50
	case "BAYES_60":
		return s.B60
	case "BAYES_80":
		return s.B80
	case "BAYES_95":
		return s.B95
	case "BAYES_99":
		return s.B99
	case "BAYES_999":
		return s.B999
	}
	return 0
}

// validateSpamBayes checks [spam.bayes].
func (c *Config) validateSpamBayes(v *validator) {
	b := c.Spam.Bayes
	v.atLeast("spam.bayes.min_spam", b.MinSpam, 1)
	v.atLeast("spam.bayes.min_ham", b.MinHam, 1)
	for _, name := range BayesTags {
		if sc := b.BayesScore(name); math.IsNaN(sc) || math.IsInf(sc, 0) {
			v.fail("spam.bayes.scores."+strings.ToLower(name), "score must be a finite number")
		}
	}
	if b.AutoLearn && b.AutoLearnHam >= b.AutoLearnSpam {
		v.fail("spam.bayes.auto_learn_ham", "%g is not below spam.bayes.auto_learn_spam (%g)", b.AutoLearnHam, b.AutoLearnSpam)
	}
	v.positive("spam.bayes.refresh", b.Refresh)
	v.positive("spam.bayes.train_interval", b.TrainInterval)
	v.atLeast("spam.bayes.max_tokens", b.MaxTokens, 1000)
}
