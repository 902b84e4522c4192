package wire

import (
	"bufio"
	"io"
	"strconv"
	"sync"
	"unicode/utf8"
)

// Writer writes responses (RFC 9051 section 7). Errors are sticky: after
// one, writes do nothing and Flush returns it. Its buffer is taken from a
// pool on the first write of a burst and given back by the Flush that
// ends it, so an idle connection holds none.
type Writer struct {
	bw  *bufio.Writer // nil between bursts
	dst io.Writer
	err error
	// UTF8 allows UTF-8 in quoted strings (after ENABLE UTF8=ACCEPT, RFC
	// 9051 section 6.3.1 and RFC 6855); otherwise 8-bit strings go out as
	// literals.
	UTF8 bool
}

// writerSize is the size of a Writer's buffer.
const writerSize = 4096

// writerPool holds the buffers of Writers between bursts.
var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writerSize) }}

// NewWriter returns a Writer over w.
func NewWriter(w io.Writer) *Writer { return &Writer{dst: w} }

// Reset makes the writer write to a new destination (after STARTTLS),
// dropping anything buffered.
func (w *Writer) Reset(dst io.Writer) {
	w.release()
	w.dst = dst
	w.err = nil
}

// buf returns the buffer of the current burst, taking one if needed.
func (w *Writer) buf() *bufio.Writer {
	if w.bw == nil {
		w.bw = writerPool.Get().(*bufio.Writer)
		w.bw.Reset(w.dst)
	}
	return w.bw
}

// release gives the buffer back to the pool.
func (w *Writer) release() {
	if w.bw != nil {
		w.bw.Reset(nil)
		writerPool.Put(w.bw)
		w.bw = nil
	}
}

// Err returns the first write error.
func (w *Writer) Err() error { return w.err }

// Flush sends what is buffered. When the destination has a Flush method
// too (a compressor, RFC 4978), it is called after.
func (w *Writer) Flush() error {
	if w.err == nil && w.bw != nil {
		w.err = w.bw.Flush()
	}
	// Between bursts the writer holds no buffer (after an error nothing
	// more goes out anyway).
	w.release()
	if f, ok := w.dst.(interface{ Flush() error }); ok && w.err == nil {
		w.err = f.Flush()
	}
	return w.err
}

// Write implements io.Writer, for raw response text.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.buf().Write(p)
	w.err = err
	return n, err
}

// Raw writes s as it is.
func (w *Writer) Raw(s string) {
	if w.err == nil {
		_, w.err = w.buf().WriteString(s)
	}
}

// Byte writes one byte.
func (w *Writer) Byte(c byte) {
	if w.err == nil {
		w.err = w.buf().WriteByte(c)
	}
}

// Number writes a decimal number.
func (w *Writer) Number(n uint64) {
	var buf [20]byte
	w.Write(strconv.AppendUint(buf[:0], n, 10))
}

// CRLF ends a response line.
func (w *Writer) CRLF() { w.Raw("\r\n") }

// Untagged starts an untagged response: "* ".
func (w *Writer) Untagged() { w.Raw("* ") }

// Status writes a whole status response: tag (or "*"), status (OK, NO,
// BAD, BYE, PREAUTH), an optional response code without brackets, and text.
func (w *Writer) Status(tag, status, code, text string) {
	if tag == "" {
		tag = "*"
	}
	w.Raw(tag)
	w.Byte(' ')
	w.Raw(status)
	w.Byte(' ')
	if code != "" {
		w.Byte('[')
		w.Raw(code)
		w.Raw("] ")
	}
	if text == "" {
		text = status // resp-text needs some text (RFC 9051 section 9)
	}
	w.Raw(text)
	w.CRLF()
}

// Continuation writes "+ text" and flushes.
func (w *Writer) Continuation(text string) error {
	w.Raw("+ ")
	w.Raw(text)
	w.CRLF()
	return w.Flush()
}

// NString writes s as a string, or NIL when s is "".
func (w *Writer) NString(s string) {
	if s == "" {
		w.Raw("NIL")
		return
	}
	w.String(s)
}

// String writes s as a quoted string when it can be one, else as a
// literal (RFC 9051 section 4.3).
func (w *Writer) String(s string) {
	if w.quotable(s) {
		w.Quoted(s)
		return
	}
	w.Literal([]byte(s))
}

// AString writes s as an atom when it is one, else as String does.
func (w *Writer) AString(s string) {
	if isAtom(s) {
		w.Raw(s)
		return
	}
	w.String(s)
}

func isAtom(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	if len(s) == 3 && (s[0]|0x20) == 'n' && (s[1]|0x20) == 'i' && (s[2]|0x20) == 'l' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAtomChar(s[i]) && s[i] != ']' {
			return false
		}
	}
	return true
}

// quotable reports whether s may go out as a quoted string: no CR, LF or
// NUL, not too long, and 8-bit text only when UTF-8 is enabled.
func (w *Writer) quotable(s string) bool {
	if len(s) > 1000 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' || c == 0 {
			return false
		}
		if c >= 0x80 && !w.UTF8 {
			return false
		}
	}
	return !w.UTF8 || utf8.ValidString(s)
}

// Quoted writes s as a quoted string, escaping '"' and '\'. The caller
// makes sure s has no CR, LF or NUL.
func (w *Writer) Quoted(s string) {
	w.Byte('"')
	w.quotedBody(s)
	w.Byte('"')
}

func (w *Writer) quotedBody(s string) {
	start := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			w.Raw(s[start:i])
			w.Byte('\\')
			start = i
		}
	}
	w.Raw(s[start:])
}

// Literal writes b as a literal, {n} CRLF and the bytes.
func (w *Writer) Literal(b []byte) {
	w.Byte('{')
	w.Number(uint64(len(b)))
	w.Raw("}\r\n")
	w.Write(b)
}

// Literal8 writes b as a literal8, ~{n} CRLF and the bytes (RFC 3516
// section 4.2), for binary content that may hold NUL.
func (w *Writer) Literal8(b []byte) {
	w.Byte('~')
	w.Literal(b)
}
