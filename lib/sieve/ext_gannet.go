package sieve

import (
	"strconv"
	"strings"

	"gannet/lib/expr"
)

// Gannet's own extensions:
//
//   - vnd.gannet.eval, a test: eval "<expression>" is true when the
//     expression (lib/expr's language) is true. Its names are the script's
//     variables (a value that reads as a number is a number) and it may call
//     header("name") for the first value of a header field (null if absent).
//   - vnd.gannet.query, a command: query :set "name" [:args [...]] "<SQL>"
//     runs a read-only query through Env.Query and stores its result in a
//     variable (requires variables). The strings of :args are bound to the
//     query's parameters (?, ?NNN) as text, so that a value from the
//     message, "${envelope.from}" say, is never read as SQL.
//   - vnd.gannet.envelope (requires variables; only where Options.Extensions
//     names it: smtpd's stage scripts): ${envelope.from} and
//     ${envelope.to} read the envelope, set "envelope.from" "<address>"
//     changes the sender (Outcome.EnvelopeFrom), as Stalwart's scripts do.

func init() {
	extensions["vnd.gannet.eval"] = true
	extensions["vnd.gannet.query"] = true
	extensions["vnd.gannet.envelope"] = true
	optInExt["vnd.gannet.envelope"] = true
	register(&spec{name: "eval", test: true, ext: "vnd.gannet.eval", pos: []posKind{pStr}, names: []string{"expression"},
		check: checkEval, run: runEval})
	register(&spec{name: "query", ext: "vnd.gannet.query", pos: []posKind{pStr}, names: []string{"query"},
		tags: []tagSpec{{name: "set", param: pStr}, {name: "args", param: pList}}, check: checkQuery, run: runQuery})
}

func checkEval(v *validator, c *cmd) {
	src := c.args[0].strs[0]
	if v.has("variables") && strings.Contains(src, "${") {
		return // compiled at run time
	}
	p, err := expr.Compile(src, nil)
	if err != nil {
		v.errorf(c.args[0].pos, "eval: invalid expression: %v", err)
		return
	}
	c.data = p
}

// evalEnv gives an expression the script's variables.
type evalEnv struct{ in *interp }

func (e evalEnv) Var(name string) (expr.Value, bool) {
	v, ok := e.in.getVar(name)
	if !ok {
		return expr.Value{}, true
	}
	if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
		return expr.Num(f), true
	}
	return expr.Str(v), true
}

func (e evalEnv) Call(name string, args []expr.Value) (expr.Value, error) {
	if name == "header" && len(args) == 1 {
		vals := fieldValues(e.in.topFields(), args[0].Text())
		if len(vals) == 0 {
			return expr.Value{}, nil
		}
		return expr.Str(decodeHeader(vals[0])), nil
	}
	return expr.Value{}, expr.ErrUnknownFunc
}

func runEval(in *interp, c *cmd) (bool, error) {
	p, _ := c.data.(*expr.Program)
	if p == nil {
		var err error
		p, err = expr.Compile(in.str(c.args[0]), nil)
		if err != nil {
			return false, in.errorf(c.pos, "eval: invalid expression: %v", err)
		}
	}
	ok, err := p.Bool(evalEnv{in})
	if err != nil {
		return false, in.errorf(c.pos, "eval: %v", err)
	}
	return ok, nil
}

func checkQuery(v *validator, c *cmd) {
	if !v.has("variables") {
		v.errorf(c.pos, "the query command requires the variables extension")
	}
	a := c.tags["set"]
	if a == nil {
		v.errorf(c.pos, "the query command requires the :set tag naming a variable")
		return
	}
	v.checkVarName(a.pos, "query", a.strs[0])
}

func runQuery(in *interp, c *cmd) (bool, error) {
	if in.env.Query == nil {
		return false, in.errorf(c.pos, "query: no query source configured")
	}
	var args []string
	if c.has("args") {
		args = in.list(c.tags["args"])
	}
	res, err := in.env.Query(in.ctx, in.str(c.args[0]), args)
	if err != nil {
		return false, in.errorf(c.pos, "query: %v", err)
	}
	in.setVar(in.expand(c.tagStr("set")), res)
	return false, nil
}
