package smtptest

import (
	"bufio"
	"bytes"
	"errors"
)

// ErrTooLarge is returned by ReadData when the message passes the limit.
var ErrTooLarge = errors.New("smtptest: message too large")

// ReadData reads the text that follows a 354 reply up to and including the
// end-of-data line, and returns the message with the transparency dots
// removed (RFC 5321 section 4.5.2), line ends as they were received.
//
// A strict reader ends the data only at CRLF "." CRLF, as RFC 5321 section
// 4.1.1.4 asks. A lax reader behaves like the receivers of the 2023 SMTP
// smuggling disclosures: any of CR, LF or CRLF ends a line, NUL bytes are
// ignored when looking for the end, so "\n.\n", "\r.\r", "\r\n\x00.\r\n"
// and the like all end the data. Whatever such a reader leaves unread is
// what a smuggler would have the server run as commands.
//
// More than max bytes of message is ErrTooLarge (the rest is not read).
func ReadData(br *bufio.Reader, lax bool, max int) ([]byte, error) {
	var out []byte
	for {
		line, end, err := readLine(br, lax)
		if err != nil {
			return out, err
		}
		content := line
		if lax {
			content = bytes.ReplaceAll(line, []byte{0}, nil)
		}
		if string(content) == "." && (lax || end == "\r\n") {
			return out, nil
		}
		if len(line) > 0 && line[0] == '.' {
			line = line[1:]
		}
		if len(out)+len(line)+len(end) > max {
			return nil, ErrTooLarge
		}
		out = append(out, line...)
		out = append(out, end...)
	}
}

// readLine returns the next line and its ending: CRLF only for a strict
// reader; CRLF, a bare CR or a bare LF for a lax one.
func readLine(br *bufio.Reader, lax bool) (line []byte, end string, err error) {
	for {
		c, err := br.ReadByte()
		if err != nil {
			return line, "", err
		}
		switch {
		case c == '\r':
			next, err := br.Peek(1)
			if err == nil && next[0] == '\n' {
				br.ReadByte()
				return line, "\r\n", nil
			}
			if lax {
				return line, "\r", nil
			}
		case c == '\n' && lax:
			return line, "\n", nil
		}
		line = append(line, c)
	}
}
