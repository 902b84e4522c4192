package msgauth

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"
	"github.com/miekg/dns"
)

func checkARC(e *env, msg []byte) *ARCResult {
	fields, bodyAt, _ := splitMessage(msg)
	return verifyARC(context.Background(), e.r, fields, msg[bodyAt:])
}

func TestARC(t *testing.T) {
	e := newEnv(t, allRelaxed)
	k1, k2 := newEd25519(t), testRSAKey(t)
	e.publishKey(t, "arc", "fwd.test", k1)
	e.publishKey(t, "seal", "list.test", k2)
	e.dns.Add(txtRR("arc._domainkey.unreachable.test", keyRecord(t, k1)))
	e.dns.Fail("arc._domainkey.unreachable.test", dns.RcodeServerFailure)

	orig := message("alice@origin.test", "Hello.\r\n")
	oneHop := arcSeal(t, orig, "fwd.test", "arc", k1, "none", "spf=pass smtp.mailfrom=origin.test")
	// The list changes the subject and body, then seals with cv=pass: the
	// first AMS breaks, the chain holds.
	changed := bytes.Replace(oneHop, []byte("Subject: a test"), []byte("Subject: [list] a test"), 1)
	changed = append(changed, "-- \r\nfooter\r\n"...)
	twoHops := arcSeal(t, changed, "list.test", "seal", k2, "pass", "arc=pass")

	tests := []struct {
		name    string
		msg     []byte
		want    authres.ResultValue
		reason  string // in the reason of a failure
		temp    bool
		sealer  string
		setsLen int
	}{
		{name: "no ARC", msg: orig, want: authres.ResultNone},
		{name: "one hop", msg: oneHop, want: authres.ResultPass, sealer: "fwd.test", setsLen: 1},
		{name: "two hops, first AMS broken by the list", msg: twoHops, want: authres.ResultPass, sealer: "list.test", setsLen: 2},
		{name: "body changed after sealing", msg: append(bytes.Clone(oneHop), "more\r\n"...), want: authres.ResultFail, reason: "body hash"},
		{name: "signed field changed", msg: bytes.Replace(oneHop, []byte("To: rcpt@"), []byte("To: other@"), 1), want: authres.ResultFail, reason: "ARC-Message-Signature 1: signature did not verify"},
		{name: "results changed", msg: bytes.Replace(oneHop, []byte("spf=pass smtp"), []byte("spf=fail smtp"), 1), want: authres.ResultFail, reason: "ARC-Seal 1: signature did not verify"},
		{name: "older results changed", msg: bytes.Replace(twoHops, []byte("spf=pass smtp"), []byte("spf=fail smtp"), 1), want: authres.ResultFail, reason: "ARC-Seal 2: signature did not verify"},
		{name: "first cv=pass", msg: arcSeal(t, orig, "fwd.test", "arc", k1, "pass", "spf=pass"), want: authres.ResultFail, reason: "cv=pass, want cv=none"},
		{name: "newest cv=fail", msg: arcSeal(t, oneHop, "fwd.test", "arc", k1, "fail", "arc=fail"), want: authres.ResultFail, reason: "cv=fail"},
		{name: "second cv=none", msg: arcSeal(t, oneHop, "fwd.test", "arc", k1, "none", "arc=pass"), want: authres.ResultFail, reason: "want cv=pass"},
		{name: "set removed", msg: dropLines(twoHops, "i=1"), want: authres.ResultFail, reason: "incomplete"},
		{name: "seal removed", msg: dropField(oneHop, "ARC-Seal"), want: authres.ResultFail, reason: "incomplete"},
		{name: "set duplicated", msg: append(fieldsOf(oneHop, "ARC-"), oneHop...), want: authres.ResultFail, reason: "two "},
		{name: "instance 51", msg: bytes.ReplaceAll(oneHop, []byte("i=1;"), []byte("i=51;")), want: authres.ResultFail, reason: `bad instance "51"`},
		{name: "no key", msg: arcSeal(t, orig, "nokey.test", "arc", k1, "none", "spf=pass"), want: authres.ResultFail, reason: "no key"},
		{name: "key unreachable", msg: arcSeal(t, orig, "unreachable.test", "arc", k1, "none", "spf=pass"), want: authres.ResultFail, reason: "key unavailable", temp: true},
		{name: "wrong key", msg: arcSeal(t, orig, "fwd.test", "arc", newEd25519(t), "none", "spf=pass"), want: authres.ResultFail, reason: "did not verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := checkARC(e, tt.msg)
			if res.Value != tt.want || !strings.Contains(res.Reason, tt.reason) || res.Temporary != tt.temp {
				t.Errorf("got %s (%s), temporary %v; want %s (%q), temporary %v", res.Value, res.Reason, res.Temporary, tt.want, tt.reason, tt.temp)
			}
			if tt.want == authres.ResultPass && (res.Sealer != tt.sealer || res.Instances != tt.setsLen) {
				t.Errorf("sealer %q, %d sets; want %q, %d", res.Sealer, res.Instances, tt.sealer, tt.setsLen)
			}
		})
	}
}

// TestARCFromDkimpy validates a chain sealed by another implementation
// (dkimpy, see testdata/gen-arc-dkimpy.py): two hops, the second changing
// subject and body, with the folding and spacing dkimpy writes.
func TestARCFromDkimpy(t *testing.T) {
	e := newEnv(t, allRelaxed)
	zone, err := os.Open("testdata/arc-dkimpy.zone")
	if err != nil {
		t.Fatal(err)
	}
	defer zone.Close()
	sc := bufio.NewScanner(zone)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		e.dns.Add(sc.Text())
	}
	msg, err := os.ReadFile("testdata/arc-dkimpy.eml")
	if err != nil {
		t.Fatal(err)
	}
	if res := checkARC(e, msg); res.Value != authres.ResultPass || res.Instances != 2 || res.Sealer != "hop2.test" {
		t.Errorf("dkimpy's chain: %s (%s), %d sets, sealer %q; want pass, 2, hop2.test", res.Value, res.Reason, res.Instances, res.Sealer)
	}
	tampered := bytes.Replace(msg, []byte("list footer"), []byte("list f00ter"), 1)
	if res := checkARC(e, tampered); res.Value != authres.ResultFail {
		t.Errorf("dkimpy's chain with the body changed: %s, want fail", res.Value)
	}
	tampered = bytes.Replace(msg, []byte("i=1; hop1.test; spf=pass"), []byte("i=1; hop1.test; spf=fail"), 1)
	if res := checkARC(e, tampered); res.Value != authres.ResultFail {
		t.Errorf("dkimpy's chain with the first results changed: %s, want fail", res.Value)
	}
}

// dropLines removes the fields (with their continuation lines) whose
// first line holds s.
func dropLines(msg []byte, s string) []byte {
	fields, bodyAt, _ := splitMessage(msg)
	var out []byte
	for _, f := range fields {
		first, _, _ := bytes.Cut(f.raw, []byte("\n"))
		if !bytes.Contains(first, []byte(s)) {
			out = append(out, f.raw...)
		}
	}
	return append(out, msg[bodyAt-2:]...)
}

// dropField removes the first field named name.
func dropField(msg []byte, name string) []byte {
	fields, _, _ := splitMessage(msg)
	for _, f := range fields {
		if strings.EqualFold(string(f.name), name) {
			i := bytes.Index(msg, f.raw)
			return append(bytes.Clone(msg[:i]), msg[i+len(f.raw):]...)
		}
	}
	return msg
}

// fieldsOf returns the fields whose names start with prefix.
func fieldsOf(msg []byte, prefix string) []byte {
	fields, _, _ := splitMessage(msg)
	var out []byte
	re := regexp.MustCompile("(?i)^" + regexp.QuoteMeta(prefix))
	for _, f := range fields {
		if re.Match(f.name) {
			out = append(out, f.raw...)
		}
	}
	return out
}
