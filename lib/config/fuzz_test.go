package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fuzzSources answers references without touching the environment or the
// disk: variables whose name starts with "SET" hold "v", files whose path
// contains "ok" hold "content\n", anything else is missing.
var fuzzSources = sources{
	env: func(name string) (string, bool) {
		if strings.HasPrefix(name, "SET") {
			return "v", true
		}
		return "", false
	},
	file: func(path string) (string, error) {
		if strings.Contains(path, "ok") {
			return "content\n", nil
		}
		return "", os.ErrNotExist
	},
	dir: "/etc/gannet",
}

// FuzzParse checks that Parse never panics, that every error it reports is
// an *Error naming the file and a line inside it, and that an accepted file
// survives Encode and Parse unchanged.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(""))
	if data, err := os.ReadFile(filepath.Join("..", "..", "contrib", "gannet.toml")); err == nil {
		f.Add(data)
	}
	f.Add([]byte(minimal + "[smtpd]\nrelay_networks = [\"${env:SET_NET}\", \"10.0.0.1\"]\nidle_timeout = \"${env:NOPE}\"\n[[smtpd.listener]]\nname = \"smtp\"\naddress = \"${file:ok}:25\"\n"))
	f.Add([]byte(minimal + "[queued]\nretry_schedule = [\n\"1d\", # x\n'2h',\n]\n[tls]\ncert_file = \"\"\"a\nb\"\"\"\nkey_file = '''$${x}'''\n"))
	f.Add([]byte("x = {a = [1, {b = 2}], \"c.d\" = 3}\n[[y]]\n[y.z]\n[[y]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse("f.toml", data, fuzzSources)
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			lines := bytes.Count(data, []byte("\n")) + 1
			var errs []error
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			} else {
				errs = []error{err}
			}
			for _, e := range errs {
				var ce *Error
				if !errors.As(e, &ce) {
					t.Fatalf("%q is not a *config.Error", e)
				}
				if ce.File != "f.toml" || ce.Line < 0 || ce.Line > lines {
					t.Fatalf("error %#v: bad file or line (file has %d lines)", ce, lines)
				}
			}
			return
		}
		var out bytes.Buffer
		if err := c.Encode(&out); err != nil {
			t.Fatalf("Encode: %v", err)
		}
		c2, err := parse("f.toml", out.Bytes(), fuzzSources)
		if err != nil {
			t.Fatalf("Encode wrote what Parse refuses: %v\n%s", err, out.String())
		}
		if !reflect.DeepEqual(public(c), public(c2)) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v\n%s", public(c), public(c2), out.String())
		}
	})
}
