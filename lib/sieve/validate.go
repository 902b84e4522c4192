package sieve

import (
	"fmt"
	"sort"
	"strings"
)

// posKind is the type of a positional argument or a tag's parameter.
type posKind int

const (
	pNone posKind = iota
	pStr          // a single string
	pList         // a string list (a single string is a list of one)
	pNum          // a number
)

func (k posKind) String() string {
	switch k {
	case pStr:
		return "a string"
	case pList:
		return "a string list"
	case pNum:
		return "a number"
	}
	return "nothing"
}

func argDesc(a *arg) string {
	switch a.kind {
	case argTag:
		return "a tag ':" + a.tag + "'"
	case argNum:
		return "a number"
	case argString:
		return "a string"
	}
	return "a string list"
}

// tagSpec is a tagged argument a command accepts.
type tagSpec struct {
	name  string
	param posKind
	ext   string // extension that must be required for the tag, "" for none
	// group names a set of mutually exclusive tags (at most one may appear).
	group string
}

// Tag groups shared by several commands.
const (
	gComparator = 1 << iota
	gMatch
	gAddrPart
	gIndex
	gMimeAddr // :mime :anychild for header/address/exists
	gMimeOpts // :type :subtype :contenttype :param (with :mime)
)

// spec describes a command or test.
type spec struct {
	name   string
	test   bool
	ext    string // extension that must be required, "" for core
	tags   []tagSpec
	groups int
	pos    []posKind
	names  []string // positional argument names for messages
	// optFirst makes the first positional argument optional.
	optFirst bool
	// optLast makes the last positional argument optional.
	optLast bool
	// block: 0 none allowed, 1 required.
	block int
	// minTests, maxTests bound the tests a command/test takes (maxTests -1: any).
	minTests, maxTests int
	// check validates further after arguments are matched.
	check func(v *validator, c *cmd)
	// run executes a command (the bool is ignored) or evaluates a test.
	run func(in *interp, c *cmd) (bool, error)
}

func (s *spec) kind() string {
	if s.test {
		return "test"
	}
	return "command"
}

var (
	commands = map[string]*spec{}
	tests    = map[string]*spec{}
	// extensions maps capability strings to true when implemented; the
	// testsuite's own extension is added by the tests.
	extensions = map[string]bool{}
	// extImplies lists capabilities that implicitly enable others.
	extImplies = map[string][]string{}
)

func register(s *spec) {
	if s.test {
		tests[s.name] = s
	} else {
		commands[s.name] = s
	}
}

// cmd is a validated command or test.
type cmd struct {
	pos   Pos
	name  string
	spec  *spec
	tags  map[string]*arg // present tags, value is the parameter (or nil)
	args  []*arg          // positional arguments
	tests []*cmd
	block []*cmd

	// Shared groups, resolved.
	cmp      string // comparator name
	mt       string // match type: is contains matches regex count value list
	rel      string // relational operator for count/value
	part     string // address part: all localpart domain user detail
	mtArg    *arg
	index    int  // :index (0: none)
	last     bool // :last
	data     any  // per-command precompiled data
	elseNext bool
}

func (c *cmd) has(tag string) bool { _, ok := c.tags[tag]; return ok }

func (c *cmd) tagStr(tag string) string {
	if a := c.tags[tag]; a != nil && len(a.strs) > 0 {
		return a.strs[0]
	}
	return ""
}

func (c *cmd) tagList(tag string) []string {
	if a := c.tags[tag]; a != nil {
		return a.strs
	}
	return nil
}

func (c *cmd) tagNum(tag string) (uint64, bool) {
	if a := c.tags[tag]; a != nil && a.kind == argNum {
		return a.num, true
	}
	return 0, false
}

// validator checks a parsed script against the specs.
type validator struct {
	opt       *Options
	lim       Limits
	allowed   map[string]bool // extensions the options allow
	required  map[string]bool // extensions required so far
	errs      ErrorList
	cs        *compileState
	vars      map[string]bool
	loops     int
	loopNames []string
	script    *Script
	warnings  []string
	// unknownTags holds the unknown tags already reported ("kind name :tag").
	unknownTags map[string]bool
}

func (v *validator) errorf(p Pos, format string, a ...any) {
	if len(v.errs) < 100 {
		v.errs = append(v.errs, &Error{Line: p.Line, Column: p.Col, Msg: fmt.Sprintf(format, a...)})
	}
}

func (v *validator) has(ext string) bool { return v.required[ext] }

// require enables an extension (RFC 5228 section 3.2).
func (v *validator) require(p Pos, ext string) {
	if !extensions[ext] || !v.allowed[ext] {
		if strings.HasPrefix(ext, "comparator-") {
			v.errorf(p, "require: comparator '%s' is not known", strings.TrimPrefix(ext, "comparator-"))
			return
		}
		v.errorf(p, "require: unknown Sieve capability '%s'", ext)
		return
	}
	v.required[ext] = true
	for _, e := range extImplies[ext] {
		v.required[e] = true
	}
}

func (v *validator) block(nodes []*node, top bool, inLoop int) []*cmd {
	var out []*cmd
	var prev *cmd
	seenOther := false
	for _, n := range nodes {
		if n.name == "require" {
			if !top {
				v.errorf(n.pos, "require command can only be placed at top level at the beginning of the file")
				continue
			}
			if seenOther && !v.has("vnd.dovecot.testsuite") {
				v.errorf(n.pos, "require command can only be placed at top level at the beginning of the file")
			}
			v.requireCmd(n)
			continue
		}
		seenOther = true
		c := v.command(n, inLoop)
		if c == nil {
			prev = nil
			continue
		}
		if c.name == "elsif" || c.name == "else" {
			if prev == nil || (prev.name != "if" && prev.name != "elsif") {
				v.errorf(n.pos, "the %s command must follow an if or elseif command", c.name)
			} else {
				prev.elseNext = true
			}
		}
		out = append(out, c)
		prev = c
	}
	return out
}

func (v *validator) requireCmd(n *node) {
	// As in Pigeonhole, a require with a malformed structure is reported
	// once and its capabilities are not looked at.
	switch {
	case len(n.args) != 1 || !n.args[0].isStrings():
		v.errorf(n.pos, "the require command expects a string list as argument 1 (capabilities)")
		return
	case len(n.tests) > 0:
		v.errorf(n.pos, "the require command accepts no sub-tests, but tests are specified")
		return
	case n.hasBlock:
		v.errorf(n.pos, "the require command does not expect a block")
		return
	}
	for _, a := range n.args {
		if a.isStrings() {
			for _, s := range a.strs {
				v.require(a.pos, s)
			}
		}
	}
}

func (v *validator) command(n *node, inLoop int) *cmd {
	s := commands[n.name]
	if s == nil || (s.ext != "" && !v.has(s.ext)) {
		if t := tests[n.name]; t != nil {
			v.errorf(n.pos, "unknown command '%s' (you cannot use test '%s' as a command)", n.name, n.name)
		} else {
			v.errorf(n.pos, "unknown command '%s'", n.name)
		}
		return nil
	}
	nerr := len(v.errs)
	c := v.args(n, s, inLoop)
	argsOK := len(v.errs) == nerr
	if s.block == 1 && !n.hasBlock {
		v.errorf(n.pos, "the %s command requires a command block", n.name)
	}
	if s.block == 0 && n.hasBlock {
		v.errorf(n.pos, "the %s command does not expect a block", n.name)
	}
	if n.hasBlock && (n.name == "if" || n.name == "elsif") && len(c.tests) == 1 && c.tests[0].name == "ihave" {
		// RFC 5463 section 4: the block of a failing ihave is not
		// validated; a passing one enables the extensions.
		all := true
		for _, e := range c.tests[0].args[0].strs {
			if !extensions[e] || !v.allowed[e] || ihaveRestricted[e] {
				all = false
			}
		}
		if !all {
			return c
		}
		for _, e := range c.tests[0].args[0].strs {
			v.require(n.pos, e)
		}
	}
	if n.hasBlock {
		if n.name == "foreverypart" {
			v.loops++
			v.loopNames = append(v.loopNames, c.tagStr("name"))
			if v.loops > maxLoopNesting {
				v.errorf(n.pos, "the nesting of foreverypart loops exceeds the limit (%d)", maxLoopNesting)
			}
		}
		c.block = v.block(n.block, false, inLoop)
		if n.name == "foreverypart" {
			v.loops--
			v.loopNames = v.loopNames[:len(v.loopNames)-1]
		}
	}
	if s.check != nil && argsOK {
		s.check(v, c)
	}
	return c
}

func (v *validator) test(n *node, inLoop int) *cmd {
	s := tests[n.name]
	if s == nil || (s.ext != "" && !v.has(s.ext)) {
		if commands[n.name] != nil {
			v.errorf(n.pos, "unknown test '%s' (you cannot use command '%s' as a test)", n.name, n.name)
		} else {
			v.errorf(n.pos, "unknown test '%s'", n.name)
		}
		return nil
	}
	nerr := len(v.errs)
	c := v.args(n, s, inLoop)
	if s.check != nil && len(v.errs) == nerr {
		s.check(v, c)
	}
	return c
}

var matchTags = []tagSpec{
	{name: "is", group: "match"},
	{name: "contains", group: "match"},
	{name: "matches", group: "match"},
	{name: "regex", group: "match", ext: "regex"},
	{name: "count", param: pStr, group: "match", ext: "relational"},
	{name: "value", param: pStr, group: "match", ext: "relational"},
	{name: "list", group: "match", ext: "extlists"},
}

var addrTags = []tagSpec{
	{name: "all", group: "addrpart"},
	{name: "localpart", group: "addrpart"},
	{name: "domain", group: "addrpart"},
	{name: "user", group: "addrpart", ext: "subaddress"},
	{name: "detail", group: "addrpart", ext: "subaddress"},
}

func (v *validator) tagsFor(s *spec) []tagSpec {
	tags := s.tags
	if s.groups&gComparator != 0 {
		tags = append(tags[:len(tags):len(tags)], tagSpec{name: "comparator", param: pStr})
	}
	if s.groups&gMatch != 0 {
		tags = append(tags[:len(tags):len(tags)], matchTags...)
	}
	if s.groups&gAddrPart != 0 {
		tags = append(tags[:len(tags):len(tags)], addrTags...)
	}
	if s.groups&gIndex != 0 {
		tags = append(tags[:len(tags):len(tags)], tagSpec{name: "index", param: pNum, ext: "index"}, tagSpec{name: "last", ext: "index"})
	}
	if s.groups&gMimeAddr != 0 {
		tags = append(tags[:len(tags):len(tags)], tagSpec{name: "mime", ext: "mime"}, tagSpec{name: "anychild", ext: "mime"})
	}
	if s.groups&gMimeOpts != 0 {
		tags = append(tags[:len(tags):len(tags)],
			tagSpec{name: "type", ext: "mime", group: "mimeopt"}, tagSpec{name: "subtype", ext: "mime", group: "mimeopt"},
			tagSpec{name: "contenttype", ext: "mime", group: "mimeopt"}, tagSpec{name: "param", param: pList, ext: "mime", group: "mimeopt"})
	}
	return tags
}

// args matches a node's arguments against the spec.
func (v *validator) args(n *node, s *spec, inLoop int) *cmd {
	c := &cmd{pos: n.pos, name: n.name, spec: s, tags: map[string]*arg{}}
	nerrArgs := len(v.errs)
	tags := v.tagsFor(s)
	groups := map[string]string{}
	i := 0
	failed := func() bool { return len(v.errs) > nerrArgs }
	for ; i < len(n.args) && !failed(); i++ {
		a := n.args[i]
		if a.kind != argTag {
			break
		}
		var ts *tagSpec
		for j := range tags {
			if tags[j].name == a.tag && (tags[j].ext == "" || v.has(tags[j].ext)) {
				ts = &tags[j]
				break
			}
		}
		if ts == nil {
			// Like Pigeonhole, an unknown tag is reported at its first
			// occurrence for a command or test and ignored after that.
			key := s.kind() + " " + s.name + " :" + a.tag
			if !v.unknownTags[key] {
				if v.unknownTags == nil {
					v.unknownTags = map[string]bool{}
				}
				v.unknownTags[key] = true
				v.errorf(a.pos, "unknown tagged argument ':%s' for the %s %s (reported only once at first occurrence)", a.tag, s.name, s.kind())
			}
			continue
		}
		if _, dup := c.tags[a.tag]; dup {
			v.errorf(a.pos, "encountered duplicate tag ':%s' for the %s %s", a.tag, s.name, s.kind())
		}
		if ts.group != "" {
			if other, ok := groups[ts.group]; ok && other != a.tag {
				v.errorf(a.pos, "the :%s tag conflicts with the :%s tag for the %s %s", a.tag, other, s.name, s.kind())
			}
			groups[ts.group] = a.tag
		}
		var param *arg
		if ts.param != pNone {
			if i+1 >= len(n.args) || !v.fits(n.args[i+1], ts.param) {
				found := "nothing"
				if i+1 < len(n.args) {
					found = argDesc(n.args[i+1])
				}
				v.errorf(a.pos, "the :%s tag for the %s %s requires %s as parameter, but %s was found", a.tag, s.name, s.kind(), ts.param, found)
				c.tags[a.tag] = nil
				continue
			}
			i++
			param = n.args[i]
		}
		c.tags[a.tag] = param
	}
	// Positional arguments. When a tag lacks its parameter because a test
	// follows (":value e ..."), the missing positional arguments are a
	// problem of their own (Pigeonhole reports both).
	tagFailed, unread := failed(), i < len(n.args)
	nerrPos := len(v.errs)
	off := 0
	if s.optFirst && len(n.args)-i == len(s.pos)-1 {
		off = 1
	}
	for ; i < len(n.args) && !failed(); i++ {
		a := n.args[i]
		k := len(c.args) + off
		if a.kind == argTag {
			known := false
			for _, t := range tags {
				if t.name == a.tag {
					known = true
				}
			}
			if known {
				v.errorf(a.pos, "unexpected tagged argument ':%s' while validating positional arguments for the %s %s", a.tag, s.name, s.kind())
			} else {
				v.errorf(a.pos, "unknown tagged argument ':%s' for the %s %s (reported only once at first occurrence)", a.tag, s.name, s.kind())
			}
			break
		}
		if k >= len(s.pos) {
			v.errorf(a.pos, "the %s %s requires %d positional argument(s), but more were specified", s.name, s.kind(), len(s.pos))
			break
		}
		if !v.fits(a, s.pos[k]) {
			v.errorf(a.pos, "the %s %s expects %s as argument %d%s, but %s was found", s.name, s.kind(), s.pos[k], k+1, v.argName(s, k), argDesc(a))
		}
		c.args = append(c.args, a)
	}
	if s.optLast && off == 0 && len(c.args) == len(s.pos)-1 || len(v.errs) > nerrPos || tagFailed && (unread || len(n.tests) == 0) {
		// The optional last argument is absent (or an error was reported).
	} else if off == 0 && len(c.args) < len(s.pos) {
		v.errorf(n.pos, "the %s %s requires %d positional argument(s), but %d were specified", s.name, s.kind(), len(s.pos), len(c.args))
		for len(c.args)+off < len(s.pos) {
			c.args = append(c.args, &arg{pos: n.pos, kind: argList, strs: []string{""}})
		}
	}
	for len(c.args)+off < len(s.pos) && !(s.optLast && len(c.args) == len(s.pos)-1) {
		c.args = append(c.args, &arg{pos: n.pos, kind: argList, strs: []string{""}})
	}
	// A test named like one of our tags is a tag missing its colon.
	if s.maxTests == 0 && len(n.tests) > 0 {
		for _, t := range tags {
			if t.name == n.tests[0].name {
				v.errorf(n.tests[0].pos, "missing colon before ':%s' tag in the %s %s", t.name, s.name, s.kind())
				break
			}
		}
	}
	// Tests (not checked when the arguments were already wrong, as
	// Pigeonhole reports one argument problem per command).
	if len(v.errs) > nerrArgs {
	} else if len(n.tests) < s.minTests {
		if s.minTests == 1 && s.maxTests == 1 {
			v.errorf(n.pos, "the %s %s requires a test argument", s.name, s.kind())
		} else {
			v.errorf(n.pos, "the %s %s requires a list of tests", s.name, s.kind())
		}
	} else if s.maxTests == 0 && len(n.tests) == 1 && !n.testList && tests[n.tests[0].name] == nil {
		// "fileinto "x" keep;": what follows is no test, so the likely
		// mistake is a missing ';' (Pigeonhole reports it so).
		v.errorf(n.pos, "missing semicolon ';' after %s %s (found '%s' instead)", s.name, s.kind(), n.tests[0].name)
	} else if s.maxTests >= 0 && len(n.tests) > s.maxTests {
		v.errorf(n.pos, "the %s %s accepts no sub-tests, but tests are specified", s.name, s.kind())
	} else if s.maxTests == 1 && n.testList {
		v.errorf(n.pos, "the %s %s expects a single test, not a test list", s.name, s.kind())
	}
	for _, t := range n.tests {
		if s.maxTests == 0 {
			break // already reported; its tests would only add noise
		}
		if tc := v.test(t, inLoop); tc != nil {
			c.tests = append(c.tests, tc)
		}
	}
	// Resolve shared groups.
	if s.groups&gComparator != 0 || s.groups&gMatch != 0 {
		c.cmp = "i;ascii-casemap"
		if a, ok := c.tags["comparator"]; ok && a != nil {
			name := a.strs[0]
			if !comparatorKnown(name) || (name != "i;octet" && name != "i;ascii-casemap" && name != "i;unicode-casemap" && !v.has("comparator-"+name)) {
				v.errorf(a.pos, "unknown comparator '%s'", name)
			}
			c.cmp = name
		}
	}
	if s.groups&gMatch != 0 {
		c.mt = "is"
		for _, m := range matchTags {
			if a, ok := c.tags[m.name]; ok {
				c.mt = m.name
				c.mtArg = a
			}
		}
		if (c.mt == "count" || c.mt == "value") && c.mtArg != nil {
			op := strings.ToLower(c.mtArg.strs[0])
			switch op {
			case "gt", "ge", "lt", "le", "eq", "ne":
				c.rel = op
			default:
				v.errorf(c.mtArg.pos, "invalid relational match type '%s' (must be gt, ge, lt, le, eq or ne)", c.mtArg.strs[0])
			}
		}
		if c.cmp == "i;ascii-numeric" && (c.mt == "contains" || c.mt == "matches" || c.mt == "regex") {
			v.errorf(n.pos, "the comparator 'i;ascii-numeric' does not support the :%s match type", c.mt)
		}
		v.checkMatch(c)
	}
	if s.groups&gAddrPart != 0 {
		c.part = "all"
		for _, m := range addrTags {
			if _, ok := c.tags[m.name]; ok {
				c.part = m.name
			}
		}
	}
	if s.groups&gIndex != 0 {
		if a, ok := c.tags["index"]; ok && a != nil {
			c.index = int(min(a.num, 1<<30))
			if c.index == 0 {
				v.errorf(a.pos, "the :index tag expects a number greater than 0")
			}
		}
		if _, ok := c.tags["last"]; ok {
			c.last = true
			if _, ok := c.tags["index"]; !ok {
				v.errorf(n.pos, "the :last tag for the %s %s requires the :index tag", s.name, s.kind())
			}
		}
	}
	if s.groups&gMimeOpts != 0 && !failed() {
		for _, t := range []string{"type", "subtype", "contenttype", "param"} {
			if c.has(t) && !c.has("mime") {
				v.errorf(n.pos, "the :%s tag for the %s %s requires the :mime tag", t, s.name, s.kind())
			}
		}
	}
	if s.groups&gMimeAddr != 0 && c.has("anychild") && !c.has("mime") && !failed() {
		v.errorf(n.pos, "the :anychild tag for the %s %s requires the :mime tag", s.name, s.kind())
	}
	// Strings: encoded-character (RFC 5228 section 2.4.2.4) and variables.
	for _, a := range n.args {
		if a.isStrings() {
			for j, str := range a.strs {
				if v.has("encoded-character") {
					str = v.decodeEncoded(a.pos, str)
					a.strs[j] = str
				}
				if v.has("variables") {
					v.checkVarRefs(a.pos, str)
				}
			}
		}
	}
	return c
}

func (v *validator) argName(s *spec, k int) string {
	if k < len(s.names) && s.names[k] != "" {
		return " (" + s.names[k] + ")"
	}
	return ""
}

func (v *validator) fits(a *arg, k posKind) bool {
	switch k {
	case pStr:
		return a.kind == argString
	case pList:
		return a.kind == argString || a.kind == argList
	case pNum:
		return a.kind == argNum
	}
	return false
}

// validateScript parses and validates src.
func validateScript(src []byte, opt *Options, lim Limits, s *Script, cs *compileState) ([]*cmd, *validator) {
	v := &validator{opt: opt, lim: lim, allowed: map[string]bool{}, required: map[string]bool{}, script: s, cs: cs}
	if opt.Extensions == nil {
		for e := range extensions {
			v.allowed[e] = !optInExt[e]
		}
	} else {
		for _, e := range opt.Extensions {
			v.allowed[e] = true
		}
	}
	nodes, perrs := parse(src, lim.MaxNesting)
	if len(perrs) > 0 {
		v.errs = append(v.errs, perrs...)
		return nil, v
	}
	cmds := v.block(nodes, true, 0)
	if v.has("extracttext") && !v.has("foreverypart") {
		v.errorf(Pos{1, 1}, "the extracttext extension cannot be used without the foreverypart extension")
	}
	return cmds, v
}

// maxLoopNesting bounds nested foreverypart loops (as Pigeonhole).
const maxLoopNesting = 4

// testOnlyExt lists extensions allowed whatever Options.Extensions says
// (the testsuite's own).
var testOnlyExt = map[string]bool{}

// supported lists the capability strings, sorted.
// optInExt lists extensions allowed only when Options.Extensions names
// them: they make sense for one caller only (vnd.gannet.envelope, for
// smtpd's stage scripts), so Extensions() and ManageSieve do not offer
// them.
var optInExt = map[string]bool{}

func supported() []string {
	var l []string
	for e := range extensions {
		if !testOnlyExt[e] && !optInExt[e] {
			l = append(l, e)
		}
	}
	sort.Strings(l)
	return l
}
