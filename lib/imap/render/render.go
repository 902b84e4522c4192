// Package render writes the FETCH data items that come from a message's
// parsed structure, ENVELOPE, BODYSTRUCTURE and BODY, in IMAP syntax (RFC
// 9051 section 7.5.2, RFC 3501 section 7.4.2). It works from the structure
// lib/message stored at ingest (message.Decode of Meta().Structure): no
// message is parsed again on FETCH.
//
// Strings are sent the way lib/message keeps them: header values as written
// (unfolded, RFC 2047 encoded words not decoded), media types, subtypes,
// parameter names, encodings and disposition types in lower case (clients
// compare them case-insensitively; Dovecot sends them as written, which is
// usually lower case too). Without UTF-8 (utf8 false: a session that
// enabled neither UTF8=ACCEPT nor IMAP4rev2, which RFC 9051 appendix A
// forbids UTF-8 quoted strings before "ENABLE IMAP4rev2") 8-bit strings are
// sent as literals, as they are in the message; with it they may be quoted
// (RFC 9051 section 4.3, RFC 6855 section 3).
package render

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"

	"gannet/lib/message"
)

// maxQuoted is the longest string sent quoted; longer ones go as literals
// so that a response line does not grow without bound (lib/imap/wire uses
// the same limit).
const maxQuoted = 1000

// String writes s as an IMAP string (RFC 9051 section 4.3): a quoted string
// when it can be one, else a literal. A string becomes a literal when it
// holds CR or LF, is longer than 1000 bytes, or holds 8-bit bytes that may
// not be quoted: any when utf8 is false (RFC 3501 quoted strings are 7-bit),
// invalid UTF-8 when it is true (RFC 6855 section 3). NUL may appear in
// neither form (CHAR8 excludes it), so NUL bytes are dropped. The empty
// string is "".
func String(b *bytes.Buffer, s string, utf8 bool) {
	s = dropNUL(s)
	if !quotable(s, utf8) {
		b.WriteByte('{')
		writeInt(b, int64(len(s)))
		b.WriteString("}\r\n")
		b.WriteString(s)
		return
	}
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b.WriteString(s[start:i])
			b.WriteByte('\\')
			start = i
		}
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

// dropNUL returns s without its NUL bytes.
func dropNUL(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		return strings.ReplaceAll(s, "\x00", "")
	}
	return s
}

// NString writes an nstring (RFC 9051 section 9): NIL when ok is false,
// else s as String writes it.
func NString(b *bytes.Buffer, s string, ok bool, utf8 bool) {
	if !ok {
		b.WriteString("NIL")
		return
	}
	String(b, s, utf8)
}

// quotable reports whether s (without NUL) may be a quoted string
// (RFC 9051 section 9: QUOTED-CHAR; RFC 3501: 7-bit TEXT-CHAR only).
func quotable(s string, utf8ok bool) bool {
	if len(s) > maxQuoted {
		return false
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\r' || c == '\n':
			return false
		case c >= 0x80:
			if !utf8ok {
				return false
			}
			ascii = false
		}
	}
	return ascii || utf8.ValidString(s)
}

func writeInt(b *bytes.Buffer, n int64) {
	b.Write(strconv.AppendInt(b.AvailableBuffer(), n, 10))
}

// noEnvelope is the envelope of an entity that has none: every member NIL.
var noEnvelope = &message.Envelope{}

// Envelope writes an ENVELOPE (RFC 9051 section 7.5.2): date, subject,
// from, sender, reply-to, to, cc, bcc, in-reply-to and message-id. The
// string members are the header values as written (RFC 2047 words not
// decoded); an absent field is NIL, and so is a field present but empty,
// which lib/message does not tell apart (the RFC lets servers do that and
// asks clients to treat NIL and "" alike). Sender and reply-to default to
// from. A nil env writes an envelope of NILs.
func Envelope(b *bytes.Buffer, env *message.Envelope, utf8 bool) {
	if env == nil {
		env = noEnvelope
	}
	b.WriteByte('(')
	NString(b, env.Date, env.Date != "", utf8)
	b.WriteByte(' ')
	NString(b, env.Subject, env.Subject != "", utf8)
	b.WriteByte(' ')
	addresses(b, env.From, utf8)
	b.WriteByte(' ')
	// "If the Sender or Reply-To header fields are absent ... the server
	// sets the corresponding member of the envelope to be the same value as
	// the from member" (RFC 9051 section 7.5.2).
	addresses(b, env.SenderOrFrom(), utf8)
	b.WriteByte(' ')
	addresses(b, env.ReplyToOrFrom(), utf8)
	b.WriteByte(' ')
	addresses(b, env.To, utf8)
	b.WriteByte(' ')
	addresses(b, env.Cc, utf8)
	b.WriteByte(' ')
	addresses(b, env.Bcc, utf8)
	b.WriteByte(' ')
	NString(b, env.InReplyTo, env.InReplyTo != "", utf8)
	b.WriteByte(' ')
	NString(b, env.MessageID, env.MessageID != "", utf8)
	b.WriteByte(')')
}

// addresses writes an address list, NIL when it is empty (RFC 9051 section
// 9: env-from = "(" 1*address ")" / nil). Group markers are kept balanced
// whatever the stored list holds: a group end without a start is dropped,
// a group start inside a group closes the open one, and an open group is
// closed at the end.
func addresses(b *bytes.Buffer, list []message.Address, utf8 bool) {
	n := 0
	inGroup := false
	for _, a := range list {
		switch {
		case a.IsGroupEnd():
			if !inGroup {
				continue
			}
			inGroup = false
		case a.IsGroupStart():
			if inGroup {
				b.WriteString(groupEnd)
			}
			inGroup = true
		}
		if n == 0 {
			b.WriteByte('(')
		}
		n++
		address(b, a, utf8)
	}
	if n == 0 {
		b.WriteString("NIL")
		return
	}
	if inGroup {
		b.WriteString(groupEnd)
	}
	b.WriteByte(')')
}

// groupEnd is the end-of-group marker (RFC 9051 section 7.5.2: mailbox
// name and host name NIL).
const groupEnd = "(NIL NIL NIL NIL)"

// address writes one address structure: (name adl mailbox host). A group
// start is (NIL NIL "group name" NIL). For a plain address the mailbox and
// host are always strings, "" when missing, since a NIL host would make it
// a group marker.
func address(b *bytes.Buffer, a message.Address, utf8 bool) {
	if a.Group {
		if a.Mailbox == "" {
			b.WriteString(groupEnd)
			return
		}
		b.WriteString("(NIL NIL ")
		String(b, a.Mailbox, utf8)
		b.WriteString(" NIL)")
		return
	}
	b.WriteByte('(')
	NString(b, a.Name, a.Name != "", utf8)
	b.WriteByte(' ')
	NString(b, a.ADL, a.ADL != "", utf8)
	b.WriteByte(' ')
	String(b, a.Mailbox, utf8)
	b.WriteByte(' ')
	String(b, a.Host, utf8)
	b.WriteByte(')')
}

// BodyStructure writes the body structure of p (RFC 9051 section 7.5.2):
// BODYSTRUCTURE when extended is set, else BODY (no extension data). p is
// normally Parsed.Root, the message itself.
//
// Fields are those lib/message stored: types, subtypes and encodings in
// lower case ("7bit" when there is no Content-Transfer-Encoding); a text/*
// part without a charset parameter gets ("charset" "us-ascii") added at
// the end of its parameters, as Dovecot does (RFC 2045 section 5.2);
// RFC 2231 continuations and encoded parameters are decoded (see params).
// The extended form always carries all four extension fields (md5,
// disposition, language, location for a single part; parameters,
// disposition, language, location for a multipart).
//
// A message/rfc822 part whose embedded message was not parsed (an encoded
// body, or a bound reached) is still sent in the message form, with an
// envelope of NILs and an empty text/plain body, as Dovecot does, so that
// clients that expect an envelope after a message/rfc822 part's size are
// not misled. message/global is sent in the message form only when utf8
// is set: RFC 3501's media-message is "MESSAGE" "RFC822" alone, RFC 9051's
// adds "GLOBAL" (RFC 6532), and a session without UTF-8 may be a client
// that only knows RFC 3501; there it is a basic part.
func BodyStructure(b *bytes.Buffer, p *message.Part, extended bool, utf8 bool) {
	r := renderer{b: b, ext: extended, utf8: utf8}
	r.body(p)
}

type renderer struct {
	b    *bytes.Buffer
	ext  bool
	utf8 bool
}

func (r *renderer) str(s string)  { String(r.b, s, r.utf8) }
func (r *renderer) nstr(s string) { NString(r.b, s, s != "", r.utf8) }
func (r *renderer) sp()           { r.b.WriteByte(' ') }

// body writes one body (RFC 9051 section 9: body = "(" (body-type-1part /
// body-type-mpart) ")").
func (r *renderer) body(p *message.Part) {
	if p == nil {
		r.emptyBody()
		return
	}
	b := r.b
	b.WriteByte('(')
	if len(p.Parts) > 0 {
		// body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
		for _, c := range p.Parts {
			r.body(c)
		}
		r.sp()
		r.str(p.Subtype)
		if r.ext {
			// body-ext-mpart = body-fld-param [SP body-fld-dsp [SP
			// body-fld-lang [SP body-fld-loc]]]
			r.sp()
			r.params(p.Params, false)
			r.sp()
			r.extTail(p)
		}
		b.WriteByte(')')
		return
	}
	// body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP
	// body-fld-enc SP body-fld-octets. The type decides the form; it is
	// taken as the client will read it (String drops NUL).
	typ, sub := dropNUL(p.Type), dropNUL(p.Subtype)
	r.str(typ)
	r.sp()
	r.str(sub)
	r.sp()
	r.params(p.Params, typ == "text")
	r.sp()
	r.nstr(p.ID)
	r.sp()
	r.nstr(p.Description)
	r.sp()
	if p.Encoding == "" {
		r.str("7bit") // RFC 2045 section 6.1: the default
	} else {
		r.str(p.Encoding)
	}
	r.sp()
	writeInt(b, p.Size())
	switch {
	case typ == "message" && (sub == "rfc822" || sub == "global" && r.utf8):
		// body-type-msg = media-message SP body-fields SP envelope SP
		// body SP body-fld-lines
		r.sp()
		if e := p.Embedded; e != nil {
			Envelope(b, e.Envelope, r.utf8)
			r.sp()
			r.body(e)
		} else {
			Envelope(b, nil, r.utf8)
			r.sp()
			r.emptyBody()
		}
		r.sp()
		writeInt(b, p.Lines)
	case typ == "text":
		// body-type-text = media-text SP body-fields SP body-fld-lines
		r.sp()
		writeInt(b, p.Lines)
	}
	if r.ext {
		// body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang
		// [SP body-fld-loc]]]
		r.sp()
		r.nstr(p.MD5)
		r.sp()
		r.extTail(p)
	}
	b.WriteByte(')')
}

// extTail writes body-fld-dsp SP body-fld-lang SP body-fld-loc.
func (r *renderer) extTail(p *message.Part) {
	b := r.b
	// body-fld-dsp = "(" string SP body-fld-param ")" / nil
	if p.Disposition == "" {
		b.WriteString("NIL")
	} else {
		b.WriteByte('(')
		r.str(p.Disposition)
		r.sp()
		r.params(p.DispositionParams, false)
		b.WriteByte(')')
	}
	r.sp()
	// body-fld-lang = nstring / "(" string *(SP string) ")"
	n := 0
	for _, l := range p.Language {
		if l == "" {
			continue
		}
		if n == 0 {
			b.WriteByte('(')
		} else {
			r.sp()
		}
		n++
		r.str(l)
	}
	if n == 0 {
		b.WriteString("NIL")
	} else {
		b.WriteByte(')')
	}
	r.sp()
	r.nstr(p.Location) // body-fld-loc = nstring
}

// emptyBody is the body of a message/rfc822 part whose embedded message
// was not parsed (and of a nil part).
func (r *renderer) emptyBody() {
	r.b.WriteString(`("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0`)
	if r.ext {
		r.b.WriteString(" NIL NIL NIL NIL")
	}
	r.b.WriteByte(')')
}
