package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/xdg-go/scram"

	"gannet/lib/store"
)

// scramExchange runs a whole SCRAM-SHA-256 exchange between an xdg-go/scram
// client knowing user and password and a server holding creds. It reports
// whether the server accepted the client's proof and, if so, whether the
// client accepted the server's.
func scramExchange(t *testing.T, creds scram.StoredCredentials, user, password string) (serverOK, clientOK bool) {
	t.Helper()
	srv, err := scram.SHA256.NewServer(func(string) (scram.StoredCredentials, error) { return creds, nil })
	if err != nil {
		t.Fatal(err)
	}
	cl, err := scram.SHA256.NewClient(user, password, "")
	if err != nil {
		t.Fatal(err)
	}
	sc, cc := srv.NewConversation(), cl.NewConversation()
	c1, err := cc.Step("")
	if err != nil {
		t.Fatal(err)
	}
	s1, err := sc.Step(c1)
	if err != nil {
		t.Fatalf("server-first: %v", err)
	}
	c2, err := cc.Step(s1)
	if err != nil {
		t.Fatalf("client-final: %v", err)
	}
	s2, err := sc.Step(c2)
	if err != nil || !sc.Valid() {
		return false, false
	}
	_, err = cc.Step(s2)
	return true, err == nil && cc.Valid()
}

func TestSCRAMKeysFormat(t *testing.T) {
	k, err := SCRAMKeys("pencil", 0)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 5803 section 3, with SCRAM-SHA-256: 16-byte salt, 32-byte keys.
	re := regexp.MustCompile(`^SCRAM-SHA-256\$4096:([A-Za-z0-9+/]{22}==)\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$`)
	if !re.MatchString(k) {
		t.Fatalf("keys %q not in RFC 5803 form", k)
	}
	k2, _ := SCRAMKeys("pencil", 0)
	if k == k2 {
		t.Error("two key strings for one password are equal: salt not random")
	}
	k3, err := SCRAMKeys("pencil", 10000)
	if err != nil || !strings.HasPrefix(k3, "SCRAM-SHA-256$10000:") {
		t.Errorf("10000 iterations: %q, %v", k3, err)
	}
	for _, tt := range []struct {
		pw    string
		iters int
	}{
		{"pencil", 4095},
		{"pencil", -1},
		{"pencil", MaxSCRAMIterations + 1},
		{"", 0},
		{strings.Repeat("a", MaxPasswordLen+1), 0},
	} {
		if k, err := SCRAMKeys(tt.pw, tt.iters); err == nil {
			t.Errorf("SCRAMKeys(%.10q, %d) = %q, want an error", tt.pw, tt.iters, k)
		}
	}
}

func TestSCRAMRoundTrip(t *testing.T) {
	k, err := SCRAMKeys("correct horse", 0)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := ParseSCRAMKeys(k)
	if err != nil {
		t.Fatal(err)
	}
	if creds.Iters != 4096 || len(creds.Salt) != 16 {
		t.Errorf("parsed key factors %d iterations, %d-byte salt", creds.Iters, len(creds.Salt))
	}
	// What an xdg-go/scram client derives from the same salt and count.
	cl, _ := scram.SHA256.NewClient("alice@example.test", "correct horse", "")
	want, err := cl.GetStoredCredentialsWithError(creds.KeyFactors)
	if err != nil {
		t.Fatal(err)
	}
	if string(want.StoredKey) != string(creds.StoredKey) || string(want.ServerKey) != string(creds.ServerKey) {
		t.Error("stored keys differ from the ones an xdg-go/scram client derives")
	}
	if s, c := scramExchange(t, creds, "alice@example.test", "correct horse"); !s || !c {
		t.Errorf("right password: server accepted %v, client accepted server %v", s, c)
	}
	for _, pw := range []string{"Correct horse", "correct horse ", "x"} {
		if s, _ := scramExchange(t, creds, "alice@example.test", pw); s {
			t.Errorf("wrong password %q accepted", pw)
		}
	}
}

// SASLprep (RFC 4013) maps the soft hyphen to nothing and applies NFKC:
// keys made from one spelling accept the other, as clients prepare too.
func TestSCRAMKeysSASLprep(t *testing.T) {
	k, err := SCRAMKeys("I\u00adX", 0)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := ParseSCRAMKeys(k)
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"IX", "\u2168"} {
		if s, _ := scramExchange(t, creds, "u", pw); !s {
			t.Errorf("%q refused for keys made from I<soft hyphen>X", pw)
		}
	}
	for _, pw := range []string{"pass\U0001F600word", "\u0627a", "\u00ad"} {
		_, err := SCRAMKeys(pw, 0)
		if !errors.Is(err, ErrSCRAMPassword) {
			t.Errorf("SCRAMKeys(%q): %v, want ErrSCRAMPassword", pw, err)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\U0001F600\u0627") {
			t.Errorf("error %q shows the password", err)
		}
	}
}

// TestSCRAMVector replays the exchange of RFC 7677 section 3 against keys
// derived here from its salt and password.
func TestSCRAMVector(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	stored, server, err := scramDerive("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	k := "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$" +
		base64.StdEncoding.EncodeToString(stored) + ":" + base64.StdEncoding.EncodeToString(server)
	creds, err := ParseSCRAMKeys(k)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := scram.SHA256.NewServer(func(string) (scram.StoredCredentials, error) { return creds, nil })
	srv.WithNonceGenerator(func() string { return "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0" })
	conv := srv.NewConversation()
	s1, err := conv.Step("n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
	if want := "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"; err != nil || s1 != want {
		t.Fatalf("server-first %q, %v; want %q", s1, err, want)
	}
	s2, err := conv.Step("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
	if want := "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="; err != nil || s2 != want || !conv.Valid() {
		t.Errorf("server-final %q, %v (valid %v); want %q", s2, err, conv.Valid(), want)
	}
}

func TestParseSCRAMKeysBad(t *testing.T) {
	good, _ := SCRAMKeys("pw", 0)
	_, rest, _ := strings.Cut(good, "$")
	info, value, _ := strings.Cut(rest, "$")
	_, salt, _ := strings.Cut(info, ":")
	stored, server, _ := strings.Cut(value, ":")
	if _, err := ParseSCRAMKeys(good); err != nil {
		t.Fatalf("good keys: %v", err)
	}
	short := base64.StdEncoding.EncodeToString(make([]byte, 31))
	bad := []string{
		"",
		"SCRAM-SHA-256",
		"SCRAM-SHA-256$",
		"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"SCRAM-SHA-1$4096:" + salt + "$" + stored + ":" + server,
		"scram-sha-256$4096:" + salt + "$" + stored + ":" + server,
		"SCRAM-SHA-256$4096:" + salt + "$" + stored + ":" + server + "$",
		"SCRAM-SHA-256$4096:" + salt + "$" + stored,
		"SCRAM-SHA-256$4096$" + stored + ":" + server,
		"SCRAM-SHA-256$" + salt + "$" + stored + ":" + server,
		"SCRAM-SHA-256$4095:" + salt + "$" + stored + ":" + server,
		"SCRAM-SHA-256$0:" + salt + "$" + stored + ":" + server,
		"SCRAM-SHA-256$-4096:" + salt + "$" + stored + ":" + server,
		"SCRAM-SHA-256$+4096:" + salt + "$" + stored + ":" + server,
		"SCRAM-SHA-256$ 4096:" + salt + "$" + stored + ":" + server,
		"SCRAM-SHA-256$99999999999:" + salt + "$" + stored + ":" + server,
		"SCRAM-SHA-256$10000001:" + salt + "$" + stored + ":" + server,
		"SCRAM-SHA-256$4096:$" + stored + ":" + server,
		"SCRAM-SHA-256$4096:c2FsdA==$" + stored + ":" + server,                             // 4-byte salt
		"SCRAM-SHA-256$4096:!!!!$" + stored + ":" + server,                                 // not base64
		"SCRAM-SHA-256$4096:" + strings.TrimRight(salt, "=") + "$" + stored + ":" + server, // unpadded
		"SCRAM-SHA-256$4096:" + salt + "$" + short + ":" + server,
		"SCRAM-SHA-256$4096:" + salt + "$" + stored + ":" + short,
		"SCRAM-SHA-256$4096:" + salt + "$" + stored + ":" + server + ":" + server,
		"SCRAM-SHA-256$4096:" + salt + "$" + stored + ":" + server + "\n",
		"SCRAM-SHA-256$4096:" + salt + "$" + stored + "::" + server,
		"SCRAM-SHA-256$4096:" + strings.Repeat("A", 600) + "$" + stored + ":" + server,
	}
	for _, s := range bad {
		if c, err := ParseSCRAMKeys(s); err == nil {
			t.Errorf("ParseSCRAMKeys(%q) = %+v, want an error", s, c)
		}
	}
}

func FuzzParseSCRAMKeys(f *testing.F) {
	good, _ := SCRAMKeys("pw", 0)
	f.Add(good)
	f.Add("SCRAM-SHA-256$4096:QSXCR+Q6sek8bf92$6FbGLWnUlqV8FtYzMEQy88I+ADw=:D+CSWLOshSulAsxiupA+qs2/fTE=")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseSCRAMKeys(s)
		if err != nil {
			return
		}
		if c.Iters < MinSCRAMIterations || c.Iters > MaxSCRAMIterations ||
			len(c.StoredKey) != 32 || len(c.ServerKey) != 32 || len(c.Salt) < minSalt || len(c.Salt) > maxSalt {
			t.Fatalf("accepted out of bounds: %+v", c)
		}
	})
}

func TestSetPassword(t *testing.T) {
	var a store.Account
	if err := SetPassword(&a, "sesame", cheap); err != nil {
		t.Fatal(err)
	}
	if ok, err := VerifyPassword(a.PasswordHash, "sesame"); !ok || err != nil {
		t.Errorf("hash: %v, %v", ok, err)
	}
	creds, err := ParseSCRAMKeys(a.SCRAMSHA256)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := scramExchange(t, creds, "u", "sesame"); !s {
		t.Error("SCRAM keys do not match the password")
	}
	// A password SASLprep refuses: hash set, keys cleared, warning.
	err = SetPassword(&a, "emoji \U0001F600", cheap)
	if !errors.Is(err, ErrSCRAMPassword) || a.SCRAMSHA256 != "" {
		t.Errorf("emoji password: keys %q, %v", a.SCRAMSHA256, err)
	}
	if ok, _ := VerifyPassword(a.PasswordHash, "emoji \U0001F600"); !ok {
		t.Error("emoji password: hash not set")
	}
	// Other errors change nothing.
	before := a
	if err := SetPassword(&a, "", cheap); err == nil || a != before {
		t.Errorf("empty password: %v, account %+v", err, a)
	}
}

func TestSCRAMLookup(t *testing.T) {
	a, acct, _ := loginFixture(t)
	ctx := context.Background()
	if _, _, err := a.SCRAMLookup(ctx, acct.Address); !errors.Is(err, store.ErrNotFound) || !errors.Is(err, ErrBadCredentials) {
		t.Errorf("account without keys: %v, want ErrNotFound and ErrBadCredentials", err)
	}
	if err := SetPassword(acct, "sesame", cheap); err != nil {
		t.Fatal(err)
	}
	if err := a.Dir.UpdateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Dir.AddAlias(ctx, "al@bücher.example", []string{acct.Address}); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"alice@bücher.example", "ALICE@BÜCHER.EXAMPLE", "alice@xn--bcher-kva.example"} {
		creds, got, err := a.SCRAMLookup(ctx, user)
		if err != nil || got == nil || got.ID != acct.ID {
			t.Errorf("SCRAMLookup(%q) = %v, %v", user, got, err)
			continue
		}
		if s, _ := scramExchange(t, creds, user, "sesame"); !s {
			t.Errorf("SCRAMLookup(%q): keys refuse the password", user)
		}
		if s, _ := scramExchange(t, creds, user, "wrong"); s {
			t.Errorf("SCRAMLookup(%q): keys take a wrong password", user)
		}
	}
	for _, user := range []string{"bob@bücher.example", "nobody@elsewhere.test", "alice", "al@bücher.example", "", strings.Repeat("a", 5000)} {
		if _, got, err := a.SCRAMLookup(ctx, user); got != nil || !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SCRAMLookup(%.20q) = %v, %v; want ErrNotFound", user, got, err)
		}
	}
	// Unreadable keys fail like none.
	good := acct.SCRAMSHA256
	acct.SCRAMSHA256 = "SCRAM-SHA-256$12:xx$yy:zz"
	if err := a.Dir.UpdateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if _, got, err := a.SCRAMLookup(ctx, acct.Address); got != nil || !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "unreadable") {
		t.Errorf("unreadable keys: %v, %v", got, err)
	}
	// A disabled account fails like an unknown one.
	acct.SCRAMSHA256, acct.Disabled = good, true
	if err := a.Dir.UpdateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if _, got, err := a.SCRAMLookup(ctx, acct.Address); got != nil || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("disabled account: %v, %v", got, err)
	}
}
