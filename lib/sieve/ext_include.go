package sieve

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// The include extension (RFC 6609): include, return and global. Included
// scripts are compiled with the including script.

func init() {
	extensions["include"] = true
	register(&spec{name: "include", ext: "include", pos: []posKind{pStr}, names: []string{"script name"},
		tags:  []tagSpec{{name: "personal", group: "location"}, {name: "global", group: "location"}, {name: "once"}, {name: "optional"}},
		check: checkInclude, run: runInclude})
	register(&spec{name: "return", ext: "include", run: func(in *interp, c *cmd) (bool, error) { return false, errReturn }})
	register(&spec{name: "global", ext: "include", pos: []posKind{pList}, names: []string{"variable names"}, check: checkGlobal,
		run: func(*interp, *cmd) (bool, error) { return false, nil }})
}

type includeData struct {
	script *Script
	once   bool
	// A :once include of a script still being compiled (a loop that :once
	// breaks) is resolved at run time through cs.
	cs  *compileState
	key incKey
}

func validScriptName(name string) bool {
	if name == "" || len(name) > 255 || !utf8ValidString(name) {
		return false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '/' || r == 0x2028 || r == 0x2029 {
			return false
		}
	}
	return true
}

func checkInclude(v *validator, c *cmd) {
	name := c.args[0].strs[0]
	if strings.Contains(name, "${") {
		v.errorf(c.args[0].pos, "include: script name must be a constant string")
		return
	}
	if !validScriptName(name) {
		v.errorf(c.args[0].pos, "include: invalid script name '%s'", name)
		return
	}
	global := c.has("global")
	key := incKey{name: name, global: global}
	d := &includeData{once: c.has("once")}
	c.data = d
	if s, ok := v.cs.done[key]; ok {
		d.script = s
		return
	}
	if v.cs.loading[key] && d.once {
		d.cs, d.key = v.cs, key
		return
	}
	if v.cs.loading[key] {
		v.errorf(c.pos, "circular include of script '%s'", name)
		return
	}
	if v.opt.Include == nil {
		if !c.has("optional") {
			v.errorf(c.pos, "include: script '%s' not found (no include source configured)", name)
		}
		return
	}
	src, err := v.opt.Include(name, global)
	where := map[bool]string{true: "global", false: "personal"}[global]
	switch {
	case err == nil:
	case !errors.Is(err, ErrNotFound) && !errors.Is(err, fs.ErrNotExist):
		v.errorf(c.pos, "included %s script '%s' could not be loaded: %v", where, name, err)
		return
	case c.has("optional"):
		return
	case v.opt.Upload:
		// RFC 6609 leaves the order of uploads open; the include is
		// checked again when the script is compiled for delivery.
		v.warnings = append(v.warnings, fmt.Sprintf("line %d: included %s script '%s' does not exist (ignored during upload)", c.pos.Line, where, name))
		return
	default:
		v.errorf(c.pos, "included %s script '%s' does not exist", where, name)
		return
	}
	if v.cs.depth+1 > v.lim.MaxIncludeDepth {
		v.errorf(c.pos, "include: nesting of includes exceeds the limit (%d)", v.lim.MaxIncludeDepth)
		return
	}
	v.cs.count++
	if v.cs.count > v.lim.MaxIncludes {
		v.errorf(c.pos, "include: number of included scripts exceeds the limit (%d)", v.lim.MaxIncludes)
		return
	}
	v.cs.loading[key] = true
	v.cs.depth++
	s, err := compile(src, v.opt, name, v.cs)
	v.cs.depth--
	delete(v.cs.loading, key)
	if err != nil {
		if el, ok := err.(*ErrorList); ok {
			for _, e := range *el {
				v.errorf(c.pos, "in included script '%s': line %d: %s", name, e.Line, e.Msg)
			}
		}
		v.errorf(c.pos, "failed to compile included script '%s'", name)
		return
	}
	v.cs.done[key] = s
	d.script = s
	for _, w := range s.warnings {
		v.warnings = append(v.warnings, fmt.Sprintf("in included script '%s': %s", name, w))
	}
}

func checkGlobal(v *validator, c *cmd) {
	if !v.has("variables") {
		v.errorf(c.pos, "the global command requires the variables extension")
		return
	}
	for _, n := range c.args[0].strs {
		if !validIdent(n) {
			v.errorf(c.args[0].pos, "global command: invalid variable name '%s'", n)
			continue
		}
		ln := strings.ToLower(n)
		if v.vars[ln] && !v.script.globals[ln] {
			v.errorf(c.args[0].pos, "global command: variable '%s' was already used as a local variable", n)
			continue
		}
		v.script.globals[ln] = true
	}
}

func runInclude(in *interp, c *cmd) (bool, error) {
	d, _ := c.data.(*includeData)
	if d != nil && d.script == nil && d.cs != nil {
		d = &includeData{script: d.cs.done[d.key], once: true}
	}
	if d == nil || d.script == nil {
		return false, nil // :optional and missing
	}
	if d.once && in.onceDone[d.script] {
		return false, nil
	}
	in.onceDone[d.script] = true
	in.includes++
	if in.includes > in.lim.MaxIncludes {
		return false, in.errorf(c.pos, "include: too many included scripts")
	}
	in.depth++
	defer func() { in.depth-- }()
	if in.depth > in.lim.MaxIncludeDepth {
		return false, in.errorf(c.pos, "include: nesting too deep")
	}
	saveScript, saveVars, saveMatch := in.script, in.vars, in.matchVals
	in.script, in.vars, in.matchVals = d.script, map[string]string{}, nil
	err := in.exec(d.script.cmds)
	in.script, in.vars, in.matchVals = saveScript, saveVars, saveMatch
	if err == errReturn {
		err = nil
	}
	return false, err
}
