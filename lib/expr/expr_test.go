package expr

import (
	"errors"
	"strings"
	"testing"
)

// mapEnv is an Env over a map, with f(x) = x * 2 and fail() failing.
type mapEnv map[string]Value

func (e mapEnv) Var(name string) (Value, bool) { v, ok := e[name]; return v, ok }

func (e mapEnv) Call(name string, args []Value) (Value, error) {
	switch name {
	case "f":
		if len(args) != 1 {
			return Value{}, errors.New("f takes 1 argument")
		}
		return Num(args[0].Number() * 2), nil
	case "fail":
		return Value{}, errors.New("it failed")
	case "join":
		var ss []string
		for _, a := range args {
			ss = append(ss, a.Text())
		}
		return Str(strings.Join(ss, "")), nil
	}
	return Value{}, ErrUnknownFunc
}

var env = mapEnv{
	"subject": Str("Hello WORLD"),
	"n":       Num(7),
	"hosts":   Strings([]string{"example.org", "bit.ly"}),
	"yes":     Boolean(true),
	"nothing": {},
}

func TestEval(t *testing.T) {
	for src, want := range map[string]Value{
		`1 + 2 * 3`:                        Num(7),
		`(1 + 2) * 3`:                      Num(9),
		`-n + 1`:                           Num(-6),
		`7 % 4`:                            Num(3),
		`10 / 4`:                           Num(2.5),
		`1e3`:                              Num(1000),
		`"a" + "b"`:                        Str("ab"),
		`"tab\there\x41\u00e9\"\\"`:        Str("tab\there" + "A" + "é\"\\"),
		`'\d+'`:                            Str(`\d+`),
		"`raw\\`":                          Str(`raw\`),
		`subject contains "WORLD"`:         Boolean(true),
		`subject contains "world"`:         Boolean(false),
		`lower(subject) contains "world"`:  Boolean(true),
		`subject matches '(?i)^hello\s+w'`: Boolean(true),
		`subject matches "^world"`:         Boolean(false),
		`subject startswith "Hell"`:        Boolean(true),
		`subject endswith "LD"`:            Boolean(true),
		`"bit.ly" in hosts`:                Boolean(true),
		`"x" in hosts`:                     Boolean(false),
		`"ell" in subject`:                 Boolean(true),
		`hosts endswith ".ly"`:             Boolean(true),
		`hosts matches '^example\.'`:       Boolean(true),
		`n in [1, 2, 7]`:                   Boolean(true),
		`"k" in ["a","b","c","d","e","f","g","h","i","k"]`: Boolean(true),
		`"z" in ["a","b","c","d","e","f","g","h","i","k"]`: Boolean(false),
		`n > 5 and n < 10`:             Boolean(true),
		`n > 5 && !(n < 10)`:           Boolean(false),
		`not n == 7 or yes`:            Boolean(true),
		`not subject contains "Hello"`: Boolean(false),
		`n == "7"`:                     Boolean(false),
		`nothing == null`:              Boolean(true),
		`nothing contains "x"`:         Boolean(false),
		`nothing matches "x"`:          Boolean(false),
		`len(subject)`:                 Num(11),
		`len(hosts)`:                   Num(2),
		`len(nothing)`:                 Num(0),
		`count("a.b.c", ".")`:          Num(2),
		`caps(subject)`:                Num(0.6),
		`upper("aé")`:                  Str("AÉ"),
		`trim("  x ")`:                 Str("x"),
		`f(n) + 1`:                     Num(15),
		`join("a", "b", "c")`:          Str("abc"),
		`"b" < "c"`:                    Boolean(true),
		`false or 0`:                   Boolean(false),
		`[1, n]`:                       ListOf(Num(1), Num(7)),
	} {
		p, err := Compile(src, nil)
		if err != nil {
			t.Errorf("Compile(%s): %v", src, err)
			continue
		}
		got, err := p.Eval(env)
		if err != nil {
			t.Errorf("Eval(%s): %v", src, err)
			continue
		}
		if !got.Equal(want) {
			t.Errorf("Eval(%s) = %s, want %s", src, got, want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	sig := &Signatures{
		Vars:  map[string]Kind{"subject": String, "n": Number, "hosts": List, "any": Any},
		Funcs: map[string]Func{"header": {Args: []Kind{String}, Result: String}, "tag": {Args: []Kind{String}, Result: Bool}},
	}
	for src, want := range map[string]string{
		``:                    "column 1: expected a value, found end of expression",
		`1 +`:                 "column 4: expected a value",
		`(1`:                  `column 3: expected ")" to close the "(" of column 1`,
		`subject = "x"`:       `column 9: "=" is not an operator`,
		`"abc`:                "column 1: string not closed",
		`"\d"`:                `column 2: unknown escape \d`,
		`subject matches "("`: "column 9: bad regular expression",
		`1 < 2 < 3`:           "column 7: comparisons do not chain",
		`subjet contains "x"`: `column 1: unknown name "subjet"`,
		`heder("x")`:          `column 1: unknown function "heder"`,
		`header("a", "b")`:    "column 1: header takes 1 argument, not 2",
		`header(1)`:           "argument 1 of header must be a string, not a number",
		`subject + 1`:         `column 9: "+" needs two numbers or two strings, not a string and a number`,
		`n contains "x"`:      `"contains" needs a string or list and a string`,
		`header`:              "header is a function",
		`subject(1)`:          "subject is not a function",
		`1 2`:                 "column 3: unexpected number 2",
		`3x`:                  "column 2: a number must not run into a name",
		`n @ 1`:               "column 3: unexpected character '@'",
		strings.Repeat("(", 100) + "1" + strings.Repeat(")", 100):    "nested too deeply",
		strings.Repeat("not ", 100) + "true":                         "nested too deeply",
		`subject matches "` + strings.Repeat("a", MaxRegexp+1) + `"`: "regular expression of 4097 bytes is too long",
		strings.Repeat(" ", MaxLength+1):                             "too long",
	} {
		_, err := Compile(src, sig)
		if err == nil {
			t.Errorf("Compile(%.40s) succeeded, want %q", src, want)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Compile(%.40s) = %v, want %q", src, err, want)
		}
	}
}

func TestEvalErrors(t *testing.T) {
	for src, want := range map[string]string{
		`1 / (n - 7)`:               "column 3: division by zero",
		`subject + n`:               `column 9: "+" needs numbers, not a string and a number`,
		`fail()`:                    "column 1: fail: it failed",
		`missing`:                   `column 1: unknown name "missing"`,
		`n matches subject`:         `needs a string or a list on the left`,
		`subject matches join("(")`: "bad regular expression",
	} {
		p, err := Compile(src, nil)
		if err != nil {
			t.Errorf("Compile(%s): %v", src, err)
			continue
		}
		_, err = p.Eval(env)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Eval(%s) = %v, want %q", src, err, want)
		}
	}
}

// lowerEnv serves lower(subject) from its cache.
type lowerEnv struct {
	mapEnv
	asked int
}

func (e *lowerEnv) LowerVar(name string) (Value, bool) {
	e.asked++
	if name == "subject" {
		return Str("cached"), true
	}
	return Value{}, false
}

func TestLowerer(t *testing.T) {
	e := &lowerEnv{mapEnv: env}
	p := MustCompile(`lower(subject) == "cached" and lower(hosts) == hosts`, nil)
	if ok, err := p.Bool(e); err != nil || !ok {
		t.Fatalf("got %v, %v", ok, err)
	}
	if e.asked != 2 {
		t.Errorf("LowerVar asked %d times, want 2", e.asked)
	}
}

func TestEvalDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	p := MustCompile(`subject matches '(?i)hello' and n > 3 and "bit.ly" in hosts and not (subject contains "x") and f(n) == 14 and lower(subject) != ""`, nil)
	e := &lowerEnv{mapEnv: env}
	allocs := testing.AllocsPerRun(100, func() {
		if ok, err := p.Bool(e); err != nil || !ok {
			t.Fatalf("got %v, %v", ok, err)
		}
	})
	if allocs > 0 {
		t.Errorf("Eval allocates %.1f times", allocs)
	}
}

func BenchmarkEval(b *testing.B) {
	p := MustCompile(`subject matches '(?i)hello' and n > 3 and "bit.ly" in hosts and not (subject contains "x")`, nil)
	for b.Loop() {
		p.Eval(env)
	}
}

// FuzzParse checks that Compile never panics nor loops on any input, and
// that a program that compiles runs without panicking.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`1 + 2 * 3`, `subject matches '(?i)x' and not n in [1, "a"]`, `f(g(1), "\u00e9\x41") || !yes`, `(((1)))`, `-len(hosts) % 2 >= 0.5e1`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Compile(src, nil)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Col < 1 || e.Col > len(src)+1 {
				t.Fatalf("Compile(%q): error %v without a column in the source", src, err)
			}
			return
		}
		p.Eval(env)
	})
}
