package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"gannet/lib/config"
	"gannet/lib/directory"
	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

// cheap keeps the tests fast; the format is the same at any cost.
var cheap = config.Argon2{Time: 1, Memory: 64, Threads: 1}

func TestHashFormat(t *testing.T) {
	h, err := HashPassword("correct horse", config.Argon2{})
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=2,p=2\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})$`)
	m := re.FindStringSubmatch(h)
	if m == nil {
		t.Fatalf("hash %q is not a PHC argon2id string with the default parameters", h)
	}
	if salt, _ := base64.RawStdEncoding.DecodeString(m[1]); len(salt) != 16 {
		t.Errorf("salt of %d bytes, want 16", len(salt))
	}
	h2, _ := HashPassword("correct horse", config.Argon2{})
	if h == h2 {
		t.Error("two hashes of one password are equal: salt not random")
	}
	h3, err := HashPassword("x", config.Argon2{Time: 3, Memory: 1024, Threads: 4})
	if err != nil || !strings.HasPrefix(h3, "$argon2id$v=19$m=1024,t=3,p=4$") {
		t.Errorf("configured parameters: %q, %v", h3, err)
	}
}

// TestVerifyReference checks a test vector of the reference implementation
// (phc-winner-argon2 src/test.c: argon2id, t=2, m=2^16, p=1, "password",
// salt "somesalt").
func TestVerifyReference(t *testing.T) {
	const ref = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	ok, err := VerifyPassword(ref, "password")
	if err != nil || !ok {
		t.Errorf("reference hash: %v, %v", ok, err)
	}
	ok, err = VerifyPassword(ref, "Password")
	if err != nil || ok {
		t.Errorf("reference hash, wrong password: %v, %v", ok, err)
	}
}

func TestVerify(t *testing.T) {
	h, err := HashPassword("sesame", cheap)
	if err != nil {
		t.Fatal(err)
	}
	for pw, want := range map[string]bool{"sesame": true, "Sesame": false, "sesame ": false, "": false} {
		ok, err := VerifyPassword(h, pw)
		if err != nil || ok != want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	bc, _ := bcrypt.GenerateFromPassword([]byte("imported"), bcrypt.MinCost)
	if ok, err := VerifyPassword(string(bc), "imported"); !ok || err != nil {
		t.Errorf("bcrypt: %v, %v", ok, err)
	}
	if ok, err := VerifyPassword(string(bc), "imported!"); ok || err != nil {
		t.Errorf("bcrypt, wrong password: %v, %v", ok, err)
	}
	if _, err := HashPassword("", cheap); err == nil {
		t.Error("empty password hashed")
	}
	if _, err := HashPassword(strings.Repeat("a", MaxPasswordLen+1), cheap); err == nil {
		t.Error("over-long password hashed")
	}
}

func TestVerifyBadHashes(t *testing.T) {
	good, _ := HashPassword("pw", cheap)
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	bad := []string{
		"",
		"plain",
		"{SHA512-CRYPT}$6$abc$def",
		"$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1,x=2$" + salt + "$" + key,
		"$argon2id$v=19$m=4,t=1,p=1$" + salt + "$" + key,        // m < 8p
		"$argon2id$v=19$m=99999999,t=1,p=1$" + salt + "$" + key, // too much memory
		"$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,       // t = 0
		"$argon2id$v=19$m=64,t=1000000,p=1$" + salt + "$" + key, // too slow
		"$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key,       // p = 0
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$",             // no hash
		"$argon2id$v=19$m=64,t=1,p=1$!!$" + key,                 // bad base64
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "=$" + key,      // padding
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$", // extra field
		"$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + key,      // negative
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:10],  // short hash
		"$argon2id$v=19$m=64,t=1,p=1$" + salt[:5] + "$" + key,   // short salt
		"$2b$04$invalid",
	}
	for _, h := range bad {
		if ok, err := VerifyPassword(h, "pw"); ok || err == nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want an error", h, ok, err)
		}
	}
}

func FuzzVerifyPassword(f *testing.F) {
	good, _ := HashPassword("pw", cheap)
	f.Add(good, "pw")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", "password")
	f.Add("$2b$04$abcdefghijklmnopqrstuu", "x")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		// Keep the work bounded: the parameters are what is under test,
		// not argon2 itself.
		if h, err := parseArgon2id(hash); err == nil && uint64(h.p.Memory)*uint64(h.p.Time) > 1<<14 {
			return
		}
		ok, err := VerifyPassword(hash, pw)
		if ok && err != nil {
			t.Fatalf("ok with error %v", err)
		}
	})
}

func TestAppPasswordFormat(t *testing.T) {
	re := regexp.MustCompile(`^[a-z2-7]{4}(-[a-z2-7]{4}){5}$`)
	seen := map[string]bool{}
	for range 50 {
		p, err := NewAppPassword()
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(p) {
			t.Fatalf("app password %q not in groups of four", p)
		}
		if seen[p] {
			t.Fatalf("app password %q repeated", p)
		}
		seen[p] = true
		if c, ok := canonicalAppPassword(strings.ToUpper(strings.ReplaceAll(p, "-", " "))); !ok || c != p {
			t.Errorf("canonical form of a retyped %q: %q, %v", p, c, ok)
		}
	}
	for _, s := range []string{"hunter2", "abcd-efgh", "abcd-efgh-ijkl-mnop-qrst-uvw1"} {
		if _, ok := canonicalAppPassword(s); ok {
			t.Errorf("%q taken for an app password", s)
		}
	}
	p, _ := RandomPassword()
	if !regexp.MustCompile(`^[a-z2-7]{5}(-[a-z2-7]{5}){3}$`).MatchString(p) {
		t.Errorf("random password %q", p)
	}
	if _, ok := canonicalAppPassword(p); ok {
		t.Errorf("random account password %q has an app password's shape", p)
	}
}

// loginFixture makes a store with a domain and an account with password
// "sesame" and one app password, returned in plain.
func loginFixture(t *testing.T) (*Authenticator, *store.Account, string) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{
		Path:   filepath.Join(t.TempDir(), "gannet.db"),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dir := directory.New(st, config.Directory{Argon2: cheap})
	if _, err := dir.AddDomain(ctx, "bücher.example"); err != nil {
		t.Fatal(err)
	}
	h, _ := HashPassword("sesame", cheap)
	acct := &store.Account{Address: "alice@bücher.example", PasswordHash: h}
	if err := dir.AddAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	plain, _ := NewAppPassword()
	ah, _ := HashAppPassword(plain, cheap)
	if err := st.AddAppPassword(ctx, &store.AppPassword{AccountID: acct.ID, Label: "phone", Hash: ah}); err != nil {
		t.Fatal(err)
	}
	return &Authenticator{Store: st, Dir: dir, CacheTTL: -1}, acct, plain
}

func TestLogin(t *testing.T) {
	a, acct, app := loginFixture(t)
	ctx := context.Background()
	retyped := strings.ToUpper(strings.ReplaceAll(app, "-", ""))
	for _, tt := range []struct {
		user, pw string
		ok       bool
	}{
		{"alice@bücher.example", "sesame", true},
		{"ALICE@BÜCHER.EXAMPLE", "sesame", true},
		{"alice@xn--bcher-kva.example", "sesame", true},
		{"alice@bücher.example", app, true},
		{"alice@bücher.example", retyped, true},
		{"alice@bücher.example", "Sesame", false},
		{"alice@bücher.example", "", false},
		{"alice@bücher.example", strings.Repeat("x", MaxPasswordLen+1), false},
		{"bob@bücher.example", "sesame", false},
		{"alice", "sesame", false},
	} {
		got, err := a.Login(ctx, tt.user, tt.pw)
		switch {
		case tt.ok && (err != nil || got == nil || got.ID != acct.ID):
			t.Errorf("Login(%q, %q) = %v, %v; want the account", tt.user, tt.pw, got, err)
		case !tt.ok && (got != nil || !errors.Is(err, ErrBadCredentials)):
			t.Errorf("Login(%q, %q) = %v, %v; want ErrBadCredentials", tt.user, tt.pw, got, err)
		}
	}
}

func TestLoginUnknownRunsDummy(t *testing.T) {
	a, _, app := loginFixture(t)
	ctx := context.Background()
	before := dummyVerifications.Load()
	if _, err := a.Login(ctx, "nobody@bücher.example", "sesame"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("unknown account: %v", err)
	}
	if _, err := a.Login(ctx, "nobody@elsewhere.test", app); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("unknown domain: %v", err)
	}
	if n := dummyVerifications.Load() - before; n != 2 {
		t.Errorf("%d dummy verifications for 2 unknown accounts, want 2", n)
	}
	// A known account with a wrong password runs the real one, no dummy.
	before = dummyVerifications.Load()
	if _, err := a.Login(ctx, "alice@bücher.example", "wrong"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if n := dummyVerifications.Load() - before; n != 0 {
		t.Errorf("%d dummy verifications for a known account", n)
	}
	// The dummy hash costs what the configured parameters cost.
	if !strings.HasPrefix(a.dummy, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("dummy hash %q does not use the directory's parameters", a.dummy)
	}
}

func TestLoginDisabled(t *testing.T) {
	a, acct, app := loginFixture(t)
	ctx := context.Background()
	acct.Disabled = true
	if err := a.Dir.UpdateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"sesame", app} {
		if _, err := a.Login(ctx, acct.Address, pw); !errors.Is(err, ErrDisabled) || !errors.Is(err, ErrBadCredentials) {
			t.Errorf("disabled account, right password: %v, want ErrDisabled", err)
		}
	}
	if _, err := a.Login(ctx, acct.Address, "wrong"); err != ErrBadCredentials {
		t.Errorf("disabled account, wrong password: %v, want ErrBadCredentials alone", err)
	}
}

func TestLoginCache(t *testing.T) {
	a, acct, app := loginFixture(t)
	ctx := context.Background()
	a.CacheTTL = 0 // default: on
	login := func(pw string) error {
		_, err := a.Login(ctx, acct.Address, pw)
		return err
	}
	if err := login("sesame"); err != nil {
		t.Fatal(err)
	}
	if err := login(app); err != nil {
		t.Fatal(err)
	}
	if a.ok.Len() != 2 {
		t.Errorf("%d cached logins, want 2", a.ok.Len())
	}
	// A cached success does not outlive a password change...
	h, _ := HashPassword("new one", cheap)
	acct.PasswordHash = h
	if err := a.Dir.UpdateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if err := login("sesame"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("old password after a change: %v", err)
	}
	if err := login("new one"); err != nil {
		t.Errorf("new password: %v", err)
	}
	// ...nor the removal of an app password...
	aps, _ := a.Store.ListAppPasswords(ctx, acct.ID)
	if err := a.Store.DeleteAppPassword(ctx, acct.ID, aps[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := login(app); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("removed app password: %v", err)
	}
	// ...nor disabling the account.
	acct.Disabled = true
	if err := a.Dir.UpdateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if err := login("new one"); !errors.Is(err, ErrDisabled) {
		t.Errorf("disabled account from the cache: %v", err)
	}
	// A wrong password is never cached as right.
	if err := login("wrong"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("wrong password: %v", err)
	}
}

func TestLoginUnreadableHash(t *testing.T) {
	a, acct, _ := loginFixture(t)
	ctx := context.Background()
	acct.PasswordHash = "{PLAIN}sesame"
	if err := a.Dir.UpdateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	_, err := a.Login(ctx, acct.Address, "sesame")
	if !errors.Is(err, ErrBadCredentials) || !strings.Contains(err.Error(), "unreadable") {
		t.Errorf("unreadable hash: %v", err)
	}
}
