package sieve

type argKind int

const (
	argTag argKind = iota
	argNum
	argString // a single string
	argList   // a bracketed string list
)

// arg is one argument of a command or test as written.
type arg struct {
	pos  Pos
	kind argKind
	tag  string   // argTag: the name without ':'
	num  uint64   // argNum
	strs []string // argString (one) and argList
}

func (a *arg) isStrings() bool { return a.kind == argString || a.kind == argList }

// node is a command or a test as parsed (RFC 5228 section 8.2).
type node struct {
	pos      Pos
	name     string
	args     []*arg
	tests    []*node
	testList bool // tests were written in parentheses
	block    []*node
	hasBlock bool
}

type parser struct {
	errs     []*Error
	lx       *lexer
	tok      token
	maxNest  int
	maxTests int
	ntests   int
}

type parseError struct{ e *Error }

func (p *parser) fail(e *Error) { panic(parseError{e}) }

func (p *parser) advance() {
	t, err := p.lx.next()
	if err != nil {
		p.fail(err)
	}
	p.tok = t
}

// parse parses a whole script into its commands. Errors stop at the first
// syntax error: Sieve has no reliable recovery point.
// It recovers from errors in a command by skipping to the next ';' or
// the end of the enclosing block, as Pigeonhole does, so that a script's
// problems are reported together; the tree is only returned without errors.
func parse(src []byte, maxNest int) (cmds []*node, errs []*Error) {
	p := &parser{lx: newLexer(src), maxNest: maxNest}
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(parseError)
			if !ok {
				panic(r)
			}
			p.errs = append(p.errs, pe.e)
		}
		errs = mergeErrors(p.lx.soft, p.errs)
		if len(errs) > 0 {
			cmds = nil
		}
	}()
	p.advance()
	for {
		cmds = append(cmds, p.commands(0)...)
		if p.tok.kind == tEOF {
			break
		}
		p.errs = append(p.errs, p.lx.errf(p.tok.pos, "unexpected %s", p.describe()))
		if len(p.errs) > 50 {
			break
		}
		p.advance()
	}
	return cmds, nil
}

// mergeErrors orders lexer and parser errors by position.
func mergeErrors(a, b []*Error) []*Error {
	out := append(append([]*Error(nil), a...), b...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && (out[j].Line < out[j-1].Line || out[j].Line == out[j-1].Line && out[j].Column < out[j-1].Column); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func (p *parser) describe() string {
	switch p.tok.kind {
	case tIdent:
		return "identifier '" + p.tok.text + "'"
	case tTag:
		return "tag ':" + p.tok.text + "'"
	}
	return p.tok.kind.String()
}

func (p *parser) commands(depth int) []*node {
	var cmds []*node
	for p.tok.kind == tIdent {
		if n := p.recoverCommand(depth); n != nil {
			cmds = append(cmds, n)
		}
		if len(p.errs) > 50 {
			p.fail(p.lx.errf(p.tok.pos, "too many errors"))
		}
	}
	return cmds
}

// recoverCommand parses a command; on a syntax error it records it and
// skips to the next ';' (consumed) or the '}' closing the block (left).
func (p *parser) recoverCommand(depth int) (n *node) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		pe, ok := r.(parseError)
		if !ok {
			panic(r)
		}
		p.errs = append(p.errs, pe.e)
		n = nil
		p.resync()
	}()
	return p.command(depth)
}

func (p *parser) resync() {
	level := 0
	for p.tok.kind != tEOF {
		switch p.tok.kind {
		case tSemi:
			if level == 0 {
				p.next()
				return
			}
		case tLBrace:
			level++
		case tRBrace:
			if level == 0 {
				return
			}
			level--
			if level == 0 {
				p.next()
				return
			}
		}
		p.next()
	}
}

// next advances, recording (not raising) lexer errors.
func (p *parser) next() {
	t, err := p.lx.next()
	if err != nil {
		p.errs = append(p.errs, err)
		p.tok = token{kind: tEOF, pos: err.pos()}
		return
	}
	p.tok = t
}

func (p *parser) command(depth int) *node {
	n := &node{pos: p.tok.pos, name: p.tok.text}
	p.advance()
	// Test nesting is counted apart from block nesting (as Pigeonhole
	// does): a command's own test is at level 1.
	p.arguments(n, 0)
	switch p.tok.kind {
	case tSemi:
		p.advance()
	case tLBrace:
		if depth+1 > p.maxNest {
			p.fail(p.lx.errf(p.tok.pos, "nesting of blocks is too deep (more than %d levels)", p.maxNest))
		}
		p.advance()
		n.hasBlock = true
		n.block = p.commands(depth + 1)
		if p.tok.kind != tRBrace {
			p.fail(p.lx.errf(p.tok.pos, "expected command or '}' but found %s", p.describe()))
		}
		p.advance()
	default:
		p.fail(p.lx.errf(p.tok.pos, "expected ';' or '{' after command '%s' but found %s", n.name, p.describe()))
	}
	return n
}

// maxArgs bounds the arguments of one command or test (Pigeonhole's
// SIEVE_MAX_COMMAND_ARGUMENTS).
const maxArgs = 32

// arguments reads *argument [ test / test-list ].
func (p *parser) arguments(n *node, depth int) {
	for {
		if len(n.args) > maxArgs {
			p.fail(p.lx.errf(n.pos, "too many arguments for command '%s' (more than %d)", n.name, maxArgs))
		}
		switch p.tok.kind {
		case tTag:
			n.args = append(n.args, &arg{pos: p.tok.pos, kind: argTag, tag: p.tok.text})
			p.advance()
			continue
		case tNumber:
			n.args = append(n.args, &arg{pos: p.tok.pos, kind: argNum, num: p.tok.num})
			p.advance()
			continue
		case tString:
			n.args = append(n.args, &arg{pos: p.tok.pos, kind: argString, strs: []string{p.tok.text}})
			p.advance()
			continue
		case tLBracket:
			a := &arg{pos: p.tok.pos, kind: argList}
			p.advance()
			for {
				if p.tok.kind != tString {
					p.fail(p.lx.errf(p.tok.pos, "expected string in string list but found %s", p.describe()))
				}
				a.strs = append(a.strs, p.tok.text)
				p.advance()
				if p.tok.kind == tComma {
					p.advance()
					continue
				}
				if p.tok.kind != tRBracket {
					p.fail(p.lx.errf(p.tok.pos, "expected ',' or ']' in string list but found %s", p.describe()))
				}
				p.advance()
				break
			}
			n.args = append(n.args, a)
			continue
		}
		break
	}
	switch p.tok.kind {
	case tIdent:
		n.tests = []*node{p.test(depth + 1)}
	case tLParen:
		n.testList = true
		n.tests = p.testList(depth + 1)
	}
}

func (p *parser) test(depth int) *node {
	if depth > p.maxNest {
		p.fail(p.lx.errf(p.tok.pos, "nesting of tests is too deep (more than %d levels)", p.maxNest))
	}
	if p.tok.kind != tIdent {
		p.fail(p.lx.errf(p.tok.pos, "expected test but found %s", p.describe()))
	}
	n := &node{pos: p.tok.pos, name: p.tok.text}
	p.advance()
	p.arguments(n, depth)
	return n
}

func (p *parser) testList(depth int) []*node {
	if depth > p.maxNest {
		p.fail(p.lx.errf(p.tok.pos, "nesting of tests is too deep (more than %d levels)", p.maxNest))
	}
	p.advance() // (
	var tests []*node
	for {
		tests = append(tests, p.test(depth))
		if p.tok.kind == tComma {
			p.advance()
			continue
		}
		if p.tok.kind != tRParen {
			p.fail(p.lx.errf(p.tok.pos, "expected ',' or ')' in test list but found %s", p.describe()))
		}
		p.advance()
		return tests
	}
}
