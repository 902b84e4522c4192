package dsn

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// returnedContent is the third part of a report: what of the original
// message goes back, and how it was treated.
type returnedContent struct {
	content     []byte
	headersOnly bool // only the header section (text/rfc822-headers)
	eightBit    bool // content holds octets over 127
	cut         bool // content was cut to fit the limit
	mended      bool // bare CR/LF or over-long lines were mended
	size        int  // the original's size in octets
	limit       int  // the limit applied
}

// returned decides what of the original a report of the given kind carries
// (RFC 3461 section 4.3, RFC 6522 section 3): the whole message for a failure
// unless RET=HDRS, else the header section; either cut at a line end to fit
// MaxReturnSize.
func (r *Report) returned(kind Action) returnedContent {
	rc := returnedContent{size: len(r.Original), limit: r.MaxReturnSize}
	if rc.limit == 0 {
		rc.limit = DefaultMaxReturnSize
	}
	if r.Original == nil {
		return rc
	}
	orig, mended := mend(r.Original)
	rc.mended = mended
	hend := headerEnd(orig)
	full := kind == Failed && !strings.EqualFold(r.Return, "HDRS")
	switch {
	case full && len(orig) <= rc.limit:
		rc.content = orig
	case full && hend <= rc.limit:
		// The header fits: return as many whole lines of the body as fit.
		rc.content = cutLines(orig, rc.limit)
		rc.cut = true
	default:
		rc.headersOnly = true
		h := orig[:hend]
		if len(h) > rc.limit {
			h = cutFields(h, rc.limit)
			rc.cut = true
		}
		rc.cut = rc.cut || full
		rc.content = h
	}
	rc.eightBit = !isASCIIBytes(rc.content)
	return rc
}

// headerEnd returns the length of the header section of a message whose
// lines all end in CRLF: up to and including the CRLF of the last header
// line, before the empty line (RFC 5322 section 2.1). A message without a
// body is all header.
func headerEnd(b []byte) int {
	if bytes.HasPrefix(b, []byte("\r\n")) {
		return 0
	}
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return i + 2
	}
	return len(b)
}

// cutLines returns the longest prefix of b no longer than limit that ends at
// the end of a line (b's lines end in CRLF).
func cutLines(b []byte, limit int) []byte {
	if len(b) <= limit {
		return b
	}
	i := bytes.LastIndexByte(b[:limit], '\n')
	return b[:i+1] // i == -1 gives nothing
}

// cutFields is cutLines for a header section: it cuts only before a line
// that starts a new field, so that no field is returned half folded.
func cutFields(h []byte, limit int) []byte {
	p := cutLines(h, limit)
	for len(p) > 0 && len(p) < len(h) && (h[len(p)] == ' ' || h[len(p)] == '\t') {
		p = cutLines(h, len(p)-1)
	}
	return p
}

// mend returns b unchanged when it is valid on the wire: every CR followed
// by LF, every LF preceded by CR, no line over 998 octets (RFC 5321 section
// 2.3.8, RFC 5322 section 2.1.1). Otherwise it returns a copy in which each
// bare CR and bare LF is a CRLF and each long line is broken, as Postfix's
// smtp_line_length_limit does: in the header with CRLF SP, so the field goes
// on as a folded one; in the body with CRLF. A line is broken between UTF-8
// sequences where it can be.
func mend(b []byte) ([]byte, bool) {
	if wireSafe(b) {
		return b, false
	}
	out := make([]byte, 0, len(b)+len(b)/64+2)
	inHeader := true
	for len(b) > 0 {
		// One line and its terminator: CRLF, LF or CR.
		end, next := len(b), len(b)
		if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
			end, next = i, i+1
			if b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
				next = i + 2
			}
		}
		line := b[:end]
		b = b[next:]
		if len(line) == 0 {
			inHeader = false
		}
		room := maxLine
		for len(line) > room {
			n := room
			for n > room-utf8.UTFMax && n > 0 && !utf8.RuneStart(line[n]) {
				n--
			}
			if !utf8.RuneStart(line[n]) {
				n = room
			}
			out = append(out, line[:n]...)
			out = append(out, '\r', '\n')
			line = line[n:]
			if inHeader {
				out = append(out, ' ')
				room = maxLine - 1
			}
		}
		out = append(out, line...)
		out = append(out, '\r', '\n')
	}
	return out, true
}

// wireSafe reports whether b's lines all end in CRLF (the last may lack
// one) and none is longer than 998 octets.
func wireSafe(b []byte) bool {
	line := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\r':
			if i+1 >= len(b) || b[i+1] != '\n' {
				return false
			}
			i++
			line = 0
		case '\n':
			return false // not after a CR, or the CR case would have taken it
		default:
			line++
			if line > maxLine {
				return false
			}
		}
	}
	return true
}

func isASCIIBytes(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
