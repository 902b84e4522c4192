package sieve

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"
)

// Bounds on message structure.
const (
	maxMimeDepth = 32
	maxMimeParts = 1000
	maxHeaders   = 10000
)

// field is a header field as in the message: name and raw value (after the
// colon, folding kept, without the final line end).
type field struct {
	name string
	raw  string
}

// value is the unfolded value with surrounding white space removed.
func (f field) value() string {
	v := strings.NewReplacer("\r\n", "", "\n", "").Replace(f.raw)
	return strings.Trim(v, " \t")
}

// part is a MIME entity (RFC 2045): the whole message is the root.
type part struct {
	fields   []field
	body     []byte // raw body (for multipart: everything after the header)
	typ, sub string // lowercase content type
	params   map[string]string
	children []*part
	parent   *part
	preamble []byte
	epilogue []byte
	// explicitType is set when a Content-Type field was present.
	explicitType bool
}

// parseFields splits a header block into fields; it returns the fields and
// the offset of the body.
func parseFields(raw []byte) ([]field, int) {
	var fields []field
	i := 0
	for i < len(raw) {
		end := bytes.IndexByte(raw[i:], '\n')
		var line []byte
		next := len(raw)
		if end >= 0 {
			line = raw[i : i+end]
			next = i + end + 1
		} else {
			line = raw[i:]
		}
		l := bytes.TrimSuffix(line, []byte("\r"))
		if len(l) == 0 {
			return fields, next
		}
		if (l[0] == ' ' || l[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1].raw += "\r\n" + string(l)
			i = next
			continue
		}
		colon := bytes.IndexByte(l, ':')
		if colon <= 0 {
			// Not a header field: the body starts here (lenient).
			if len(fields) == 0 && !bytes.ContainsAny(l, " \t") {
				i = next
				continue
			}
			return fields, i
		}
		name := strings.TrimRight(string(l[:colon]), " \t")
		if len(fields) < maxHeaders {
			fields = append(fields, field{name: name, raw: string(l[colon+1:])})
		}
		i = next
	}
	return fields, len(raw)
}

// fieldValues returns the values of the named fields (case-insensitive).
func fieldValues(fields []field, name string) []string {
	var out []string
	for _, f := range fields {
		if strings.EqualFold(f.name, name) {
			out = append(out, f.value())
		}
	}
	return out
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// decodeHeader decodes RFC 2047 encoded words, leaving what fails as is.
func decodeHeader(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	d, err := wordDecoder.DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// charsetReader converts a few common charsets to UTF-8.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(io.LimitReader(input, 64<<20))
	if err != nil {
		return nil, err
	}
	return strings.NewReader(toUTF8(charset, b)), nil
}

// toUTF8 converts text in charset to UTF-8 (Latin-1 family and UTF-8;
// anything else is passed through with invalid bytes replaced).
func toUTF8(charset string, b []byte) string {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "latin1", "iso8859-1", "windows-1252", "cp1252", "iso-8859-15":
		var sb strings.Builder
		for _, c := range b {
			sb.WriteRune(rune(c))
		}
		return sb.String()
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// parsePart parses an entity; defType is the default content type.
func parsePart(raw []byte, parent *part, defType string, depth int, count *int) *part {
	*count++
	p := &part{parent: parent, params: map[string]string{}}
	fields, off := parseFields(raw)
	p.fields = fields
	p.body = raw[off:]
	ct := ""
	for _, f := range fields {
		if strings.EqualFold(f.name, "Content-Type") {
			ct = f.value()
			p.explicitType = true
			break
		}
	}
	p.setType(ct, defType)
	if depth >= maxMimeDepth || *count >= maxMimeParts {
		return p
	}
	switch {
	case p.typ == "multipart":
		b := p.params["boundary"]
		if b == "" {
			return p
		}
		pre, parts, epi := splitMultipart(p.body, b)
		p.preamble, p.epilogue = pre, epi
		def := "text/plain"
		if p.sub == "digest" {
			def = "message/rfc822"
		}
		for _, raw := range parts {
			if *count >= maxMimeParts {
				break
			}
			p.children = append(p.children, parsePart(raw, p, def, depth+1, count))
		}
	case p.typ == "message" && p.sub == "rfc822":
		p.children = []*part{parsePart(p.decoded(), p, "text/plain", depth+1, count)}
	}
	return p
}

func (p *part) setType(ct, defType string) {
	mt, params, err := mime.ParseMediaType(ct)
	switch {
	case ct == "":
		mt, params, _ = mime.ParseMediaType(defType)
	case err != nil && mt == "":
		// Unparseable: opaque data (RFC 2045 section 5.2 would say
		// text/plain, but a broken type must not be searched as text).
		mt, params = "application/octet-stream", nil
	}
	mt = strings.ToLower(mt)
	typ, sub, _ := strings.Cut(mt, "/")
	p.typ, p.sub = typ, sub
	for k, v := range params {
		p.params[strings.ToLower(k)] = v
	}
}

// splitMultipart splits a multipart body at its boundary lines.
func splitMultipart(body []byte, boundary string) (pre []byte, parts [][]byte, epi []byte) {
	delim := []byte("--" + boundary)
	var starts []int // offsets of delimiter lines
	i := 0
	for i <= len(body) {
		lineEnd := bytes.IndexByte(body[i:], '\n')
		var line []byte
		next := len(body) + 1
		if lineEnd >= 0 {
			line = body[i : i+lineEnd]
			next = i + lineEnd + 1
		} else {
			line = body[i:]
		}
		if bytes.HasPrefix(line, delim) {
			rest := bytes.TrimRight(line[len(delim):], " \t\r")
			if len(rest) == 0 || bytes.Equal(rest, []byte("--")) {
				starts = append(starts, i)
				if bytes.Equal(rest, []byte("--")) {
					// Close delimiter.
					ps := partsFrom(body, starts, next)
					pre = trimCRLF(body[:starts[0]])
					if next <= len(body) {
						epi = body[next:]
					}
					return pre, ps, epi
				}
			}
		}
		if lineEnd < 0 {
			break
		}
		i = next
	}
	if len(starts) == 0 {
		return body, nil, nil
	}
	return trimCRLF(body[:starts[0]]), partsFrom(body, starts, len(body)), nil
}

// partsFrom cuts body into the entities between delimiter lines; the last
// start is the close delimiter (or the end).
func partsFrom(body []byte, starts []int, end int) [][]byte {
	var ps [][]byte
	for k := 0; k+1 < len(starts) || (k < len(starts) && end == len(body)); k++ {
		s := starts[k]
		nl := bytes.IndexByte(body[s:], '\n')
		if nl < 0 {
			break
		}
		s += nl + 1
		e := len(body)
		if k+1 < len(starts) {
			e = starts[k+1]
		}
		if s > e {
			s = e
		}
		ps = append(ps, trimCRLF(body[s:e]))
		if k+1 >= len(starts) {
			break
		}
	}
	return ps
}

// trimCRLF drops the line end that belongs to the next delimiter.
func trimCRLF(b []byte) []byte {
	if bytes.HasSuffix(b, []byte("\r\n")) {
		return b[:len(b)-2]
	}
	return bytes.TrimSuffix(b, []byte("\n"))
}

// decoded returns the body with its Content-Transfer-Encoding undone.
func (p *part) decoded() []byte {
	cte := ""
	for _, f := range p.fields {
		if strings.EqualFold(f.name, "Content-Transfer-Encoding") {
			cte = strings.ToLower(f.value())
		}
	}
	switch cte {
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, p.body)
		out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
		n, _ := base64.StdEncoding.Decode(out, clean)
		return out[:n]
	case "quoted-printable":
		out, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(p.body)))
		return out
	}
	return p.body
}

// knownEncoding reports whether the Content-Transfer-Encoding is one we
// can undo (RFC 2045 section 6).
func (p *part) knownEncoding() bool {
	for _, f := range p.fields {
		if strings.EqualFold(f.name, "Content-Transfer-Encoding") {
			switch strings.ToLower(f.value()) {
			case "7bit", "8bit", "binary", "base64", "quoted-printable", "":
				return true
			}
			return false
		}
	}
	return true
}

// text returns the decoded body converted to UTF-8.
func (p *part) text() string {
	return toUTF8(p.params["charset"], p.decoded())
}

// walk calls f for the part and its descendants, depth first.
func (p *part) walk(f func(*part)) {
	f(p)
	for _, c := range p.children {
		c.walk(f)
	}
}

// buildMessage assembles a message from fields and a body.
func buildMessage(fields []field, body []byte) []byte {
	var b bytes.Buffer
	for _, f := range fields {
		b.WriteString(f.name)
		b.WriteByte(':')
		b.WriteString(f.raw)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// address is a parsed mailbox address.
type address struct {
	local, domain string
	valid         bool
	raw           string
}

func (a address) String() string {
	if !a.valid {
		return a.raw
	}
	if a.domain == "" {
		return a.local
	}
	return quoteLocal(a.local) + "@" + a.domain
}

// quoteLocal quotes a local part that is not a dot-atom (RFC 5322 3.4.1).
func quoteLocal(l string) string {
	atom := l != "" && l[0] != '.' && l[len(l)-1] != '.' && !strings.Contains(l, "..")
	for i := 0; atom && i < len(l); i++ {
		c := l[i]
		if !(isAlpha(c) || isDigit(c) || c >= 0x80 || strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0) {
			atom = false
		}
	}
	if atom {
		return l
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(l); i++ {
		if l[i] == '"' || l[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(l[i])
	}
	b.WriteByte('"')
	return b.String()
}

// stripComments removes (comments) outside quoted strings.
func stripComments(s string) string {
	var b strings.Builder
	depth := 0
	inq := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inq:
			b.WriteByte(c)
			if c == '\\' && i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			} else if c == '"' {
				inq = false
			}
		case depth > 0:
			if c == '\\' {
				i++
			} else if c == '(' {
				depth++
			} else if c == ')' {
				depth--
			}
		case c == '(':
			depth++
			b.WriteByte(' ')
		case c == '"':
			inq = true
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// splitTop splits s at sep outside quotes and angle brackets.
func splitTop(s string, seps string) []string {
	var out []string
	inq, angle := false, 0
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inq:
			if c == '\\' {
				i++
			} else if c == '"' {
				inq = false
			}
		case c == '"':
			inq = true
		case c == '<':
			angle++
		case c == '>':
			if angle > 0 {
				angle--
			}
		case angle == 0 && strings.IndexByte(seps, c) >= 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// parseAddressList parses an address header leniently (RFC 5322 3.4): the
// addresses of all mailboxes, groups flattened.
func parseAddressList(v string) []address {
	s := stripComments(v)
	var out []address
	for _, seg := range splitTop(s, ",;") {
		seg = strings.TrimSpace(seg)
		// Group "name:" prefix.
		if i := indexTop(seg, ':'); i >= 0 && !strings.Contains(seg[:i], "<") && !strings.Contains(seg[:i], "@") {
			seg = strings.TrimSpace(seg[i+1:])
		}
		if seg == "" {
			continue
		}
		out = append(out, parseMailbox(seg))
	}
	return out
}

func indexTop(s string, c byte) int {
	inq := false
	for i := 0; i < len(s); i++ {
		switch {
		case inq:
			if s[i] == '\\' {
				i++
			} else if s[i] == '"' {
				inq = false
			}
		case s[i] == '"':
			inq = true
		case s[i] == c:
			return i
		}
	}
	return -1
}

// parseMailbox parses name-addr or addr-spec.
func parseMailbox(seg string) address {
	spec := seg
	if i := indexTop(seg, '<'); i >= 0 {
		j := strings.LastIndexByte(seg, '>')
		if j < i {
			return address{raw: seg}
		}
		spec = seg[i+1 : j]
		if k := indexTop(spec, ':'); k >= 0 && strings.HasPrefix(strings.TrimSpace(spec), "@") {
			spec = spec[k+1:] // obsolete route
		}
	}
	return parseAddrSpec(strings.TrimSpace(spec), seg)
}

func parseAddrSpec(spec, raw string) address {
	if spec == "" {
		return address{raw: raw, valid: true}
	}
	at := -1
	inq := false
	for i := 0; i < len(spec); i++ {
		switch {
		case inq:
			if spec[i] == '\\' {
				i++
			} else if spec[i] == '"' {
				inq = false
			}
		case spec[i] == '"':
			inq = true
		case spec[i] == '@':
			at = i
		}
	}
	if at < 0 {
		return address{local: unquote(spec), raw: raw, valid: false}
	}
	local := strings.TrimSpace(spec[:at])
	domain := strings.TrimSpace(spec[at+1:])
	if local == "" || domain == "" || strings.ContainsAny(domain, " \t<>\"") {
		return address{raw: raw}
	}
	return address{local: unquote(local), domain: domain, valid: true, raw: raw}
}

func unquote(s string) string {
	if !strings.Contains(s, "\"") {
		return strings.Join(strings.Fields(s), "")
	}
	var b strings.Builder
	inq := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			inq = !inq
		case c == '\\' && inq && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case !inq && (c == ' ' || c == '\t'):
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// parsePath parses an SMTP path (RFC 5321 section 4.1.2) as the envelope
// test sees it: optional angle brackets, an optional source route, and a
// mailbox, or a bare local part (such as MAILER-DAEMON). Lenient about dots
// in the local part, as real mail needs.
func parsePath(s string) (address, bool) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "<") {
		if !strings.HasSuffix(s, ">") || len(s) < 2 {
			return address{}, false
		}
		s = s[1 : len(s)-1]
	} else if strings.HasSuffix(s, ">") {
		return address{}, false
	}
	if strings.ContainsAny(s, "<>") {
		return address{}, false
	}
	if strings.HasPrefix(s, "@") {
		colon := strings.IndexByte(s, ':')
		if colon < 0 {
			return address{}, false
		}
		for _, hop := range strings.Split(s[:colon], ",") {
			if !strings.HasPrefix(hop, "@") || !validDomain(hop[1:]) {
				return address{}, false
			}
		}
		s = s[colon+1:]
	}
	if s == "" {
		return address{}, false
	}
	at := strings.LastIndexByte(s, '@')
	local := s
	domain := ""
	if strings.HasPrefix(s, "\"") {
		end := strings.LastIndexByte(s, '"')
		if end <= 0 {
			return address{}, false
		}
		local = unquote(s[:end+1])
		rest := s[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, "@") || !validDomain(rest[1:]) {
				return address{}, false
			}
			domain = rest[1:]
		}
	} else {
		if at >= 0 {
			local, domain = s[:at], s[at+1:]
			if !validDomain(domain) {
				return address{}, false
			}
		}
		if local == "" {
			return address{}, false
		}
		for i := 0; i < len(local); i++ {
			c := local[i]
			if c <= ' ' || c == 0x7f || strings.IndexByte("()<>[]:;@\\,\"", c) >= 0 {
				return address{}, false
			}
		}
	}
	return address{local: local, domain: domain, valid: true, raw: s}, true
}

func validDomain(d string) bool {
	if d == "" {
		return false
	}
	if strings.HasPrefix(d, "[") {
		return strings.HasSuffix(d, "]")
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(isAlpha(c) || isDigit(c) || c == '-' || c >= 0x80) {
				return false
			}
		}
	}
	return true
}
