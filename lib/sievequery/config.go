package sievequery

import (
	"fmt"
	"os"

	"gannet/lib/config"
)

// Personal returns the DB for users' scripts (delivery, and the global
// scripts they include): the [sieve] query_database alone, never the
// store. It is nil when query_database is not set: such scripts then have
// nothing to query.
func Personal(c *config.Config) (*DB, error) {
	if c.Sieve.QueryDatabase == "" {
		return nil, nil
	}
	// Not the store under another name (a link): the configuration checks
	// only the path.
	qi, err1 := os.Stat(c.Sieve.QueryDatabase)
	si, err2 := os.Stat(c.DatabasePath())
	if err1 == nil && err2 == nil && os.SameFile(qi, si) {
		return nil, fmt.Errorf("sievequery: query_database %s is the store's database", c.Sieve.QueryDatabase)
	}
	return Open(Options{Path: c.Sieve.QueryDatabase, Timeout: c.Sieve.QueryTimeout.Duration})
}

// Admin returns the DB for the administrator's scripts ([[smtpd.sieve]]):
// the query_database (or an empty one) with the mail store attached
// read-only as schema "store", its credentials hidden.
func Admin(c *config.Config) (*DB, error) {
	return Open(Options{Path: c.Sieve.QueryDatabase, StorePath: c.DatabasePath(), Timeout: c.Sieve.QueryTimeout.Duration})
}
