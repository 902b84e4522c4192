package tests

import (
	"context"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"gannet/lib/config"
	"gannet/lib/dnstest"
	"gannet/lib/msgauth"
)

// TestDKIMKeys makes keys with userctl dkim create, publishes the records
// it prints from a DNS server of the test's own, signs a message with the
// keys as the store hands them out, and has the signatures checked by
// go-msgauth (through lib/msgauth) and by OpenDKIM's verifier (opendkim
// in test mode, resolving through libunbound at that DNS server). OpenDKIM's
// opendkim-testkey checks each published record against its private key.
func TestDKIMKeys(t *testing.T) {
	e := newSmtpdEnv(t, "")
	r := run(t, "userctl", "--config", e.config, "dkim", "create", smtpdDomain)
	if r.status != 0 {
		t.Fatalf("userctl dkim create: %d %s", r.status, r.stderr)
	}
	// The output is a zone-file fragment: comments and one TXT record per
	// key, ready to paste.
	dns := dnstest.New(t)
	var records []string
	for _, line := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		if !strings.HasPrefix(line, ";") {
			records = append(records, line)
		}
	}
	if len(records) != 2 {
		t.Fatalf("userctl dkim create printed %d records, want 2:\n%s", len(records), r.stdout)
	}
	dns.Add(records...)

	st := e.openStore()
	ctx := context.Background()
	keys, err := st.ListDKIMKeys(ctx, smtpdDomain)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("the store holds %d keys, want 2", len(keys))
	}
	signer, err := msgauth.NewSigner(keys)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("From: Demo <" + smtpdUser + ">\r\n" +
		"To: someone@remote.example\r\n" +
		"Subject: signed twice\r\n" +
		"Date: " + time.Now().Format(time.RFC1123Z) + "\r\n" +
		"Message-ID: <dkim-blackbox@example.test>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=us-ascii\r\n" +
		"\r\n" +
		"One RSA and one Ed25519 signature.\r\n")
	sigs, err := signer.Sign(smtpdDomain, msg)
	if err != nil {
		t.Fatal(err)
	}
	signed := append(sigs, msg...)
	tampered := []byte(strings.Replace(string(signed), "One RSA", "One DSA", 1))

	// go-msgauth, through lib/msgauth's checker.
	res, err := msgauth.NewResolver(config.DNS{Resolver: dns.Addr(), Timeout: config.Duration{Duration: 5 * time.Second}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	checker := msgauth.NewChecker(res, msgauth.Policy{})
	results := func(m []byte) []string {
		var out []string
		for _, r := range checker.CheckDKIM(ctx, m) {
			out = append(out, r.Algorithm+"="+string(r.Value))
		}
		slices.Sort(out)
		return out
	}
	if got, want := results(signed), []string{"ed25519-sha256=" + string(authres.ResultPass), "rsa-sha256=" + string(authres.ResultPass)}; !slices.Equal(got, want) {
		t.Errorf("go-msgauth: %v, want %v", got, want)
	}
	if got, want := results(tampered), []string{"ed25519-sha256=" + string(authres.ResultFail), "rsa-sha256=" + string(authres.ResultFail)}; !slices.Equal(got, want) {
		t.Errorf("go-msgauth, body changed: %v, want %v", got, want)
	}

	// OpenDKIM: opendkim -t verifies a message file and exits; libunbound
	// forwards its queries to the test's DNS server.
	opendkim := needTool(t, "opendkim")
	dir := t.TempDir()
	unbound := filepath.Join(dir, "unbound.conf")
	writeTestFile(t, unbound, fmt.Sprintf(`server:
	do-not-query-localhost: no
	local-zone: "test." nodefault
	module-config: "iterator"
forward-zone:
	name: "."
	forward-addr: %s
`, strings.Replace(dns.Addr(), ":", "@", 1)))
	conf := filepath.Join(dir, "opendkim.conf")
	writeTestFile(t, conf, "Mode v\nSyslog no\nResolverConfiguration "+unbound+"\n")
	verify := func(m []byte) string {
		t.Helper()
		file := filepath.Join(dir, "msg.eml")
		writeTestFile(t, file, string(m))
		out, _ := runTool(t, opendkim, "-x", conf, "-vvv", "-t", file)
		return out
	}
	// With -vvv it prints the Authentication-Results field it would add,
	// one line per signature.
	out := verify(signed)
	for _, k := range keys {
		if !hasLine(out, "dkim=pass", "header.d="+smtpdDomain, "header.a="+k.Algorithm, "header.s="+k.Selector+" ") {
			t.Errorf("opendkim did not verify the %s signature (s=%s):\n%s", k.Algorithm, k.Selector, out)
		}
	}
	out = verify(tampered)
	for _, k := range keys {
		if !hasLine(out, "dkim=fail", "header.a="+k.Algorithm, "header.s="+k.Selector+" ") || strings.Contains(out, "dkim=pass") {
			t.Errorf("opendkim, body changed: want the %s signature failed:\n%s", k.Algorithm, out)
		}
	}

	// opendkim-testkey: the published RSA record matches the private key
	// (it compares RSA keys only: for Ed25519 it checks that the record is
	// found and parses).
	testkey := needTool(t, "opendkim-testkey")
	for _, k := range keys {
		args := []string{"-x", conf, "-d", smtpdDomain, "-s", k.Selector, "-vvv"}
		if k.Algorithm == msgauth.AlgRSASHA256 {
			keyFile := filepath.Join(dir, k.Selector+".private")
			writeTestFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k.PrivateKey})))
			args = append(args, "-k", keyFile)
		}
		out, status := runTool(t, testkey, args...)
		if status != 0 || !strings.Contains(out, "key OK") {
			t.Errorf("opendkim-testkey %s (%s): status %d\n%s", k.Selector, k.Algorithm, status, out)
		}
	}
	// And it does compare: another RSA key under the same name fails.
	other, err := msgauth.GenerateDKIMKey(smtpdDomain, "x", msgauth.AlgRSASHA256, 0)
	if err != nil {
		t.Fatal(err)
	}
	otherFile := filepath.Join(dir, "other.private")
	writeTestFile(t, otherFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: other.PrivateKey})))
	for _, k := range keys {
		if k.Algorithm != msgauth.AlgRSASHA256 {
			continue
		}
		out, status := runTool(t, testkey, "-x", conf, "-d", smtpdDomain, "-s", k.Selector, "-k", otherFile)
		if status == 0 || strings.Contains(out, "key OK") {
			t.Errorf("opendkim-testkey took a record for another key: status %d\n%s", status, out)
		}
	}
}

// writeTestFile writes data to a file only its owner reads.
func writeTestFile(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// runTool runs an external program for at most a minute and returns its
// output (stdout and stderr together) and exit status.
func runTool(t *testing.T, prog string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s: still running after a minute", prog)
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s: %v", prog, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// hasLine reports whether one line of out holds every one of parts.
func hasLine(out string, parts ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return true
		}
	}
	return false
}
