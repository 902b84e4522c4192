package expr

import (
	"strconv"
	"strings"
)

// Kind is the type of a Value.
type Kind uint8

// The kinds of values. Null is the zero Value: what an unknown header or a
// function without a result gives; it is false, equal only to itself.
const (
	Null Kind = iota
	Bool
	Number
	String
	List
	// Any is used only in Signatures: a variable or result whose kind is
	// known only when the expression runs.
	Any
)

var kindNames = [...]string{"null", "bool", "number", "string", "list", "any"}

// String names the kind as error messages do.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is a value of the language: null, a boolean, a number (float64), a
// string or a list of values. Values are small and passed by value; making
// one from a string or a number does not allocate.
type Value struct {
	k Kind
	n float64 // Number; 1 or 0 for Bool
	s string
	l []Value
}

// Num returns a number.
func Num(n float64) Value { return Value{k: Number, n: n} }

// Str returns a string.
func Str(s string) Value { return Value{k: String, s: s} }

// Boolean returns true or false.
func Boolean(b bool) Value {
	if b {
		return Value{k: Bool, n: 1}
	}
	return Value{k: Bool}
}

// ListOf returns a list holding vs (not copied).
func ListOf(vs ...Value) Value { return Value{k: List, l: vs} }

// Strings returns a list of strings.
func Strings(ss []string) Value {
	vs := make([]Value, len(ss))
	for i, s := range ss {
		vs[i] = Str(s)
	}
	return Value{k: List, l: vs}
}

// Kind returns v's kind.
func (v Value) Kind() Kind { return v.k }

// Number returns v as a number: a number itself, 1 or 0 for a boolean, 0
// for anything else.
func (v Value) Number() float64 {
	if v.k == Number || v.k == Bool {
		return v.n
	}
	return 0
}

// Text returns the string of a string value, "" for anything else.
func (v Value) Text() string {
	if v.k == String {
		return v.s
	}
	return ""
}

// Items returns the elements of a list, nil for anything else.
func (v Value) Items() []Value {
	if v.k == List {
		return v.l
	}
	return nil
}

// Truth is v read as a condition: false for null, false, 0, NaN, "" and
// the empty list; true for anything else.
func (v Value) Truth() bool {
	switch v.k {
	case Bool:
		return v.n != 0
	case Number:
		return v.n != 0 && v.n == v.n
	case String:
		return v.s != ""
	case List:
		return len(v.l) > 0
	}
	return false
}

// Equal reports whether v and w are the same value: of the same kind (a
// boolean never equals a number) and equal, element by element for lists.
func (v Value) Equal(w Value) bool {
	if v.k != w.k {
		return false
	}
	switch v.k {
	case Null:
		return true
	case Bool, Number:
		return v.n == w.n
	case String:
		return v.s == w.s
	case List:
		if len(v.l) != len(w.l) {
			return false
		}
		for i := range v.l {
			if !v.l[i].Equal(w.l[i]) {
				return false
			}
		}
		return true
	}
	return false
}

// String formats v as the language writes it: strings quoted, lists in
// brackets.
func (v Value) String() string {
	switch v.k {
	case Bool:
		if v.n != 0 {
			return "true"
		}
		return "false"
	case Number:
		return strconv.FormatFloat(v.n, 'g', -1, 64)
	case String:
		return strconv.Quote(v.s)
	case List:
		var b strings.Builder
		b.WriteByte('[')
		for i, e := range v.l {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(e.String())
		}
		b.WriteByte(']')
		return b.String()
	}
	return "null"
}
