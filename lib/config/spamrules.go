package config

import (
	"math"
	"strings"

	"gannet/lib/expr"
)

// SpamRule is one [[spam.rule]]: a condition over the message's features
// (an expression of lib/expr, with the names of RuleSignatures) and the
// score and tag it gives when it holds. The rules of the file add to the
// default rule set of lib/spam: a rule with the name of a default rule
// replaces it, and a score of 0 turns it off.
type SpamRule struct {
	// Name is the tag the rule adds, such as SUBJ_ALL_CAPS: upper-case
	// letters, digits and underscores, starting with a letter.
	Name string `toml:"name"`
	// Condition is the expression that makes the rule fire, for example
	// `subject matches "(?i)viagra" and not authenticated`.
	Condition string `toml:"condition"`
	// Score is added to the message's score when the rule fires: positive
	// toward spam, negative toward ham; 0 turns the rule off.
	Score float64 `toml:"score"`
	// Description is the short explanation written in X-Spam-Result.
	Description string `toml:"description"`
}

// Bounds of a rule.
const (
	maxRuleName        = 64
	maxRuleDescription = 200
	maxRules           = 2000
)

// RuleSignatures are the names a [[spam.rule]] condition can use: the
// variables and functions the rules of lib/spam provide (their meaning is
// in gannet-spam(5)), on top of the functions of the language itself
// (lower, upper, trim, len, count, caps).
var RuleSignatures = &expr.Signatures{
	Vars: map[string]expr.Kind{
		"subject":              expr.String,
		"from":                 expr.String,
		"from_name":            expr.String,
		"from_domain":          expr.String,
		"reply_to":             expr.String,
		"reply_to_domain":      expr.String,
		"to_count":             expr.Number,
		"message_id":           expr.String,
		"in_reply_to":          expr.String,
		"references_count":     expr.Number,
		"date_valid":           expr.Bool,
		"date_age":             expr.Number,
		"msgid_outlook_forged": expr.Bool,
		"client_rdns":          expr.String,
		"rdns_none":            expr.Bool,
		"received_count":       expr.Number,
		"mail_from":            expr.String,
		"mail_from_domain":     expr.String,
		"helo":                 expr.String,
		"client_ip":            expr.String,
		"rcpt_count":           expr.Number,
		"authenticated":        expr.Bool,
		"spf":                  expr.String,
		"dkim":                 expr.String,
		"dkim_domains":         expr.List,
		"dmarc":                expr.String,
		"arc":                  expr.String,
		"body":                 expr.String,
		"body_length":          expr.Number,
		"html":                 expr.Bool,
		"html_only":            expr.Bool,
		"html_images":          expr.Number,
		"url_count":            expr.Number,
		"url_hosts":            expr.List,
		"urls":                 expr.List,
		"link_texts":           expr.List,
		"has_attachment":       expr.Bool,
		"attachment_types":     expr.List,
		"attachment_names":     expr.List,
		"size":                 expr.Number,
	},
	Funcs: map[string]expr.Func{
		"header":               {Args: []expr.Kind{expr.String}, Result: expr.String},
		"raw_header":           {Args: []expr.Kind{expr.String}, Result: expr.String},
		"headers":              {Args: []expr.Kind{expr.String}, Result: expr.Number},
		"header_values":        {Args: []expr.Kind{expr.String}, Result: expr.List},
		"has_header":           {Args: []expr.Kind{expr.String}, Result: expr.Bool},
		"field_before":         {Args: []expr.Kind{expr.String, expr.String}, Result: expr.Bool},
		"tag":                  {Args: []expr.Kind{expr.String}, Result: expr.Bool},
		"fact":                 {Args: []expr.Kind{expr.String}, Result: expr.Number},
		"has_fact":             {Args: []expr.Kind{expr.String}, Result: expr.Bool},
		"any_url_host_matches": {Args: []expr.Kind{expr.String}, Result: expr.Bool},
		"url_host_in":          {Args: []expr.Kind{expr.List}, Result: expr.Bool},
		"domain":               {Args: []expr.Kind{expr.String}, Result: expr.String},
		"org_domain":           {Args: []expr.Kind{expr.String}, Result: expr.String},
		"freemail":             {Args: []expr.Kind{expr.String}, Result: expr.Bool},
		"count_in":             {Args: []expr.Kind{expr.List, expr.List}, Result: expr.Number},
		"count_matches":        {Args: []expr.Kind{expr.Any, expr.String}, Result: expr.Number},
		"count_contains":       {Args: []expr.Kind{expr.String, expr.List}, Result: expr.Number},
	},
}

// defaultSpamRules returns the rules of the file by default: none, the
// default rule set lives in lib/spam (defaultrules.toml) and applies
// unless a rule replaces or turns off one of its rules.
func defaultSpamRules() []SpamRule {
	return nil
}

// CheckRuleName reports what is wrong with a rule name, nil when nothing.
func CheckRuleName(name string) string {
	switch {
	case name == "":
		return "required: the tag the rule adds, as in name = \"SUBJ_ALL_CAPS\""
	case len(name) > maxRuleName:
		return "longer than 64 characters"
	case name[0] < 'A' || name[0] > 'Z':
		return "must start with an upper-case letter"
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return "may hold only upper-case letters, digits and \"_\""
		}
	}
	return ""
}

// validateSpamRules checks [[spam.rule]]: names, scores, and that every
// condition compiles.
func (c *Config) validateSpamRules(v *validator) {
	if len(c.Spam.Rules) > maxRules {
		v.fail("spam.rule", "%d rules: at most %d", len(c.Spam.Rules), maxRules)
		return
	}
	seen := map[string]bool{}
	for i, r := range c.Spam.Rules {
		key := indexKey("spam.rule", i)
		if msg := CheckRuleName(r.Name); msg != "" {
			v.fail(key+".name", "%q: %s", r.Name, msg)
		} else if seen[r.Name] {
			v.fail(key+".name", "%q: a second rule of that name", r.Name)
		}
		seen[r.Name] = true
		if math.IsNaN(r.Score) || math.IsInf(r.Score, 0) || math.Abs(r.Score) > 1000 {
			v.fail(key+".score", "%g: must be a number between -1000 and 1000", r.Score)
		}
		if len(r.Description) > maxRuleDescription {
			v.fail(key+".description", "longer than %d characters", maxRuleDescription)
		}
		if strings.TrimSpace(r.Condition) == "" {
			if r.Score != 0 {
				v.fail(key+".condition", "required: when the rule fires, as in condition = 'subject == \"\"' (or score = 0 to turn off a default rule)")
			}
			continue
		}
		if _, err := expr.Compile(r.Condition, RuleSignatures); err != nil {
			v.fail(key+".condition", "%v", err)
		}
	}
}
