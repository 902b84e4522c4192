package message

import (
	"html"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"gannet/lib/store"
)

// Meta returns what the store keeps about the message: the summary fields
// and the encoded structure. On a Parsed from Decode (which has no raw
// bytes and no References) Preview and References are empty.
func (p *Parsed) Meta() store.Meta {
	env := p.Root.Envelope
	if env == nil {
		env = &Envelope{}
	}
	fallback := p.fallbackCharset()
	m := store.Meta{
		Date:          parseDate(env.Date),
		Subject:       decodeText(env.Subject, fallback),
		MessageID:     firstID(env.MessageID),
		InReplyTo:     msgIDs(env.InReplyTo, maxRefs),
		References:    msgIDs(p.references, maxRefs),
		HasAttachment: hasAttachment(p.Root, ""),
		Structure:     p.encode(),
	}
	for _, a := range env.From {
		if !a.Group {
			m.From = cleanAddr(a)
			break
		}
	}
	for _, a := range env.To {
		if !a.Group {
			m.To = append(m.To, cleanAddr(a))
		}
	}
	if p.raw != nil {
		m.Preview = p.preview()
	}
	return m
}

func cleanAddr(a Address) string {
	return strings.ToValidUTF8(lower(a.Addr()), "\uFFFD")
}

// firstID is the Message-ID without angle brackets.
func firstID(s string) string {
	ids := msgIDs(s, 1)
	if len(ids) == 0 {
		if s = strings.Trim(strings.TrimSpace(s), "<>"); s != "" && !strings.ContainsAny(s, " \t") {
			return strings.ToValidUTF8(s, "\uFFFD")
		}
		return ""
	}
	return strings.ToValidUTF8(ids[0], "\uFFFD")
}

// dateLayouts are tried, in order, when net/mail cannot read a Date.
var dateLayouts = []string{
	"2 Jan 2006 15:04:05 -0700",
	"2 Jan 2006 15:04:05 MST",
	"2 Jan 2006 15:04 -0700",
	"2 Jan 06 15:04:05 -0700",
	"2 Jan 2006 15:04:05",
	"Jan 2 15:04:05 2006",
	"Jan 2 2006 15:04:05 -0700",
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05",
}

// ParseDate reads a date-time of RFC 5322 section 3.3 as net/mail's
// ParseDate does (a time zone is required), without its cost for the
// common form "Mon, 2 Jan 2006 15:04:05 -0700".
func ParseDate(s string) (time.Time, error) {
	if t, zoned, ok := fastDate(s, true); ok && zoned {
		return t, nil
	}
	return mail.ParseDate(s)
}

// parseDate reads a Date field (RFC 5322 section 3.3), leniently; the zero
// time when it cannot be read.
func parseDate(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	if t, _, ok := fastDate(s, false); ok {
		return t
	}
	if t, err := mail.ParseDate(s); err == nil {
		return t
	}
	// Drop comments, a day name and doubled spaces, then try common layouts.
	s = strings.Join(strings.Fields(stripComments(s)), " ")
	if i := strings.IndexByte(s, ','); i >= 0 && i <= 10 {
		s = strings.TrimSpace(s[i+1:])
	} else if len(s) > 4 && s[3] == ' ' && unicode.IsLetter(rune(s[0])) && !unicode.IsDigit(rune(s[4])) {
		s = s[4:] // "Mon Jan 2 ..." (asctime)
	}
	s = strings.Replace(strings.Replace(s, " UT", " +0000", 1), " GMT", " +0000", 1)
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

var months = [...]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// zones holds the time.Locations of the UTC offsets seen so far.
var zones sync.Map // int (seconds east) -> *time.Location

func zone(offset int) *time.Location {
	if l, ok := zones.Load(offset); ok {
		return l.(*time.Location)
	}
	l, _ := zones.LoadOrStore(offset, time.FixedZone("", offset))
	return l.(*time.Location)
}

// fastDate reads the usual form of an RFC 5322 section 3.3 date-time,
// "[Mon, ]2 Jan 2006 15:04[:05] -0700" with an optional trailing comment,
// without allocating; ok is false for anything else, zoned reports a
// numeric zone. strict accepts only what net/mail's ParseDate reads to the
// same instant (FuzzParseDate), leaving the rest to it.
func fastDate(s string, strict bool) (t time.Time, zoned, ok bool) {
	if strict && (strings.Contains(s, "\t") || strings.Contains(s, "  ") || strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ")) {
		return time.Time{}, false, false // net/mail's layouts have single spaces
	}
	var tok [6]string
	n, i := 0, 0
	for i < len(s) && n < len(tok) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		j := i
		for j < len(s) && s[j] != ' ' && s[j] != '\t' {
			j++
		}
		if j > i {
			tok[n] = s[i:j]
			n++
		}
		i = j
	}
	if strict && strings.TrimLeft(s[i:], " \t") != "" {
		return time.Time{}, false, false // more than six words: net/mail decides
	}
	f := tok[:n]
	if len(f) > 0 && strings.HasSuffix(f[0], ",") {
		if strict && !isDayName(f[0][:len(f[0])-1]) {
			return time.Time{}, false, false
		}
		f = f[1:]
	}
	if len(f) < 4 {
		return time.Time{}, false, false
	}
	day, ok1 := atoi(f[0], 1, 2)
	year, ok2 := atoi(f[2], 4, 4)
	if !ok1 || !ok2 || len(f[1]) != 3 {
		return time.Time{}, false, false
	}
	month := 0
	for i, m := range months {
		if strings.EqualFold(f[1], m) {
			month = i + 1
		}
	}
	hms := f[3]
	if month == 0 || len(hms) != 5 && len(hms) != 8 || hms[2] != ':' || len(hms) == 8 && hms[5] != ':' {
		return time.Time{}, false, false
	}
	hour, ok1 := atoi(hms[0:2], 2, 2)
	min, ok2 := atoi(hms[3:5], 2, 2)
	sec, ok3 := 0, true
	if len(hms) == 8 {
		sec, ok3 = atoi(hms[6:8], 2, 2)
	}
	if !ok1 || !ok2 || !ok3 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60 {
		return time.Time{}, false, false
	}
	// net/mail (time.Parse) refuses a leap second and a day the month
	// does not have.
	if strict && (sec > 59 || day > daysIn(time.Month(month), year)) {
		return time.Time{}, false, false
	}
	offset := 0
	if len(f) > 4 {
		z := f[4]
		switch {
		case len(z) == 5 && (z[0] == '+' || z[0] == '-'):
			zh, ok1 := atoi(z[1:3], 2, 2)
			zm, ok2 := atoi(z[3:5], 2, 2)
			if !ok1 || !ok2 || zm > 59 || strict && zh > 24 {
				return time.Time{}, false, false
			}
			offset = (zh*60 + zm) * 60
			zoned = true
			if z[0] == '-' {
				offset = -offset
			}
		case z == "GMT" || z == "UT" || z == "UTC" || z == "Z":
		default:
			return time.Time{}, false, false
		}
		if len(f) > 5 && (strict || !strings.HasPrefix(f[5], "(")) {
			return time.Time{}, false, false
		}
	}
	return time.Date(year, time.Month(month), day, hour, min, sec, 0, zone(offset)), zoned, true
}

var dayNames = [...]string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

func isDayName(s string) bool {
	for _, d := range dayNames {
		if strings.EqualFold(s, d) {
			return true
		}
	}
	return false
}

// daysIn returns the number of days of month m of year y.
func daysIn(m time.Month, y int) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// atoi reads a decimal number of min to max digits.
func atoi(s string, min, max int) (int, bool) {
	if len(s) < min || len(s) > max {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func stripComments(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		if s[0] == '(' {
			_, s = comment(s)
			b.WriteByte(' ')
			continue
		}
		b.WriteByte(s[0])
		s = s[1:]
	}
	return b.String()
}

// fallbackCharset is the charset of the message's first text part when it
// is not UTF-8 or ASCII: raw 8-bit header bytes are most often in it.
func (p *Parsed) fallbackCharset() string {
	cs := ""
	walk(p.Root, func(pt *Part, _ *Part) bool {
		if pt.Type == "text" {
			for _, prm := range pt.Params {
				if prm.Name == "charset" {
					switch lower(prm.Value) {
					case "utf-8", "utf8", "us-ascii", "ascii", "":
					default:
						cs = prm.Value
					}
					return false
				}
			}
		}
		return true
	})
	return cs
}

// walk calls fn on pt and its descendants (embedded messages included) in
// order, with each part's multipart parent, until fn returns false.
func walk(pt *Part, fn func(pt, parent *Part) bool) bool {
	return walkFrom(pt, nil, fn)
}

func walkFrom(pt, parent *Part, fn func(pt, parent *Part) bool) bool {
	if !fn(pt, parent) {
		return false
	}
	for _, c := range pt.Parts {
		if !walkFrom(c, pt, fn) {
			return false
		}
	}
	if pt.Embedded != nil {
		return walkFrom(pt.Embedded, nil, fn)
	}
	return true
}

// isAttachment reports whether a leaf part is something a mail client
// offers for download rather than shows as the message text (RFC 8621
// section 4.1.4): parts marked attachment, attached messages, and
// non-text parts other than inline images of a multipart/related.
func isAttachment(pt *Part, parentSubtype string) bool {
	if pt.Disposition == "attachment" {
		return true
	}
	switch pt.Type {
	case "multipart":
		return false
	case "message":
		return pt.Subtype == "rfc822" || pt.Subtype == "global"
	case "text":
		if pt.Subtype == "plain" || pt.Subtype == "html" {
			return false
		}
		return pt.Disposition != "inline" && pt.Filename() != ""
	}
	if pt.Disposition == "inline" {
		return false
	}
	if parentSubtype == "related" && pt.ID != "" {
		return false
	}
	return true
}

// hasAttachment reports whether the message has an attachment; it does not
// look inside attached messages.
func hasAttachment(pt *Part, parentSubtype string) bool {
	if len(pt.Parts) == 0 {
		return isAttachment(pt, parentSubtype)
	}
	for _, c := range pt.Parts {
		if hasAttachment(c, pt.Subtype) {
			return true
		}
	}
	return false
}

// previewPart is the first text/plain part that is not an attachment, else
// the first such text/html part.
func (p *Parsed) previewPart() *Part {
	var plain, htm *Part
	walk(p.Root, func(pt, parent *Part) bool {
		if len(pt.Parts) > 0 || pt.Type != "text" || pt.Disposition == "attachment" {
			return true
		}
		ps := ""
		if parent != nil {
			ps = parent.Subtype
		}
		if isAttachment(pt, ps) {
			return true
		}
		switch pt.Subtype {
		case "plain":
			plain = pt
			return false
		case "html":
			if htm == nil {
				htm = pt
			}
		}
		return true
	})
	if plain != nil {
		return plain
	}
	return htm
}

// preview is up to previewRunes characters of the message text, white
// space collapsed. It decodes only as much of the part as it needs.
func (p *Parsed) preview() string {
	pt := p.previewPart()
	if pt == nil {
		return ""
	}
	body := p.raw[pt.BodyStart:pt.BodyEnd]
	isHTML := pt.Subtype == "html"
	cs := pt.Param("charset")
	want := 1024
	if isHTML {
		want = 16 << 10
	}
	for {
		dec, more, ok := decodeCTE(make([]byte, 0, min(want+80, len(body))), pt.Encoding, body, want)
		if !ok {
			return ""
		}
		text := toUTF8(cs, dec)
		if more {
			// Drop a character cut in half by the limit.
			text = strings.TrimRight(text, "\uFFFD")
			if r, n := utf8.DecodeLastRuneInString(text); r == utf8.RuneError && n <= 1 && len(text) > 0 {
				text = text[:len(text)-1]
			}
		}
		if isHTML {
			text = htmlText(text, !more)
		}
		out, full := collapse(text, previewRunes)
		if full || !more || want >= 1<<20 {
			return out
		}
		want *= 4
	}
}

// collapse turns runs of white space into one space, drops invisible
// characters, trims, and cuts at max characters; full reports that max
// characters were reached.
func collapse(s string, max int) (string, bool) {
	b := make([]byte, 0, min(len(s), max*4))
	n := 0
	space := false
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' {
				space = n > 0
				continue
			}
			if c < ' ' || c == 0x7f {
				continue // other control characters
			}
			if n == max {
				return string(b), true
			}
			if space {
				b = append(b, ' ')
				space = false
				if n++; n == max {
					return string(b), true
				}
			}
			b = append(b, c)
			n++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case unicode.IsSpace(r):
			space = n > 0
			continue
		case r == '\u200b' || r == '\u200c' || r == '\u200d' || r == '\u2060' || r == '\ufeff' || r == '\u034f' || r == '\u00ad':
			continue
		}
		if n == max {
			return string(b), true
		}
		if space {
			b = append(b, ' ')
			space = false
			if n++; n == max {
				return string(b), true
			}
		}
		b = utf8.AppendRune(b, r)
		n++
	}
	return string(b), n >= max
}

// htmlText extracts the text of an HTML document: tags become spaces, and
// comments and the content of head, script, style and similar elements are
// dropped; entities are decoded. complete says s is the whole document (an
// unterminated element then ends the text rather than swallowing it).
func htmlText(s string, complete bool) string {
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i:]
		if strings.HasPrefix(s, "<!--") {
			j := strings.Index(s[4:], "-->")
			if j < 0 {
				break
			}
			s = s[4+j+3:]
			continue
		}
		j := strings.IndexByte(s, '>')
		if j < 0 {
			break
		}
		tag := s[1:j]
		s = s[j+1:]
		b.WriteByte(' ')
		name := tag
		if k := strings.IndexAny(name, " \t\r\n/"); k >= 0 {
			name = name[:k]
		}
		switch lower(name) {
		case "head", "script", "style", "title", "template", "noscript", "xml":
			end := indexFold(s, "</"+name)
			if end < 0 {
				if !complete {
					s = ""
				}
				continue
			}
			s = s[end:]
		}
	}
	return html.UnescapeString(b.String())
}

// indexFold finds sub in s, ASCII case-insensitively.
func indexFold(s, sub string) int {
	if len(sub) == 0 {
		return 0
	}
	for i := 0; i+len(sub) <= len(s); i++ {
		j := strings.IndexByte(s[i:], '<')
		if j < 0 {
			return -1
		}
		i += j
		if i+len(sub) <= len(s) && strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}
