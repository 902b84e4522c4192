package smtp

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

type EnhancedCode [3]int

// SMTPError specifies the error code, enhanced error code (if any) and
// message returned by the server.
type SMTPError struct {
	Code         int
	EnhancedCode EnhancedCode
	Message      string
}

// NoEnhancedCode is used to indicate that enhanced error code should not be
// included in response.
//
// Note that RFC 2034 requires an enhanced code to be included in all 2xx, 4xx
// and 5xx responses. This constant is exported for use by extensions, you
// should probably use EnhancedCodeNotSet instead.
var NoEnhancedCode = EnhancedCode{-1, -1, -1}

// EnhancedCodeNotSet is a nil value of EnhancedCode field in SMTPError, used
// to indicate that backend failed to provide enhanced status code. X.0.0 will
// be used (X is derived from error code).
var EnhancedCodeNotSet = EnhancedCode{0, 0, 0}

func (err *SMTPError) Error() string {
	s := fmt.Sprintf("SMTP error %03d", err.Code)
	if err.Message != "" {
		s += ": " + err.Message
	}
	return s
}

func (err *SMTPError) Temporary() bool {
	return err.Code/100 == 4
}

var ErrDataTooLarge = &SMTPError{
	Code:         552,
	EnhancedCode: EnhancedCode{5, 3, 4},
	Message:      "Maximum message size exceeded",
}

type dataReader struct {
	r     *bufio.Reader
	state int

	limited bool
	n       int64 // Maximum bytes remaining
}

func newDataReader(c *Conn) *dataReader {
	dr := &dataReader{
		r: c.text.R,
	}

	if c.server.MaxMessageBytes > 0 {
		dr.limited = true
		dr.n = int64(c.server.MaxMessageBytes)
	}

	return dr
}

// The states of dataReader: the state machine of net/textproto's dotReader
// (RFC 5321 section 4.5.2), which elides the leading dot of a line and
// finds the end-of-data line, <CR><LF>.<CR><LF>.
const (
	stateBeginLine = iota // beginning of line; initial state; must be zero
	stateDot              // read . at beginning of line
	stateDotCR            // read .\r at beginning of line
	stateCR               // read \r (possibly at end of line)
	stateData             // reading data in middle of line
	stateEOF              // reached .\r\n end marker line
)

// Read reads message data, undoing dot-stuffing, until the end-of-data
// line. Unlike net/textproto it keeps CRLF as is (and every bare CR and LF,
// which the session checks).
//
// Gannet patch: it works on the bytes bufio.Reader holds, copying the runs
// of plain bytes in the middle of a line at once, where upstream called
// ReadByte for each byte (about a tenth of smtpd's CPU time when receiving).
// The output, the errors and the reads of the underlying reader are those
// of the byte-at-a-time version, which dataref_test.go keeps as the reference
// for FuzzDataReaderDiff: the buffer is filled only when it is empty and
// more bytes are wanted, as ReadByte does.
func (r *dataReader) Read(b []byte) (n int, err error) {
	if r.limited {
		if r.n <= 0 {
			return 0, ErrDataTooLarge
		}
		if int64(len(b)) > r.n {
			b = b[0:r.n]
		}
	}

	for n < len(b) && r.state != stateEOF {
		if r.r.Buffered() == 0 {
			// Fill the buffer, as ReadByte would.
			if _, err = r.r.Peek(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				break
			}
		}
		buf, _ := r.r.Peek(r.r.Buffered()) // cannot fail: buffered bytes
		i := 0                             // bytes of buf consumed
		for i < len(buf) && n < len(b) && r.state != stateEOF {
			c := buf[i]
			switch r.state {
			case stateData:
				// Copy up to the next CR, which may start the
				// line's end; LF and anything else stay data.
				run := buf[i:]
				if len(run) > len(b)-n {
					run = run[:len(b)-n]
				}
				if j := bytes.IndexByte(run, '\r'); j >= 0 {
					run = run[:j+1]
					r.state = stateCR
				}
				n += copy(b[n:], run)
				i += len(run)
				continue
			case stateBeginLine:
				i++
				if c == '.' {
					r.state = stateDot
					continue
				}
				if c == '\r' {
					r.state = stateCR
				} else {
					r.state = stateData
				}
			case stateDot:
				i++
				if c == '\r' {
					r.state = stateDotCR
					continue
				}
				r.state = stateData
			case stateDotCR:
				if c == '\n' {
					i++
					r.state = stateEOF
					continue
				}
				// Gannet patch: not part of .\r\n. The dot was
				// stuffing; emit the saved \r and read c again, as
				// net/textproto does, so that a bare CR after a leading
				// dot reaches the backend (which rejects or normalises
				// it) instead of vanishing. c is left unconsumed.
				c = '\r'
				r.state = stateData
			case stateCR:
				i++
				if c == '\n' {
					r.state = stateBeginLine
				} else {
					r.state = stateData
				}
			}
			b[n] = c
			n++
		}
		r.r.Discard(i) // cannot fail: i bytes are buffered
	}
	if err == nil && r.state == stateEOF {
		err = io.EOF
	}

	if r.limited {
		r.n -= int64(n)
	}
	return
}
