package spam

import "gannet/lib/message"

// Message is one message as every checker sees it, parsed and decoded once
// by NewMessage (features.go). Every field is bounded: a huge message gives
// truncated text and at most MaxURLs URLs, never unbounded work.
type Message struct {
	// Raw is the message as received (header and body, CRLF line endings).
	Raw []byte
	// Parsed is its MIME structure.
	Parsed *message.Parsed
	// Envelope is what the SMTP session knew.
	Envelope Envelope

	// From is the address of the From header field, lower case ("" when
	// missing or unparsable); FromName its display name, decoded.
	From, FromName string
	// ReplyTo, Subject (decoded), MessageID, InReplyTo, References as in
	// the header.
	ReplyTo    string
	Subject    string
	MessageID  string
	InReplyTo  string
	References []string

	// Text is the decoded text of the text/plain parts and of the
	// text/html parts rendered to text, joined, at most MaxText bytes.
	Text string
	// HTML reports whether the message has a text/html part; HTMLOnly
	// that it has no text/plain alternative.
	HTML, HTMLOnly bool
	// URLs found in the text and in HTML links, in order, deduplicated, at
	// most MaxURLs.
	URLs []URL
	// Attachments are the parts with a file name or a non-text type.
	Attachments []Attachment
	// Size is len(Raw).
	Size int
}

// URL is a link found in a message.
type URL struct {
	// Raw is the URL as written (after decoding the part); Host is its
	// host name in lower case (punycode decoded to Unicode), or the IP
	// address as text.
	Raw, Host string
	// Text is the link's visible text for an HTML <a>, "" otherwise.
	Text string
	// FromHTML reports that it came from an href.
	FromHTML bool
}

// Attachment is a part that is not body text.
type Attachment struct {
	// Filename is the decoded file name, "" when none.
	Filename string
	// ContentType is type/subtype in lower case.
	ContentType string
	// Size is the decoded size in bytes (the encoded size when decoding is
	// not needed to know it).
	Size int
}

// Bounds of a Message.
const (
	MaxText = 512 << 10
	MaxURLs = 200
)
