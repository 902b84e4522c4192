package deliver

import "bytes"

// ToCRLF returns b with every line break as CRLF (RFC 5322 section 2.1:
// CR and LF occur only together): a bare LF or a bare CR becomes CRLF. b
// itself is returned, without copying, when it has neither.
func ToCRLF(b []byte) []byte {
	if !hasBareBreak(b) {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/32+2)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}

// hasBareBreak reports whether b has a CR not followed by LF or an LF not
// preceded by CR.
func hasBareBreak(b []byte) bool {
	for i := 0; i < len(b); {
		j := bytes.IndexAny(b[i:], "\r\n")
		if j < 0 {
			return false
		}
		i += j
		if b[i] == '\n' || i+1 == len(b) || b[i+1] != '\n' {
			return true
		}
		i += 2
	}
	return false
}
