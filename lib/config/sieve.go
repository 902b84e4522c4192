package config

// Sieve configures the [sieve] section: the limits on the Sieve scripts an
// account keeps (enforced by sieved over ManageSieve, RFC 5804, and by
// sievectl).
type Sieve struct {
	// MaxScripts is how many scripts one account may keep (ManageSieve
	// answers NO (QUOTA/MAXSCRIPTS) beyond it).
	MaxScripts int `toml:"max_scripts"`
	// MaxScriptSize bounds one script, in bytes (NO (QUOTA/MAXSIZE)).
	MaxScriptSize int64 `toml:"max_script_size"`
}

// Bounds of [sieve]'s values.
const (
	// MaxSieveScriptSize is the largest max_script_size accepted: a script
	// is read whole into memory, by sieved and at every delivery.
	MaxSieveScriptSize = 16 << 20
	// MaxSieveScripts is the largest max_scripts accepted.
	MaxSieveScripts = 10000
)

// defaultSieve returns the defaults of [sieve].
func defaultSieve() Sieve {
	return Sieve{
		MaxScripts:    100,
		MaxScriptSize: 1 << 20, // as Pigeonhole's sieve_max_script_size
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
}
