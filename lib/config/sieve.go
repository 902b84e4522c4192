package config

import (
	"path/filepath"
	"time"
)

// Sieve configures the [sieve] section: the limits on the Sieve scripts an
// account keeps (enforced by sieved over ManageSieve, RFC 5804, and by
// sievectl), the database of vnd.gannet.query and the directory of global
// scripts (include :global, RFC 6609).
type Sieve struct {
	// MaxScripts is how many scripts one account may keep (ManageSieve
	// answers NO (QUOTA/MAXSCRIPTS) beyond it).
	MaxScripts int `toml:"max_scripts"`
	// MaxScriptSize bounds one script, in bytes (NO (QUOTA/MAXSIZE)).
	MaxScriptSize int64 `toml:"max_script_size"`
	// QueryDatabase is the SQLite database file that vnd.gannet.query's
	// queries run against, read-only; "" is none. Users' scripts can
	// query only this file, never the store; smtpd's [[smtpd.sieve]]
	// scripts can query it and the store (lib/sievequery).
	QueryDatabase string `toml:"query_database"`
	// QueryTimeout bounds one query.
	QueryTimeout Duration `toml:"query_timeout"`
	// GlobalDir holds the global scripts, NAME.sieve, that include
	// :global loads; "" is none.
	GlobalDir string `toml:"global_dir"`
}

// Bounds of [sieve]'s values.
const (
	// MaxSieveScriptSize is the largest max_script_size accepted: a script
	// is read whole into memory, by sieved and at every delivery.
	MaxSieveScriptSize = 16 << 20
	// MaxSieveScripts is the largest max_scripts accepted.
	MaxSieveScripts = 10000
	// MaxSieveQueryTimeout is the longest query_timeout accepted: a query
	// holds up a delivery or an SMTP reply.
	MaxSieveQueryTimeout = time.Minute
)

// defaultSieve returns the defaults of [sieve].
func defaultSieve() Sieve {
	return Sieve{
		MaxScripts:    100,
		MaxScriptSize: 1 << 20, // as Pigeonhole's sieve_max_script_size
		QueryTimeout:  Duration{time.Second},
	}
}

// validateSieve checks [sieve].
func (c *Config) validateSieve(v *validator) {
	v.atLeast("sieve.max_scripts", int64(c.Sieve.MaxScripts), 1)
	if c.Sieve.MaxScripts > MaxSieveScripts {
		v.fail("sieve.max_scripts", "%d is too large (at most %d)", c.Sieve.MaxScripts, MaxSieveScripts)
	}
	v.atLeast("sieve.max_script_size", c.Sieve.MaxScriptSize, 1)
	if c.Sieve.MaxScriptSize > MaxSieveScriptSize {
		v.fail("sieve.max_script_size", "%d is too large (at most %d)", c.Sieve.MaxScriptSize, MaxSieveScriptSize)
	}
	v.positive("sieve.query_timeout", c.Sieve.QueryTimeout)
	if c.Sieve.QueryTimeout.Duration > MaxSieveQueryTimeout {
		v.fail("sieve.query_timeout", "%s is too long (at most %s)", c.Sieve.QueryTimeout, Duration{MaxSieveQueryTimeout})
	}
	for _, k := range []struct{ key, path string }{
		{"sieve.query_database", c.Sieve.QueryDatabase},
		{"sieve.global_dir", c.Sieve.GlobalDir},
	} {
		if k.path != "" && !filepath.IsAbs(k.path) {
			v.fail(k.key, "%q is not an absolute path", k.path)
		}
	}
	// Users' scripts query query_database: it must not be the store.
	if q := c.Sieve.QueryDatabase; q != "" && filepath.Clean(q) == filepath.Clean(c.DatabasePath()) {
		v.fail("sieve.query_database", "%q is the store's database: users' scripts must not read it", q)
	}
}
