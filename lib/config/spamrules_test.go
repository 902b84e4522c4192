package config

import (
	"strconv"
	"strings"
	"testing"
)

func TestSpamRules(t *testing.T) {
	c, err := Parse("g.toml", []byte(minimal+`
[[spam.rule]]
name = "LOCAL_ZIP"
condition = 'attachment_names endswith ".zip" and not authenticated'
score = 2.5
description = "zip"

[[spam.rule]]
name = "MIME_HTML_ONLY"
score = 0
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []SpamRule{{"LOCAL_ZIP", `attachment_names endswith ".zip" and not authenticated`, 2.5, "zip"}, {Name: "MIME_HTML_ONLY"}}
	if got := c.Spam.Rules; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("rules = %+v", got)
	}

	_, err = Parse("g.toml", []byte(minimal+`
[[spam.rule]]
name = "lower"
condition = 'subjct == ""'
score = 1

[[spam.rule]]
name = "LOCAL_A"
condition = 'subject matches "("'
score = 1e9

[[spam.rule]]
name = "LOCAL_A"
score = 1
`))
	if err == nil {
		t.Fatal("bad rules accepted")
	}
	for _, want := range []string{
		`g.toml:`, `spam.rule[0].name: "lower": must start with an upper-case letter`,
		`spam.rule[0].condition: column 1: unknown name "subjct"`,
		`spam.rule[1].condition: column 9: bad regular expression`,
		`spam.rule[1].score: 1e+09: must be a number between -1000 and 1000`,
		`spam.rule[2].name: "LOCAL_A": a second rule of that name`,
		`spam.rule[2].condition: required`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\ndoes not say %q", err, want)
		}
	}
	// Lines: the name of rule 0 is on the line after its table header.
	if !strings.Contains(err.Error(), "g.toml:"+lineAfter(minimal, 3)+": spam.rule[0].name") {
		t.Errorf("no line for rule 0: %v", err)
	}
}

// lineAfter is the line number n lines after the end of s.
func lineAfter(s string, n int) string {
	return strconv.Itoa(strings.Count(s, "\n") + n)
}
