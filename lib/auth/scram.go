package auth

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/xdg-go/scram"
	"github.com/xdg-go/stringprep"

	"gannet/lib/config"
	"gannet/lib/directory"
	"gannet/lib/store"
)

// SCRAM-SHA-256 (RFC 7677, RFC 5802) keys are kept per account in the
// RFC 5803 form
//
//	SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
//
// so that the server can check a client's proof and prove itself without
// ever holding the password.
const (
	// SCRAMScheme names the mechanism in a stored key string.
	SCRAMScheme = "SCRAM-SHA-256"
	// DefaultSCRAMIterations is the PBKDF2 iteration count of new keys:
	// the minimum RFC 7677 section 4 sets, and the count lib/smtp gives the
	// made-up credentials of unknown users, so the two look alike.
	DefaultSCRAMIterations = 4096
	// MinSCRAMIterations is the lowest iteration count accepted (RFC 7677
	// section 4; xdg-go/scram clients refuse fewer too).
	MinSCRAMIterations = 4096
	// MaxSCRAMIterations bounds the iteration count, which every client
	// login pays: more than this is a mistake or an attack on clients.
	MaxSCRAMIterations = 10_000_000

	scramSaltLen = 16
	scramKeyLen  = sha256.Size
	// maxSCRAMKeys bounds a stored key string before it is parsed.
	maxSCRAMKeys = 512
)

// ErrSCRAMPassword is returned by SCRAMKeys for a password that SASLprep
// (RFC 4013) refuses, e.g. one with code points unassigned in Unicode 3.2
// such as emoji. Such a password still works with PLAIN and LOGIN; no
// SCRAM client could prepare it either.
var ErrSCRAMPassword = errors.New("password unusable with SCRAM-SHA-256 (SASLprep, RFC 4013, refuses it)")

// ErrNoSCRAMKeys is returned by SCRAMLookup for an account that cannot use
// SCRAM-SHA-256: unknown, disabled, or without (readable) keys. It wraps
// both ErrBadCredentials and store.ErrNotFound, so that lib/smtp carries on
// with made-up credentials as for an unknown user (RFC 5802 section 5.1).
var ErrNoSCRAMKeys = fmt.Errorf("no SCRAM-SHA-256 keys: %w (%w)", ErrBadCredentials, store.ErrNotFound)

// scramB64 is RFC 5803's base64: the standard alphabet, padded.
var scramB64 = base64.StdEncoding

// SCRAMKeys derives SCRAM-SHA-256 keys from password with a random 16-byte
// salt and returns them in RFC 5803 form. iterations 0 means
// DefaultSCRAMIterations. The password is prepared with SASLprep (RFC 5802
// section 2.2, Normalize) as xdg-go/scram's client prepares it; a password
// SASLprep refuses is ErrSCRAMPassword.
func SCRAMKeys(password string, iterations int) (string, error) {
	if iterations == 0 {
		iterations = DefaultSCRAMIterations
	}
	if iterations < MinSCRAMIterations || iterations > MaxSCRAMIterations {
		return "", fmt.Errorf("SCRAM-SHA-256 iteration count %d outside %d..%d", iterations, MinSCRAMIterations, MaxSCRAMIterations)
	}
	if password == "" {
		return "", errors.New("empty password")
	}
	if len(password) > MaxPasswordLen {
		return "", ErrPasswordTooLong
	}
	prepped, err := stringprep.SASLprep.Prepare(password)
	if err != nil {
		// stringprep.Error names the offending rune: keep only its message,
		// the password must not reach a log.
		var pe stringprep.Error
		if errors.As(err, &pe) {
			return "", fmt.Errorf("%w: %s", ErrSCRAMPassword, pe.Msg)
		}
		return "", ErrSCRAMPassword
	}
	if prepped == "" {
		return "", fmt.Errorf("%w: nothing left after preparation", ErrSCRAMPassword)
	}
	salt := make([]byte, scramSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	stored, server, err := scramDerive(prepped, salt, iterations)
	if err != nil {
		return "", err
	}
	return SCRAMScheme + "$" + strconv.Itoa(iterations) + ":" + scramB64.EncodeToString(salt) +
		"$" + scramB64.EncodeToString(stored) + ":" + scramB64.EncodeToString(server), nil
}

// scramDerive computes StoredKey and ServerKey (RFC 5802 section 3):
//
//	SaltedPassword := Hi(Normalize(password), salt, i)
//	ClientKey      := HMAC(SaltedPassword, "Client Key")
//	StoredKey      := H(ClientKey)
//	ServerKey      := HMAC(SaltedPassword, "Server Key")
//
// where Hi is PBKDF2 with HMAC-SHA-256 (RFC 7677 section 3).
func scramDerive(prepped string, salt []byte, iterations int) (stored, server []byte, err error) {
	salted, err := pbkdf2.Key(sha256.New, prepped, salt, iterations, scramKeyLen)
	if err != nil {
		return nil, nil, fmt.Errorf("SCRAM-SHA-256 keys: %w", err)
	}
	mac := hmac.New(sha256.New, salted)
	mac.Write([]byte("Client Key"))
	clientKey := mac.Sum(nil)
	st := sha256.Sum256(clientKey)
	mac = hmac.New(sha256.New, salted)
	mac.Write([]byte("Server Key"))
	return st[:], mac.Sum(nil), nil
}

// ParseSCRAMKeys reads keys SCRAMKeys wrote (RFC 5803 section 3, with the
// SCRAM-SHA-256 mechanism name): the iteration count must lie within
// MinSCRAMIterations..MaxSCRAMIterations, the salt decode to 8 to 64 bytes
// and both keys to 32.
func ParseSCRAMKeys(s string) (scram.StoredCredentials, error) {
	var none scram.StoredCredentials
	if s == "" {
		return none, errors.New("SCRAM-SHA-256 keys: empty")
	}
	if len(s) > maxSCRAMKeys {
		return none, fmt.Errorf("SCRAM-SHA-256 keys: longer than %d bytes", maxSCRAMKeys)
	}
	// Printable ASCII only: Go's base64 decoders skip CR and LF.
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return none, errors.New("SCRAM-SHA-256 keys: spaces, control or non-ASCII characters")
	}
	scheme, rest, ok := strings.Cut(s, "$")
	if !ok {
		return none, errors.New("SCRAM-SHA-256 keys: malformed, want SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>")
	}
	if scheme != SCRAMScheme {
		if len(scheme) > 20 {
			scheme = scheme[:20]
		}
		return none, fmt.Errorf("SCRAM-SHA-256 keys: scheme %q, want %s", scheme, SCRAMScheme)
	}
	info, value, ok := strings.Cut(rest, "$")
	if !ok || strings.Contains(value, "$") {
		return none, errors.New("SCRAM-SHA-256 keys: malformed, want SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>")
	}
	iterText, saltText, ok := strings.Cut(info, ":")
	if !ok {
		return none, errors.New("SCRAM-SHA-256 keys: malformed, want <iterations>:<salt> after the scheme")
	}
	// Digits only: ParseUint alone would take "+4096".
	if iterText == "" || strings.Trim(iterText, "0123456789") != "" || len(iterText) > 9 {
		return none, fmt.Errorf("SCRAM-SHA-256 keys: bad iteration count %q", trunc(iterText))
	}
	iters, _ := strconv.Atoi(iterText)
	if iters < MinSCRAMIterations || iters > MaxSCRAMIterations {
		return none, fmt.Errorf("SCRAM-SHA-256 keys: iteration count %d outside %d..%d", iters, MinSCRAMIterations, MaxSCRAMIterations)
	}
	salt, err := scramB64.Strict().DecodeString(saltText)
	if err != nil || len(salt) < minSalt || len(salt) > maxSalt {
		return none, fmt.Errorf("SCRAM-SHA-256 keys: bad salt (want base64 of %d to %d bytes)", minSalt, maxSalt)
	}
	storedText, serverText, ok := strings.Cut(value, ":")
	if !ok {
		return none, errors.New("SCRAM-SHA-256 keys: malformed, want <StoredKey>:<ServerKey> at the end")
	}
	stored, err := scramB64.Strict().DecodeString(storedText)
	if err != nil || len(stored) != scramKeyLen {
		return none, fmt.Errorf("SCRAM-SHA-256 keys: bad StoredKey (want base64 of %d bytes)", scramKeyLen)
	}
	server, err := scramB64.Strict().DecodeString(serverText)
	if err != nil || len(server) != scramKeyLen {
		return none, fmt.Errorf("SCRAM-SHA-256 keys: bad ServerKey (want base64 of %d bytes)", scramKeyLen)
	}
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(salt), Iters: iters},
		StoredKey:  stored,
		ServerKey:  server,
	}, nil
}

// trunc shortens s for an error message.
func trunc(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

// SetPassword sets acct's password: its argon2id hash (parameters p, see
// HashPassword) and its SCRAM-SHA-256 keys (SCRAMKeys, default iteration
// count), which must change together or the old password would live on in
// one of them. A password SASLprep refuses gets a hash and no SCRAM keys
// (acct.SCRAMSHA256 = ""), and the ErrSCRAMPassword error is returned
// along with the updated acct for the caller to pass on as a warning; any
// other error leaves acct unchanged.
func SetPassword(acct *store.Account, password string, p config.Argon2) error {
	hash, err := HashPassword(password, p)
	if err != nil {
		return err
	}
	keys, err := SCRAMKeys(password, 0)
	if err != nil && !errors.Is(err, ErrSCRAMPassword) {
		return err
	}
	acct.PasswordHash, acct.SCRAMSHA256 = hash, keys
	return err
}

// SCRAMLookup returns the SCRAM-SHA-256 credentials of username and its
// account, in the shape lib/smtp's SCRAMLookup wants. username is resolved
// as Login resolves it: an account address in any case, with a Unicode or
// ASCII domain; aliases do not log in. An unknown or disabled account, or
// one without readable keys (its password set before Gannet kept SCRAM
// keys), is an error wrapping ErrNoSCRAMKeys, hence store.ErrNotFound: the
// exchange then goes on with made-up credentials and fails as for a wrong
// password. Other errors are the store's and temporary.
func (a *Authenticator) SCRAMLookup(ctx context.Context, username string) (scram.StoredCredentials, *store.Account, error) {
	var none scram.StoredCredentials
	addr, err := directory.Normalize(username)
	if err != nil {
		return none, nil, ErrNoSCRAMKeys
	}
	acct, err := a.Store.GetAccount(ctx, addr)
	if errors.Is(err, store.ErrNotFound) {
		return none, nil, ErrNoSCRAMKeys
	}
	if err != nil {
		return none, nil, fmt.Errorf("auth: account %s: %w", addr, err)
	}
	if acct.Disabled {
		return none, nil, fmt.Errorf("account %s disabled: %w", addr, ErrNoSCRAMKeys)
	}
	if a.Locked != nil && a.Locked(acct.Address) {
		// SCRAM proves the account password, which is locked.
		return none, nil, fmt.Errorf("account %s locked: %w", addr, ErrNoSCRAMKeys)
	}
	if acct.SCRAMSHA256 == "" {
		return none, nil, fmt.Errorf("account %s: %w (set its password again)", addr, ErrNoSCRAMKeys)
	}
	creds, err := ParseSCRAMKeys(acct.SCRAMSHA256)
	if err != nil {
		return none, nil, fmt.Errorf("account %s: %w (stored keys unreadable: %v)", addr, ErrNoSCRAMKeys, err)
	}
	return creds, acct, nil
}
