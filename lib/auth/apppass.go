package auth

import (
	"crypto/rand"
	"strings"

	"gannet/lib/config"
)

// App passwords are 120 random bits written as six groups of four
// lower-case base32 letters and digits ("abcd-efgh-2345-ijkl-mnop-67qr"),
// easy to read out and type. Being random, they need no user-chosen
// password's care, but they are hashed like one all the same.
const (
	appGroups    = 6
	appGroupLen  = 4
	appAlphabet  = "abcdefghijklmnopqrstuvwxyz234567"
	appPlainLen  = appGroups * appGroupLen
	appFormatted = appPlainLen + appGroups - 1
)

// NewAppPassword returns a new random app password, formatted for people.
// Hash it with HashAppPassword (or HashPassword: the formatted form is the
// canonical one).
func NewAppPassword() (string, error) {
	// crypto/rand.Text gives 26 base32 characters (130 bits); 24 are used.
	t := strings.ToLower(rand.Text())[:appPlainLen]
	var b strings.Builder
	for i := 0; i < appPlainLen; i += appGroupLen {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(t[i : i+appGroupLen])
	}
	return b.String(), nil
}

// canonicalAppPassword returns an app password as NewAppPassword formats
// it, whatever the case and the separators (dashes or spaces) someone typed,
// and whether password has an app password's shape at all.
func canonicalAppPassword(password string) (string, bool) {
	if len(password) > 2*appFormatted {
		return "", false
	}
	var raw []byte
	for i := 0; i < len(password); i++ {
		c := password[i]
		switch {
		case c == '-' || c == ' ':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		if strings.IndexByte(appAlphabet, c) < 0 {
			return "", false
		}
		raw = append(raw, c)
	}
	if len(raw) != appPlainLen {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < appPlainLen; i += appGroupLen {
		if i > 0 {
			b.WriteByte('-')
		}
		b.Write(raw[i : i+appGroupLen])
	}
	return b.String(), true
}

// HashAppPassword hashes an app password in its canonical form, so that it
// matches however the user types it (any case, with or without dashes).
func HashAppPassword(password string, p config.Argon2) (string, error) {
	if c, ok := canonicalAppPassword(password); ok {
		password = c
	}
	return HashPassword(password, p)
}

// RandomPassword returns a new random account password of 100 bits, four
// groups of five lower-case base32 letters and digits
// ("abcde-fghij-23456-klmno"), for accounts an administrator creates
// without choosing one.
func RandomPassword() (string, error) {
	t := strings.ToLower(rand.Text())[:20]
	return t[0:5] + "-" + t[5:10] + "-" + t[10:15] + "-" + t[15:20], nil
}
