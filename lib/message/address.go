package message

import "strings"

// envelope builds the IMAP envelope from a message header.
func (ps *parser) envelope(hs *headerScan) *Envelope {
	raw := ps.raw
	e := &Envelope{}
	if hs.have == 0 {
		return e
	}
	e.Date = hs.text(raw, fDate)
	e.Subject = hs.text(raw, fSubject)
	e.From = addressList(hs.text(raw, fFrom))
	e.Sender = addressList(hs.text(raw, fSender))
	e.ReplyTo = addressList(hs.text(raw, fReplyTo))
	e.To = addressList(hs.text(raw, fTo))
	e.Cc = addressList(hs.text(raw, fCc))
	e.Bcc = addressList(hs.text(raw, fBcc))
	e.InReplyTo = hs.text(raw, fInReplyTo)
	e.MessageID = hs.text(raw, fMessageID)
	return e
}

// Token kinds of the address tokenizer; specials are their own byte.
const (
	tEOF     = 0
	tWord    = 'w'
	tQuoted  = 'q'
	tComment = 'c'
	tLiteral = 'l'
)

type token struct {
	kind byte
	text string
}

// addrLexer splits an address list into words, quoted strings, comments,
// domain literals and the specials < > @ , ; : (RFC 5322 section 3.2).
// Anything else that is not white space belongs to a word, dots included,
// so obsolete phrases ("John Q. Public") and odd local parts survive.
type addrLexer struct {
	s string
}

func (l *addrLexer) next() token {
	s := l.s
	i := 0
	for i < len(s) && isSpaceStr(s[i]) {
		i++
	}
	s = s[i:]
	if len(s) == 0 {
		l.s = s
		return token{}
	}
	switch c := s[0]; c {
	case '<', '>', '@', ',', ';', ':':
		l.s = s[1:]
		return token{kind: c}
	case '"':
		var t string
		t, l.s = quotedString(s)
		return token{kind: tQuoted, text: t}
	case '(':
		var t string
		t, l.s = comment(s)
		return token{kind: tComment, text: strings.TrimSpace(t)}
	case '[':
		j := strings.IndexByte(s, ']')
		if j < 0 {
			j = len(s) - 1
		}
		l.s = s[j+1:]
		return token{kind: tLiteral, text: s[:j+1]}
	}
	j := 0
	for j < len(s) && !isSpaceStr(s[j]) && !strings.ContainsRune(`<>@,;:"([`, rune(s[j])) {
		j++
	}
	l.s = s[j:]
	return token{kind: tWord, text: s[:j]}
}

// addressList parses an address list (RFC 5322 section 3.4) leniently, for
// the IMAP envelope: groups give start and end markers, display names keep
// their encoded words, and garbage yields what can be salvaged rather than
// an error. At most maxAddresses entries are kept.
func addressList(s string) []Address {
	if s == "" {
		return nil
	}
	l := addrLexer{s: s}
	var out []Address
	var phrase []token
	var lastComment string
	inGroup := false
	bare := func() {
		// Words with no "@" and no angle brackets: a mailbox without a domain.
		if len(phrase) > 0 {
			out = append(out, Address{Mailbox: joinWords(phrase, " ")})
		}
		phrase, lastComment = phrase[:0], ""
	}
	for len(out) < maxAddresses {
		t := l.next()
		switch t.kind {
		case tEOF:
			bare()
			if inGroup {
				out = append(out, Address{Group: true})
			}
			return trimAddresses(out)
		case tComment:
			lastComment = t.text
		case tWord, tQuoted, tLiteral:
			phrase = append(phrase, t)
		case '<':
			name := joinWords(phrase, " ")
			if name == "" {
				name = lastComment
			}
			a := l.angleAddr()
			a.Name = name
			out = append(out, a)
			phrase, lastComment = phrase[:0], ""
		case '@':
			local := joinWords(phrase, "")
			host, cmt := l.domain()
			if cmt == "" {
				cmt = lastComment
			}
			out = append(out, Address{Name: cmt, Mailbox: local, Host: host})
			phrase, lastComment = phrase[:0], ""
		case ':':
			if inGroup {
				continue // a stray colon inside a group
			}
			out = append(out, Address{Mailbox: joinWords(phrase, " "), Group: true})
			if out[len(out)-1].Mailbox == "" {
				out[len(out)-1].Mailbox = "undisclosed-recipients"
			}
			phrase, lastComment = phrase[:0], ""
			inGroup = true
		case ';':
			bare()
			if inGroup {
				out = append(out, Address{Group: true})
				inGroup = false
			}
		case ',':
			bare()
		case '>':
			// A stray closing bracket.
		}
	}
	if inGroup && len(out) > 0 {
		out = append(out, Address{Group: true})
	}
	return trimAddresses(out)
}

func trimAddresses(out []Address) []Address {
	if len(out) == 0 {
		return nil
	}
	return out[:len(out):len(out)]
}

// angleAddr reads the rest of an angle-addr after "<": an optional
// obsolete route ("@a,@b:", RFC 5322 section 4.4), then local@domain.
func (l *addrLexer) angleAddr() Address {
	var a Address
	var toks []token
	// Obsolete route.
	save := l.s
	if t := l.next(); t.kind == '@' {
		var route strings.Builder
		route.WriteByte('@')
		for {
			t := l.next()
			if t.kind == ':' || t.kind == tEOF || t.kind == '>' {
				if t.kind == ':' {
					a.ADL = route.String()
				} else {
					l.s = save
				}
				break
			}
			if t.kind == tComment {
				continue
			}
			if t.kind == tWord || t.kind == tLiteral || t.kind == tQuoted {
				route.WriteString(t.text)
			} else {
				route.WriteByte(t.kind)
			}
		}
	} else {
		l.s = save
	}
	for {
		t := l.next()
		switch t.kind {
		case tEOF, '>':
			a.Mailbox = joinWords(toks, "")
			return a
		case '@':
			a.Mailbox = joinWords(toks, "")
			a.Host, _ = l.domainUntil('>')
			return a
		case tWord, tQuoted, tLiteral:
			toks = append(toks, t)
		}
	}
}

// domain reads a domain after "@" in a bare addr-spec, up to a comma, a
// semicolon or the end; a comment after it is returned as a display name.
func (l *addrLexer) domain() (host, cmt string) {
	return l.domainUntil(0)
}

func (l *addrLexer) domainUntil(end byte) (host, cmt string) {
	var b strings.Builder
	for {
		save := l.s
		t := l.next()
		switch t.kind {
		case tWord, tLiteral, tQuoted:
			if cmt != "" {
				// Words after a comment belong to the next address.
				l.s = save
				return b.String(), cmt
			}
			b.WriteString(t.text)
		case tComment:
			if cmt == "" {
				cmt = t.text
			}
		case tEOF:
			return b.String(), cmt
		default:
			if t.kind == end {
				return b.String(), cmt
			}
			if t.kind == ',' || t.kind == ';' || t.kind == '<' || t.kind == '>' || t.kind == ':' {
				l.s = save
				return b.String(), cmt
			}
			// A second "@": keep it as part of the domain.
			b.WriteByte(t.kind)
		}
	}
}

// joinWords joins the text of tokens with sep, without allocating for one.
func joinWords(toks []token, sep string) string {
	switch len(toks) {
	case 0:
		return ""
	case 1:
		return toks[0].text
	}
	n := len(sep) * (len(toks) - 1)
	for _, t := range toks {
		n += len(t.text)
	}
	var b strings.Builder
	b.Grow(n)
	for i, t := range toks {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(t.text)
	}
	return b.String()
}

// msgIDs extracts message identifiers, without angle brackets, from an
// In-Reply-To, References or Message-ID value (RFC 5322 section 3.6.4),
// leniently: unbracketed words that contain "@" are taken when no bracketed
// one is found. It keeps at most max identifiers: the first and the last
// max-1 (the thread's root and the nearest ancestors).
func msgIDs(s string, max int) []string {
	var out []string
	for rest := s; ; {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '>')
		if j < 0 {
			break
		}
		if id := strings.TrimSpace(rest[i+1 : i+j]); id != "" && !strings.ContainsAny(id, " \t<") {
			out = append(out, strings.ToValidUTF8(id, "\uFFFD"))
		}
		rest = rest[i+j+1:]
	}
	if out == nil {
		for _, w := range strings.Fields(s) {
			if strings.Contains(w, "@") {
				out = append(out, strings.ToValidUTF8(strings.Trim(w, "<>,;"), "\uFFFD"))
			}
		}
	}
	if len(out) > max {
		out = append(out[:1], out[len(out)-(max-1):]...)
	}
	return out
}
