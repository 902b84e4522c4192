package mtasts

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds policy bodies to Parse. A policy it accepts must keep
// its invariants and read back the same from String.
func FuzzParse(f *testing.F) {
	f.Add([]byte(policyA))
	f.Add([]byte(policyB))
	f.Add([]byte("version: STSv1\nmode: none\nmax_age: 0"))
	f.Add([]byte("version: STSv1\r\nmode: enforce\r\nmx: *.example.test\r\nx-ext: h\u00e9 llo\r\nmax_age: 31557600\r\n\r\n"))
	f.Add([]byte("version: STSv1\nmode: enforce\nmode: enforce\nmx: a\nmax_age: 99999999999\n"))
	f.Add([]byte("version:STSv1\rmode:\tenforce\nmx: a.*.b\nmax_age: -1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			if p != nil {
				t.Fatalf("Parse returned a policy with error %v", err)
			}
			return
		}
		if len(b) > MaxPolicySize {
			t.Fatalf("accepted %d bytes", len(b))
		}
		switch p.Mode {
		case Enforce, Testing:
			if len(p.MX) == 0 {
				t.Fatalf("mode %s without mx", p.Mode)
			}
		case None:
		default:
			t.Fatalf("mode %q", p.Mode)
		}
		if p.MaxAge < 0 || p.MaxAge > MaxMaxAge*time.Second || p.MaxAge%time.Second != 0 {
			t.Fatalf("max_age %v", p.MaxAge)
		}
		for _, mx := range p.MX {
			if strings.ContainsAny(strings.TrimPrefix(mx, "*."), "* \t\r\n") {
				t.Fatalf("mx %q", mx)
			}
			if !p.Match(strings.Replace(mx, "*", "x", 1)) {
				t.Fatalf("policy does not match its own mx %q", mx)
			}
		}
		q, err := Parse([]byte(p.String()))
		if err != nil {
			t.Fatalf("Parse(String()) of %q: %v", p.String(), err)
		}
		if q.Mode != p.Mode || q.MaxAge != p.MaxAge || !slices.Equal(q.MX, p.MX) {
			t.Fatalf("Parse(String()) = %+v, want %+v", *q, *p)
		}
	})
}

// FuzzParseRecord feeds _mta-sts TXT records to parseRecord.
func FuzzParseRecord(f *testing.F) {
	f.Add("v=STSv1; id=20160831085700Z;")
	f.Add("v=STSv1 ;\tid=abc ; ext=x;")
	f.Add("v=STSv1; id=1; id=2")
	f.Add("v=STSv1;; x=a=b")
	f.Fuzz(func(t *testing.T, txt string) {
		id, err := parseRecord(txt)
		if err != nil {
			return
		}
		if id == "" || len(id) > 32 || !allAlnum(id) {
			t.Fatalf("id %q from %q", id, txt)
		}
		if !strings.HasPrefix(txt, "v=STSv1") {
			t.Fatalf("accepted %q", txt)
		}
	})
}
