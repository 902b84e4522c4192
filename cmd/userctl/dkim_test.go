package main

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// zoneRecords returns the records of a zone-file fragment, comments left
// out, parsed as a DNS server would load them.
func zoneRecords(t *testing.T, out string) []*dns.TXT {
	t.Helper()
	var rrs []*dns.TXT
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if strings.HasPrefix(line, ";") {
			continue
		}
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		txt, ok := rr.(*dns.TXT)
		if !ok {
			t.Fatalf("%q is not a TXT record", line)
		}
		for _, s := range txt.Txt {
			if len(s) > 255 {
				t.Errorf("%q: a string of %d bytes", line, len(s))
			}
		}
		rrs = append(rrs, txt)
	}
	return rrs
}

func TestDKIM(t *testing.T) {
	e := newEnv(t)
	e.ok("", "domain", "add", "example.test", "other.test")

	// create: both algorithms by default, selectors of the month.
	out := e.ok("", "dkim", "create", "Example.Test")
	rrs := zoneRecords(t, out)
	if len(rrs) != 2 {
		t.Fatalf("dkim create printed %d records, want 2:\n%s", len(rrs), out)
	}
	var keys []dkimView
	e.json(&keys, "dkim", "list", "--json")
	if len(keys) != 2 {
		t.Fatalf("dkim list: %+v", keys)
	}
	month := keys[0].Created.Format("200601")
	wantSel := map[string]string{"ed25519-sha256": "gannet" + month + "e", "rsa-sha256": "gannet" + month + "r"}
	for _, k := range keys {
		if k.Domain != "example.test" || k.Selector != wantSel[k.Algorithm] || !k.Active {
			t.Errorf("key %+v", k)
		}
		// The printed record is the one list gives, split for the zone file.
		found := false
		for _, rr := range rrs {
			if rr.Hdr.Name == k.DNSName && strings.Join(rr.Txt, "") == k.DNSValue {
				found = true
			}
		}
		if !found {
			t.Errorf("no record %s %q printed:\n%s", k.DNSName, k.DNSValue, out)
		}
		if k.DNSName != k.Selector+"._domainkey.example.test." {
			t.Errorf("DNS name %q", k.DNSName)
		}
		// show prints the same record.
		if got := zoneRecords(t, e.ok("", "dkim", "show", "example.test", strings.ToUpper(k.Selector))); len(got) != 1 || strings.Join(got[0].Txt, "") != k.DNSValue {
			t.Errorf("dkim show %s: %v", k.Selector, got)
		}
		var v dkimView
		e.json(&v, "dkim", "show", "--json", "example.test", k.Selector)
		if v != k {
			t.Errorf("dkim show --json = %+v, want %+v", v, k)
		}
	}
	if strings.Contains(e.ok("", "dkim", "list", "--json"), "PRIVATE") {
		t.Error("dkim list shows a private key")
	}

	// The same selectors again: refused; a domain that is not local: 67.
	e.fails(1, "already exists", "dkim", "create", "example.test")
	e.fails(67, "no such domain", "dkim", "create", "remote.example")

	// One algorithm with a selector of one's own; both with a selector
	// stem; created disabled.
	e.ok("", "dkim", "create", "other.test", "--algorithm", "ed25519", "--selector", "Mail")
	e.ok("", "dkim", "create", "other.test", "--algorithm", "both", "--selector", "k2027", "--bits", "3072", "--disabled")
	keys = nil
	e.json(&keys, "dkim", "list", "other.test", "--json")
	got := make([]string, 0, len(keys))
	for _, k := range keys {
		state := "on"
		if !k.Active {
			state = "off"
		}
		got = append(got, k.Selector+" "+k.Algorithm+" "+state)
	}
	if want := "k2027e ed25519-sha256 off,k2027r rsa-sha256 off,mail ed25519-sha256 on"; strings.Join(got, ",") != want {
		t.Errorf("dkim list other.test = %q, want %q", strings.Join(got, ","), want)
	}
	// A 3072-bit RSA key needs three strings of 255 bytes at most.
	if rrs := zoneRecords(t, e.ok("", "dkim", "show", "other.test", "k2027r")); len(rrs) != 1 || len(rrs[0].Txt) != 3 {
		t.Errorf("3072-bit key record: %v", rrs)
	}

	// enable, disable, delete.
	e.ok("", "dkim", "enable", "other.test", "k2027r")
	e.ok("", "dkim", "disable", "other.test", "mail")
	table := e.ok("", "dkim", "list", "other.test")
	var rows []string
	for _, line := range strings.Split(strings.TrimSuffix(table, "\n"), "\n")[1:] {
		rows = append(rows, strings.Join(strings.Fields(line)[:4], " "))
	}
	if got, want := strings.Join(rows, ","), "other.test k2027e ed25519-sha256 disabled,other.test k2027r rsa-sha256 active,other.test mail ed25519-sha256 disabled"; got != want {
		t.Errorf("dkim list:\n%s\nwant rows %q", table, want)
	}
	e.ok("", "dkim", "delete", "other.test", "mail")
	e.ok("", "dkim", "remove", "other.test", "k2027e")
	e.fails(67, "dkim key mail of other.test: no such key", "dkim", "delete", "other.test", "mail")
	e.fails(67, "no such key", "dkim", "enable", "other.test", "mail")
	e.fails(67, "no such key", "dkim", "show", "other.test", "mail")
	e.fails(67, "no such domain", "dkim", "list", "remote.example")
	if out := e.ok("", "dkim", "list", "other.test"); strings.Count(out, "\n") != 2 {
		t.Errorf("after deleting two keys:\n%s", out)
	}

	// Bad input.
	e.fails(2, "--algorithm", "dkim", "create", "example.test", "--algorithm", "dsa")
	e.fails(2, "--bits", "dkim", "create", "example.test", "--algorithm", "ed25519", "--bits", "2048")
	e.fails(65, "--bits 1024", "dkim", "create", "example.test", "--algorithm", "rsa", "--bits", "1024", "--selector", "weak")
	e.fails(65, "selector", "dkim", "create", "example.test", "--selector", "a_b")
	e.fails(2, "missing arguments", "dkim", "show", "example.test")
	e.fails(2, "too many arguments", "dkim", "list", "a.test", "b.test")
}
