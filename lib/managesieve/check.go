package managesieve

import (
	"context"
	"errors"
	"fmt"

	"gannet/lib/sieve"
	"gannet/lib/store"
)

// SieveCheck returns the CheckFunc of sieved and sievectl: the script is
// compiled by Gannet's Sieve engine under opt (its Limits and Extensions)
// as an upload, with the scripts it includes read from the account's
// scripts in st (RFC 6609 section 3.2, ":personal"). As in Pigeonhole, an
// included script that does not exist yet is a warning, not a refusal
// (sieve.Options.Upload): scripts are uploaded one at a time. Delivery
// checks again, and a non-optional include still missing then is an
// error. There are no global scripts here, so ":global" includes are
// always missing. A store failure while reading an included script is
// answered with TRYLATER rather than as a verdict on the script.
func SieveCheck(st store.SieveScripts, opt sieve.Options) CheckFunc {
	return func(ctx context.Context, accountID int64, script []byte) ([]string, error) {
		var loadErr error
		o := opt
		o.Upload = true
		o.Include = func(name string, global bool) ([]byte, error) {
			if global {
				return nil, fmt.Errorf("no global script %q: %w", name, sieve.ErrNotFound)
			}
			s, err := st.GetSieveScript(ctx, accountID, name)
			switch {
			case errors.Is(err, store.ErrNotFound):
				return nil, fmt.Errorf("no script %q: %w", name, sieve.ErrNotFound)
			case err != nil:
				if loadErr == nil {
					loadErr = fmt.Errorf("reading included script %q: %w", name, err)
				}
				return nil, err
			}
			return []byte(s.Content), nil
		}
		compiled, err := sieve.Compile(script, &o)
		if loadErr != nil {
			return nil, &storeFailure{loadErr}
		}
		if err != nil {
			return nil, err
		}
		return compiled.Warnings(), nil
	}
}
