// Package auth hashes and checks passwords (argon2id, PHC strings) and logs
// accounts in with their password or one of their app passwords.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"gannet/lib/config"
)

// Default argon2id parameters, used for each zero field of config.Argon2.
//
// RFC 9106 section 4 recommends t=1 with 2 GiB, or else t=3 with 64 MiB and
// 4 lanes. On the 2-core machines Gannet aims at, 4 lanes run no faster than
// 2 and the third pass adds half again to every login, which a brute-force
// attempt makes us pay as well. 64 MiB with 2 passes and 2 lanes keeps the
// memory hardness of the second option (what hurts GPU attackers) at about
// 2/3 of its time; it is well above OWASP's floor (19 MiB, t=2, p=1).
const (
	DefaultTime    = 2
	DefaultMemory  = 64 * 1024 // KiB
	DefaultThreads = 2
)

const (
	saltLen = 16
	keyLen  = 32
	// MaxPasswordLen bounds the passwords HashPassword and VerifyPassword
	// accept; longer ones are refused before any work.
	MaxPasswordLen = 1024
)

// Bounds on parameters read from a stored hash, so that a bad or hostile
// hash string cannot make a login allocate gigabytes or spin for minutes.
const (
	maxMemory = 1 << 22 // KiB: 4 GiB, the most directory.argon2.memory_kib allows
	maxTime   = 64
	minSalt   = 8
	maxSalt   = 64
	minKey    = 16
	maxKey    = 128
)

// ErrUnknownHash is returned by VerifyPassword for a hash string in a format
// it does not know.
var ErrUnknownHash = errors.New("unknown password hash format")

// ErrPasswordTooLong is returned for passwords over MaxPasswordLen bytes.
var ErrPasswordTooLong = fmt.Errorf("password longer than %d bytes", MaxPasswordLen)

// b64 is the PHC string format's base64: standard alphabet, no padding.
var b64 = base64.RawStdEncoding

// params fills the zero fields of p with the defaults.
func params(p config.Argon2) config.Argon2 {
	if p.Time == 0 {
		p.Time = DefaultTime
	}
	if p.Memory == 0 {
		p.Memory = DefaultMemory
	}
	if p.Threads == 0 {
		p.Threads = DefaultThreads
	}
	return p
}

// HashPassword hashes a password with argon2id and a random 16-byte salt,
// returning a PHC string:
//
//	$argon2id$v=19$m=65536,t=2,p=2$<salt>$<hash>
//
// with salt and hash in unpadded standard base64, as the reference
// implementation writes them (RFC 9106 names the algorithm; the string is
// the PHC format). Zero fields of p take DefaultTime, DefaultMemory and
// DefaultThreads.
func HashPassword(password string, p config.Argon2) (string, error) {
	if password == "" {
		return "", errors.New("empty password")
	}
	if len(password) > MaxPasswordLen {
		return "", ErrPasswordTooLong
	}
	p = params(p)
	if p.Memory < 8*uint32(p.Threads) {
		// RFC 9106 section 3.1: m is at least 8*p KiB.
		return "", fmt.Errorf("argon2 memory %d KiB is below 8 KiB per thread", p.Memory)
	}
	if p.Memory > maxMemory || p.Time > maxTime {
		return "", fmt.Errorf("argon2 parameters m=%d,t=%d are beyond what VerifyPassword accepts", p.Memory, p.Time)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches hash, comparing in
// constant time. It knows argon2id PHC strings and, for accounts imported
// from elsewhere, bcrypt ($2a$, $2b$, $2y$). A hash it cannot read is an
// error (ErrUnknownHash for an unknown scheme).
func VerifyPassword(hash, password string) (bool, error) {
	if len(password) > MaxPasswordLen {
		return false, ErrPasswordTooLong
	}
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		return verifyArgon2id(hash, password)
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, nil
		}
		return false, fmt.Errorf("bcrypt hash: %w", err)
	}
	scheme, _, _ := strings.Cut(strings.TrimPrefix(hash, "$"), "$")
	if len(scheme) > 20 {
		scheme = scheme[:20]
	}
	return false, fmt.Errorf("%w: %q", ErrUnknownHash, scheme)
}

// argon2idHash is a parsed argon2id PHC string.
type argon2idHash struct {
	p    config.Argon2
	salt []byte
	key  []byte
}

// parseArgon2id reads $argon2id$v=19$m=M,t=T,p=P$salt$hash.
func parseArgon2id(hash string) (*argon2idHash, error) {
	parts := strings.Split(hash, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return nil, errors.New("argon2id hash: malformed")
	}
	if parts[2] != "v=19" {
		return nil, fmt.Errorf("argon2id hash: unsupported version %q", parts[2])
	}
	var h argon2idHash
	seen := 0
	for kv := range strings.SplitSeq(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("argon2id hash: bad parameter %q", kv)
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("argon2id hash: bad parameter %q", kv)
		}
		switch k {
		case "m":
			h.p.Memory = uint32(n)
			seen |= 1
		case "t":
			h.p.Time = uint32(n)
			seen |= 2
		case "p":
			if n > 255 {
				return nil, fmt.Errorf("argon2id hash: bad parameter %q", kv)
			}
			h.p.Threads = uint8(n)
			seen |= 4
		default:
			return nil, fmt.Errorf("argon2id hash: unknown parameter %q", k)
		}
	}
	if seen != 7 {
		return nil, errors.New("argon2id hash: needs m, t and p")
	}
	if h.p.Threads == 0 || h.p.Time == 0 || h.p.Time > maxTime ||
		h.p.Memory < 8*uint32(h.p.Threads) || h.p.Memory > maxMemory {
		return nil, fmt.Errorf("argon2id hash: parameters %s out of range", parts[3])
	}
	var err error
	if h.salt, err = b64.DecodeString(parts[4]); err != nil || len(h.salt) < minSalt || len(h.salt) > maxSalt {
		return nil, errors.New("argon2id hash: bad salt")
	}
	if h.key, err = b64.DecodeString(parts[5]); err != nil || len(h.key) < minKey || len(h.key) > maxKey {
		return nil, errors.New("argon2id hash: bad hash")
	}
	return &h, nil
}

func verifyArgon2id(hash, password string) (bool, error) {
	h, err := parseArgon2id(hash)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(password), h.salt, h.p.Time, h.p.Memory, h.p.Threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}
