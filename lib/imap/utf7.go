package imap

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Mailbox names are UTF-8 in the store. IMAP4rev1 clients that have not
// enabled UTF8=ACCEPT see them in modified UTF-7 (RFC 3501 section 5.1.3);
// IMAP4rev2 and UTF8=ACCEPT sessions see UTF-8 (RFC 9051 section 5.1).

var b64utf7 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

var errUTF7 = errors.New("invalid modified UTF-7 mailbox name")

// encodeUTF7 encodes a UTF-8 mailbox name in modified UTF-7.
func encodeUTF7(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c <= 0x7e {
			if c == '&' {
				b.WriteString("&-")
			} else {
				b.WriteByte(c)
			}
			i++
			continue
		}
		// A run of non-printable characters.
		var units []uint16
		for i < len(s) && (s[i] < 0x20 || s[i] > 0x7e) {
			r, n := utf8.DecodeRuneInString(s[i:])
			i += n
			units = utf16.AppendRune(units, r)
		}
		raw := make([]byte, 0, 2*len(units))
		for _, u := range units {
			raw = append(raw, byte(u>>8), byte(u))
		}
		b.WriteByte('&')
		b.WriteString(b64utf7.EncodeToString(raw))
		b.WriteByte('-')
	}
	return b.String()
}

// decodeUTF7 decodes a modified UTF-7 mailbox name to UTF-8.
func decodeUTF7(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", errUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			continue
		}
		j := strings.IndexByte(s[i:], '-')
		if j < 0 {
			return "", errUTF7
		}
		enc := s[i+1 : i+j]
		i += j
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := b64utf7.DecodeString(enc)
		if err != nil || len(raw)%2 != 0 {
			return "", errUTF7
		}
		units := make([]uint16, len(raw)/2)
		for k := range units {
			units[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		for _, r := range utf16.Decode(units) {
			if r == utf8.RuneError || r < 0x80 && r >= 0x20 && r <= 0x7e {
				return "", errUTF7 // printable ASCII must be sent as is
			}
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}
