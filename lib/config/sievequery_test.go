package config

import (
	"strings"
	"testing"
	"time"
)

func TestSieveQueryAndGlobalDir(t *testing.T) {
	c, err := Parse("g.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Sieve.QueryDatabase != "" || c.Sieve.GlobalDir != "" || c.Sieve.QueryTimeout.Duration != time.Second {
		t.Errorf("defaults: %+v", c.Sieve)
	}
	c, err = Parse("g.toml", []byte(minimal+"[sieve]\nquery_database = \"/var/lib/gannet/lookup.db\"\nquery_timeout = \"250ms\"\nglobal_dir = \"/etc/gannet/sieve\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Sieve.QueryDatabase != "/var/lib/gannet/lookup.db" || c.Sieve.QueryTimeout.Duration != 250*time.Millisecond || c.Sieve.GlobalDir != "/etc/gannet/sieve" {
		t.Errorf("parsed %+v", c.Sieve)
	}
	for _, tt := range []struct{ file, key string }{
		{"[sieve]\nquery_database = \"lookup.db\"\n", "sieve.query_database"},
		{"[sieve]\nglobal_dir = \"sieve\"\n", "sieve.global_dir"},
		{"[sieve]\nquery_timeout = \"0s\"\n", "sieve.query_timeout"},
		{"[sieve]\nquery_timeout = \"2m\"\n", "sieve.query_timeout"},
	} {
		_, err := Parse("g.toml", []byte(minimal+tt.file))
		if err == nil || !strings.Contains(err.Error(), tt.key) || !strings.Contains(err.Error(), "g.toml:5") {
			t.Errorf("%q: %v, want an error naming %s on line 5", tt.file, err, tt.key)
		}
	}
}

func TestSieveQueryDatabaseNotStore(t *testing.T) {
	_, err := Parse("g.toml", []byte(minimal+"[sieve]\nquery_database = \"/some/dir/gannet.db\"\n"))
	if err == nil || !strings.Contains(err.Error(), "sieve.query_database") {
		t.Errorf("query_database = the store: %v", err)
	}
}
