package mta

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
)

// Limits on what a server's reply may be.
const (
	// MaxReplyLine bounds one reply line with its CRLF. RFC 5321 section
	// 4.5.3.1.5 allows 512 octets; real servers send longer text.
	MaxReplyLine = 4096
	// MaxReplyLines bounds the lines of one multi-line reply (an EHLO
	// reply has a dozen or two).
	MaxReplyLines = 128
)

// errProtocol marks a reply that does not follow RFC 5321 section 4.2.
var errProtocol = errors.New("malformed reply")

// response is a server's reply (RFC 5321 section 4.2).
type response struct {
	Code int
	// Enhanced is the enhanced status code of the first line (RFC 2034
	// section 4, RFC 3463), "" when the server sent none.
	Enhanced string
	// Lines is the text of each line, without the code and the enhanced
	// status code.
	Lines []string
}

// Text returns the lines joined by a space.
func (r *response) Text() string { return strings.Join(r.Lines, " ") }

// String returns the reply as its first line would read.
func (r *response) String() string {
	s := fmt.Sprintf("%d", r.Code)
	if r.Enhanced != "" {
		s += " " + r.Enhanced
	}
	if t := r.Text(); t != "" {
		s += " " + t
	}
	return s
}

// readResponse reads one reply: lines "ddd-text" ending with "ddd text"
// (or a bare "ddd"), all with the same code (RFC 5321 section 4.2.1).
// br's buffer must be at least MaxReplyLine bytes: a longer line is an
// error, as is a reply of more than MaxReplyLines lines.
func readResponse(br *bufio.Reader) (*response, error) {
	r := &response{}
	for n := 0; ; n++ {
		if n == MaxReplyLines {
			return nil, fmt.Errorf("%w: more than %d lines", errProtocol, MaxReplyLines)
		}
		raw, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: line longer than %d bytes", errProtocol, br.Size())
		}
		if err != nil {
			return nil, err
		}
		line := strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r")
		code, last, text, err := parseReplyLine(line)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			r.Code = code
			r.Enhanced, text = splitEnhanced(code, text)
		} else {
			if code != r.Code {
				return nil, fmt.Errorf("%w: code %d within a %d reply", errProtocol, code, r.Code)
			}
			if r.Enhanced != "" {
				// RFC 2034 section 4: every line carries the code; drop it.
				if e, rest := splitEnhanced(code, text); e == r.Enhanced {
					text = rest
				}
			}
		}
		r.Lines = append(r.Lines, text)
		if last {
			return r, nil
		}
	}
}

// parseReplyLine splits "250-text" or "250 text" or "250". The code's
// first digit is 2 to 5 and its second 0 to 5 (RFC 5321 section 4.2).
func parseReplyLine(line string) (code int, last bool, text string, err error) {
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' || line[2] < '0' || line[2] > '9' {
		return 0, false, "", fmt.Errorf("%w: %q", errProtocol, truncate(line, 64))
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	switch {
	case len(line) == 3:
		return code, true, "", nil
	case line[3] == ' ':
		return code, true, line[4:], nil
	case line[3] == '-':
		return code, false, line[4:], nil
	}
	return 0, false, "", fmt.Errorf("%w: %q", errProtocol, truncate(line, 64))
}

// splitEnhanced takes an enhanced status code "class.subject.detail" off
// the front of text when its class matches the reply code's first digit
// (RFC 3463 section 2: subject and detail of 1 to 3 digits).
func splitEnhanced(code int, text string) (enhanced, rest string) {
	e, rest, _ := strings.Cut(text, " ")
	parts := strings.Split(e, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || int(parts[0][0]-'0') != code/100 {
		return "", text
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return "", text
		}
	}
	return e, rest
}

// truncate shortens s to at most n bytes, for error messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
