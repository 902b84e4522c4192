package expr

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds of an expression. Expressions come from configuration files and
// Sieve scripts that users write, so compiling one is bounded in time and
// memory however it is written.
const (
	// MaxLength is the longest expression source, in bytes.
	MaxLength = 16 << 10
	// MaxDepth is the deepest nesting of parentheses, lists, calls and
	// operators.
	MaxDepth = 64
	// MaxRegexp is the longest regular expression pattern, in bytes.
	MaxRegexp = 4 << 10
	// MaxArgs is the most arguments of one call and elements of one list
	// literal.
	MaxArgs = 1000
)

// Error is an error in an expression: at compile time a syntax or type
// error, at run time a type error, a division by zero or an error of the
// Env. Col is the 1-based byte column in the source where it was found.
type Error struct {
	Col int
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("column %d: %s", e.Col, e.Msg) }

// Func describes a function the Env provides, for the checks of Compile.
type Func struct {
	// Args are the kinds of the arguments (Any for any kind).
	Args []Kind
	// Variadic makes the last of Args repeat zero or more times.
	Variadic bool
	// Result is the kind of the result (Any when it varies).
	Result Kind
}

// Signatures names the variables and functions an Env provides, so that a
// misspelt name, a wrong number of arguments or an operator applied to the
// wrong kind is an error when the expression is compiled (when the
// configuration is loaded) rather than when it runs.
type Signatures struct {
	Vars  map[string]Kind
	Funcs map[string]Func
}

// Program is a compiled expression. It is immutable and safe for concurrent
// use.
type Program struct {
	src  string
	root node
}

// String returns the source the program was compiled from.
func (p *Program) String() string { return p.src }

// Kind is the kind of the program's result as far as Compile could tell:
// Any when it depends on the Env.
func (p *Program) Kind() Kind { return p.root.kind() }

// Compile parses src and prepares it for Eval: literal regular
// expressions are compiled, constant lists made into sets, and, when sig
// is not nil, every name and the kinds of the operands checked. With sig
// nil any name is accepted and resolved by the Env when the program runs.
func Compile(src string, sig *Signatures) (*Program, error) {
	if len(src) > MaxLength {
		return nil, &Error{Col: 1, Msg: fmt.Sprintf("expression of %d bytes is too long (at most %d)", len(src), MaxLength)}
	}
	if !utf8.ValidString(src) {
		return nil, &Error{Col: 1 + strings.IndexRune(strings.ToValidUTF8(src, "\uFFFD"), '\uFFFD'), Msg: "not valid UTF-8"}
	}
	p := &parser{lex: lexer{src: src}, sig: sig}
	p.next()
	n, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if p.tok.err != nil {
		return nil, p.tok.err
	}
	if p.tok.typ != tEOF {
		return nil, p.errf(p.tok.pos, "unexpected %s after the end of the expression", p.tok.describe())
	}
	return &Program{src: src, root: n}, nil
}

// MustCompile is Compile for expressions known to be good; it panics on an
// error.
func MustCompile(src string, sig *Signatures) *Program {
	p, err := Compile(src, sig)
	if err != nil {
		panic("expr: " + src + ": " + err.Error())
	}
	return p
}

// ---------------------------------------------------------------------------
// Lexer.

type tokType uint8

const (
	tEOF tokType = iota
	tNum
	tStr
	tIdent
	tOp // punctuation and keyword operators, in tok.text
)

type token struct {
	typ  tokType
	pos  int // byte offset
	text string
	num  float64
	err  *Error
}

func (t token) describe() string {
	switch t.typ {
	case tEOF:
		return "end of expression"
	case tNum:
		return "number " + t.text
	case tStr:
		return "string"
	case tIdent:
		return "name " + strconv.Quote(t.text)
	}
	return strconv.Quote(t.text)
}

type lexer struct {
	src string
	pos int
}

var keywords = map[string]bool{
	"and": true, "or": true, "not": true, "true": true, "false": true, "null": true,
	"contains": true, "matches": true, "startswith": true, "endswith": true, "in": true,
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

func (l *lexer) next() token {
	s := l.src
	for l.pos < len(s) && (s[l.pos] == ' ' || s[l.pos] == '\t' || s[l.pos] == '\n' || s[l.pos] == '\r') {
		l.pos++
	}
	start := l.pos
	if l.pos >= len(s) {
		return token{typ: tEOF, pos: start}
	}
	c := s[l.pos]
	switch {
	case isLetter(c):
		for l.pos < len(s) && (isLetter(s[l.pos]) || isDigit(s[l.pos])) {
			l.pos++
		}
		w := s[start:l.pos]
		if keywords[w] {
			return token{typ: tOp, pos: start, text: w}
		}
		return token{typ: tIdent, pos: start, text: w}
	case isDigit(c) || c == '.' && l.pos+1 < len(s) && isDigit(s[l.pos+1]):
		for l.pos < len(s) && (isDigit(s[l.pos]) || s[l.pos] == '.') {
			l.pos++
		}
		if l.pos < len(s) && (s[l.pos] == 'e' || s[l.pos] == 'E') {
			j := l.pos + 1
			if j < len(s) && (s[j] == '+' || s[j] == '-') {
				j++
			}
			if j < len(s) && isDigit(s[j]) {
				for l.pos = j; l.pos < len(s) && isDigit(s[l.pos]); l.pos++ {
				}
			}
		}
		text := s[start:l.pos]
		n, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return token{typ: tEOF, pos: start, err: &Error{Col: start + 1, Msg: "bad number " + strconv.Quote(text)}}
		}
		if l.pos < len(s) && isLetter(s[l.pos]) {
			return token{typ: tEOF, pos: l.pos, err: &Error{Col: l.pos + 1, Msg: "a number must not run into a name: put a space or an operator between"}}
		}
		return token{typ: tNum, pos: start, text: text, num: n}
	case c == '"':
		return l.quoted()
	case c == '\'' || c == '`':
		end := strings.IndexByte(s[l.pos+1:], c)
		if end < 0 {
			return token{typ: tEOF, pos: start, err: &Error{Col: start + 1, Msg: "string not closed"}}
		}
		l.pos += 1 + end + 1
		return token{typ: tStr, pos: start, text: s[start+1 : l.pos-1]}
	}
	for _, op := range [...]string{"==", "!=", "<=", ">=", "&&", "||"} {
		if strings.HasPrefix(s[l.pos:], op) {
			l.pos += 2
			return token{typ: tOp, pos: start, text: op}
		}
	}
	if strings.IndexByte("+-*/%<>!()[],", c) >= 0 {
		l.pos++
		return token{typ: tOp, pos: start, text: s[start:l.pos]}
	}
	if c == '=' {
		return token{typ: tEOF, pos: start, err: &Error{Col: start + 1, Msg: `"=" is not an operator: compare with "=="`}}
	}
	r, _ := utf8.DecodeRuneInString(s[l.pos:])
	return token{typ: tEOF, pos: start, err: &Error{Col: start + 1, Msg: fmt.Sprintf("unexpected character %q", r)}}
}

// quoted reads a "..." string with the escapes \" \\ \n \r \t \xHH \uHHHH.
func (l *lexer) quoted() token {
	s := l.src
	start := l.pos
	l.pos++
	var b strings.Builder
	plain := l.pos // start of the run not yet copied
	for l.pos < len(s) {
		c := s[l.pos]
		switch c {
		case '"':
			b.WriteString(s[plain:l.pos])
			l.pos++
			return token{typ: tStr, pos: start, text: b.String()}
		case '\\':
			b.WriteString(s[plain:l.pos])
			if l.pos+1 >= len(s) {
				return token{typ: tEOF, pos: start, err: &Error{Col: start + 1, Msg: "string not closed"}}
			}
			e := s[l.pos+1]
			l.pos += 2
			switch e {
			case '"', '\\', '\'':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'x', 'u':
				n := 2
				if e == 'u' {
					n = 4
				}
				if l.pos+n > len(s) {
					return token{typ: tEOF, pos: l.pos - 2, err: &Error{Col: l.pos - 1, Msg: "short \\" + string(e) + " escape"}}
				}
				v, err := strconv.ParseUint(s[l.pos:l.pos+n], 16, 32)
				if err != nil {
					return token{typ: tEOF, pos: l.pos - 2, err: &Error{Col: l.pos - 1, Msg: "bad \\" + string(e) + " escape"}}
				}
				l.pos += n
				if e == 'x' {
					b.WriteByte(byte(v))
				} else {
					b.WriteRune(rune(v))
				}
			default:
				return token{typ: tEOF, pos: l.pos - 2, err: &Error{Col: l.pos - 1, Msg: fmt.Sprintf(`unknown escape \%c in a "..." string (write \\%c, or use a raw '...' string)`, e, e)}}
			}
			plain = l.pos
		default:
			l.pos++
		}
	}
	return token{typ: tEOF, pos: start, err: &Error{Col: start + 1, Msg: "string not closed"}}
}

// ---------------------------------------------------------------------------
// Parser: precedence climbing over the grammar of the package comment.

type parser struct {
	lex   lexer
	tok   token
	sig   *Signatures
	depth int
}

func (p *parser) next() { p.tok = p.lex.next() }

func (p *parser) errf(pos int, format string, args ...any) *Error {
	return &Error{Col: pos + 1, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) is(op string) bool { return p.tok.typ == tOp && p.tok.text == op }

// binary operator precedences; higher binds tighter.
func precedence(t token) int {
	if t.typ != tOp {
		return 0
	}
	switch t.text {
	case "or", "||":
		return 1
	case "and", "&&":
		return 2
	case "==", "!=", "<", "<=", ">", ">=", "contains", "matches", "startswith", "endswith", "in":
		return 4
	case "+", "-":
		return 5
	case "*", "/", "%":
		return 6
	}
	return 0
}

func (p *parser) enter(pos int) *Error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errf(pos, "expression nested too deeply (at most %d levels)", MaxDepth)
	}
	return nil
}

// expr parses operators binding tighter than min.
func (p *parser) expr(min int) (node, error) {
	if err := p.enter(p.tok.pos); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		if p.tok.err != nil {
			return nil, p.tok.err
		}
		prec := precedence(p.tok)
		if prec <= min {
			return x, nil
		}
		op := p.tok
		p.next()
		y, err := p.expr(prec)
		if err != nil {
			return nil, err
		}
		if x, err = p.binary(op, x, y); err != nil {
			return nil, err
		}
		if prec == 4 && precedence(p.tok) == 4 {
			return nil, p.errf(p.tok.pos, "comparisons do not chain: use parentheses or \"and\"")
		}
	}
}

func (p *parser) unary() (node, error) {
	if p.tok.err != nil {
		return nil, p.tok.err
	}
	t := p.tok
	switch {
	case p.is("not") || p.is("!"):
		if err := p.enter(t.pos); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		p.next()
		// not binds looser than comparisons: not a contains b is
		// not (a contains b).
		x, err := p.expr(3)
		if err != nil {
			return nil, err
		}
		return &notNode{x: x}, nil
	case p.is("-"):
		if err := p.enter(t.pos); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		if k := x.kind(); k != Number && k != Any {
			return nil, p.errf(t.pos, "cannot negate a %s", k)
		}
		if l, ok := x.(*litNode); ok {
			return &litNode{v: Num(-l.v.n)}, nil
		}
		return &negNode{x: x, col: t.pos + 1}, nil
	}
	return p.primary()
}

func (p *parser) primary() (node, error) {
	t := p.tok
	switch t.typ {
	case tNum:
		p.next()
		return &litNode{v: Num(t.num)}, nil
	case tStr:
		p.next()
		return &litNode{v: Str(t.text)}, nil
	case tIdent:
		p.next()
		if p.is("(") {
			return p.call(t)
		}
		return p.variable(t)
	case tOp:
		switch t.text {
		case "true", "false":
			p.next()
			return &litNode{v: Boolean(t.text == "true")}, nil
		case "null":
			p.next()
			return &litNode{}, nil
		case "(":
			p.next()
			x, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			if !p.is(")") {
				return nil, p.errf(p.tok.pos, "expected \")\" to close the \"(\" of column %d, found %s", t.pos+1, p.tok.describe())
			}
			p.next()
			return x, nil
		case "[":
			p.next()
			elems, err := p.items("]", t)
			if err != nil {
				return nil, err
			}
			return newList(elems), nil
		}
	}
	return nil, p.errf(t.pos, "expected a value, found %s", t.describe())
}

// items parses a comma-separated list of expressions up to close.
func (p *parser) items(close string, open token) ([]node, error) {
	if err := p.enter(open.pos); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	var out []node
	for !p.is(close) {
		if len(out) == MaxArgs {
			return nil, p.errf(p.tok.pos, "more than %d items", MaxArgs)
		}
		x, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
		if p.is(",") {
			p.next()
			continue
		}
		if !p.is(close) {
			return nil, p.errf(p.tok.pos, "expected \",\" or %q, found %s", close, p.tok.describe())
		}
	}
	p.next()
	return out, nil
}

func (p *parser) variable(t token) (node, error) {
	k := Any
	if p.sig != nil {
		var ok bool
		if k, ok = p.sig.Vars[t.text]; !ok {
			if _, fn := p.sig.Funcs[t.text]; fn {
				return nil, p.errf(t.pos, "%s is a function: call it as %s(...)", t.text, t.text)
			}
			return nil, p.errf(t.pos, "unknown name %q", t.text)
		}
	}
	return &varNode{name: t.text, k: k, col: t.pos + 1}, nil
}

func (p *parser) call(t token) (node, error) {
	open := p.tok
	p.next()
	args, err := p.items(")", open)
	if err != nil {
		return nil, err
	}
	if b, ok := builtins[t.text]; ok {
		if err := checkArgs(p, t, b.sig, args); err != nil {
			return nil, err
		}
		return b.make(args, t.pos+1)
	}
	k := Any
	if p.sig != nil {
		f, ok := p.sig.Funcs[t.text]
		if !ok {
			if _, v := p.sig.Vars[t.text]; v {
				return nil, p.errf(t.pos, "%s is not a function", t.text)
			}
			return nil, p.errf(t.pos, "unknown function %q", t.text)
		}
		if err := checkArgs(p, t, f, args); err != nil {
			return nil, err
		}
		k = f.Result
	}
	return &callNode{name: t.text, args: args, k: k, col: t.pos + 1}, nil
}

func checkArgs(p *parser, t token, f Func, args []node) error {
	n := len(f.Args)
	if len(args) < n-boolInt(f.Variadic) || !f.Variadic && len(args) > n {
		want := strconv.Itoa(n)
		if f.Variadic {
			want = "at least " + strconv.Itoa(n-1)
		}
		return p.errf(t.pos, "%s takes %s argument%s, not %d", t.text, want, plural(n), len(args))
	}
	for i, a := range args {
		want := f.Args[min(i, n-1)]
		if k := a.kind(); want != Any && k != Any && k != want {
			return p.errf(t.pos, "argument %d of %s must be a %s, not a %s", i+1, t.text, want, k)
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// binary builds the node of x op y, checking the kinds it can.
func (p *parser) binary(op token, x, y node) (node, error) {
	kx, ky := x.kind(), y.kind()
	known := kx != Any && ky != Any
	col := op.pos + 1
	bad := func(what string) error {
		return p.errf(op.pos, "%q needs %s, not a %s and a %s", op.text, what, kx, ky)
	}
	switch op.text {
	case "and", "&&":
		return &andNode{x: x, y: y}, nil
	case "or", "||":
		return &orNode{x: x, y: y}, nil
	case "==", "!=":
		return &eqNode{x: x, y: y, neg: op.text == "!="}, nil
	case "<", "<=", ">", ">=":
		if known && !(kx == ky && (kx == Number || kx == String)) {
			return nil, bad("two numbers or two strings")
		}
		return &cmpNode{x: x, y: y, op: op.text, col: col}, nil
	case "+":
		if known && !(kx == ky && (kx == Number || kx == String)) {
			return nil, bad("two numbers or two strings")
		}
		k := Any
		if kx == ky {
			k = kx
		}
		return &arithNode{x: x, y: y, op: '+', k: k, col: col}, nil
	case "-", "*", "/", "%":
		if kx != Any && kx != Number || ky != Any && ky != Number {
			return nil, bad("numbers")
		}
		return &arithNode{x: x, y: y, op: op.text[0], k: Number, col: col}, nil
	case "contains", "startswith", "endswith":
		if kx != Any && kx != String && kx != List || ky != Any && ky != String {
			return nil, bad("a string or list and a string")
		}
		return &strNode{x: x, y: y, op: op.text, col: col}, nil
	case "matches":
		if kx != Any && kx != String && kx != List || ky != Any && ky != String {
			return nil, bad("a string or list and a pattern")
		}
		m := &matchNode{x: x, y: y, col: col}
		if l, ok := y.(*litNode); ok {
			re, err := compileRegexp(l.v.s)
			if err != nil {
				return nil, p.errf(op.pos, "%v", err)
			}
			m.re = re
		}
		return m, nil
	case "in":
		if ky != Any && ky != List && ky != String {
			return nil, bad("a list or string on the right")
		}
		return newIn(x, y, col), nil
	}
	return nil, p.errf(op.pos, "unknown operator %q", op.text)
}

// compileRegexp compiles an RE2 pattern within MaxRegexp.
func compileRegexp(pat string) (*regexp.Regexp, error) {
	if len(pat) > MaxRegexp {
		return nil, fmt.Errorf("regular expression of %d bytes is too long (at most %d)", len(pat), MaxRegexp)
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		var se *syntax.Error
		if e, ok := err.(*syntax.Error); ok {
			se = e
			return nil, fmt.Errorf("bad regular expression %q: %s: %s", pat, se.Code, se.Expr)
		}
		return nil, fmt.Errorf("bad regular expression %q: %v", pat, err)
	}
	return re, nil
}
