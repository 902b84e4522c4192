package config

import (
	"strings"
	"testing"
	"time"
)

func TestDNSBLPhishingPyzorParse(t *testing.T) {
	c, err := Parse("g.toml", []byte(minimal+`
[[spam.dnsbl]]
name = "zen"
zone = "zen.spamhaus.org"
type = "ip"
timeout = "2s"
[[spam.dnsbl.answer]]
code = "127.0.0.2-127.0.0.3"
tag = "RCVD_IN_SBL"
score = 3
[[spam.dnsbl.answer]]
code = "127.0.0.10"
tag = "RCVD_IN_PBL"
score = 1.5

[[spam.dnsbl]]
name = "hbl"
zone = "_email.KEY.hbl.dq.spamhaus.net"
type = "email"
hash = "sha1"
encoding = "base32"
blocked = ["127.0.0.1"]
[[spam.dnsbl.answer]]
mask = 6
tag = "HBL_EMAIL"
score = 2

[spam.phishing]
enabled = false
protected_domains = ["bank.example"]
homograph_score = 6

[spam.pyzor]
enabled = true
server = "127.0.0.1:24441"
threshold = 3
`))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Spam.DNSBL
	if len(l) != 2 || l[0].Name != "zen" || l[0].Type != "ip" || l[0].Timeout.Duration != 2*time.Second || len(l[0].Answers) != 2 ||
		l[0].Answers[1].Code != "127.0.0.10" || l[0].Answers[1].Score != 1.5 {
		t.Errorf("dnsbl[0] = %+v", l[0])
	}
	if len(l) == 2 && (l[1].Encoding != "base32" || l[1].Answers[0].Mask != 6 || l[1].Blocked[0] != "127.0.0.1") {
		t.Errorf("dnsbl[1] = %+v", l[1])
	}
	lo, hi, err := l[0].Answers[0].ParseCode()
	if err != nil || lo.String() != "127.0.0.2" || hi.String() != "127.0.0.3" {
		t.Errorf("ParseCode = %v %v %v", lo, hi, err)
	}
	p := c.Spam.Phishing
	if p.Enabled || len(p.ProtectedDomains) != 1 || p.HomographScore != 6 || p.MixedScriptScore != 2 {
		t.Errorf("phishing = %+v (unset keys keep their defaults)", p)
	}
	z := c.Spam.Pyzor
	if !z.Enabled || z.Server != "127.0.0.1:24441" || z.Threshold != 3 || z.Timeout.Duration != 3*time.Second || z.Score != 2 {
		t.Errorf("pyzor = %+v", z)
	}
}

func TestDNSBLPhishingPyzorErrors(t *testing.T) {
	list := func(body string) string {
		return "[[spam.dnsbl]]\n" + body
	}
	const answer = "[[spam.dnsbl.answer]]\ncode = \"127.0.0.2\"\ntag = \"X\"\nscore = 1\n"
	tests := []struct {
		name string
		file string
		want []wantErr
	}{
		{"no name", list("zone = \"a.test\"\ntype = \"ip\"\n" + answer), []wantErr{{4, "spam.dnsbl[0].name", "required"}}},
		{"bad name", list("name = \"a b\"\nzone = \"a.test\"\ntype = \"ip\"\n" + answer), []wantErr{{5, "spam.dnsbl[0].name", "letters"}}},
		{"no zone", list("name = \"a\"\ntype = \"ip\"\n" + answer), []wantErr{{4, "spam.dnsbl[0].zone", "required"}}},
		{"bad zone", list("name = \"a\"\nzone = \"a..test\"\ntype = \"ip\"\n" + answer), []wantErr{{6, "spam.dnsbl[0].zone", "DNS name"}}},
		{"type", list("name = \"a\"\nzone = \"a.test\"\ntype = \"asn\"\n" + answer), []wantErr{{7, "spam.dnsbl[0].type", `"asn" is not one of`}}},
		{"hash", list("name = \"a\"\nzone = \"a.test\"\ntype = \"email\"\nhash = \"crc32\"\n" + answer), []wantErr{{8, "spam.dnsbl[0].hash", `"crc32" is not one of`}}},
		{"hex sha256", list("name = \"a\"\nzone = \"a.test\"\ntype = \"hash\"\nencoding = \"hex\"\n" + answer), []wantErr{{8, "spam.dnsbl[0].encoding", "base32"}}},
		{"no answers", list("name = \"a\"\nzone = \"a.test\"\ntype = \"ip\"\n"), []wantErr{{4, "spam.dnsbl[0].answer", "at least one"}}},
		{"answer code", list("name = \"a\"\nzone = \"a.test\"\ntype = \"ip\"\n[[spam.dnsbl.answer]]\ncode = \"127.0.0.3-127.0.0.2\"\ntag = \"X\"\n"), []wantErr{{9, "spam.dnsbl[0].answer[0].code", "range"}}},
		{"answer nothing", list("name = \"a\"\nzone = \"a.test\"\ntype = \"ip\"\n[[spam.dnsbl.answer]]\ntag = \"X\"\n"), []wantErr{{8, "spam.dnsbl[0].answer[0].code", "required"}}},
		{"answer mask", list("name = \"a\"\nzone = \"a.test\"\ntype = \"ip\"\n[[spam.dnsbl.answer]]\nmask = 256\ntag = \"X\"\n"), []wantErr{{9, "spam.dnsbl[0].answer[0].mask", "1 to 255"}}},
		{"answer tag", list("name = \"a\"\nzone = \"a.test\"\ntype = \"ip\"\n[[spam.dnsbl.answer]]\ncode = \"127.0.0.2\"\ntag = \"lower\"\n"), []wantErr{{10, "spam.dnsbl[0].answer[0].tag", "upper case"}}},
		{"blocked", list("name = \"a\"\nzone = \"a.test\"\ntype = \"ip\"\nblocked = [\"x\"]\n" + answer), []wantErr{{8, "spam.dnsbl[0].blocked[0]", "IPv4"}}},
		{"duplicate", list("name = \"a\"\nzone = \"a.test\"\ntype = \"ip\"\n"+answer) + list("name = \"A\"\nzone = \"b.test\"\ntype = \"ip\"\n"+answer), []wantErr{{13, "spam.dnsbl[1].name", "already"}}},
		{"protected", "[spam.phishing]\nprotected_domains = [\"PayPal.com\", \"localhost\"]\n", []wantErr{{5, "spam.phishing.protected_domains[0]", "lower case"}, {5, "spam.phishing.protected_domains[1]", "want a domain"}}},
		{"pyzor server", "[spam.pyzor]\nserver = \"public.pyzor.org\"\n", []wantErr{{5, "spam.pyzor.server", "host:port"}}},
		{"pyzor threshold", "[spam.pyzor]\nthreshold = 0\n", []wantErr{{5, "spam.pyzor.threshold", "at least 1"}}},
		{"pyzor timeout", "[spam.pyzor]\ntimeout = \"0s\"\n", []wantErr{{5, "spam.pyzor.timeout", "longer than zero"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(minimal+tt.file))
			if err == nil {
				t.Fatal("Parse accepted the file")
			}
			errs := errorList(t, err)
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tt.want), err)
			}
			for i, w := range tt.want {
				if e := errs[i]; e.Line != w.line || e.Key != w.key || !strings.Contains(e.Msg, w.msg) {
					t.Errorf("error %d = %q (line %d, key %q)\nwant line %d, key %q, message containing %q", i, e.Msg, e.Line, e.Key, w.line, w.key, w.msg)
				}
			}
		})
	}
}
