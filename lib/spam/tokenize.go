package spam

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"gannet/lib/message"
)

// The Bayes tokenizer follows SpamBayes (tokenizer.py), whose choices were
// measured on corpora like SpamAssassin's:
//
//   - Body words are the whitespace-separated runs of the text, lower case,
//     punctuation kept ("free!!" and "free" differ); words of 3 to 12
//     bytes are tokens as they are, a longer one gives "skip:<first
//     byte> <length/10*10>", an e-mail address its parts.
//   - Subject words are split at punctuation as well and prefixed.
//   - Header tokens: the name of every top-level field (which lists,
//     mailers and MTAs a message went through says a lot), the From
//     address, domain and display name, host names and /16 and /24
//     networks named by the first Received fields, Content-Type, charset
//     and Content-Transfer-Encoding of every part, attachment file-name
//     extensions, X-Mailer and User-Agent, the Message-ID's host.
//   - The host and the registered domain (last two labels) of every URL.
//
// Each token is hashed to 64 bits (FNV-1a over a kind prefix and the
// bytes), so the store keeps fixed-size integers; a message's tokens are
// deduplicated (a token counts once per message).

// Tokenizer bounds.
const (
	minWord        = 3
	maxWord        = 12
	maxReceived    = 5    // Received fields looked at
	maxTokens      = 5000 // distinct tokens kept per message
	maxHeaderValue = 80   // bytes of X-Mailer and the like kept
)

// fnv1a64 constants.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// tokenSet collects a message's token hashes.
type tokenSet struct {
	toks []uint64
}

// add hashes prefix and s, lower-casing ASCII letters of s.
func (t *tokenSet) add(prefix, s string) {
	h := uint64(fnvOffset)
	for i := 0; i < len(prefix); i++ {
		h ^= uint64(prefix[i])
		h *= fnvPrime
	}
	h ^= 0xff // separator: no prefix is a prefix of another's text
	h *= fnvPrime
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h ^= uint64(c)
		h *= fnvPrime
	}
	t.toks = append(t.toks, h)
}

// TokenHash returns the hash of one token as the tokenizer makes it, for
// tests and tools: kind is the prefix ("" for body words, "subject",
// "header", "from:addr", "url"...).
func TokenHash(kind, text string) uint64 {
	var t tokenSet
	t.add(kind, text)
	return t.toks[0]
}

// Tokenize returns the distinct token hashes of m, sorted.
func Tokenize(m *Message) []uint64 {
	t := &tokenSet{toks: make([]uint64, 0, 512)}
	text, subject := m.Text, m.Subject
	if text == "" && m.Parsed != nil {
		text = fallbackText(m)
	}
	if subject == "" && m.Parsed != nil && m.Parsed.Root.Envelope != nil {
		subject = message.DecodeText(m.Parsed.Root.Envelope.Subject)
	}
	tokenizeText(t, text)
	tokenizeSubject(t, subject)
	tokenizeHeader(t, m)
	for _, u := range m.URLs {
		urlTokens(t, u.Host)
	}
	slices.Sort(t.toks)
	t.toks = slices.Compact(t.toks)
	if len(t.toks) > maxTokens {
		t.toks = t.toks[:maxTokens]
	}
	return t.toks
}

// tokenizeText adds the body words.
func tokenizeText(t *tokenSet, text string) {
	for len(text) > 0 {
		// Skip white space.
		i := 0
		for i < len(text) {
			c := text[i]
			if c < utf8.RuneSelf {
				if c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' {
					break
				}
				i++
				continue
			}
			r, n := utf8.DecodeRuneInString(text[i:])
			if !unicode.IsSpace(r) {
				break
			}
			i += n
		}
		text = text[i:]
		j := 0
		for j < len(text) {
			c := text[j]
			if c < utf8.RuneSelf {
				if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' {
					break
				}
				j++
				continue
			}
			r, n := utf8.DecodeRuneInString(text[j:])
			if unicode.IsSpace(r) {
				break
			}
			j += n
		}
		if j == 0 {
			break
		}
		word(t, text[:j])
		text = text[j:]
	}
}

// word adds one body word.
func word(t *tokenSet, w string) {
	n := len(w)
	switch {
	case n < minWord:
	case n <= maxWord:
		t.add("", lowerNonASCII(w))
	case strings.IndexByte(w, '@') > 0 && n < 60:
		local, domain, _ := strings.Cut(strings.Trim(w, "<>()[]\"',.;:"), "@")
		t.add("email name", local)
		for _, p := range strings.Split(domain, ".") {
			if p != "" {
				t.add("email addr", p)
			}
		}
	case strings.HasPrefix(w, "http://") || strings.HasPrefix(w, "https://"):
		t.add("proto", w[:strings.IndexByte(w, ':')])
	default:
		t.add("skip", string(w[0])+" "+strconv.Itoa(n/10*10))
	}
}

// lowerNonASCII lower-cases the non-ASCII letters of w (add folds ASCII).
func lowerNonASCII(w string) string {
	for i := 0; i < len(w); i++ {
		if w[i] >= utf8.RuneSelf {
			return strings.ToLower(w)
		}
	}
	return w
}

// tokenizeSubject adds the subject's words and punctuation runs.
func tokenizeSubject(t *tokenSet, s string) {
	if s == "" {
		t.add("subject", "<none>")
		return
	}
	words := strings.FieldsFunc(s, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '$' && r != '\''
	})
	for _, w := range words {
		if len(w) > 40 {
			w = w[:40]
		}
		t.add("subject", lowerNonASCII(w))
		if len(w) >= 3 && strings.ToUpper(w) == w && strings.ToLower(w) != w {
			t.add("subject caps", "")
		}
	}
	// Runs of punctuation ("!!!", "$$$").
	run := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && (s[i] == '!' || s[i] == '$' || s[i] == '?') {
			run++
			continue
		}
		if run >= 2 {
			t.add("subject punct", s[i-run:i])
		}
		run = 0
	}
}

// tokenizeHeader adds the header tokens.
func tokenizeHeader(t *tokenSet, m *Message) {
	p := m.Parsed
	if p == nil {
		return
	}
	raw := m.Raw
	received := 0
	names := make(map[string]struct{}, len(p.Header))
	for _, f := range p.Header {
		name := strings.ToLower(f.Name)
		if strings.HasPrefix(name, "x-spam-") {
			continue // ours or another filter's: never trust, never learn
		}
		if _, dup := names[name]; !dup {
			names[name] = struct{}{}
			t.add("header", name)
		}
		switch name {
		case "received":
			if received < maxReceived {
				received++
				receivedTokens(t, fieldValue(raw, f))
			}
		case "x-mailer", "user-agent", "x-mimeole", "organization":
			v := strings.TrimSpace(fieldValue(raw, f))
			if len(v) > maxHeaderValue {
				v = v[:maxHeaderValue]
			}
			t.add(name, v)
		case "message-id":
			v := strings.Trim(strings.TrimSpace(fieldValue(raw, f)), "<>")
			if _, host, ok := strings.Cut(v, "@"); ok {
				t.add("message-id host", host)
			} else {
				t.add("message-id host", "<invalid>")
			}
		}
	}
	if _, ok := names["message-id"]; !ok {
		t.add("message-id host", "<none>")
	}
	from, name := m.From, m.FromName
	if env := p.Root.Envelope; from == "" && env != nil && len(env.From) > 0 {
		from = strings.ToLower(env.From[0].Addr())
		name = message.DecodeText(env.From[0].Name)
	}
	if from != "" {
		t.add("from:addr", from)
		if _, dom, ok := strings.Cut(from, "@"); ok {
			t.add("from:domain", dom)
		}
	}
	if name == "" {
		t.add("from:name", "<none>")
	} else {
		for _, w := range strings.Fields(name) {
			t.add("from:name", lowerNonASCII(w))
		}
	}
	partTokens(t, p.Root, 0)
}

// partTokens adds the MIME tokens of a part and its subparts.
func partTokens(t *tokenSet, pt *message.Part, depth int) {
	if pt == nil || depth > 10 {
		return
	}
	t.add("content-type", pt.Type+"/"+pt.Subtype)
	if cs := pt.Param("charset"); cs != "" {
		t.add("charset", strings.ToLower(cs))
	}
	if pt.Encoding != "" {
		t.add("content-transfer-encoding", pt.Encoding)
	}
	if fn := pt.Filename(); fn != "" {
		if i := strings.LastIndexByte(fn, '.'); i >= 0 && len(fn)-i <= 8 {
			t.add("filename ext", strings.ToLower(fn[i:]))
		} else {
			t.add("filename ext", "<none>")
		}
	}
	for _, sub := range pt.Parts {
		partTokens(t, sub, depth+1)
	}
	if pt.Embedded != nil {
		partTokens(t, pt.Embedded, depth+1)
	}
}

// fieldValue returns the unfolded value of one header field.
func fieldValue(raw []byte, f message.HeaderField) string {
	if f.Start < 0 || f.End > int64(len(raw)) || f.Start >= f.End {
		return ""
	}
	b := raw[f.Start:f.End]
	if i := bytes.IndexByte(b, ':'); i >= 0 {
		b = b[i+1:]
	}
	if len(b) > 2048 {
		b = b[:2048]
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

// receivedTokens adds the host names and networks of a Received field.
func receivedTokens(t *tokenSet, v string) {
	for _, w := range strings.FieldsFunc(v, func(r rune) bool {
		return r == ' ' || r == '(' || r == ')' || r == '[' || r == ']' || r == ';' || r == '<' || r == '>'
	}) {
		if len(w) >= 7 && '0' <= w[0] && w[0] <= '9' && strings.Count(w, ".") == 3 {
			ip, err := netip.ParseAddr(w)
			if err != nil || !ip.Is4() {
				continue
			}
			b := ip.As4()
			t.add("received net", strconv.Itoa(int(b[0]))+"."+strconv.Itoa(int(b[1])))
			t.add("received net", strconv.Itoa(int(b[0]))+"."+strconv.Itoa(int(b[1]))+"."+strconv.Itoa(int(b[2])))
			continue
		}
		if strings.IndexByte(w, '.') > 0 && strings.IndexByte(w, '@') < 0 && len(w) < 100 && isHostname(w) {
			t.add("received host", strings.ToLower(registered(w)))
		}
	}
}

// isHostname reports whether w looks like a host name with a letter TLD.
func isHostname(w string) bool {
	for i := 0; i < len(w); i++ {
		c := w[i]
		if !(c == '.' || c == '-' || '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'z') {
			return false
		}
	}
	tld := w[strings.LastIndexByte(w, '.')+1:]
	return len(tld) >= 2 && tld[0]|0x20 >= 'a' && tld[0]|0x20 <= 'z'
}

// registered returns the last two labels of a host name.
func registered(host string) string {
	host = strings.TrimSuffix(host, ".")
	i := strings.LastIndexByte(host, '.')
	if i <= 0 {
		return host
	}
	if j := strings.LastIndexByte(host[:i], '.'); j >= 0 {
		return host[j+1:]
	}
	return host
}

// urlTokens adds a URL's host and registered domain.
func urlTokens(t *tokenSet, host string) {
	if host == "" {
		return
	}
	t.add("url", host)
	if r := registered(host); r != host {
		t.add("url", r)
	}
}

// MessageHash names a message in the record of learned messages: the
// first 64 bits of SHA-256 over its body (the bytes after the header),
// or over the whole message when the body is empty. Copies of a message
// that differ only in their header (Received, X-Spam-*) hash alike.
func MessageHash(m *Message) uint64 {
	b := m.Raw
	if m.Parsed != nil && m.Parsed.Root != nil {
		if s := m.Parsed.Root.BodyStart; s > 0 && s < int64(len(b)) {
			b = b[s:]
		}
	}
	sum := sha256.Sum256(b)
	return binary.BigEndian.Uint64(sum[:8])
}

// fallbackText decodes the text parts of a Message built without
// NewMessage (Text empty): text/plain as it is, text/html with its tags
// dropped.
func fallbackText(m *Message) string {
	r := bytes.NewReader(m.Raw)
	var b strings.Builder
	var walk func(pt *message.Part, depth int)
	walk = func(pt *message.Part, depth int) {
		if depth > 10 || b.Len() >= MaxText {
			return
		}
		for _, sub := range pt.Parts {
			walk(sub, depth+1)
		}
		if pt.Embedded != nil {
			walk(pt.Embedded, depth+1)
		}
		if len(pt.Parts) > 0 || pt.Embedded != nil || pt.Type != "text" {
			return
		}
		s, _, err := pt.Text(r, MaxText-b.Len())
		if err != nil {
			return
		}
		if pt.Subtype == "html" {
			s = stripTags(s)
		}
		b.WriteString(s)
		b.WriteByte('\n')
	}
	walk(m.Parsed.Root, 0)
	return b.String()
}

// stripTags drops HTML tags and turns the commonest entities back to text.
func stripTags(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	in := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '<':
			in = true
			b.WriteByte(' ')
		case c == '>':
			in = false
		case !in:
			b.WriteByte(c)
		}
	}
	return strings.NewReplacer("&nbsp;", " ", "&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", "\"").Replace(b.String())
}
