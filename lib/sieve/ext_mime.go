package sieve

import (
	"mime"
	"strconv"
	"strings"
)

// The mime and foreverypart extensions (RFC 5703), extracttext included.

func init() {
	extensions["mime"] = true
	extensions["foreverypart"] = true
	extensions["extracttext"] = true
	register(&spec{name: "foreverypart", ext: "foreverypart", block: 1, tags: []tagSpec{{name: "name", param: pStr}}, run: runForeverypart})
	register(&spec{name: "break", ext: "foreverypart", tags: []tagSpec{{name: "name", param: pStr}}, check: checkBreak, run: func(in *interp, c *cmd) (bool, error) {
		return false, &errBreak{name: c.tagStr("name")}
	}})
	register(&spec{name: "extracttext", ext: "extracttext", pos: []posKind{pStr},
		tags: []tagSpec{{name: "first", param: pNum}, {name: "lower"}, {name: "upper"}, {name: "lowerfirst"}, {name: "upperfirst"},
			{name: "quotewildcard"}, {name: "length"}, {name: "quoteregex", ext: "regex"}, {name: "encodeurl", ext: "enotify"}},
		check: checkExtracttext, run: runExtracttext})
	extImplies["extracttext"] = nil
}

// loop tracking for break/extracttext validation.
type loopInfo struct{ names []string }

func checkBreak(v *validator, c *cmd) {
	if v.loops == 0 {
		v.errorf(c.pos, "the break command is not placed inside a foreverypart loop")
		return
	}
	if n := c.tagStr("name"); n != "" {
		found := false
		for _, l := range v.loopNames {
			if l == n {
				found = true
			}
		}
		if !found {
			v.errorf(c.pos, "the break command refers to an unknown foreverypart loop '%s'", n)
		}
	}
}

func checkExtracttext(v *validator, c *cmd) {
	if !v.has("variables") {
		v.errorf(c.pos, "the extracttext command requires the variables extension")
	}
	if v.loops == 0 {
		v.errorf(c.pos, "the extracttext command is not placed inside a foreverypart loop")
	}
	if len(c.args) > 0 && len(c.args[0].strs) > 0 {
		v.checkVarName(c.args[0].pos, "extracttext", c.args[0].strs[0])
	}
	checkSetMods(v, c)
}

func checkSetMods(v *validator, c *cmd) {
	seen := map[int]string{}
	var mods []string
	for _, a := range c.spec.tags {
		if _, ok := modPrecedence[a.name]; ok && c.has(a.name) {
			p := modPrecedence[a.name]
			if o, ok := seen[p]; ok {
				v.errorf(c.pos, "%s command: modifiers :%s and :%s specified at the same precedence level", c.name, o, a.name)
			}
			seen[p] = a.name
			mods = append(mods, a.name)
		}
	}
	for i := 0; i < len(mods); i++ {
		for j := i + 1; j < len(mods); j++ {
			if modPrecedence[mods[j]] > modPrecedence[mods[i]] {
				mods[i], mods[j] = mods[j], mods[i]
			}
		}
	}
	c.data = mods
}

func runForeverypart(in *interp, c *cmd) (bool, error) {
	// The validator bounds the nesting within one script; loops of
	// included scripts nest too and are counted here (as Pigeonhole does).
	in.loops++
	defer func() { in.loops-- }()
	if in.loops > maxLoopNesting {
		return false, in.errorf(c.pos, "foreverypart: the nesting of foreverypart loops (also across included scripts) exceeds the limit (%d)", maxLoopNesting)
	}
	start := in.curPart
	var parts []*part
	if start == nil {
		in.msgRoot().walk(func(p *part) { parts = append(parts, p) })
	} else {
		for _, ch := range start.children {
			ch.walk(func(p *part) { parts = append(parts, p) })
		}
	}
	name := c.tagStr("name")
	defer func() { in.curPart = start }()
	for _, p := range parts {
		in.curPart = p
		if err := in.exec(c.block); err != nil {
			if b, ok := err.(*errBreak); ok && (b.name == "" || b.name == name) {
				return false, nil
			}
			return false, err
		}
	}
	return false, nil
}

func runExtracttext(in *interp, c *cmd) (bool, error) {
	p := in.curPart
	val := ""
	if p != nil && p.typ == "text" {
		val = p.text()
		if p.sub == "html" {
			val = htmlToText(val)
		}
	}
	if n, ok := c.tagNum("first"); ok && uint64(len([]rune(val))) > n {
		val = string([]rune(val)[:n])
	}
	mods, _ := c.data.([]string)
	for _, m := range mods {
		val = applyModifier(m, val)
	}
	in.setVar(in.str(c.args[0]), val)
	return false, nil
}

// mimeParts returns the parts a :mime test looks at.
func (in *interp) mimeParts(c *cmd) []*part {
	cur := in.curPart
	if cur == nil {
		cur = in.msgRoot()
	}
	if !c.has("anychild") {
		return []*part{cur}
	}
	var ps []*part
	cur.walk(func(p *part) { ps = append(ps, p) })
	return ps
}

func (in *interp) partFields(p *part) []field {
	if p == in.msgRoot() {
		return in.topFields()
	}
	return p.fields
}

func (in *interp) runMimeHeader(c *cmd) (bool, error) {
	keys := in.list(c.args[1])
	for _, p := range in.mimeParts(c) {
		var vals []string
		for _, h := range in.list(c.args[0]) {
			hv := fieldValues(in.partFields(p), h)
			lh := strings.ToLower(h)
			opt := ""
			for _, t := range []string{"type", "subtype", "contenttype", "param"} {
				if c.has(t) {
					opt = t
				}
			}
			if opt != "" {
				if lh == "content-type" && len(hv) == 0 {
					def := "text/plain"
					if p.parent != nil && p.parent.typ == "multipart" && p.parent.sub == "digest" {
						def = "message/rfc822"
					}
					hv = []string{def}
				}
				var out []string
				for _, v := range hv {
					mt, params, err := mime.ParseMediaType(v)
					if err != nil && mt == "" {
						mt = strings.TrimSpace(strings.SplitN(v, ";", 2)[0])
					}
					typ, sub, _ := strings.Cut(mt, "/")
					if lh != "content-type" {
						typ, sub = strings.ToLower(strings.TrimSpace(strings.SplitN(v, ";", 2)[0])), ""
						mt = typ
					}
					switch opt {
					case "type":
						out = append(out, typ)
					case "subtype":
						out = append(out, sub)
					case "contenttype":
						out = append(out, mt)
					case "param":
						for _, pn := range in.list(c.tags["param"]) {
							for k, pv := range params {
								if strings.EqualFold(k, pn) {
									out = append(out, pv)
								}
							}
						}
					}
				}
				hv = out
			} else {
				for i := range hv {
					hv[i] = decodeHeader(hv[i])
				}
			}
			vals = append(vals, selectIndex(c, hv)...)
		}
		ok, err := in.match(c, vals, keys)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func (in *interp) runMimeExists(c *cmd) (bool, error) {
	// Each field must exist in some part (RFC 5703 section 4.3).
	parts := in.mimeParts(c)
	for _, h := range in.list(c.args[0]) {
		found := false
		for _, p := range parts {
			if len(fieldValues(in.partFields(p), h)) > 0 {
				found = true
				break
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}

func (in *interp) runMimeAddress(c *cmd) (bool, error) {
	keys := in.list(c.args[1])
	for _, p := range in.mimeParts(c) {
		var vals []string
		for _, h := range in.list(c.args[0]) {
			for _, v := range selectIndex(c, fieldValues(in.partFields(p), h)) {
				for _, a := range parseAddressList(decodeHeader(v)) {
					if s, ok := in.addrPart(c, a); ok {
						vals = append(vals, s)
					}
				}
			}
		}
		ok, err := in.match(c, vals, keys)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

var _ = strconv.Itoa
