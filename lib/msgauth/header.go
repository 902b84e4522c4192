package msgauth

import (
	"bytes"
	"errors"
)

// Bounds on the header section this package reads.
const (
	// MaxHeaderSize bounds the header section of a message.
	MaxHeaderSize = 1 << 20
	// MaxHeaderFields bounds the number of header fields.
	MaxHeaderFields = 5000
)

var errHeaderTooLarge = errors.New("header section too large")

// field is one header field as written: name, colon, value and line
// ending, continuation lines included (RFC 5322 section 2.2).
type field struct {
	raw  []byte
	name []byte // as written, without trailing whitespace
	off  int    // where raw starts in the message
}

// value returns the field's value: everything after the colon, line
// endings and all.
func (f field) value() []byte {
	i := bytes.IndexByte(f.raw, ':')
	return f.raw[i+1:]
}

// splitMessage returns the header fields of msg and the offset of its body
// (after the empty line; len(msg) when there is none). Lines may end in
// CRLF or LF. A line that is neither a field nor a continuation (no colon)
// ends the header, as a MUA reading the message would take it.
func splitMessage(msg []byte) ([]field, int, error) {
	var fields []field
	pos := 0
	for pos < len(msg) {
		if pos > MaxHeaderSize {
			return fields, pos, errHeaderTooLarge
		}
		end := lineEnd(msg, pos)
		line := msg[pos:end]
		if isBlankLine(line) {
			return fields, end, nil
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			// A continuation line (RFC 5322 section 2.2.3).
			last := &fields[len(fields)-1]
			last.raw = msg[last.off:end]
			pos = end
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			// Not a header field: the body starts here.
			return fields, pos, nil
		}
		name := bytes.TrimRight(line[:colon], " \t")
		if len(name) == 0 {
			return fields, pos, nil
		}
		if len(fields) == MaxHeaderFields {
			return fields, pos, errHeaderTooLarge
		}
		fields = append(fields, field{raw: line, name: name, off: pos})
		pos = end
	}
	return fields, len(msg), nil
}

// lineEnd returns the offset just past the line starting at pos (past its
// LF), or len(b).
func lineEnd(b []byte, pos int) int {
	i := bytes.IndexByte(b[pos:], '\n')
	if i < 0 {
		return len(b)
	}
	return pos + i + 1
}

func isBlankLine(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

// unfold returns a field value on one line, line breaks removed and the
// ends trimmed (RFC 5322 section 2.2.3).
func unfold(v []byte) string {
	v = bytes.ReplaceAll(v, []byte("\r\n"), nil)
	v = bytes.ReplaceAll(v, []byte("\n"), nil)
	return string(bytes.TrimSpace(v))
}
