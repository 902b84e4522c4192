package expr

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"
)

// Env gives a running program the values of its names. It is the caller's
// window onto its data: the spam filter's Env reads the message being
// checked, Sieve's the message being delivered.
type Env interface {
	// Var returns the value of a variable; ok false makes the program fail
	// with "unknown name" (with Signatures, Compile has already refused
	// names the Env does not know).
	Var(name string) (v Value, ok bool)
	// Call calls a function. args is only valid during the call: an Env
	// keeping an argument copies it. An error ends the program with that
	// error (and the column of the call). A function the Env does not know
	// returns ErrUnknownFunc.
	Call(name string, args []Value) (Value, error)
}

// Lowerer is an Env that serves lower(name) for a variable name itself, from
// a cache, instead of lower-casing the variable's value again each time a
// program asks: rules testing lower(body) then lower-case the text of a
// message once. LowerVar returns ok false to let lower() do the work.
type Lowerer interface {
	LowerVar(name string) (v Value, ok bool)
}

// ErrUnknownFunc is what Env.Call returns for a name it does not know.
var ErrUnknownFunc = errors.New("unknown function")

// state is the scratch space of one Eval: the argument stack of calls.
type state struct {
	env   Env
	low   Lowerer
	stack []Value
}

var states = sync.Pool{New: func() any { return &state{stack: make([]Value, 0, 16)} }}

// Eval runs the program with env. It does not allocate unless the program
// builds strings or lists (string +, lower(), a list of variables) or env
// does.
func (p *Program) Eval(env Env) (Value, error) {
	st := states.Get().(*state)
	st.env = env
	st.low, _ = env.(Lowerer)
	v, err := p.root.eval(st)
	clear(st.stack[:cap(st.stack)])
	st.stack = st.stack[:0]
	st.env, st.low = nil, nil
	states.Put(st)
	return v, err
}

// Bool runs the program and reads the result as a condition (Value.Truth).
func (p *Program) Bool(env Env) (bool, error) {
	v, err := p.Eval(env)
	return v.Truth(), err
}

type node interface {
	eval(st *state) (Value, error)
	kind() Kind
}

func typeErr(col int, format string, args ...any) error {
	return &Error{Col: col, Msg: fmt.Sprintf(format, args...)}
}

type litNode struct{ v Value }

func (n *litNode) eval(*state) (Value, error) { return n.v, nil }
func (n *litNode) kind() Kind                 { return n.v.k }

type varNode struct {
	name string
	k    Kind
	col  int
}

func (n *varNode) eval(st *state) (Value, error) {
	v, ok := st.env.Var(n.name)
	if !ok {
		return Value{}, &Error{Col: n.col, Msg: fmt.Sprintf("unknown name %q", n.name)}
	}
	return v, nil
}
func (n *varNode) kind() Kind { return n.k }

type callNode struct {
	name string
	args []node
	k    Kind
	col  int
}

func (n *callNode) eval(st *state) (Value, error) {
	base := len(st.stack)
	for _, a := range n.args {
		v, err := a.eval(st)
		if err != nil {
			return Value{}, err
		}
		st.stack = append(st.stack, v)
	}
	v, err := st.env.Call(n.name, st.stack[base:len(st.stack):len(st.stack)])
	st.stack = st.stack[:base]
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return Value{}, err
		}
		return Value{}, &Error{Col: n.col, Msg: fmt.Sprintf("%s: %v", n.name, err)}
	}
	return v, nil
}
func (n *callNode) kind() Kind { return n.k }

type listNode struct{ elems []node }

// newList makes a list literal, a constant when all its elements are.
func newList(elems []node) node {
	vs := make([]Value, len(elems))
	for i, e := range elems {
		l, ok := e.(*litNode)
		if !ok {
			return &listNode{elems: elems}
		}
		vs[i] = l.v
	}
	return &litNode{v: internList(ListOf(vs...))}
}

// Identical constant lists of different programs share one backing array,
// so that an Env can cache a function's result over a list by its address
// (Value.Items()[0]) across programs, as the spam rules do for
// count_contains over the same phrase list.
var interned struct {
	sync.Mutex
	m map[string]Value
}

const maxInterned = 4096

func internList(v Value) Value {
	if len(v.l) < 4 {
		return v
	}
	key := v.String()
	interned.Lock()
	defer interned.Unlock()
	if w, ok := interned.m[key]; ok {
		return w
	}
	if interned.m == nil || len(interned.m) >= maxInterned {
		interned.m = make(map[string]Value)
	}
	interned.m[key] = v
	return v
}

func (n *listNode) eval(st *state) (Value, error) {
	vs := make([]Value, len(n.elems))
	for i, e := range n.elems {
		v, err := e.eval(st)
		if err != nil {
			return Value{}, err
		}
		vs[i] = v
	}
	return ListOf(vs...), nil
}
func (n *listNode) kind() Kind { return List }

type notNode struct{ x node }

func (n *notNode) eval(st *state) (Value, error) {
	v, err := n.x.eval(st)
	return Boolean(!v.Truth()), err
}
func (n *notNode) kind() Kind { return Bool }

type negNode struct {
	x   node
	col int
}

func (n *negNode) eval(st *state) (Value, error) {
	v, err := n.x.eval(st)
	if err != nil {
		return Value{}, err
	}
	if v.k != Number {
		return Value{}, typeErr(n.col, "cannot negate a %s", v.k)
	}
	return Num(-v.n), nil
}
func (n *negNode) kind() Kind { return Number }

type andNode struct{ x, y node }

func (n *andNode) eval(st *state) (Value, error) {
	v, err := n.x.eval(st)
	if err != nil || !v.Truth() {
		return Boolean(false), err
	}
	v, err = n.y.eval(st)
	return Boolean(v.Truth()), err
}
func (n *andNode) kind() Kind { return Bool }

type orNode struct{ x, y node }

func (n *orNode) eval(st *state) (Value, error) {
	v, err := n.x.eval(st)
	if err != nil || v.Truth() {
		return Boolean(err == nil), err
	}
	v, err = n.y.eval(st)
	return Boolean(v.Truth()), err
}
func (n *orNode) kind() Kind { return Bool }

// both evaluates the operands of a binary operator.
func both(st *state, x, y node) (Value, Value, error) {
	a, err := x.eval(st)
	if err != nil {
		return Value{}, Value{}, err
	}
	b, err := y.eval(st)
	return a, b, err
}

type eqNode struct {
	x, y node
	neg  bool
}

func (n *eqNode) eval(st *state) (Value, error) {
	a, b, err := both(st, n.x, n.y)
	if err != nil {
		return Value{}, err
	}
	return Boolean(a.Equal(b) != n.neg), nil
}
func (n *eqNode) kind() Kind { return Bool }

type cmpNode struct {
	x, y node
	op   string
	col  int
}

func (n *cmpNode) eval(st *state) (Value, error) {
	a, b, err := both(st, n.x, n.y)
	if err != nil {
		return Value{}, err
	}
	var c int
	switch {
	case a.k == Number && b.k == Number:
		if a.n != a.n || b.n != b.n { // NaN compares false
			return Boolean(false), nil
		}
		c = cmpFloat(a.n, b.n)
	case a.k == String && b.k == String:
		c = strings.Compare(a.s, b.s)
	default:
		return Value{}, typeErr(n.col, "%q needs two numbers or two strings, not a %s and a %s", n.op, a.k, b.k)
	}
	switch n.op {
	case "<":
		return Boolean(c < 0), nil
	case "<=":
		return Boolean(c <= 0), nil
	case ">":
		return Boolean(c > 0), nil
	}
	return Boolean(c >= 0), nil
}
func (n *cmpNode) kind() Kind { return Bool }

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type arithNode struct {
	x, y node
	op   byte
	k    Kind
	col  int
}

func (n *arithNode) eval(st *state) (Value, error) {
	a, b, err := both(st, n.x, n.y)
	if err != nil {
		return Value{}, err
	}
	if n.op == '+' && a.k == String && b.k == String {
		if len(a.s)+len(b.s) > maxString {
			return Value{}, typeErr(n.col, "string longer than %d bytes", maxString)
		}
		return Str(a.s + b.s), nil
	}
	if a.k != Number || b.k != Number {
		return Value{}, typeErr(n.col, "%q needs numbers, not a %s and a %s", string(n.op), a.k, b.k)
	}
	switch n.op {
	case '+':
		return Num(a.n + b.n), nil
	case '-':
		return Num(a.n - b.n), nil
	case '*':
		return Num(a.n * b.n), nil
	case '/':
		if b.n == 0 {
			return Value{}, typeErr(n.col, "division by zero")
		}
		return Num(a.n / b.n), nil
	}
	if b.n == 0 {
		return Value{}, typeErr(n.col, "division by zero")
	}
	return Num(math.Mod(a.n, b.n)), nil
}
func (n *arithNode) kind() Kind { return n.k }

// maxString bounds the strings a program builds.
const maxString = 1 << 20

type strNode struct {
	x, y node
	op   string
	col  int
}

func (n *strNode) eval(st *state) (Value, error) {
	a, b, err := both(st, n.x, n.y)
	if err != nil {
		return Value{}, err
	}
	if b.k != String {
		return Value{}, typeErr(n.col, "%q needs a string on the right, not a %s", n.op, b.k)
	}
	test := strings.Contains
	switch n.op {
	case "startswith":
		test = strings.HasPrefix
	case "endswith":
		test = strings.HasSuffix
	}
	switch a.k {
	case String:
		return Boolean(test(a.s, b.s)), nil
	case List:
		for _, e := range a.l {
			if e.k == String && test(e.s, b.s) {
				return Boolean(true), nil
			}
		}
		return Boolean(false), nil
	case Null:
		return Boolean(false), nil
	}
	return Value{}, typeErr(n.col, "%q needs a string or a list on the left, not a %s", n.op, a.k)
}
func (n *strNode) kind() Kind { return Bool }

type matchNode struct {
	x, y node
	re   *regexp.Regexp // for a literal pattern
	col  int
}

func (n *matchNode) eval(st *state) (Value, error) {
	a, err := n.x.eval(st)
	if err != nil {
		return Value{}, err
	}
	re := n.re
	if re == nil {
		b, err := n.y.eval(st)
		if err != nil {
			return Value{}, err
		}
		if b.k != String {
			return Value{}, typeErr(n.col, "\"matches\" needs a pattern string on the right, not a %s", b.k)
		}
		if re, err = Regexp(b.s); err != nil {
			return Value{}, typeErr(n.col, "%v", err)
		}
	}
	switch a.k {
	case String:
		return Boolean(re.MatchString(a.s)), nil
	case List:
		for _, e := range a.l {
			if e.k == String && re.MatchString(e.s) {
				return Boolean(true), nil
			}
		}
		return Boolean(false), nil
	case Null:
		return Boolean(false), nil
	}
	return Value{}, typeErr(n.col, "\"matches\" needs a string or a list on the left, not a %s", a.k)
}
func (n *matchNode) kind() Kind { return Bool }

type inNode struct {
	x, y node
	set  map[string]struct{} // for a constant list of strings
	col  int
}

func newIn(x, y node, col int) node {
	n := &inNode{x: x, y: y, col: col}
	if l, ok := y.(*litNode); ok && l.v.k == List && len(l.v.l) > 8 {
		set := make(map[string]struct{}, len(l.v.l))
		for _, e := range l.v.l {
			if e.k != String {
				return n
			}
			set[e.s] = struct{}{}
		}
		n.set = set
	}
	return n
}

func (n *inNode) eval(st *state) (Value, error) {
	a, err := n.x.eval(st)
	if err != nil {
		return Value{}, err
	}
	if n.set != nil {
		if a.k != String {
			return Boolean(false), nil
		}
		_, ok := n.set[a.s]
		return Boolean(ok), nil
	}
	b, err := n.y.eval(st)
	if err != nil {
		return Value{}, err
	}
	switch b.k {
	case List:
		for _, e := range b.l {
			if a.Equal(e) {
				return Boolean(true), nil
			}
		}
		return Boolean(false), nil
	case String:
		if a.k != String {
			return Value{}, typeErr(n.col, "\"in\" a string needs a string on the left, not a %s", a.k)
		}
		return Boolean(strings.Contains(b.s, a.s)), nil
	case Null:
		return Boolean(false), nil
	}
	return Value{}, typeErr(n.col, "\"in\" needs a list or a string on the right, not a %s", b.k)
}
func (n *inNode) kind() Kind { return Bool }

// ---------------------------------------------------------------------------
// Regular expressions given at run time are compiled once and kept.

const regexpCacheSize = 256

var regexpCache struct {
	sync.Mutex
	m map[string]*regexp.Regexp
}

// Regexp compiles an RE2 pattern of at most MaxRegexp bytes, keeping the
// last few hundred compiled. Functions of an Env taking a pattern use it.
func Regexp(pat string) (*regexp.Regexp, error) {
	regexpCache.Lock()
	re, ok := regexpCache.m[pat]
	regexpCache.Unlock()
	if ok {
		return re, nil
	}
	re, err := compileRegexp(pat)
	if err != nil {
		return nil, err
	}
	regexpCache.Lock()
	if regexpCache.m == nil || len(regexpCache.m) >= regexpCacheSize {
		regexpCache.m = make(map[string]*regexp.Regexp)
	}
	regexpCache.m[pat] = re
	regexpCache.Unlock()
	return re, nil
}
