package message

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Errors of the section helpers.
var (
	// ErrNoSection: the section does not exist in this message (a part
	// number out of range, HEADER or TEXT of a part that is not a message,
	// MIME without a part number).
	ErrNoSection = errors.New("message: no such section")
	// ErrUnknownCTE: the part's Content-Transfer-Encoding is unknown, so it
	// cannot be decoded (RFC 3516 section 4.3, [UNKNOWN-CTE]).
	ErrUnknownCTE = errors.New("message: unknown content-transfer-encoding")
)

// Specifier is the text part of an IMAP section (RFC 9051 section 6.4.5).
type Specifier uint8

const (
	// SpecNone: BODY[] (the whole message) or BODY[1.2] (a part's body).
	SpecNone Specifier = iota
	// SpecHeader: HEADER, the header of the message or of the embedded
	// message of a message/rfc822 part.
	SpecHeader
	// SpecHeaderFields: HEADER.FIELDS (Fields).
	SpecHeaderFields
	// SpecHeaderFieldsNot: HEADER.FIELDS.NOT (Fields).
	SpecHeaderFieldsNot
	// SpecText: TEXT, the body of the message or embedded message.
	SpecText
	// SpecMIME: MIME, the MIME header of a part.
	SpecMIME
)

// Section names a body section as in FETCH BODY[section].
type Section struct {
	Path   []int // part numbers, e.g. 4.2.1 is []int{4, 2, 1}; empty for the message
	Spec   Specifier
	Fields []string // field names for SpecHeaderFields and SpecHeaderFieldsNot
}

// Part finds the part with an IMAP part number (RFC 9051 section 6.4.5).
// An empty path is the message itself (p.Root). A non-multipart message
// has only part 1, itself; the parts of a message/rfc822 part are those of
// its embedded message, numbered the same way.
func (p *Parsed) Part(path []int) (*Part, bool) {
	if len(path) == 0 {
		return p.Root, true
	}
	ent := p.Root // the entity the next number indexes into
	var cur *Part
	for _, n := range path {
		if ent == nil || n < 1 {
			return nil, false
		}
		if len(ent.Parts) > 0 {
			if n > len(ent.Parts) {
				return nil, false
			}
			cur = ent.Parts[n-1]
		} else {
			if n != 1 {
				return nil, false
			}
			cur = ent
		}
		switch {
		case len(cur.Parts) > 0:
			ent = cur
		case cur.Embedded != nil:
			ent = cur.Embedded
		default:
			ent = nil // a leaf: the path must end here
		}
	}
	return cur, true
}

// message returns the message entity whose HEADER and TEXT a path names:
// the message itself for an empty path, else the embedded message of the
// message/rfc822 part at path.
func (p *Parsed) message(path []int) (*Part, error) {
	if len(path) == 0 {
		return p.Root, nil
	}
	pt, ok := p.Part(path)
	if !ok || pt.Embedded == nil {
		return nil, ErrNoSection
	}
	return pt.Embedded, nil
}

// SectionRange returns the byte range of the raw message that holds a
// section. For HEADER.FIELDS and HEADER.FIELDS.NOT it is the whole header
// the fields are taken from. Callers can stream a large section with an
// io.SectionReader over it.
func (p *Parsed) SectionRange(s Section) (start, end int64, err error) {
	switch s.Spec {
	case SpecNone:
		if len(s.Path) == 0 {
			return p.Root.HeaderStart, p.Root.BodyEnd, nil
		}
		pt, ok := p.Part(s.Path)
		if !ok {
			return 0, 0, ErrNoSection
		}
		return pt.BodyStart, pt.BodyEnd, nil
	case SpecMIME:
		if len(s.Path) == 0 {
			return 0, 0, ErrNoSection
		}
		pt, ok := p.Part(s.Path)
		if !ok {
			return 0, 0, ErrNoSection
		}
		return pt.HeaderStart, pt.HeaderEnd, nil
	case SpecHeader, SpecHeaderFields, SpecHeaderFieldsNot:
		m, err := p.message(s.Path)
		if err != nil {
			return 0, 0, err
		}
		return m.HeaderStart, m.HeaderEnd, nil
	case SpecText:
		m, err := p.message(s.Path)
		if err != nil {
			return 0, 0, err
		}
		return m.BodyStart, m.BodyEnd, nil
	}
	return 0, 0, fmt.Errorf("message: unknown section specifier %d", s.Spec)
}

// Section returns a section of raw, the message p was parsed from. The
// result may share memory with raw.
func (p *Parsed) Section(raw []byte, s Section) ([]byte, error) {
	return p.section(sliceSource(raw), s)
}

// ReadSection returns a section, reading from r (a reader over the raw
// message, e.g. the store's blob) only the bytes it needs. It allocates
// the whole section: stream large BODY[] fetches through SectionRange.
func (p *Parsed) ReadSection(r io.ReaderAt, s Section) ([]byte, error) {
	return p.section(readerSource{r}, s)
}

func (p *Parsed) section(src source, s Section) ([]byte, error) {
	start, end, err := p.SectionRange(s)
	if err != nil {
		return nil, err
	}
	switch s.Spec {
	case SpecHeaderFields, SpecHeaderFieldsNot:
		hdr, err := src.slice(start, end)
		if err != nil {
			return nil, err
		}
		not := s.Spec == SpecHeaderFieldsNot
		if len(s.Path) == 0 && !p.HeaderTruncated && p.Root.HeaderStart == 0 {
			return filterIndexed(hdr, p.Header, start, s.Fields, not), nil
		}
		return FilterHeader(hdr, s.Fields, not), nil
	}
	return src.slice(start, end)
}

// Binary returns the content of the part at path with its
// Content-Transfer-Encoding decoded (RFC 3516 BINARY[path]); an empty path
// is the whole message, as it is.
func (p *Parsed) Binary(r io.ReaderAt, path []int) ([]byte, error) {
	if len(path) == 0 {
		return readerSource{r}.slice(p.Root.HeaderStart, p.Root.BodyEnd)
	}
	pt, ok := p.Part(path)
	if !ok {
		return nil, ErrNoSection
	}
	return pt.Decoded(r)
}

// BinarySize is the size of Binary(r, path) (RFC 3516 BINARY.SIZE), from
// the structure alone.
func (p *Parsed) BinarySize(path []int) (int64, error) {
	if len(path) == 0 {
		return p.Root.BodyEnd - p.Root.HeaderStart, nil
	}
	pt, ok := p.Part(path)
	if !ok {
		return 0, ErrNoSection
	}
	if pt.isLeaf() && pt.DecodedSize < 0 {
		return 0, ErrUnknownCTE
	}
	if !pt.isLeaf() {
		return pt.Size(), nil
	}
	return pt.DecodedSize, nil
}

func (pt *Part) isLeaf() bool { return len(pt.Parts) == 0 && pt.Embedded == nil }

// Header returns the part's header block: its MIME header (IMAP MIME), or
// for a message entity (Root, Embedded) the message header (IMAP HEADER).
func (pt *Part) Header(r io.ReaderAt) ([]byte, error) {
	return readerSource{r}.slice(pt.HeaderStart, pt.HeaderEnd)
}

// Body returns the part's body as it is in the message (IMAP BODY[path],
// or TEXT for a message entity).
func (pt *Part) Body(r io.ReaderAt) ([]byte, error) {
	return readerSource{r}.slice(pt.BodyStart, pt.BodyEnd)
}

// HeaderFields returns the fields of the part's header whose names are (not
// set) or are not (not set) in names, compared case-insensitively, followed
// by the blank line that ended the header (RFC 9051 section 6.4.5).
func (pt *Part) HeaderFields(r io.ReaderAt, names []string, not bool) ([]byte, error) {
	hdr, err := pt.Header(r)
	if err != nil {
		return nil, err
	}
	return FilterHeader(hdr, names, not), nil
}

// Decoded returns the body with its Content-Transfer-Encoding decoded (RFC
// 3516 BINARY). Multiparts and embedded messages are returned as they are.
func (pt *Part) Decoded(r io.ReaderAt) ([]byte, error) {
	body, err := pt.Body(r)
	if err != nil || !pt.isLeaf() || identity(pt.Encoding) {
		return body, err
	}
	out, _, ok := decodeCTE(make([]byte, 0, max(pt.DecodedSize, 0)), pt.Encoding, body, -1)
	if !ok {
		return nil, ErrUnknownCTE
	}
	return out, nil
}

// Text returns the body decoded to UTF-8: Content-Transfer-Encoding, then
// the charset parameter (RFC 2046 section 4.1.2). With max > 0 it returns
// at most max bytes, cut at a character boundary, and truncated reports
// the cut. Use it for text/* parts.
func (pt *Part) Text(r io.ReaderAt, max int) (text string, truncated bool, err error) {
	dec, err := pt.Decoded(r)
	if err != nil {
		return "", false, err
	}
	text = toUTF8(pt.Param("charset"), dec)
	if max > 0 && len(text) > max {
		cut := max
		for cut > 0 && !utf8RuneStart(text[cut]) {
			cut--
		}
		return text[:cut], true, nil
	}
	return text, false, nil
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// FilterHeader selects fields from a header block: those whose names are in
// names (or, with not, those that are not), compared case-insensitively.
// The blank line ending the block, if it has one, is kept (RFC 9051 section
// 6.4.5). Lines that are not fields are dropped.
func FilterHeader(hdr []byte, names []string, not bool) []byte {
	var out []byte
	p := 0
	for p < len(hdr) {
		// One field: its first line and continuation lines.
		end := p
		for {
			i := bytes.IndexByte(hdr[end:], '\n')
			if i < 0 {
				end = len(hdr)
				break
			}
			end += i + 1
			if end >= len(hdr) || (hdr[end] != ' ' && hdr[end] != '\t') {
				break
			}
		}
		line := hdr[p:end]
		if isBlankLine(line) {
			out = append(out, line...)
			break
		}
		if colon, nameEnd := fieldName(line); colon >= 0 && nameIn(line[:nameEnd], names) != not {
			out = appendField(out, line)
		}
		p = end
	}
	if out == nil {
		out = []byte{}
	}
	return out
}

// filterIndexed is FilterHeader using the top-level header index; hdr is
// the header block read from base.
func filterIndexed(hdr []byte, index []HeaderField, base int64, names []string, not bool) []byte {
	out := []byte{}
	var last int64
	for _, h := range index {
		if nameIn([]byte(h.Name), names) != not {
			out = appendField(out, hdr[h.Start-base:h.End-base])
		}
		last = h.End - base
	}
	// The blank line, after the last field (and any non-field lines).
	rest := hdr[min(last, int64(len(hdr))):]
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		if isBlankLine(rest[:i+1]) {
			out = append(out, rest[:i+1]...)
			break
		}
		rest = rest[i+1:]
	}
	return out
}

// appendField appends a field, ending it with a line break if it has none.
func appendField(out, field []byte) []byte {
	out = append(out, field...)
	if len(field) > 0 && field[len(field)-1] != '\n' {
		out = append(out, '\r', '\n')
	}
	return out
}

func isBlankLine(l []byte) bool {
	return len(l) == 1 && l[0] == '\n' || len(l) == 2 && l[0] == '\r' && l[1] == '\n'
}

func nameIn(name []byte, names []string) bool {
	for _, n := range names {
		if len(n) == len(name) && strings.EqualFold(n, string(name)) {
			return true
		}
	}
	return false
}

// source reads byte ranges of the raw message.
type source interface {
	slice(start, end int64) ([]byte, error)
}

type sliceSource []byte

func (s sliceSource) slice(start, end int64) ([]byte, error) {
	if start < 0 || end < start || end > int64(len(s)) {
		return nil, fmt.Errorf("message: range %d-%d outside the message (%d bytes): %w", start, end, len(s), io.ErrUnexpectedEOF)
	}
	return s[start:end:end], nil
}

type readerSource struct{ r io.ReaderAt }

func (s readerSource) slice(start, end int64) ([]byte, error) {
	if start < 0 || end < start {
		return nil, fmt.Errorf("message: bad range %d-%d", start, end)
	}
	if sz, ok := s.r.(interface{ Size() int64 }); ok && end > sz.Size() {
		// A structure that does not fit its blob (bytes.Reader and
		// io.SectionReader know their size): fail before allocating.
		return nil, fmt.Errorf("message: range %d-%d outside the message (%d bytes): %w", start, end, sz.Size(), io.ErrUnexpectedEOF)
	}
	buf := make([]byte, end-start)
	n, err := s.r.ReadAt(buf, start)
	if n == len(buf) {
		return buf, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return nil, fmt.Errorf("message: read %d-%d: %w", start, end, err)
}
