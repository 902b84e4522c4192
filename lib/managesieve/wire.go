package managesieve

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The wire format shared by the server and the client (RFC 5804 section
// 4): lines of atoms, quoted strings and literals, ending in CRLF, where a
// literal's octets may themselves hold line breaks.

// Bounds of what is read from the other side.
const (
	// MaxLineLength bounds one line of a command or response, literals
	// excluded. RFC 5804 section 4 asks for quoted strings of at least
	// 1024 octets; a line holds a few of them.
	MaxLineLength = 8192
	// MaxQuoted is the longest string sent quoted; longer ones, and any
	// holding CR or LF, go as literals.
	MaxQuoted = 1024
	// maxTokens bounds the number of tokens in one command or response
	// line (a capability response has two; a command at most three).
	maxTokens = 64
)

// tokenKind tells the kinds of tokens apart.
type tokenKind int

const (
	tokAtom   tokenKind = iota // a bare word: command, response, number, ACTIVE
	tokString                  // a quoted string or a literal
	tokLParen                  // "(" opening a response code
	tokRParen                  // ")"
)

// token is one element of a line.
type token struct {
	kind  tokenKind
	value string
	// tooBig is set on a literal longer than the reader's limit: its
	// octets were read and thrown away, value is empty and size says how
	// many there were.
	tooBig bool
	size   int64
}

// errLineTooLong ends the session: the rest of the line cannot be read in
// bounded memory.
var errLineTooLong = errors.New("line too long")

// errLiteralTooLarge ends the session: a literal too large even to skip.
var errLiteralTooLarge = errors.New("literal too large")

// syntaxError is a malformed line that was read to its end: the session
// can go on with the next one.
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return e.msg }

// reader reads lines of tokens.
type reader struct {
	br *bufio.Reader
	// maxLiteral bounds a literal kept in memory; a longer one up to
	// maxDiscard octets is skipped (token.tooBig), a longer one still
	// ends the session.
	maxLiteral, maxDiscard int64
}

// readLine reads one line without its CRLF (a bare LF is accepted too).
func (r *reader) readLine() (string, error) {
	line, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", errLineTooLong
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	}
	s := string(line[:len(line)-1])
	return strings.TrimSuffix(s, "\r"), nil
}

// readTokens reads a whole command or response: one line, continued after
// each literal. A syntax error is reported once the line has been read to
// its end (literals announced before the error included).
func (r *reader) readTokens() ([]token, error) {
	var toks []token
	var bad error
	for {
		line, err := r.readLine()
		if err != nil {
			return nil, err
		}
		more, n, err := parseLine(line, &toks)
		if err != nil {
			if bad == nil {
				bad = err
			}
			n = trailingLiteral(line)
			more = n >= 0
		}
		if n < 0 {
			break
		}
		// A literal follows: {n+} or {n} ends the line (RFC 5804 section
		// 4: literal-c2s and literal-s2c). Its octets are read even after
		// a syntax error, so that the next command starts in step.
		t := token{kind: tokString, size: n}
		switch {
		case n <= r.maxLiteral:
			buf := make([]byte, n)
			if _, err := io.ReadFull(r.br, buf); err != nil {
				return nil, unexpectedEOF(err)
			}
			t.value = string(buf)
		case n <= r.maxDiscard:
			if _, err := io.CopyN(io.Discard, r.br, n); err != nil {
				return nil, unexpectedEOF(err)
			}
			t.tooBig = true
		default:
			return nil, fmt.Errorf("%w: %d octets", errLiteralTooLarge, n)
		}
		toks = append(toks, t)
		if !more {
			break
		}
	}
	if bad != nil {
		return nil, bad
	}
	if len(toks) > maxTokens {
		return nil, &syntaxError{"too many arguments"}
	}
	return toks, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseLine appends the tokens of line to toks. When the line ends with a
// literal's announcement it returns its size (else -1); more is then true,
// as the command goes on after the literal's octets.
func parseLine(line string, toks *[]token) (more bool, literal int64, err error) {
	i := 0
	for i < len(line) {
		if len(*toks) > maxTokens {
			return false, -1, &syntaxError{"too many arguments"}
		}
		switch c := line[i]; {
		case c == ' ':
			i++
		case c == '(':
			*toks = append(*toks, token{kind: tokLParen})
			i++
		case c == ')':
			*toks = append(*toks, token{kind: tokRParen})
			i++
		case c == '"':
			s, n, err := parseQuoted(line[i:])
			if err != nil {
				return false, -1, err
			}
			*toks = append(*toks, token{kind: tokString, value: s})
			i += n
		case c == '{':
			end := strings.IndexByte(line[i:], '}')
			if end < 0 || i+end != len(line)-1 {
				return false, -1, &syntaxError{"a literal's size must end the line"}
			}
			n := trailingLiteral(line)
			if n < 0 {
				return false, -1, &syntaxError{"invalid literal size"}
			}
			return true, n, nil
		default:
			j := i
			for j < len(line) && line[j] != ' ' && line[j] != '(' && line[j] != ')' && line[j] != '"' && line[j] != '{' {
				if line[j] < 0x21 || line[j] > 0x7e {
					return false, -1, &syntaxError{"invalid character in atom"}
				}
				j++
			}
			*toks = append(*toks, token{kind: tokAtom, value: line[i:j]})
			i = j
		}
	}
	return false, -1, nil
}

// trailingLiteral returns the size of the literal announced at the end of
// line, or -1.
func trailingLiteral(line string) int64 {
	if !strings.HasSuffix(line, "}") {
		return -1
	}
	start := strings.LastIndexByte(line, '{')
	if start < 0 {
		return -1
	}
	spec := strings.TrimSuffix(line[start+1:len(line)-1], "+")
	n, err := strconv.ParseInt(spec, 10, 64)
	if err != nil || n < 0 || spec == "" || spec[0] == '+' {
		return -1
	}
	return n
}

// parseQuoted reads a quoted string at the start of s (RFC 5804 section 4:
// quoted = DQUOTE *QUOTED-CHAR DQUOTE, with \" and \\ escaped) and returns
// it and the octets it took.
func parseQuoted(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			v := b.String()
			if !utf8.ValidString(v) {
				return "", 0, &syntaxError{"quoted string is not UTF-8"}
			}
			return v, i + 1, nil
		case '\\':
			if i+1 >= len(s) || (s[i+1] != '"' && s[i+1] != '\\') {
				return "", 0, &syntaxError{`only \" and \\ may be escaped in a quoted string`}
			}
			b.WriteByte(s[i+1])
			i++
		case 0:
			return "", 0, &syntaxError{"NUL in quoted string"}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, &syntaxError{"unterminated quoted string"}
}

// quote returns s as a ManageSieve string: quoted when short and on one
// line, else a literal (RFC 5804 section 4: literal-s2c, or literal-c2s
// when plus is set, the non-synchronizing form a client sends).
func quote(s string, plus bool) string {
	if len(s) <= MaxQuoted && !strings.ContainsAny(s, "\r\n\x00") {
		var b strings.Builder
		b.Grow(len(s) + 2)
		b.WriteByte('"')
		for i := 0; i < len(s); i++ {
			if s[i] == '"' || s[i] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(s[i])
		}
		b.WriteByte('"')
		return b.String()
	}
	p := ""
	if plus {
		p = "+"
	}
	return "{" + strconv.Itoa(len(s)) + p + "}\r\n" + s
}
