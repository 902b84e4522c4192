// Package wire reads IMAP commands and writes IMAP responses (RFC 9051
// sections 2.2 and 9). The reader knows nothing of particular commands: it
// splits a command into its tag, its name and a tree of tokens (atoms,
// strings, literals, parenthesised lists) that lib/imap interprets. Every
// input is bounded (Limits) and every error says what was wrong, so that the
// session can answer BAD with the reason.
package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// Kind is the kind of a Token.
type Kind uint8

const (
	// Atom is a bare word (RFC 9051 atom, with the bracketed section and
	// partial of a fetch attribute kept in it: BODY[HEADER.FIELDS (A B)]<0.9>).
	Atom Kind = iota + 1
	// Quoted is a quoted string, unescaped.
	Quoted
	// Literal is a literal string: {n}, {n+} (RFC 7888) or ~{n} (RFC 3516).
	Literal
	// List is a parenthesised list.
	List
	// Nil is the atom NIL.
	Nil
)

// Token is one element of a command.
type Token struct {
	Kind Kind
	// Value is the text of an atom, a quoted string or a literal.
	Value string
	// Binary marks a literal8 (~{n}, RFC 3516 section 4.2).
	Binary bool
	// List holds the elements of a List.
	List []Token
}

// IsString reports whether the token is an astring (atom, quoted or
// literal; RFC 9051 section 9 astring).
func (t Token) IsString() bool { return t.Kind == Atom || t.Kind == Quoted || t.Kind == Literal }

// String returns a readable form of the token, for errors and logs.
func (t Token) String() string {
	switch t.Kind {
	case Atom:
		return t.Value
	case Quoted:
		return strconv.Quote(t.Value)
	case Literal:
		return fmt.Sprintf("{%d}", len(t.Value))
	case Nil:
		return "NIL"
	case List:
		s := "("
		for i, e := range t.List {
			if i > 0 {
				s += " "
			}
			s += e.String()
		}
		return s + ")"
	}
	return "?"
}

// Command is one command as read.
type Command struct {
	Tag  string
	Name string // as sent; compare case-insensitively
	Args []Token
}

// Limits bound what a Reader accepts.
type Limits struct {
	// MaxLine bounds the bytes of a command outside its literals.
	MaxLine int
	// MaxLiteral bounds one literal (APPENDLIMIT, RFC 7889).
	MaxLiteral int64
	// MaxCommand bounds a whole command, literals included.
	MaxCommand int64
	// MaxDepth bounds the nesting of parenthesised lists.
	MaxDepth int
	// MaxTokens bounds the number of tokens in one command.
	MaxTokens int
}

// DefaultLimits are the limits a zero Limits field takes.
var DefaultLimits = Limits{
	MaxLine:    64 << 10,
	MaxLiteral: 50 << 20,
	MaxCommand: 50<<20 + 64<<10,
	MaxDepth:   32,
	MaxTokens:  100000,
}

// SyntaxError is a command the reader could not read. The session answers
// it with "tag BAD Msg" (or "* BAD" without a tag); the rest of the line
// has been skipped and the connection can go on.
type SyntaxError struct {
	Tag string // "" when the tag itself was unreadable
	Msg string
	// TooBig marks a literal or command over the limits (RFC 7888 section
	// 4 asks for the TOOBIG response code).
	TooBig bool
}

func (e *SyntaxError) Error() string { return "imap: " + e.Msg }

// FatalError is input the connection cannot recover from (a
// non-synchronising literal over the limit, whose bytes are already on
// their way): the session says BYE and closes.
type FatalError struct {
	Tag string
	Msg string
}

func (e *FatalError) Error() string { return "imap: " + e.Msg }

// Reader reads commands from a client. Its buffer is taken from a pool
// once the first byte of a command (or line) has arrived, and given back
// when the next read finds nothing left in it, so a connection waiting
// for a client holds none.
type Reader struct {
	br     *bufio.Reader // nil while waiting for input
	in     primed        // br's source
	limits Limits
	// Continue is called before the data of a synchronising literal is
	// read: the session sends "+ ..." (RFC 9051 section 7.5) and flushes.
	// Returning an error aborts the command with it.
	Continue func() error

	line   int   // bytes of the current command outside literals
	total  int64 // bytes of the current command
	tokens int
}

// NewReader returns a Reader over r with the given limits (zero fields
// take DefaultLimits' values).
func NewReader(r io.Reader, l Limits) *Reader {
	if l.MaxLine <= 0 {
		l.MaxLine = DefaultLimits.MaxLine
	}
	if l.MaxLiteral <= 0 {
		l.MaxLiteral = DefaultLimits.MaxLiteral
	}
	if l.MaxCommand <= 0 {
		l.MaxCommand = l.MaxLiteral + int64(l.MaxLine)
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits.MaxDepth
	}
	if l.MaxTokens <= 0 {
		l.MaxTokens = DefaultLimits.MaxTokens
	}
	return &Reader{in: primed{src: r}, limits: l}
}

// readerSize is the size of a Reader's buffer.
const readerSize = 4096

// readerPool holds the buffers of Readers waiting for input.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readerSize) }}

// primed is a source with one byte read ahead: the byte that woke a
// waiting Reader, read before it took a buffer.
type primed struct {
	src   io.Reader
	first [1]byte
	has   bool
}

func (p *primed) Read(b []byte) (int, error) {
	if p.has && len(b) > 0 {
		b[0] = p.first[0]
		p.has = false
		return 1, nil
	}
	return p.src.Read(b)
}

// begin readies the reader for a command or line: with its buffer empty
// it gives the buffer back, waits for one byte without one, then takes
// a buffer again.
func (r *Reader) begin() error {
	if r.br != nil {
		if r.br.Buffered() > 0 {
			return nil
		}
		r.release()
	}
	if !r.in.has {
		for {
			n, err := r.in.src.Read(r.in.first[:])
			if n > 0 {
				break // a read error comes back on the next read
			}
			if err != nil {
				return err
			}
		}
		r.in.has = true
	}
	r.br = readerPool.Get().(*bufio.Reader)
	r.br.Reset(&r.in)
	return nil
}

// release gives the (empty) buffer back to the pool.
func (r *Reader) release() {
	if r.br != nil {
		r.br.Reset(nil)
		readerPool.Put(r.br)
		r.br = nil
	}
}

// Limits returns the reader's limits.
func (r *Reader) Limits() Limits { return r.limits }

// Reset makes the reader read from a new source (after STARTTLS),
// dropping anything buffered.
func (r *Reader) Reset(src io.Reader) {
	r.release()
	r.in = primed{src: src}
}

// Buffered is the number of bytes read from the source but not yet
// consumed: after STARTTLS it must be 0 (a client may not pipeline past
// STARTTLS, RFC 9051 section 6.2.1).
func (r *Reader) Buffered() int {
	n := 0
	if r.br != nil {
		n = r.br.Buffered()
	}
	if r.in.has {
		n++
	}
	return n
}

// errLine is the internal signal of a syntax error in the current line.
type lineError struct {
	msg    string
	tooBig bool
	fatal  bool
}

func (e *lineError) Error() string { return e.msg }

func synErr(format string, a ...any) error { return &lineError{msg: fmt.Sprintf(format, a...)} }

// ReadLine reads one raw line (an AUTHENTICATE response, IDLE's DONE)
// without its line break, bounded by MaxLine.
func (r *Reader) ReadLine() (string, error) {
	r.line, r.total = 0, 0
	if err := r.begin(); err != nil {
		return "", err
	}
	var b []byte
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			return "", err
		}
		if c == '\n' {
			if n := len(b); n > 0 && b[n-1] == '\r' {
				b = b[:n-1]
			}
			return string(b), nil
		}
		if len(b) >= r.limits.MaxLine {
			r.skipLine()
			return "", &SyntaxError{Msg: "line too long", TooBig: true}
		}
		b = append(b, c)
	}
}

// ReadCommand reads the next command. Errors of type *SyntaxError leave
// the reader at the start of the next line; *FatalError and I/O errors end
// the connection.
func (r *Reader) ReadCommand() (*Command, error) {
	r.line, r.total, r.tokens = 0, 0, 0
	if err := r.begin(); err != nil {
		return nil, err
	}
	tag, err := r.word(isTagChar)
	if err != nil {
		return nil, r.fail("", err)
	}
	if tag == "" {
		if c, err := r.peek(); err == nil && (c == '\n' || c == '\r') {
			r.skipLine()
			return nil, &SyntaxError{Msg: "empty command line"}
		}
		return nil, r.fail("", synErr("missing or invalid tag"))
	}
	if err := r.expect(' '); err != nil {
		return nil, r.fail(tag, synErr("missing command name"))
	}
	name, err := r.word(isAtomChar)
	if err != nil {
		return nil, r.fail(tag, err)
	}
	if name == "" {
		return nil, r.fail(tag, synErr("missing command name"))
	}
	cmd := &Command{Tag: tag, Name: name}
	for {
		c, err := r.next()
		if err != nil {
			return nil, r.fail(tag, err)
		}
		switch c {
		case '\r':
			if err := r.expect('\n'); err != nil {
				return nil, r.fail(tag, synErr("CR not followed by LF"))
			}
			return cmd, nil
		case '\n':
			return cmd, nil
		case ' ':
			t, err := r.token(0)
			if err != nil {
				return nil, r.fail(tag, err)
			}
			cmd.Args = append(cmd.Args, t)
		default:
			return nil, r.fail(tag, synErr("expected a space or the end of the line, not %q", c))
		}
	}
}

// fail turns an internal error into what ReadCommand returns, skipping the
// rest of the line after a syntax error.
func (r *Reader) fail(tag string, err error) error {
	var le *lineError
	if !errors.As(err, &le) {
		return err // I/O
	}
	if le.fatal {
		return &FatalError{Tag: tag, Msg: le.msg}
	}
	r.skipLine()
	return &SyntaxError{Tag: tag, Msg: le.msg, TooBig: le.tooBig}
}

// skipLine discards input up to and including the next LF, at most a few
// megabytes (beyond that the next read fails on the garbage instead).
func (r *Reader) skipLine() {
	for i := 0; i < 4<<20; i++ {
		c, err := r.br.ReadByte()
		if err != nil || c == '\n' {
			return
		}
	}
}

func (r *Reader) peek() (byte, error) {
	b, err := r.br.Peek(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// next reads one byte of the command line, counting it.
func (r *Reader) next() (byte, error) {
	c, err := r.br.ReadByte()
	if err != nil {
		return 0, err
	}
	r.line++
	r.total++
	if r.line > r.limits.MaxLine {
		return 0, &lineError{msg: fmt.Sprintf("command line longer than %d bytes", r.limits.MaxLine), tooBig: true}
	}
	return c, nil
}

func (r *Reader) unread() {
	r.br.UnreadByte()
	r.line--
	r.total--
}

func (r *Reader) expect(want byte) error {
	c, err := r.next()
	if err != nil {
		return err
	}
	if c != want {
		r.unread()
		return synErr("expected %q, found %q", want, c)
	}
	return nil
}

// word reads a run of bytes accepted by ok.
func (r *Reader) word(ok func(byte) bool) (string, error) {
	var b []byte
	for {
		c, err := r.next()
		if err != nil {
			return "", err
		}
		if !ok(c) {
			r.unread()
			return string(b), nil
		}
		b = append(b, c)
	}
}

// token reads one token at nesting depth.
func (r *Reader) token(depth int) (Token, error) {
	if r.tokens++; r.tokens > r.limits.MaxTokens {
		return Token{}, &lineError{msg: "too many arguments", tooBig: true}
	}
	c, err := r.next()
	if err != nil {
		return Token{}, err
	}
	switch {
	case c == '(':
		if depth+1 > r.limits.MaxDepth {
			return Token{}, synErr("lists nested deeper than %d", r.limits.MaxDepth)
		}
		return r.list(depth + 1)
	case c == '"':
		s, err := r.quoted()
		return Token{Kind: Quoted, Value: s}, err
	case c == '{':
		return r.literal(false)
	case c == '~':
		if err := r.expect('{'); err != nil {
			return Token{}, synErr("'~' not followed by a literal")
		}
		return r.literal(true)
	case isAtomChar(c) || c == ']' || c == '\\' || c == '*' || c == '%':
		r.unread()
		s, err := r.atom()
		if err != nil {
			return Token{}, err
		}
		if len(s) == 3 && (s[0]|0x20) == 'n' && (s[1]|0x20) == 'i' && (s[2]|0x20) == 'l' {
			return Token{Kind: Nil, Value: s}, nil
		}
		return Token{Kind: Atom, Value: s}, nil
	case c == '\r' || c == '\n':
		return Token{}, synErr("unexpected end of line after a space")
	case c == ')':
		return Token{}, synErr("unexpected ')'")
	}
	return Token{}, synErr("unexpected character %q", c)
}

// atom reads an atom. Besides atom characters it takes list-wildcards (*
// and %), resp-specials (]), a leading backslash (flags) and a bracketed
// part that may hold spaces and parentheses, up to the matching ']'
// (RFC 9051 section 9: section and partial of fetch-att belong to one
// attribute).
func (r *Reader) atom() (string, error) {
	var b []byte
	for {
		c, err := r.next()
		if err != nil {
			return "", err
		}
		switch {
		case c == '[':
			b = append(b, c)
			depth := 1
			for depth > 0 {
				c, err := r.next()
				if err != nil {
					return "", err
				}
				switch c {
				case '[':
					depth++
				case ']':
					depth--
				case '\r', '\n':
					return "", synErr("unterminated '[' in %q", b)
				case '{':
					return "", synErr("literals are not supported inside brackets")
				case '"':
					// A quoted header field name: kept with its quotes
					// for the section parser.
					q, err := r.quoted()
					if err != nil {
						return "", err
					}
					b = strconv.AppendQuote(b, q)
					continue
				}
				b = append(b, c)
			}
		case isAtomChar(c) || c == ']' || c == '\\' || c == '*' || c == '%':
			b = append(b, c)
		default:
			r.unread()
			return string(b), nil
		}
	}
}

// quoted reads a quoted string after its opening quote.
func (r *Reader) quoted() (string, error) {
	var b []byte
	for {
		c, err := r.next()
		if err != nil {
			return "", err
		}
		switch c {
		case '"':
			return string(b), nil
		case '\\':
			c, err = r.next()
			if err != nil {
				return "", err
			}
			if c != '"' && c != '\\' {
				return "", synErr("invalid escape \\%c in a quoted string", c)
			}
		case '\r', '\n':
			return "", synErr("unterminated quoted string")
		case 0:
			return "", synErr("NUL in a quoted string")
		}
		b = append(b, c)
	}
}

// literal reads a literal after its '{': the length, an optional '+',
// '}', the line break and the data.
func (r *Reader) literal(binary bool) (Token, error) {
	digits, err := r.word(func(c byte) bool { return '0' <= c && c <= '9' })
	if err != nil {
		return Token{}, err
	}
	if digits == "" || len(digits) > 12 {
		return Token{}, synErr("invalid literal length")
	}
	n, _ := strconv.ParseInt(digits, 10, 64)
	sync := true
	c, err := r.next()
	if err != nil {
		return Token{}, err
	}
	if c == '+' {
		sync = false
		if c, err = r.next(); err != nil {
			return Token{}, err
		}
	}
	if c != '}' {
		return Token{}, synErr("invalid literal: expected '}'")
	}
	if c, err = r.next(); err == nil && c == '\r' {
		c, err = r.next()
	}
	if err != nil {
		return Token{}, err
	}
	if c != '\n' {
		return Token{}, synErr("a literal's length must end the line")
	}
	tooBig := n > r.limits.MaxLiteral || r.total+n > r.limits.MaxCommand
	if tooBig {
		msg := fmt.Sprintf("literal of %d bytes is over the limit of %d", n, r.limits.MaxLiteral)
		if !sync {
			// RFC 7888 section 4: the data is on its way already.
			return Token{}, &lineError{msg: msg, tooBig: true, fatal: true}
		}
		// The client waits for our "+" and will not send it: the line
		// ends here.
		r.unread() // let fail's skipLine stop at once
		return Token{}, &lineError{msg: msg, tooBig: true}
	}
	if sync && r.Continue != nil {
		if err := r.Continue(); err != nil {
			return Token{}, err
		}
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r.br, buf); err != nil {
		return Token{}, err
	}
	r.total += n
	if !binary {
		for _, c := range buf {
			if c == 0 {
				return Token{}, synErr("NUL in a literal (use literal8 ~{n})")
			}
		}
	}
	return Token{Kind: Literal, Value: string(buf), Binary: binary}, nil
}

// list reads a parenthesised list after its '('.
func (r *Reader) list(depth int) (Token, error) {
	t := Token{Kind: List, List: []Token{}}
	c, err := r.next()
	if err != nil {
		return t, err
	}
	if c == ')' {
		return t, nil
	}
	r.unread()
	for {
		e, err := r.token(depth)
		if err != nil {
			return t, err
		}
		t.List = append(t.List, e)
		c, err := r.next()
		if err != nil {
			return t, err
		}
		switch c {
		case ')':
			return t, nil
		case ' ':
		default:
			return t, synErr("expected a space or ')' in a list, not %q", c)
		}
	}
}

// isAtomChar: any CHAR except atom-specials (RFC 9051 section 9).
func isAtomChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', '%', '*', '"', '\\', ']', '[':
		return false
	}
	return true
}

// isTagChar: astring-char except "+" (RFC 9051 section 9 tag).
func isTagChar(c byte) bool { return (isAtomChar(c) || c == ']') && c != '+' }
