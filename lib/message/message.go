// Package message parses an Internet message once, at ingest, into
// everything IMAP FETCH and JMAP need afterwards: the envelope, the MIME body
// structure with byte offsets into the raw message, an index of the top-level
// header fields, and the summary the store keeps in its rows (store.Meta).
//
// Parse never fails. Malformed MIME is kept: a multipart whose boundary is
// missing or never appears is served as text/plain over its whole body, a
// missing final boundary ends the multipart at the end of its enclosing
// entity, and input beyond the parser's bounds (MaxHeaderFields, MaxDepth,
// MaxParts) stays inside the body of the entity that holds it. Every byte of
// the raw message belongs to some section.
//
// The structure is stored with the message (Meta().Structure) and read back
// with Decode; the section helpers (Parsed.Section, Parsed.ReadSection,
// Part.Header, Part.Body, Part.Decoded...) then serve IMAP BODY[...] and
// BINARY[...] and JMAP blobs by reading only the bytes they need.
package message

// Bounds on what Parse interprets. Input beyond them is never an error and
// never lost: it is served as part of an opaque body.
const (
	// MaxHeaderFields is the number of fields interpreted per header block.
	// Further fields stay in the header section but are not looked at.
	MaxHeaderFields = 1000
	// MaxDepth is the deepest nesting of multiparts and embedded messages.
	// A multipart deeper than this is served as text/plain and a deeper
	// message/rfc822 part is not opened.
	MaxDepth = 50
	// MaxParts is the most parts in one message. When it is reached, the
	// rest of the multipart being split is kept as its epilogue.
	MaxParts = 10000

	maxValue     = 64 << 10 // longest header value interpreted
	maxAddresses = 1000     // addresses kept per address list
	maxParams    = 64       // parameters kept per Content-Type/Disposition
	maxRefs      = 128      // message IDs kept from References
	maxLanguages = 32       // tags kept from Content-Language
	previewRunes = 256      // length of Meta.Preview in characters
)

// Parsed is a parsed message: its MIME tree with offsets into the raw bytes
// and the top-level header index. A Parsed from Parse also holds the raw
// bytes (for Meta's preview); one from Decode does not.
type Parsed struct {
	// Root is the message itself: its header is the message header and its
	// body the message body; for a multipart message Root.Parts are the
	// parts. Root.Envelope is the message's envelope.
	Root *Part
	// Header indexes the top-level header fields in order (at most
	// MaxHeaderFields of them), so HEADER.FIELDS can be served by seeking.
	Header []HeaderField
	// HeaderTruncated reports that the top-level header has more fields
	// than Header lists.
	HeaderTruncated bool

	raw        []byte
	references string // raw References value (not kept by Encode)
}

// HeaderField locates one header field in the raw message.
type HeaderField struct {
	// Name is the field name as written.
	Name string
	// Start and End delimit the whole field: name, colon, value, folded
	// continuation lines and the final line break.
	Start, End int64
}

// Part is one MIME entity: the message itself, a part of a multipart, or
// the message embedded in a message/rfc822 part. Offsets are into the raw
// message and HeaderStart <= HeaderEnd <= BodyStart <= BodyEnd.
type Part struct {
	// HeaderStart and HeaderEnd delimit the header block, including the
	// blank line that ends it. They are equal when the entity has no header.
	HeaderStart, HeaderEnd int64
	// BodyStart and BodyEnd delimit the body (RFC 2046 section 5.1.1: the
	// line break before a boundary delimiter belongs to the delimiter).
	BodyStart, BodyEnd int64

	// Type and Subtype are lower-case (RFC 2045 section 5.1). A missing or
	// invalid Content-Type gives text/plain with charset us-ascii
	// (message/rfc822 in a multipart/digest, RFC 2046 section 5.1.5).
	Type, Subtype string
	// Params are the Content-Type parameters in order, names lower-case,
	// values as written (quotes removed, RFC 2231 and RFC 2047 not decoded:
	// use Param for the decoded value).
	Params []Param

	ID          string // Content-ID, as written
	Description string // Content-Description, as written
	// Encoding is the Content-Transfer-Encoding, lower-case; "" when absent
	// (which means 7bit).
	Encoding string
	// Lines is the number of lines in the body, for text/* and message/*
	// parts (IMAP body-fld-lines); 0 for others.
	Lines int64
	// DecodedSize is the size of the body after Content-Transfer-Encoding
	// decoding (BINARY.SIZE, JMAP EmailBodyPart.size); -1 when the encoding
	// is unknown.
	DecodedSize int64

	// Disposition is the Content-Disposition value, lower-case, "" when
	// absent; DispositionParams its parameters as for Params.
	Disposition       string
	DispositionParams []Param
	Language          []string // Content-Language tags
	Location          string   // Content-Location
	MD5               string   // Content-MD5

	// Parts are the parts of a multipart.
	Parts []*Part
	// Envelope is set on a message entity: the root and the root of an
	// embedded message.
	Envelope *Envelope
	// Embedded is the message inside a message/rfc822 or message/global
	// part: its HeaderStart is this part's BodyStart and its BodyEnd this
	// part's BodyEnd. It is nil when the embedded message was not opened
	// (an encoded body, or a bound reached): serve such a part as a basic
	// (non-message) body then.
	Embedded *Part
}

// Param is one MIME parameter.
type Param struct {
	Name  string // lower-case
	Value string // as written, without quotes
}

// Size is the size of the body in octets (IMAP body-fld-octets).
func (pt *Part) Size() int64 { return pt.BodyEnd - pt.BodyStart }

// IsMultipart reports whether the part has subparts of its own.
func (pt *Part) IsMultipart() bool { return len(pt.Parts) > 0 }

// Param returns the decoded value of a Content-Type parameter: RFC 2231
// continuations and charsets, or RFC 2047 encoded words, decoded to UTF-8.
// It returns "" when the parameter is absent.
func (pt *Part) Param(name string) string { return paramValue(pt.Params, name) }

// DispositionParam is Param for the Content-Disposition parameters.
func (pt *Part) DispositionParam(name string) string {
	return paramValue(pt.DispositionParams, name)
}

// Filename is the part's file name: the Content-Disposition filename
// parameter, else the Content-Type name parameter, decoded.
func (pt *Part) Filename() string {
	if f := pt.DispositionParam("filename"); f != "" {
		return f
	}
	return pt.Param("name")
}

// Envelope is the IMAP ENVELOPE of a message (RFC 9051 section 7.5.2).
// String fields are the header values as written, unfolded and trimmed,
// RFC 2047 words not decoded; "" means the field is absent or empty (NIL).
type Envelope struct {
	Date    string
	Subject string

	// Address lists; nil when the field is absent or holds no address.
	From, Sender, ReplyTo, To, Cc, Bcc []Address

	InReplyTo string
	MessageID string
}

// SenderOrFrom is Sender, or From when the message has no Sender field
// (RFC 9051 section 7.5.2 asks the server to send From then).
func (e *Envelope) SenderOrFrom() []Address {
	if len(e.Sender) == 0 {
		return e.From
	}
	return e.Sender
}

// ReplyToOrFrom is ReplyTo, or From when the message has no Reply-To field
// (RFC 9051 section 7.5.2).
func (e *Envelope) ReplyToOrFrom() []Address {
	if len(e.ReplyTo) == 0 {
		return e.From
	}
	return e.ReplyTo
}

// Address is one IMAP address structure (RFC 9051 section 7.5.2). Group
// syntax (RFC 5322 section 3.4) is marked the IMAP way: a group start has
// Group set and the group's name in Mailbox; a group end has Group set and
// an empty Mailbox. For a plain address, an empty Host means the address
// had no domain.
type Address struct {
	Name    string // display name as written (quotes removed, RFC 2047 words kept); "" is NIL
	ADL     string // obsolete source route, e.g. "@a,@b"; "" is NIL
	Mailbox string // local part (unquoted); the group name for a group start
	Host    string // domain
	Group   bool
}

// IsGroupStart reports whether a is the start-of-group marker.
func (a Address) IsGroupStart() bool { return a.Group && a.Mailbox != "" }

// IsGroupEnd reports whether a is the end-of-group marker.
func (a Address) IsGroupEnd() bool { return a.Group && a.Mailbox == "" }

// Addr returns mailbox@host (or just the mailbox when there is no host);
// "" for group markers.
func (a Address) Addr() string {
	if a.Group {
		return ""
	}
	if a.Host == "" {
		return a.Mailbox
	}
	return a.Mailbox + "@" + a.Host
}

// Envelope is the message's envelope (Root.Envelope).
func (p *Parsed) Envelope() *Envelope { return p.Root.Envelope }

// Parse parses a raw message. It never fails: see the package comment for
// what happens to malformed input. raw must not be modified while the
// Parsed is in use.
func Parse(raw []byte) *Parsed {
	ps := parser{raw: raw}
	root, _ := ps.entity(0, false, true, 0)
	return &Parsed{
		Root:            root,
		Header:          ps.index,
		HeaderTruncated: ps.indexTruncated,
		raw:             raw,
		references:      ps.references,
	}
}

// lower returns s with ASCII letters in lower case (other bytes unchanged),
// without allocating when it already is.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
