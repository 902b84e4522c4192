package message

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// wordDecoder decodes RFC 2047 encoded words, in every charset that
// go-message/charset knows. It is safe for concurrent use.
var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// DecodeText decodes a header text (a subject, a display name, a
// parameter) to UTF-8: RFC 2047 encoded words are decoded, and raw 8-bit
// bytes that are not UTF-8 are read as ISO-8859-1. Undecodable words are
// left as they are.
func DecodeText(s string) string {
	return decodeText(s, "")
}

// decodeText is DecodeText reading invalid 8-bit bytes in fallback (a
// charset name; "" for ISO-8859-1).
func decodeText(s, fallback string) string {
	if !utf8.ValidString(s) {
		s = toUTF8(fallback, []byte(s))
	}
	if strings.Contains(s, "=?") {
		if d, err := wordDecoder.DecodeHeader(s); err == nil {
			s = d
		}
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "\uFFFD")
		}
	}
	return s
}

// toUTF8 converts b from charset cs to a UTF-8 string. UTF-8 and US-ASCII
// (and an empty name) pass through when valid; invalid or unknown input is
// read as ISO-8859-1 (or, for a known charset that fails, with U+FFFD).
func toUTF8(cs string, b []byte) string {
	switch lower(strings.TrimSpace(cs)) {
	case "", "utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin1", "iso_8859-1":
		if utf8.Valid(b) {
			return string(b)
		}
		return latin1(b)
	}
	r, err := charset.Reader(cs, bytes.NewReader(b))
	if err != nil {
		if utf8.Valid(b) {
			return string(b)
		}
		return latin1(b)
	}
	out, err := io.ReadAll(r)
	if err != nil && len(out) == 0 {
		return latin1(b)
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// latin1 reads b as ISO-8859-1.
func latin1(b []byte) string {
	out := make([]byte, 0, len(b)+len(b)/4)
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return string(out)
}

// ---------------------------------------------------------------------------
// Content-Transfer-Encoding (RFC 2045 section 6), decoded leniently: stray
// characters in base64 are skipped and malformed quoted-printable escapes
// are kept as they are. decodedLen must agree with decodeCTE exactly.

var b64 = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// decodedLen is the size of body after decoding enc; -1 for an unknown
// encoding.
func decodedLen(enc string, body []byte) int64 {
	switch enc {
	case "", "7bit", "8bit", "binary":
		return int64(len(body))
	case "base64":
		return base64Len(body)
	case "quoted-printable":
		return qpLen(body)
	}
	return -1
}

// decodeCTE decodes body, appending to dst, stopping once dst has grown by
// max bytes or more (max < 0: no limit). ok is false for an unknown
// encoding. more reports that the input was not used up.
func decodeCTE(dst []byte, enc string, body []byte, max int) (out []byte, more, ok bool) {
	switch enc {
	case "", "7bit", "8bit", "binary":
		if max >= 0 && len(body) > max {
			return append(dst, body[:max]...), true, true
		}
		return append(dst, body...), false, true
	case "base64":
		out, more = decodeBase64(dst, body, max)
		return out, more, true
	case "quoted-printable":
		out, more = decodeQP(dst, body, max)
		return out, more, true
	}
	return dst, false, false
}

// partial is how many bytes an incomplete base64 quantum of n sextets gives.
func partial(n int) int64 { return [4]int64{0, 0, 1, 2}[n] }

func base64Len(src []byte) int64 {
	var n int64
	q := 0
	for _, c := range src {
		if b64[c] != 0xff {
			q++
			if q == 4 {
				n += 3
				q = 0
			}
		} else if c == '=' {
			n += partial(q)
			q = 0
		}
	}
	return n + partial(q)
}

func decodeBase64(dst, src []byte, max int) ([]byte, bool) {
	start := len(dst)
	var acc uint32
	q := 0
	flush := func() {
		switch q {
		case 2:
			dst = append(dst, byte(acc>>4))
		case 3:
			dst = append(dst, byte(acc>>10), byte(acc>>2))
		}
		acc, q = 0, 0
	}
	for i, c := range src {
		if max >= 0 && len(dst)-start >= max {
			return dst, i < len(src)
		}
		if v := b64[c]; v != 0xff {
			acc = acc<<6 | uint32(v)
			q++
			if q == 4 {
				dst = append(dst, byte(acc>>16), byte(acc>>8), byte(acc))
				acc, q = 0, 0
			}
		} else if c == '=' {
			flush()
		}
	}
	flush()
	return dst, false
}

// qpLine splits the next line off src: the line without its break and
// trailing white space (RFC 2045 section 6.7 rule 3), whether it ends in a
// soft line break, and the line break itself.
func qpLine(src []byte) (line []byte, soft bool, eol, rest []byte) {
	i := bytes.IndexByte(src, '\n')
	if i < 0 {
		line, rest = src, nil
	} else {
		line, eol, rest = src[:i], src[i:i+1], src[i+1:]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line, eol = line[:len(line)-1], src[i-1:i+1]
		}
	}
	for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
		line = line[:len(line)-1]
	}
	if len(line) > 0 && line[len(line)-1] == '=' {
		line, soft = line[:len(line)-1], true
	}
	return line, soft, eol, rest
}

func qpLen(src []byte) int64 {
	var n int64
	for len(src) > 0 {
		line, soft, eol, rest := qpLine(src)
		n += int64(len(line))
		for j := bytes.IndexByte(line, '='); j >= 0; {
			if _, ok := qpEscape(line, j); ok {
				n -= 2
				j += 3
			} else {
				j++
			}
			k := bytes.IndexByte(line[j:], '=')
			if k < 0 {
				break
			}
			j += k
		}
		if !soft {
			n += int64(len(eol))
		}
		src = rest
	}
	return n
}

// hexVal maps hex digits (either case) to their value, others to 0xff.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c-'a') + 10
		t[c-'a'+'A'] = byte(c-'a') + 10
	}
	return t
}()

// qpEscape decodes "=XX" at line[j]; ok is false when there is none.
func qpEscape(line []byte, j int) (byte, bool) {
	if j+2 >= len(line) {
		return 0, false
	}
	h, l := hexVal[line[j+1]], hexVal[line[j+2]]
	return h<<4 | l, h < 16 && l < 16
}

func decodeQP(dst, src []byte, max int) ([]byte, bool) {
	start := len(dst)
	for len(src) > 0 {
		if max >= 0 && len(dst)-start >= max {
			return dst, true
		}
		line, soft, eol, rest := qpLine(src)
		for len(line) > 0 {
			j := bytes.IndexByte(line, '=')
			if j < 0 {
				dst = append(dst, line...)
				break
			}
			dst = append(dst, line[:j]...)
			if h, ok := qpEscape(line, j); ok {
				dst = append(dst, h)
				line = line[j+3:]
			} else {
				dst = append(dst, '=')
				line = line[j+1:]
			}
		}
		if !soft {
			dst = append(dst, eol...)
		}
		src = rest
	}
	return dst, false
}
