package deliver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"gannet/lib/store"
)

// An mbox file (RFC 4155) holds messages one after another, each starting
// with a "From " separator line (the From_ line: "From SENDER DATE") and
// ending with an empty line. Writers escape body lines that would look like
// a separator by putting ">" in front: mboxo escapes "From " lines, mboxrd
// also ">From ", ">>From "... MboxReader reads both the mboxrd way, taking
// one ">" off every line matching ^>+From (for mboxo that is right except
// for a body line that began with ">From " before escaping, which mboxo
// cannot tell apart anyway).
//
// A line is taken as a separator when it starts with "From " and is the
// first line of the file or follows an empty line, so that an unescaped
// "From " inside a paragraph (as careless mboxo writers leave) stays in its
// message.

// mboxBuffer is the size of the buffer MboxReader reads lines through;
// longer lines are read in pieces.
const mboxBuffer = 64 << 10

// ErrNotMbox is returned when the input does not start with a From_ line.
var ErrNotMbox = errors.New("not an mbox file: it does not start with a \"From \" line")

// TooLargeError is returned by MboxReader.Next for a message over the size
// limit. It is not fatal: the next call reads the message after it.
type TooLargeError struct {
	// Index is the message's position in the file, from 0.
	Index int
	// From is its From_ line, without "From " and the line break.
	From string
	// Size is how large it is (with CRLF line breaks).
	Size int64
	// Limit is the limit it went over.
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("mbox message %d (From %s): %d bytes, over the limit of %d", e.Index+1, e.From, e.Size, e.Limit)
}

// MboxMessage is one message read from an mbox.
type MboxMessage struct {
	// Index is the message's position in the file, from 0.
	Index int
	// From is the From_ line without "From " and the line break.
	From string
	// Date is the date of the From_ line, zero when it has none that
	// parses.
	Date time.Time
	// Raw is the message with CRLF line breaks and separator escapes
	// removed.
	Raw []byte
}

// MboxReader splits an mbox into messages. Each message is bounded by the
// maximum size given to NewMboxReader.
type MboxReader struct {
	r        *bufio.Reader
	max      int64
	offset   int64
	index    int
	started  bool
	next     string // From_ line of the next message, once read
	eof      bool
	line     []byte // scratch for one line
	longLine bool   // the last line read was cut at the size bound
	lineCut  int64  // how many bytes were cut off it
}

// NewMboxReader reads an mbox from r; messages larger than maxSize bytes
// (counted with CRLF line breaks) are skipped with a *TooLargeError.
func NewMboxReader(r io.Reader, maxSize int64) *MboxReader {
	return &MboxReader{r: bufio.NewReaderSize(r, mboxBuffer), max: maxSize}
}

// Offset is how many bytes of the input have been consumed.
func (m *MboxReader) Offset() int64 { return m.offset }

// Next returns the next message, io.EOF after the last, a *TooLargeError
// (not fatal: call Next again) for a message over the size limit, or
// another error (fatal: ErrNotMbox, or the reader's).
func (m *MboxReader) Next() (*MboxMessage, error) {
	if !m.started {
		m.started = true
		// Leading empty lines are tolerated; anything else must be a From_
		// line.
		for {
			line, err := m.readLine()
			if err == io.EOF && len(line) == 0 {
				m.eof = true
				return nil, io.EOF
			}
			if err != nil && err != io.EOF {
				return nil, err
			}
			if isEmptyLine(line) {
				continue
			}
			if !bytes.HasPrefix(line, []byte("From ")) {
				return nil, ErrNotMbox
			}
			m.next = fromLine(line)
			break
		}
	}
	if m.eof {
		return nil, io.EOF
	}
	msg := &MboxMessage{Index: m.index, From: m.next}
	m.index++
	msg.Date = fromDate(msg.From)
	var size int64
	tooLarge := false
	prevEmpty := false
	for {
		line, err := m.readLine()
		if err != nil && err != io.EOF {
			return nil, err
		}
		if len(line) == 0 && err == io.EOF {
			m.eof = true
			break
		}
		if prevEmpty && bytes.HasPrefix(line, []byte("From ")) {
			m.next = fromLine(line)
			break
		}
		prevEmpty = isEmptyLine(line)
		// Unescape ^>+From (mboxrd).
		if len(line) > 5 && line[0] == '>' {
			k := 0
			for k < len(line) && line[k] == '>' {
				k++
			}
			if bytes.HasPrefix(line[k:], []byte("From ")) {
				line = line[1:]
			}
		}
		body, _ := bytes.CutSuffix(line, []byte("\n"))
		body, _ = bytes.CutSuffix(body, []byte("\r"))
		size += int64(len(body)+bytes.Count(body, []byte("\r"))) + 2 + m.lineCut
		// The last empty line is the separator's, not the message's:
		// allow for it here and check again once it is gone.
		if size > m.max+2 || m.longLine {
			tooLarge = true
			msg.Raw = nil
		}
		if !tooLarge {
			msg.Raw = appendLine(msg.Raw, body)
		}
		if err == io.EOF {
			m.eof = true
			break
		}
	}
	if prevEmpty {
		size -= 2
		if !tooLarge {
			msg.Raw = msg.Raw[:len(msg.Raw)-2]
		}
	}
	if tooLarge || size > m.max {
		return nil, &TooLargeError{Index: msg.Index, From: msg.From, Size: size, Limit: m.max}
	}
	return msg, nil
}

// appendLine appends one line's content and CRLF, turning bare CRs inside
// it into CRLF.
func appendLine(dst, body []byte) []byte {
	for {
		i := bytes.IndexByte(body, '\r')
		if i < 0 {
			break
		}
		dst = append(dst, body[:i]...)
		dst = append(dst, '\r', '\n')
		body = body[i+1:]
	}
	dst = append(dst, body...)
	return append(dst, '\r', '\n')
}

// readLine reads one line with its LF (none at the end of the input). A
// line longer than the size bound is cut there (longLine is set) and its
// rest is skipped.
func (m *MboxReader) readLine() ([]byte, error) {
	m.line = m.line[:0]
	m.longLine, m.lineCut = false, 0
	limit := m.max + 3 // room for CRLF and one byte over
	for {
		chunk, err := m.r.ReadSlice('\n')
		m.offset += int64(len(chunk))
		if int64(len(m.line)+len(chunk)) <= limit {
			m.line = append(m.line, chunk...)
		} else {
			// Keep what fits and the line break; count the rest.
			m.longLine = true
			end := 0
			if bytes.HasSuffix(chunk, []byte("\r\n")) {
				end = 2
			} else if bytes.HasSuffix(chunk, []byte("\n")) {
				end = 1
			}
			room := min(max(0, int(limit)-len(m.line)), len(chunk)-end)
			m.lineCut += int64(len(chunk) - end - room)
			m.line = append(m.line, chunk[:room]...)
			m.line = append(m.line, chunk[len(chunk)-end:]...)
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err != nil:
			return m.line, err
		}
		return m.line, nil
	}
}

func isEmptyLine(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

// fromLine is the From_ line without "From " and its line break, bounded
// and printable.
func fromLine(line []byte) string {
	s := strings.TrimRight(string(line[5:]), "\r\n")
	if len(s) > 256 {
		s = s[:256]
	}
	return strings.ToValidUTF8(strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s), "?")
}

// fromDate parses the date of a From_ line, "SENDER DATE", where DATE is
// asctime(3) output (RFC 4155: in UTC), sometimes with a zone.
func fromDate(from string) time.Time {
	_, date, ok := strings.Cut(strings.TrimSpace(from), " ")
	if !ok {
		return time.Time{}
	}
	date = strings.Join(strings.Fields(date), " ")
	for _, layout := range []string{
		"Mon Jan 2 15:04:05 2006",
		"Mon Jan 2 15:04:05 MST 2006",
		"Mon Jan 2 15:04:05 2006 -0700",
		"Mon Jan 2 15:04:05 -0700 2006",
		"Mon Jan 2 15:04 2006",
	} {
		if t, err := time.Parse(layout, date); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// MboxFlags returns the flags recorded in the Status and X-Status header
// fields that mbox MUAs (mutt, pine, Thunderbird's import) keep: R read
// (\Seen), A answered, F flagged, D deleted, T draft. Only the message's
// own header is read (up to the first empty line).
func MboxFlags(raw []byte) []string {
	var flags []string
	add := func(f string) {
		for _, g := range flags {
			if g == f {
				return
			}
		}
		flags = append(flags, f)
	}
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i+1], raw[i+1:]
		} else {
			raw = nil
		}
		if isEmptyLine(line) {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var set map[byte]string
		switch {
		case bytes.EqualFold(name, []byte("Status")):
			set = map[byte]string{'R': store.FlagSeen}
		case bytes.EqualFold(name, []byte("X-Status")):
			set = map[byte]string{'A': store.FlagAnswered, 'F': store.FlagFlagged, 'D': store.FlagDeleted, 'T': store.FlagDraft}
		default:
			continue
		}
		for _, c := range bytes.TrimSpace(value) {
			if f, ok := set[c]; ok {
				add(f)
			}
		}
	}
	return flags
}
