package auth

import (
	"context"
	"errors"
	"testing"
)

// TestLoginLocked: a locked account's password is refused, even when it
// was cached, while its app passwords still log in; SCRAM, which proves
// the password, is refused too.
func TestLoginLocked(t *testing.T) {
	a, acct, app := loginFixture(t)
	a.CacheTTL = 0 // the cache on: a cached password must not slip through
	ctx := context.Background()
	if _, err := a.Login(ctx, "alice@bücher.example", "sesame"); err != nil {
		t.Fatal(err)
	}
	var asked []string
	locked := true
	a.Locked = func(address string) bool {
		asked = append(asked, address)
		return locked
	}
	if got, err := a.Login(ctx, "ALICE@bücher.example", "sesame"); got != nil || !errors.Is(err, ErrBadCredentials) {
		t.Errorf("locked password: %v, %v; want ErrBadCredentials", got, err)
	}
	if got, err := a.Login(ctx, "alice@bücher.example", app); err != nil || got.ID != acct.ID {
		t.Errorf("app password of a locked account: %v, %v", got, err)
	}
	if len(asked) == 0 || asked[0] != acct.Address {
		t.Errorf("Locked asked about %q, want the account's address %q", asked, acct.Address)
	}
	if _, _, err := a.SCRAMLookup(ctx, "alice@bücher.example"); !errors.Is(err, ErrNoSCRAMKeys) {
		t.Errorf("SCRAM lookup of a locked account: %v, want ErrNoSCRAMKeys", err)
	}
	locked = false
	if _, err := a.Login(ctx, "alice@bücher.example", "sesame"); err != nil {
		t.Errorf("after unlocking: %v", err)
	}
}
