package spam

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/net/idna"

	"gannet/lib/message"
)

// Further bounds of NewMessage.
const (
	// maxParts is the most MIME parts looked at.
	maxParts = 256
	// maxAttachments is the most attachments listed.
	maxAttachments = 64
	// maxHTML is the most decoded HTML rendered per part.
	maxHTML = 2 << 20
	// maxLinkText is the longest link text kept.
	maxLinkText = 200
	// maxURLLen is the longest URL kept; longer ones are cut.
	maxURLLen = 2048
	// maxRefs is the most References kept.
	maxRefs = 64
)

// ErrEmpty is NewMessage's error for an empty message.
var ErrEmpty = errors.New("spam: empty message")

// NewMessage parses raw once into the features every checker reads. It
// decodes the text parts (transfer encoding and charset) and renders the
// HTML ones to text, collecting their links; it finds URLs in plain text
// too. Work and memory are bounded by MaxText, MaxURLs and the part count
// whatever raw holds. The only error is an empty message.
func NewMessage(raw []byte, env Envelope) (*Message, error) {
	if len(raw) == 0 {
		return nil, ErrEmpty
	}
	p := message.Parse(raw)
	m := &Message{Raw: raw, Parsed: p, Envelope: env, Size: len(raw)}
	if e := p.Envelope(); e != nil {
		if a, ok := firstMailbox(e.From); ok {
			m.From = strings.ToLower(a.Addr())
			m.FromName = message.DecodeText(a.Name)
		}
		if a, ok := firstMailbox(e.ReplyTo); ok {
			m.ReplyTo = strings.ToLower(a.Addr())
		}
		m.Subject = message.DecodeText(e.Subject)
		m.MessageID = firstMsgID(e.MessageID)
		m.InReplyTo = firstMsgID(e.InReplyTo)
	}
	if refs, ok := topHeader(raw, p, "References"); ok {
		m.References = parseMsgIDs(refs, maxRefs)
	}

	x := extractor{m: m, raw: raw, seen: make(map[string]bool)}
	x.walk(p.Root, "", 0)
	m.HTML = x.html
	m.HTMLOnly = x.html && !x.plain
	m.Text = x.text.String()
	return m, nil
}

func firstMailbox(as []message.Address) (message.Address, bool) {
	for _, a := range as {
		if !a.Group && a.Mailbox != "" {
			return a, true
		}
	}
	return message.Address{}, false
}

// firstMsgID is the first message ID of a field, without angle brackets.
func firstMsgID(s string) string {
	ids := parseMsgIDs(s, 1)
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// parseMsgIDs reads the <id> items of a Message-ID, In-Reply-To or References
// field (RFC 5322 section 3.6.4), at most max.
func parseMsgIDs(s string, max int) []string {
	var out []string
	for len(out) < max {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			break
		}
		if id := strings.TrimSpace(s[i+1 : i+j]); id != "" && !strings.ContainsAny(id, " \t<") {
			out = append(out, strings.ToValidUTF8(id, "\uFFFD"))
		}
		s = s[i+j+1:]
	}
	return out
}

// topHeader returns the unfolded value of the first top-level header
// field called name.
func topHeader(raw []byte, p *message.Parsed, name string) (string, bool) {
	for _, f := range p.Header {
		if strings.EqualFold(f.Name, name) {
			return unfoldField(raw[f.Start:f.End]), true
		}
	}
	return "", false
}

// unfoldField is the value of a whole header field (name, colon, value,
// continuation lines), unfolded and trimmed.
func unfoldField(field []byte) string {
	i := bytes.IndexByte(field, ':')
	if i < 0 {
		return ""
	}
	v := field[i+1:]
	if bytes.IndexByte(v, '\n') < len(v)-1 || bytes.IndexByte(v, '\n') == -1 {
		// Folded (or unterminated): unfold.
		var b strings.Builder
		b.Grow(len(v))
		for _, c := range v {
			if c != '\r' && c != '\n' {
				b.WriteByte(c)
			}
		}
		return strings.TrimSpace(b.String())
	}
	return strings.TrimSpace(string(v))
}

// extractor walks the MIME tree collecting text, URLs and attachments.
type extractor struct {
	m           *Message
	raw         []byte
	parts       int
	text        strings.Builder
	html, plain bool
	seen        map[string]bool // URLs already listed
}

// isAttachmentPart tells a part shown as the message text from one offered for
// download (as lib/message does for IMAP and JMAP).
func isAttachmentPart(pt *message.Part, parentSubtype string) bool {
	if pt.Disposition == "attachment" {
		return true
	}
	switch pt.Type {
	case "message":
		return true
	case "text":
		if pt.Subtype == "plain" || pt.Subtype == "html" {
			return pt.Filename() != "" && pt.Disposition != "inline"
		}
		return pt.Filename() != ""
	}
	return true
}

func (x *extractor) walk(pt *message.Part, parentSubtype string, depth int) {
	if x.parts >= maxParts || depth > message.MaxDepth {
		return
	}
	x.parts++
	if len(pt.Parts) > 0 {
		for _, c := range pt.Parts {
			x.walk(c, pt.Subtype, depth+1)
		}
		return
	}
	if isAttachmentPart(pt, parentSubtype) {
		if len(x.m.Attachments) < maxAttachments {
			size := int(pt.DecodedSize)
			if size < 0 {
				size = int(pt.Size())
			}
			ct := pt.Type + "/" + pt.Subtype
			if pt.Type == "" {
				ct = "application/octet-stream"
			}
			x.m.Attachments = append(x.m.Attachments, Attachment{
				Filename:    strings.ToValidUTF8(message.DecodeText(pt.Filename()), "\uFFFD"),
				ContentType: strings.ToLower(ct),
				Size:        size,
			})
		}
		// The text of a forwarded or bounced message (message/rfc822,
		// RFC 2046 §5.2.1) is read too, as SpamAssassin does: backscatter
		// carries the spam it bounces, a forward the mail it forwards.
		if pt.Embedded != nil {
			x.walk(pt.Embedded, "", depth+1)
		}
		return
	}
	if pt.Type != "text" && pt.Type != "" {
		return
	}
	room := MaxText - x.text.Len()
	isHTML := pt.Subtype == "html"
	if isHTML {
		x.html = true
	} else {
		x.plain = true
	}
	if room <= 1 {
		return
	}
	limit := room
	if isHTML {
		limit = maxHTML
	}
	s, _, err := pt.Text(bytes.NewReader(x.raw), limit)
	if err != nil {
		return
	}
	if isHTML {
		s = x.renderHTML(s)
	} else {
		x.textURLs(s)
	}
	if x.text.Len() > 0 {
		x.text.WriteByte('\n')
		room--
	}
	if len(s) > room {
		s = cutAtRune(s, room)
	}
	x.text.WriteString(s)
}

// cutAtRune cuts s to at most n bytes at a character boundary.
func cutAtRune(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// addURL records a URL once.
func (x *extractor) addURL(raw, text string, fromHTML bool) {
	if len(x.m.URLs) >= MaxURLs {
		return
	}
	raw = strings.TrimSpace(raw)
	if len(raw) > maxURLLen {
		raw = cutAtRune(raw, maxURLLen)
	}
	host, ok := urlHost(raw)
	if !ok {
		return
	}
	key := raw
	if fromHTML {
		key = "h" + raw
	}
	if x.seen[key] {
		return
	}
	x.seen[key] = true
	x.m.URLs = append(x.m.URLs, URL{Raw: raw, Host: host, Text: text, FromHTML: fromHTML})
}

// urlHost returns the host of an http, https or schemeless www. URL: lower
// case, IDNA decoded, an IP address as text. ok is false for another
// scheme or no host.
func urlHost(u string) (string, bool) {
	rest := u
	switch {
	case prefixFold(rest, "http://"):
		rest = rest[7:]
	case prefixFold(rest, "https://"):
		rest = rest[8:]
	case prefixFold(rest, "www."):
	case strings.HasPrefix(rest, "//"):
		rest = rest[2:]
	default:
		return "", false
	}
	rest = strings.TrimLeft(rest, "/\\")
	if i := strings.IndexAny(rest, "/?#\\"); i >= 0 {
		rest = rest[:i]
	}
	// http://bank.example@evil.example/: the host is after the last @.
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	host := rest
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i > 0 {
			host = host[1:i]
		}
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" || len(host) > 253 {
		return "", false
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.String(), true
	}
	if strings.Contains(host, "xn--") {
		if d, err := idna.ToUnicode(host); err == nil {
			host = d
		}
	}
	return strings.ToValidUTF8(host, "\uFFFD"), true
}

func prefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// textURLs finds http://, https:// and www. URLs in plain text.
func (x *extractor) textURLs(s string) {
	for i := 0; i < len(s) && len(x.m.URLs) < MaxURLs; {
		j := indexURLStart(s[i:])
		if j < 0 {
			return
		}
		start := i + j
		end := start
		for end < len(s) && !urlStop(s[end]) {
			end++
		}
		u := strings.TrimRight(s[start:end], ".,;:!?'\")]}*")
		x.addURL(u, "", false)
		i = max(end, start+4)
	}
}

// indexURLStart finds the next "http://", "https://" or "www." (any case)
// starting a word in s.
func indexURLStart(s string) int {
	for i := 0; i+4 <= len(s); i++ {
		c := s[i] | 0x20
		if c != 'h' && c != 'w' {
			continue
		}
		if i > 0 && (urlWordByte(s[i-1]) || s[i-1] == '/' || s[i-1] == '.' || s[i-1] == '@') {
			continue
		}
		if c == 'h' && (prefixFold(s[i:], "http://") || prefixFold(s[i:], "https://")) {
			return i
		}
		if c == 'w' && prefixFold(s[i:], "www.") && i+4 < len(s) && urlWordByte(s[i+4]) {
			return i
		}
	}
	return -1
}

func urlWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// urlStop ends a URL in text.
func urlStop(c byte) bool {
	return c <= ' ' || c == '<' || c == '>' || c == '"' || c == '`' || c == '{' || c == '}' || c == '|' || c == '^' || c == 0x7f
}

// htmlDoc is what rendering an HTML part gives.
type htmlDoc struct {
	text   string
	images int
}

// renderHTML renders an HTML part to text, recording its links.
func (x *extractor) renderHTML(s string) string {
	d := renderHTML(s, x)
	return d.text
}

// renderHTML renders s to text: the text nodes outside head, script, style
// and similar elements, a line break for block elements, white space
// collapsed. With x not nil it records the links (<a href>, with their
// text) and the URLs in the text.
func renderHTML(s string, x *extractor) htmlDoc {
	var d htmlDoc
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	b.Grow(len(s) / 3)
	skip := 0       // depth inside skipped elements
	href := ""      // href of the open <a>
	inLink := false // inside an <a href>
	var link []byte // its text so far
	// White space is written lazily, before the next visible character,
	// so that none trails and a line break wins over a space.
	const none, sp, nl = 0, 1, 2
	pending := none
	brk := func(kind int) { pending = max(pending, kind) }
	endLink := func() {
		if inLink && x != nil {
			x.addURL(href, collapseLinkText(string(link)), true)
		}
		inLink, href, link = false, "", link[:0]
	}
	for b.Len() < MaxText {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			endLink()
			d.text = b.String()
			return d
		case html.TextToken:
			if skip > 0 {
				continue
			}
			t := z.Text()
			if x != nil {
				x.textURLs(string(t))
			}
			for _, r := range string(t) {
				if unicode.IsSpace(r) || r == '\u00a0' {
					brk(sp)
					continue
				}
				if r == '\u200b' || r == '\u200c' || r == '\u200d' || r == '\ufeff' || r == '\u00ad' {
					continue
				}
				if pending != none && b.Len() > 0 {
					b.WriteByte(" \n"[pending-1])
				}
				pending = none
				b.WriteRune(r)
			}
			if inLink && len(link) < maxLinkText {
				link = append(link, t...)
			}
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, hasAttr := z.TagName()
			switch atom.Lookup(name) {
			case atom.Head, atom.Script, atom.Style, atom.Title, atom.Template, atom.Noscript, atom.Object:
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
			case atom.A:
				endLink()
				if tt == html.StartTagToken && hasAttr {
					for {
						k, v, more := z.TagAttr()
						if string(k) == "href" {
							href = string(v)
							inLink = true
						}
						if !more {
							break
						}
					}
				}
			case atom.B, atom.I, atom.U, atom.Em, atom.Strong, atom.Font, atom.Span, atom.Small, atom.Big, atom.Sub, atom.Sup, atom.Abbr, atom.Code, atom.Tt, atom.S, atom.Strike, atom.Mark, atom.Label, atom.Wbr:
				// Inline: no break.
			case atom.Img:
				d.images++
				brk(sp)
			case atom.Br, atom.P, atom.Div, atom.Tr, atom.Li, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Table, atom.Ul, atom.Ol, atom.Blockquote, atom.Hr, atom.Pre:
				brk(nl)
			default:
				brk(sp)
			}
		}
	}
	endLink()
	d.text = cutAtRune(b.String(), MaxText)
	return d
}

// collapseLinkText turns runs of white space into one space and trims, within
// maxLinkText bytes.
func collapseLinkText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ToValidUTF8(cutAtRune(s, maxLinkText), "")
}
