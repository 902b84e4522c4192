package config

import (
	"strings"
	"testing"
)

func TestAuthChecks(t *testing.T) {
	c, err := Parse("g.toml", []byte(minimal+`
[smtpd.checks]
spf = "strict"
dkim = "off"
dmarc_enforce_reject = false
`))
	if err != nil {
		t.Fatal(err)
	}
	want := AuthChecks{SPF: "strict", DKIM: "off", DMARC: "relaxed", ARC: "relaxed", IPRev: "relaxed"}
	if c.SMTPD.Checks != want {
		t.Errorf("checks = %+v, want %+v", c.SMTPD.Checks, want)
	}

	_, err = Parse("g.toml", []byte(minimal+"[smtpd.checks]\narc = \"lenient\"\n"))
	errs := errorList(t, err)
	if len(errs) != 1 || errs[0].Key != "smtpd.checks.arc" || errs[0].Line != 5 || !strings.Contains(errs[0].Msg, `"lenient" is not one of "relaxed", "strict", "off"`) {
		t.Errorf("got %v, want one error about smtpd.checks.arc at line 5", err)
	}
}
