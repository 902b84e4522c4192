package config

import (
	"strings"
	"testing"
)

func TestSieveLimits(t *testing.T) {
	c, err := Parse("g.toml", []byte(minimal+"[sieve]\nmax_scripts = 5\nmax_script_size = 2048\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Sieve.MaxScripts != 5 || c.Sieve.MaxScriptSize != 2048 {
		t.Errorf("parsed %+v", c.Sieve)
	}
	for _, tt := range []struct{ file, key string }{
		{"[sieve]\nmax_scripts = 0\n", "sieve.max_scripts"},
		{"[sieve]\nmax_scripts = 10001\n", "sieve.max_scripts"},
		{"[sieve]\nmax_script_size = 0\n", "sieve.max_script_size"},
		{"[sieve]\nmax_script_size = 16777217\n", "sieve.max_script_size"},
	} {
		_, err := Parse("g.toml", []byte(minimal+tt.file))
		if err == nil || !strings.Contains(err.Error(), tt.key) || !strings.Contains(err.Error(), "g.toml:5") {
			t.Errorf("%q: %v, want an error naming %s on line 5", tt.file, err, tt.key)
		}
	}
}
