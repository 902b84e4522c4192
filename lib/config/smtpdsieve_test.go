package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSMTPDSieve(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "rcpt.sieve")
	bad := filepath.Join(dir, "bad.sieve")
	if err := os.WriteFile(good, []byte("require [\"envelope\", \"copy\"];\nif envelope :is \"to\" \"a@b.example\" { redirect :copy \"c@b.example\"; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("require \"envelope\";\n\nfrobnicate;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Parse("g.toml", []byte(minimal+"[[smtpd.sieve]]\nstage = \"rcpt\"\nscript = \""+good+"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.SMTPD.Sieve; len(s) != 1 || s[0].Stage != "rcpt" || s[0].Script != good {
		t.Errorf("parsed %+v", s)
	}
	// A relative path starts from the configuration file's directory.
	c, err = Parse(filepath.Join(dir, "gannet.toml"), []byte(minimal+"[[smtpd.sieve]]\nstage = \"rcpt\"\nscript = \"rcpt.sieve\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := c.SMTPD.Sieve[0].Path(c.Path); p != good {
		t.Errorf("Path = %q, want %q", p, good)
	}

	for _, tt := range []struct {
		name, file string
		want       wantErr
	}{
		{"bad script", "[[smtpd.sieve]]\nstage = \"data\"\nscript = \"" + bad + "\"\n", wantErr{6, "smtpd.sieve[0].script", bad + ":3:1: unknown command 'frobnicate'"}},
		{"stage", "[[smtpd.sieve]]\nstage = \"quit\"\nscript = \"" + good + "\"\n", wantErr{5, "smtpd.sieve[0].stage", `"quit" is not one of`}},
		{"missing script", "[[smtpd.sieve]]\nstage = \"mail\"\n", wantErr{4, "smtpd.sieve[0].script", "required"}},
		{"relative", "[[smtpd.sieve]]\nstage = \"mail\"\nscript = \"x.sieve\"\n", wantErr{6, "smtpd.sieve[0].script", "x.sieve: no such file"}},
		{"directory", "[[smtpd.sieve]]\nstage = \"mail\"\nscript = \"" + dir + "\"\n", wantErr{6, "smtpd.sieve[0].script", "not a regular file"}},
		{"missing file", "[[smtpd.sieve]]\nstage = \"mail\"\nscript = \"" + dir + "/none.sieve\"\n", wantErr{6, "smtpd.sieve[0].script", "no such file"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("g.toml", []byte(minimal+tt.file))
			if err == nil {
				t.Fatal("Parse accepted the file")
			}
			errs := errorList(t, err)
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1:\n%v", len(errs), err)
			}
			if e, w := errs[0], tt.want; e.Line != w.line || e.Key != w.key || !strings.Contains(e.Msg, w.msg) {
				t.Errorf("error = %q (line %d, key %q)\nwant line %d, key %q, message containing %q", e.Msg, e.Line, e.Key, w.line, w.key, w.msg)
			}
		})
	}
}
