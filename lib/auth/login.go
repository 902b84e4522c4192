package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"gannet/lib/cache"
	"gannet/lib/config"
	"gannet/lib/directory"
	"gannet/lib/store"
)

// ErrBadCredentials is the answer to every failed login, whether the
// account is unknown, the password wrong or the account disabled, so that
// protocols give strangers one answer.
var ErrBadCredentials = errors.New("invalid credentials")

// ErrDisabled is returned for a disabled account whose password was right.
// It wraps ErrBadCredentials.
var ErrDisabled = fmt.Errorf("account disabled: %w", ErrBadCredentials)

// DefaultLoginCacheTTL is how long a successful login is remembered.
const DefaultLoginCacheTTL = 5 * time.Minute

// loginCacheSize bounds the successful-login cache.
const loginCacheSize = 4096

// dummyVerifications counts the verifications run for unknown accounts (for
// tests: their timing must match a known account's).
var dummyVerifications atomic.Int64

// Authenticator logs accounts in. Its zero value is not usable: set Store.
// It is safe for concurrent use once set up.
type Authenticator struct {
	Store store.Store
	// Dir, when set, supplies the argon2 parameters (directory.argon2 in
	// the configuration) of the hash that is checked for unknown accounts,
	// so that a login for a missing account costs what a real one does.
	Dir *directory.Directory
	// CacheTTL is how long a successful login is remembered so that clients
	// that reconnect often (IMAP) do not pay argon2 each time; 0 means
	// DefaultLoginCacheTTL, negative turns the cache off. An entry is bound
	// to the stored hash it matched: a changed password or a removed app
	// password stops matching at once.
	CacheTTL time.Duration
	// Locked, when set, reports whether the password of an account (by
	// its address) is refused for now: lib/ban's login lock after
	// repeated failures. A locked account still logs in with its app
	// passwords, so mail clients keep working while the attack lasts.
	Locked func(address string) bool

	once  sync.Once
	key   []byte // per-process random HMAC key for cache entries
	ok    *cache.Cache[[sha256.Size]byte, time.Time]
	dummy string
	err   error
}

func (a *Authenticator) setup() error {
	a.once.Do(func() {
		a.key = make([]byte, 32)
		if _, err := rand.Read(a.key); err != nil {
			a.err = fmt.Errorf("auth: random key: %w", err)
			return
		}
		a.ok = cache.New[[sha256.Size]byte, time.Time](loginCacheSize)
		var p config.Argon2
		if a.Dir != nil {
			p = a.Dir.Config().Argon2
		}
		// Any password will do: the dummy is only ever compared against.
		a.dummy, a.err = HashPassword(rand.Text(), p)
	})
	return a.err
}

// cacheKey binds a password to the stored hash it matched.
func (a *Authenticator) cacheKey(hash, password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(hash))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var k [sha256.Size]byte
	m.Sum(k[:0])
	return k
}

func (a *Authenticator) ttl() time.Duration {
	if a.CacheTTL == 0 {
		return DefaultLoginCacheTTL
	}
	return a.CacheTTL
}

// cached reports whether password matched hash recently.
func (a *Authenticator) cached(hash, password string) bool {
	if a.ttl() < 0 || hash == "" {
		return false
	}
	exp, ok := a.ok.Get(a.cacheKey(hash, password))
	return ok && time.Now().Before(exp)
}

func (a *Authenticator) remember(hash, password string) {
	if a.ttl() > 0 {
		a.ok.Set(a.cacheKey(hash, password), time.Now().Add(a.ttl()))
	}
}

// dummyVerify spends the time of one verification for an unknown account.
func (a *Authenticator) dummyVerify(password string) {
	dummyVerifications.Add(1)
	_, _ = VerifyPassword(a.dummy, password)
}

// Login checks username (an account address in any case, with a Unicode or
// ASCII domain) and password against the account's password and then its
// app passwords. Every failure is ErrBadCredentials (ErrDisabled, which
// wraps it, for a disabled account with a right password); other errors are
// the store's and temporary. An unknown account costs one verification of
// a dummy hash, as a known one with a wrong password does; app passwords are
// tried only for a password shaped like one (see NewAppPassword), so the
// time of a failed ordinary login does not depend on them. For an account
// that Locked reports locked only the app passwords are tried.
func (a *Authenticator) Login(ctx context.Context, username, password string) (*store.Account, error) {
	if err := a.setup(); err != nil {
		return nil, err
	}
	if password == "" || len(password) > MaxPasswordLen {
		return nil, ErrBadCredentials
	}
	addr, err := directory.Normalize(username)
	if err != nil {
		return nil, ErrBadCredentials
	}
	acct, err := a.Store.GetAccount(ctx, addr)
	if errors.Is(err, store.ErrNotFound) {
		a.dummyVerify(password)
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("auth: account %s: %w", addr, err)
	}
	locked := a.Locked != nil && a.Locked(acct.Address)
	ok, err := a.check(ctx, acct, password, locked)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrBadCredentials
	}
	if acct.Disabled {
		return nil, ErrDisabled
	}
	return acct, nil
}

// check compares password with the account's password (unless locked) and
// app passwords.
func (a *Authenticator) check(ctx context.Context, acct *store.Account, password string, locked bool) (bool, error) {
	if !locked && a.cached(acct.PasswordHash, password) {
		return true, nil
	}
	var hashErr error
	if locked || acct.PasswordHash == "" {
		// A locked password, or none set (an account for mail only):
		// spend the same time.
		a.dummyVerify(password)
	} else {
		ok, err := VerifyPassword(acct.PasswordHash, password)
		if ok {
			a.remember(acct.PasswordHash, password)
			return true, nil
		}
		hashErr = err
	}
	if canon, shaped := canonicalAppPassword(password); shaped {
		aps, err := a.Store.ListAppPasswords(ctx, acct.ID)
		if err != nil {
			return false, fmt.Errorf("auth: app passwords of %s: %w", acct.Address, err)
		}
		for _, ap := range aps {
			if a.cached(ap.Hash, canon) {
				return true, nil
			}
		}
		for _, ap := range aps {
			if ok, _ := VerifyPassword(ap.Hash, canon); ok {
				a.remember(ap.Hash, canon)
				return true, nil
			}
		}
	}
	if hashErr != nil {
		return false, fmt.Errorf("%w (stored hash of %s unreadable: %v)", ErrBadCredentials, acct.Address, hashErr)
	}
	return false, nil
}
