package sieve

import (
	"fmt"
	"strings"
)

// Bounds on lexical elements, whatever the Limits.
const (
	maxStringLen = 1 << 20 // longest string literal
	maxNumber    = 1<<64 - 1
	maxIdentLen  = 32
)

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tTag
	tNumber
	tString
	tLBracket
	tRBracket
	tLParen
	tRParen
	tLBrace
	tRBrace
	tComma
	tSemi
	tAgain   // internal: scan again
	tGarbage // a run of characters that start no token (already reported)
)

var tokNames = [...]string{"end of script", "identifier", "tag", "number", "string", "'['", "']'", "'('", "')'", "'{'", "'}'", "','", "';'", "more input", "unknown characters"}

func (k tokKind) String() string { return tokNames[k] }

// Pos is a place in a script.
type Pos struct{ Line, Col int }

type token struct {
	kind tokKind
	pos  Pos
	text string // identifier/tag name (tag without ':'), string value
	num  uint64
}

// lexer splits a script into tokens (RFC 5228 section 8.1).
type lexer struct {
	src       []byte
	i         int
	line, col int
	// soft holds errors the lexer recovered from (it went on scanning).
	soft []*Error
}

func (lx *lexer) softf(p Pos, format string, a ...any) {
	if len(lx.soft) < 100 {
		lx.soft = append(lx.soft, lx.errf(p, format, a...))
	}
}

func newLexer(src []byte) *lexer { return &lexer{src: src, line: 1, col: 1} }

func (lx *lexer) errf(p Pos, format string, a ...any) *Error {
	return &Error{Line: p.Line, Column: p.Col, Msg: fmt.Sprintf(format, a...)}
}

func (lx *lexer) peekc(off int) byte {
	if lx.i+off < len(lx.src) {
		return lx.src[lx.i+off]
	}
	return 0
}

func (lx *lexer) adv() byte {
	c := lx.src[lx.i]
	lx.i++
	if c == '\n' {
		lx.line++
		lx.col = 1
	} else {
		lx.col++
	}
	return c
}

func (lx *lexer) pos() Pos { return Pos{lx.line, lx.col} }

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// skip skips white space and comments.
func (lx *lexer) skip() *Error {
	for lx.i < len(lx.src) {
		c := lx.src[lx.i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			lx.adv()
		case c == '#':
			for lx.i < len(lx.src) && lx.src[lx.i] != '\n' {
				lx.adv()
			}
		case c == '/' && lx.peekc(1) == '*':
			p := lx.pos()
			lx.adv()
			lx.adv()
			for {
				if lx.i >= len(lx.src) {
					return lx.errf(p, "end of file before end of bracket comment ('/* ... */') started")
				}
				if lx.src[lx.i] == '*' && lx.peekc(1) == '/' {
					lx.adv()
					lx.adv()
					break
				}
				lx.adv()
			}
		default:
			return nil
		}
	}
	return nil
}

func (lx *lexer) next() (token, *Error) {
	for {
		t, err := lx.scan()
		if err != nil || t.kind != tAgain {
			return t, err
		}
	}
}

// scan reads one token; tAgain asks for another (after skipped input).
func (lx *lexer) scan() (token, *Error) {
	if err := lx.skip(); err != nil {
		return token{}, err
	}
	p := lx.pos()
	if lx.i >= len(lx.src) {
		return token{kind: tEOF, pos: p}, nil
	}
	c := lx.src[lx.i]
	single := map[byte]tokKind{'[': tLBracket, ']': tRBracket, '(': tLParen, ')': tRParen, '{': tLBrace, '}': tRBrace, ',': tComma, ';': tSemi}
	if k, ok := single[c]; ok {
		lx.adv()
		return token{kind: k, pos: p}, nil
	}
	switch {
	case c == '"':
		lx.adv()
		var b strings.Builder
		for {
			if lx.i >= len(lx.src) {
				return token{}, lx.errf(p, "end of file before end of quoted string")
			}
			c := lx.adv()
			if c == '"' {
				break
			}
			if c == '\\' {
				if lx.i >= len(lx.src) {
					return token{}, lx.errf(p, "end of file before end of quoted string")
				}
				c = lx.adv()
			}
			if c == '\r' && lx.peekc(0) == '\n' {
				continue // normalised to CRLF below
			}
			if c == '\n' {
				b.WriteString("\r\n")
			} else {
				b.WriteByte(c)
			}
			if b.Len() > maxStringLen {
				return token{}, lx.errf(p, "string is too long (more than %d bytes)", maxStringLen)
			}
		}
		return token{kind: tString, pos: p, text: b.String()}, nil
	case c == ':':
		lx.adv()
		if !isAlpha(lx.peekc(0)) {
			lx.softf(p, "unexpected character(s) starting with ':'")
			return token{kind: tAgain}, nil
		}
		id := lx.ident()
		if len(id) > maxIdentLen {
			lx.softf(p, "tag ':%s...' is too long (more than %d characters)", id[:maxIdentLen], maxIdentLen)
		}
		return token{kind: tTag, pos: p, text: strings.ToLower(id)}, nil
	case isDigit(c):
		var n uint64
		over := false
		for lx.i < len(lx.src) && isDigit(lx.src[lx.i]) {
			d := uint64(lx.adv() - '0')
			if n > (maxNumber-d)/10 {
				over = true
			}
			n = n*10 + d
		}
		mul := uint64(1)
		switch lx.peekc(0) {
		case 'k', 'K':
			mul = 1 << 10
		case 'm', 'M':
			mul = 1 << 20
		case 'g', 'G':
			mul = 1 << 30
		}
		if mul != 1 {
			lx.adv()
			if n > maxNumber/mul {
				over = true
			}
			n *= mul
		}
		if over {
			lx.softf(p, "number exceeds integer limit")
		}
		if isAlpha(lx.peekc(0)) {
			lx.softf(p, "invalid number: unexpected character following number")
			lx.ident()
		}
		return token{kind: tNumber, pos: p, num: n}, nil
	case isAlpha(c):
		id := lx.ident()
		if len(id) > maxIdentLen {
			lx.softf(p, "identifier '%s...' is too long (more than %d characters)", id[:maxIdentLen], maxIdentLen)
		}
		if strings.EqualFold(id, "text") && lx.peekc(0) == ':' {
			lx.adv()
			return lx.multiline(p)
		}
		return token{kind: tIdent, pos: p, text: strings.ToLower(id)}, nil
	}
	// Skip a run of unexpected characters, report it once, go on.
	for lx.i < len(lx.src) {
		c := lx.src[lx.i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' || c == '{' || c == '}' || c == '"' || isAlpha(c) || isDigit(c) {
			break
		}
		lx.adv()
	}
	if c >= 0x20 && c < 0x7f {
		lx.softf(p, "unexpected character(s) starting with '%c'", c)
	} else {
		lx.softf(p, "unexpected character(s) starting with 0x%02x", c)
	}
	// Like Pigeonhole, the parser sees the garbage as a token and reports
	// what it expected instead, so a stray run of characters gives two
	// errors (lexer and parser).
	return token{kind: tGarbage, pos: p}, nil
}

func (lx *lexer) ident() string {
	s := lx.i
	for lx.i < len(lx.src) && (isAlpha(lx.src[lx.i]) || isDigit(lx.src[lx.i])) {
		lx.adv()
	}
	return string(lx.src[s:lx.i])
}

// multiline reads a text: literal (RFC 5228 section 2.4.2); lines end in CRLF.
func (lx *lexer) multiline(p Pos) (token, *Error) {
	// White space and an optional hash comment, then the line end.
	for lx.i < len(lx.src) && (lx.src[lx.i] == ' ' || lx.src[lx.i] == '\t') {
		lx.adv()
	}
	if lx.peekc(0) == '#' {
		for lx.i < len(lx.src) && lx.src[lx.i] != '\n' {
			lx.adv()
		}
	}
	if lx.peekc(0) == '\r' {
		lx.adv()
	}
	if lx.peekc(0) != '\n' {
		return token{}, lx.errf(p, "invalid character following text: (only white space and a hash comment may follow it on its line)")
	}
	lx.adv()
	var b strings.Builder
	for {
		if lx.i >= len(lx.src) {
			return token{}, lx.errf(p, "end of file before end of multi-line string")
		}
		s := lx.i
		for lx.i < len(lx.src) && lx.src[lx.i] != '\n' {
			lx.adv()
		}
		line := string(lx.src[s:lx.i])
		eof := lx.i >= len(lx.src)
		if !eof {
			lx.adv()
		}
		line = strings.TrimSuffix(line, "\r")
		if line == "." {
			break
		}
		if eof {
			return token{}, lx.errf(p, "end of file before end of multi-line string")
		}
		if strings.HasPrefix(line, "..") {
			line = line[1:]
		}
		b.WriteString(line)
		b.WriteString("\r\n")
		if b.Len() > maxStringLen {
			return token{}, lx.errf(p, "string is too long (more than %d bytes)", maxStringLen)
		}
	}
	return token{kind: tString, pos: p, text: b.String()}, nil
}

func (e *Error) pos() Pos { return Pos{e.Line, e.Column} }
