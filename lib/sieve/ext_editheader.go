package sieve

import (
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The editheader extension (RFC 5293).

const defaultMaxHeaderSize = 2048

func init() {
	extensions["editheader"] = true
	register(&spec{name: "addheader", ext: "editheader", tags: []tagSpec{{name: "last"}},
		pos: []posKind{pStr, pStr}, names: []string{"field name", "value"}, check: checkAddheader, run: runAddheader})
	register(&spec{name: "deleteheader", ext: "editheader", groups: gComparator | gMatch,
		tags: []tagSpec{{name: "index", param: pNum}, {name: "last"}},
		pos:  []posKind{pStr, pList}, optLast: true, names: []string{"field name", "value patterns"}, check: checkDeleteheader, run: runDeleteheader})
}

func validFieldName(s string) bool {
	if s == "" || len(s) > 998 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == ':' {
			return false
		}
	}
	return true
}

func validFieldValue(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0 {
			return false
		}
	}
	return true
}

func checkAddheader(v *validator, c *cmd) {
	name := c.args[0].strs
	if len(name) > 0 && !strings.Contains(name[0], "${") && !validFieldName(name[0]) {
		v.errorf(c.args[0].pos, "addheader command: specified field name '%s' is invalid", name[0])
	}
	val := c.args[1].strs
	if len(val) > 0 && !strings.Contains(val[0], "${") {
		if !validFieldValue(val[0]) {
			v.errorf(c.args[1].pos, "addheader command: specified value for field '%s' is invalid", strings.Join(name, ""))
		} else if len(val[0]) > v.maxHeaderSize() {
			v.errorf(c.args[1].pos, "addheader command: specified header value for field '%s' is too large (%d bytes)", strings.Join(name, ""), len(val[0]))
		}
	}
}

func (v *validator) maxHeaderSize() int {
	if v.opt.cfg != nil {
		if n, err := strconv.Atoi(v.opt.cfg["sieve_editheader_max_header_size"]); err == nil && n > 0 {
			return n
		}
	}
	return defaultMaxHeaderSize
}

func checkDeleteheader(v *validator, c *cmd) {
	// The tags are checked before the field name, and a bad combination
	// ends the check (as in Pigeonhole).
	if c.has("last") && !c.has("index") {
		v.errorf(c.pos, "the :last tag for the deleteheader command cannot be specified without the :index tag")
		return
	}
	name := c.args[0].strs
	if len(name) > 0 && !strings.Contains(name[0], "${") && !validFieldName(name[0]) {
		v.errorf(c.args[0].pos, "deleteheader command: specified field name '%s' is invalid", name[0])
	}
	if a := c.tags["index"]; a != nil {
		c.index = int(min(a.num, 1<<30))
		if c.index == 0 {
			v.errorf(a.pos, "the :index tag expects a number greater than 0")
		}
	}
	c.last = c.has("last")
}

// protected reports whether a header may not be added (add) or deleted.
func (in *interp) protectedHeader(name string, add bool) bool {
	l := strings.ToLower(name)
	if l == "received" || l == "auto-submitted" {
		return !add || l == "received" && false
	}
	if l == "subject" {
		// Pigeonhole never protects Subject (its conformance tests check it).
		return false
	}
	for _, h := range strings.Fields(in.cfg["sieve_editheader_protected"]) {
		if strings.EqualFold(h, name) {
			return true
		}
	}
	for _, h := range strings.Fields(in.cfg["sieve_editheader_header"]) {
		if !strings.EqualFold(h, name) {
			continue
		}
		key := "sieve_editheader_header/" + h + "/forbid_delete"
		if add {
			key = "sieve_editheader_header/" + h + "/forbid_add"
		}
		if in.cfg[key] == "yes" {
			return true
		}
	}
	return false
}

// editable prepares the message for editing.
func (in *interp) editable() {
	if !in.edited {
		root := in.msgRoot()
		in.fields = append([]field(nil), root.fields...)
		in.body = root.body
		in.edited = true
	}
	in.root = nil
}

// foldValue encodes (RFC 2047, when not ASCII) and folds a header value.
func foldValue(name, v string) string {
	// Line breaks in the value are folds: dropped before white space,
	// made a space otherwise.
	v = strings.TrimRight(strings.ReplaceAll(v, "\r\n", "\n"), "\n")
	var u strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\n' || v[i] == '\r' {
			if i+1 < len(v) && (v[i+1] == ' ' || v[i+1] == '\t') {
				continue
			}
			u.WriteByte(' ')
			continue
		}
		u.WriteByte(v[i])
	}
	v = u.String()
	ascii := true
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if !ascii {
		v = mime.QEncoding.Encode("utf-8", v)
	}
	// Fold before white space so lines stay under 78 characters; unfolding
	// (removing the CRLF) gives the value back.
	var b strings.Builder
	lineLen := len(name) + 2
	words := strings.Split(v, " ")
	for i, w := range words {
		if i > 0 {
			if lineLen+1+len(w) > 78 {
				b.WriteString("\r\n")
				lineLen = 0
			}
			b.WriteByte(' ')
			lineLen++
		}
		b.WriteString(w)
		lineLen += len(w)
	}
	return " " + b.String()
}

func (in *interp) maxHeaderSize() int {
	if n, err := strconv.Atoi(in.cfg["sieve_editheader_max_header_size"]); err == nil && n > 0 {
		return n
	}
	return defaultMaxHeaderSize
}

func runAddheader(in *interp, c *cmd) (bool, error) {
	name, val := in.str(c.args[0]), in.str(c.args[1])
	if !validFieldName(name) {
		return false, in.errorf(c.pos, "addheader action: specified field name '%s' is invalid", name)
	}
	if !validFieldValue(val) {
		return false, in.errorf(c.pos, "addheader action: specified value for field '%s' is invalid", name)
	}
	if len(val) > in.maxHeaderSize() {
		return false, in.errorf(c.pos, "addheader action: specified header value for field '%s' is too large", name)
	}
	if in.protectedHeader(name, true) {
		in.warnings = append(in.warnings, "addheader: header "+name+" is protected")
		return false, nil
	}
	in.editable()
	f := field{name: name, raw: foldValue(name, val)}
	if c.has("last") {
		in.fields = append(in.fields, f)
	} else {
		in.fields = append([]field{f}, in.fields...)
	}
	return false, nil
}

func runDeleteheader(in *interp, c *cmd) (bool, error) {
	name := in.str(c.args[0])
	if !validFieldName(name) {
		return false, in.errorf(c.pos, "deleteheader action: specified field name '%s' is invalid", name)
	}
	if in.protectedHeader(name, false) {
		in.warnings = append(in.warnings, "deleteheader: header "+name+" is protected")
		return false, nil
	}
	fields := in.topFields()
	var idx []int
	for i, f := range fields {
		if strings.EqualFold(f.name, name) {
			idx = append(idx, i)
		}
	}
	if c.index > 0 {
		k := c.index - 1
		if c.last {
			k = len(idx) - c.index
		}
		if k < 0 || k >= len(idx) {
			return false, nil
		}
		idx = idx[k : k+1]
	}
	hasPatterns := len(c.args) > 1
	del := map[int]bool{}
	for _, i := range idx {
		if hasPatterns {
			ok, err := in.match(c, []string{decodeHeader(fields[i].value())}, in.list(c.args[1]))
			if err != nil {
				return false, err
			}
			if !ok {
				continue
			}
		}
		del[i] = true
	}
	if len(del) == 0 {
		return false, nil
	}
	in.editable()
	var out []field
	for i, f := range in.fields {
		if !del[i] {
			out = append(out, f)
		}
	}
	in.fields = out
	return false, nil
}
