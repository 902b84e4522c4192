package sieve

import "strings"

// The imap4flags extension (RFC 5232).

func init() {
	extensions["imap4flags"] = true
	for _, name := range []string{"setflag", "addflag", "removeflag"} {
		register(&spec{name: name, ext: "imap4flags", pos: []posKind{pList, pList}, optFirst: true, check: checkFlagCmd, run: runFlagCmd})
	}
	register(&spec{name: "hasflag", test: true, ext: "imap4flags", groups: gComparator | gMatch,
		pos: []posKind{pList, pList}, optFirst: true, check: checkHasflag, run: runHasflag})
}

// normFlags splits flag strings at spaces and removes duplicates
// (RFC 5232 section 3).
func normFlags(list []string) []string {
	var out []string
	for _, s := range list {
		for _, f := range strings.Fields(s) {
			dup := false
			for _, o := range out {
				if strings.EqualFold(o, f) {
					dup = true
					break
				}
			}
			if !dup {
				out = append(out, f)
			}
		}
	}
	return out
}

// checkFlagCmd allows the optional variable-name first argument.
func checkFlagCmd(v *validator, c *cmd) {
	if len(c.args) == 2 {
		if !v.has("variables") {
			v.errorf(c.pos, "the %s command takes a variable name only with the variables extension", c.name)
		}
		for _, n := range c.args[0].strs {
			v.checkVarName(c.args[0].pos, c.name, n)
		}
	}
}

func checkHasflag(v *validator, c *cmd) {
	if len(c.args) == 2 && !v.has("variables") {
		v.errorf(c.pos, "the hasflag test takes a variable list only with the variables extension")
	}
}

func (in *interp) flagVar(name string) []string {
	v, _ := in.getVar(name)
	return normFlags([]string{v})
}

func runFlagCmd(in *interp, c *cmd) (bool, error) {
	flags := normFlags(in.list(c.args[len(c.args)-1]))
	var cur []string
	varName := ""
	if len(c.args) == 2 {
		varName = in.str(c.args[0])
		cur = in.flagVar(varName)
	} else {
		cur = in.flags
	}
	switch c.name {
	case "setflag":
		cur = flags
	case "addflag":
		cur = normFlags(append(append([]string(nil), cur...), flags...))
	case "removeflag":
		var out []string
		for _, f := range cur {
			keep := true
			for _, r := range flags {
				if strings.EqualFold(f, r) {
					keep = false
				}
			}
			if keep {
				out = append(out, f)
			}
		}
		cur = out
	}
	if varName != "" {
		in.setVar(varName, strings.Join(cur, " "))
	} else {
		in.flags = cur
	}
	return false, nil
}

func runHasflag(in *interp, c *cmd) (bool, error) {
	var vals []string
	if len(c.args) == 2 {
		for _, n := range in.list(c.args[0]) {
			vals = append(vals, in.flagVar(n)...)
		}
	} else {
		vals = append(vals, in.flags...)
	}
	keys := in.list(c.args[len(c.args)-1])
	if c.mt == "count" {
		return in.match(c, vals, keys)
	}
	var ks []string
	for _, k := range keys {
		ks = append(ks, strings.Fields(k)...)
	}
	if len(ks) == 0 {
		ks = keys
	}
	return in.match(c, vals, ks)
}
