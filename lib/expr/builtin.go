package expr

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// builtin is a function of the language itself, available whatever the Env.
type builtin struct {
	sig  Func
	make func(args []node, col int) (node, error)
}

var builtins map[string]builtin

func init() {
	builtins = map[string]builtin{
		"lower": {Func{Args: []Kind{Any}, Result: Any}, func(a []node, col int) (node, error) {
			if v, ok := a[0].(*varNode); ok {
				return &lowerVarNode{name: v.name, k: v.k, col: col}, nil
			}
			return &fnNode{arg: a[0], f: mapString(strings.ToLower), col: col, name: "lower"}, nil
		}},
		"upper": {Func{Args: []Kind{Any}, Result: Any}, func(a []node, col int) (node, error) {
			return &fnNode{arg: a[0], f: mapString(strings.ToUpper), col: col, name: "upper"}, nil
		}},
		"trim": {Func{Args: []Kind{String}, Result: String}, func(a []node, col int) (node, error) {
			return &fnNode{arg: a[0], f: mapString(strings.TrimSpace), col: col, name: "trim", k: String}, nil
		}},
		"len": {Func{Args: []Kind{Any}, Result: Number}, func(a []node, col int) (node, error) {
			return &fnNode{arg: a[0], f: length, col: col, name: "len", k: Number}, nil
		}},
		"caps": {Func{Args: []Kind{String}, Result: Number}, func(a []node, col int) (node, error) {
			return &fnNode{arg: a[0], f: caps, col: col, name: "caps", k: Number}, nil
		}},
		"count": {Func{Args: []Kind{Any, String}, Result: Number}, func(a []node, col int) (node, error) {
			return &countNode{x: a[0], y: a[1], col: col}, nil
		}},
	}
}

// fnNode applies a function of one value.
type fnNode struct {
	arg  node
	f    func(Value) (Value, bool)
	name string
	k    Kind
	col  int
}

func (n *fnNode) eval(st *state) (Value, error) {
	v, err := n.arg.eval(st)
	if err != nil {
		return Value{}, err
	}
	r, ok := n.f(v)
	if !ok {
		return Value{}, typeErr(n.col, "%s does not take a %s", n.name, v.k)
	}
	return r, nil
}

func (n *fnNode) kind() Kind {
	if n.k != Null {
		return n.k
	}
	return n.arg.kind()
}

// mapString applies f to a string or to each string of a list; null stays
// null.
func mapString(f func(string) string) func(Value) (Value, bool) {
	return func(v Value) (Value, bool) {
		switch v.k {
		case String:
			return Str(f(v.s)), true
		case Null:
			return v, true
		case List:
			out := make([]Value, len(v.l))
			for i, e := range v.l {
				if e.k == String {
					e = Str(f(e.s))
				}
				out[i] = e
			}
			return ListOf(out...), true
		}
		return Value{}, false
	}
}

func length(v Value) (Value, bool) {
	switch v.k {
	case String:
		return Num(float64(utf8.RuneCountInString(v.s))), true
	case List:
		return Num(float64(len(v.l))), true
	case Null:
		return Num(0), true
	}
	return Value{}, false
}

// caps is the share of upper-case letters among the letters of s, 0 when
// it has none.
func caps(v Value) (Value, bool) {
	switch v.k {
	case String:
	case Null:
		return Num(0), true
	default:
		return Value{}, false
	}
	var letters, upper int
	for _, r := range v.s {
		if r < utf8.RuneSelf {
			switch {
			case 'A' <= r && r <= 'Z':
				upper++
				letters++
			case 'a' <= r && r <= 'z':
				letters++
			}
			continue
		}
		if unicode.IsLetter(r) {
			letters++
			if unicode.IsUpper(r) {
				upper++
			}
		}
	}
	if letters == 0 {
		return Num(0), true
	}
	return Num(float64(upper) / float64(letters)), true
}

// lowerVarNode is lower(variable), served by a Lowerer Env when it can.
type lowerVarNode struct {
	name string
	k    Kind
	col  int
}

func (n *lowerVarNode) eval(st *state) (Value, error) {
	if st.low != nil {
		if v, ok := st.low.LowerVar(n.name); ok {
			return v, nil
		}
	}
	v, ok := st.env.Var(n.name)
	if !ok {
		return Value{}, &Error{Col: n.col, Msg: "unknown name " + n.name}
	}
	r, ok := mapString(strings.ToLower)(v)
	if !ok {
		return Value{}, typeErr(n.col, "lower does not take a %s", v.k)
	}
	return r, nil
}
func (n *lowerVarNode) kind() Kind { return n.k }

// countNode is count(s, sub): the non-overlapping occurrences of sub in s,
// or in all the strings of a list.
type countNode struct {
	x, y node
	col  int
}

func (n *countNode) eval(st *state) (Value, error) {
	a, b, err := both(st, n.x, n.y)
	if err != nil {
		return Value{}, err
	}
	if b.k != String {
		return Value{}, typeErr(n.col, "count needs a string to count, not a %s", b.k)
	}
	if b.s == "" {
		return Num(0), nil
	}
	switch a.k {
	case String:
		return Num(float64(strings.Count(a.s, b.s))), nil
	case List:
		c := 0
		for _, e := range a.l {
			if e.k == String {
				c += strings.Count(e.s, b.s)
			}
		}
		return Num(float64(c)), nil
	case Null:
		return Num(0), nil
	}
	return Value{}, typeErr(n.col, "count does not take a %s", a.k)
}
func (n *countNode) kind() Kind { return Number }
