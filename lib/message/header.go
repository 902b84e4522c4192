package message

import (
	"bytes"
)

// fieldID names a header field the parser interprets.
type fieldID uint8

const (
	fNone fieldID = iota
	fContentType
	fContentTransferEncoding
	fContentID
	fContentDescription
	fContentDisposition
	fContentLanguage
	fContentLocation
	fContentMD5
	fDate
	fSubject
	fFrom
	fSender
	fReplyTo
	fTo
	fCc
	fBcc
	fInReplyTo
	fMessageID
	fReferences
	numFields
)

// lookupField maps a field name to the field it is, case-insensitively.
func lookupField(name []byte) fieldID {
	if len(name) < 2 || len(name) > 25 {
		return fNone
	}
	var buf [25]byte
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(name)]) {
	case "content-type":
		return fContentType
	case "content-transfer-encoding":
		return fContentTransferEncoding
	case "content-id":
		return fContentID
	case "content-description":
		return fContentDescription
	case "content-disposition":
		return fContentDisposition
	case "content-language":
		return fContentLanguage
	case "content-location":
		return fContentLocation
	case "content-md5":
		return fContentMD5
	case "date":
		return fDate
	case "subject":
		return fSubject
	case "from":
		return fFrom
	case "sender":
		return fSender
	case "reply-to":
		return fReplyTo
	case "to":
		return fTo
	case "cc":
		return fCc
	case "bcc":
		return fBcc
	case "in-reply-to":
		return fInReplyTo
	case "message-id":
		return fMessageID
	case "references":
		return fReferences
	}
	return fNone
}

// headerScan is what scanHeader found in one header block.
type headerScan struct {
	end int // end of the header block (after the blank line, if any)
	// atBoundary reports that a boundary delimiter line ended the header
	// (there was no blank line); m is that delimiter.
	atBoundary bool
	m          match
	have       uint32            // bit f set: vals[f] is the first field f
	vals       [numFields][2]int // value start (after the colon) and field end
}

// value returns the raw value of field f (folding included), at most
// maxValue bytes, or nil when the field is absent.
func (hs *headerScan) value(raw []byte, f fieldID) []byte {
	if hs.have&(1<<f) == 0 {
		return nil
	}
	v := raw[hs.vals[f][0]:hs.vals[f][1]]
	if len(v) > maxValue {
		v = v[:maxValue]
	}
	return v
}

// text returns the unfolded, trimmed value of field f ("" when absent).
func (hs *headerScan) text(raw []byte, f fieldID) string {
	return unfold(hs.value(raw, f))
}

// scanHeader reads the header block that starts at pos (RFC 5322 section
// 2.2). The block ends after the first blank line, at a boundary delimiter
// line of an enclosing multipart, or at the end of the data. A line that is
// not a field (no colon, or a bad field name) ends nothing: it is kept in
// the block and ignored, except as the very first line, where it means the
// entity has no header at all. When index is set, the fields are recorded
// in the parser's top-level index.
func (ps *parser) scanHeader(pos int, index bool) (hs headerScan) {
	raw := ps.raw
	n := len(raw)
	p := pos
	first := true
	inField := false
	var fStart, fVal, nfields int
	var fid fieldID
	var fName []byte
	record := func(end int) {
		nfields++
		if nfields > MaxHeaderFields {
			if index {
				ps.indexTruncated = true
			}
			return
		}
		if fid != fNone && hs.have&(1<<fid) == 0 {
			hs.have |= 1 << fid
			hs.vals[fid] = [2]int{fVal, end}
		}
		if index {
			ps.index = append(ps.index, HeaderField{Name: internName(fName), Start: int64(fStart), End: int64(end)})
		}
	}
	for p < n {
		lineEnd := n
		if i := bytes.IndexByte(raw[p:], '\n'); i >= 0 {
			lineEnd = p + i + 1
		}
		c := raw[p]
		if c == '\n' || (c == '\r' && p+1 < n && raw[p+1] == '\n') {
			if inField {
				record(p)
			}
			hs.end = lineEnd
			return hs
		}
		if c == ' ' || c == '\t' {
			if first {
				hs.end = pos // no header: the body starts here
				return hs
			}
			p = lineEnd // a continuation line of the current field, if any
			continue
		}
		if inField {
			record(p)
			inField = false
		}
		if c == '-' && len(ps.bounds) > 0 {
			if m, ok := ps.matchLine(p, p); ok {
				hs.end, hs.atBoundary, hs.m = p, true, m
				return hs
			}
		}
		colon, nameEnd := fieldName(raw[p:lineEnd])
		if colon < 0 {
			if first && !bytes.HasPrefix(raw[p:lineEnd], []byte("From ")) {
				hs.end = pos
				return hs
			}
			first = false
			p = lineEnd
			continue
		}
		first = false
		inField = true
		fStart, fVal = p, p+colon+1
		fName = raw[p : p+nameEnd]
		fid = lookupField(fName)
		p = lineEnd
	}
	if inField {
		record(n)
	}
	hs.end = n
	return hs
}

// fieldName finds the colon of a header field line and the end of its name
// (RFC 5322 section 2.2: printable US-ASCII except colon; section 4.5.3
// allows white space before the colon). colon is -1 when the line is not a
// field.
func fieldName(line []byte) (colon, nameEnd int) {
	for i, c := range line {
		switch {
		case c == ':':
			if i == 0 {
				return -1, 0
			}
			return i, i
		case c == ' ' || c == '\t':
			// Only white space may follow, up to the colon.
			for j := i + 1; j < len(line); j++ {
				switch line[j] {
				case ' ', '\t':
					continue
				case ':':
					if i == 0 {
						return -1, 0
					}
					return j, i
				}
				return -1, 0
			}
			return -1, 0
		case c < 33 || c > 126:
			return -1, 0
		}
	}
	return -1, 0
}

// unfold removes the line breaks of a folded value (RFC 5322 section 2.2.3)
// and trims surrounding white space.
func unfold(v []byte) string {
	v = trimSpace(v)
	if bytes.IndexByte(v, '\n') < 0 {
		return string(v)
	}
	out := make([]byte, 0, len(v))
	for _, c := range v {
		if c != '\r' && c != '\n' {
			out = append(out, c)
		}
	}
	return string(out)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func trimSpace(v []byte) []byte {
	i, j := 0, len(v)
	for i < j && isSpace(v[i]) {
		i++
	}
	for j > i && isSpace(v[j-1]) {
		j--
	}
	return v[i:j]
}

// commonNames are frequent header field names, as usually written. The
// index keeps these spellings without allocating, and the encoding stores
// them as small numbers.
var commonNames = []string{
	"Received", "From", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID",
	"Message-Id", "In-Reply-To", "References", "Reply-To", "Sender",
	"Return-Path", "MIME-Version", "Mime-Version", "Content-Type",
	"Content-Transfer-Encoding", "Content-Disposition", "Content-ID",
	"DKIM-Signature", "Authentication-Results", "ARC-Seal",
	"ARC-Message-Signature", "ARC-Authentication-Results",
	"Received-SPF", "X-Mailer", "User-Agent", "List-Unsubscribe",
	"List-Unsubscribe-Post", "List-Id", "Precedence", "Delivered-To",
	"X-Original-To", "Thread-Topic", "Thread-Index", "Content-Language",
	"X-Spam-Status", "X-Spam-Flag", "X-Spam-Score", "Auto-Submitted",
	"Feedback-ID", "X-Priority", "Importance", "Organization",
	"Disposition-Notification-To", "Errors-To", "X-Google-DKIM-Signature",
	"X-Gm-Message-State", "X-Received", "X-MS-Exchange-Organization-SCL",
}

var commonNameSet = func() map[string]string {
	m := make(map[string]string, len(commonNames))
	for _, n := range commonNames {
		m[n] = n
	}
	return m
}()

// internName returns name as a string, sharing the common spellings.
func internName(name []byte) string {
	if s, ok := commonNameSet[string(name)]; ok {
		return s
	}
	return string(name)
}
