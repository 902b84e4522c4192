package sieve

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Small extensions: relational, regex, subaddress, environment, ihave,
// mailbox, special-use, mailboxid, spamtest, spamtestplus, virustest,
// duplicate, extlists, redirect-dsn, envelope-dsn.

func init() {
	for _, e := range []string{"relational", "regex", "subaddress", "environment", "ihave", "mailbox",
		"special-use", "mailboxid", "spamtest", "spamtestplus", "virustest", "duplicate", "extlists",
		"redirect-dsn", "envelope-dsn"} {
		extensions[e] = true
	}
	extImplies["spamtestplus"] = []string{"spamtest"}

	register(&spec{name: "environment", test: true, ext: "environment", groups: gComparator | gMatch,
		pos: []posKind{pStr, pList}, names: []string{"name", "key list"}, run: runEnvironment})
	register(&spec{name: "ihave", test: true, ext: "ihave", pos: []posKind{pList}, names: []string{"capabilities"}, run: runIhave})
	register(&spec{name: "error", ext: "ihave", pos: []posKind{pStr}, names: []string{"message"}, run: func(in *interp, c *cmd) (bool, error) {
		return false, in.errorf(c.pos, "%s", in.str(c.args[0]))
	}})
	register(&spec{name: "mailboxexists", test: true, ext: "mailbox", pos: []posKind{pList}, names: []string{"mailbox names"},
		check: checkMailboxNames, run: runMailboxExists})
	register(&spec{name: "specialuse_exists", test: true, ext: "special-use", pos: []posKind{pStr, pList}, optFirst: true,
		names: []string{"mailbox", "special-use flags"}, check: checkSpecialUse, run: runSpecialUseExists})
	register(&spec{name: "mailboxidexists", test: true, ext: "mailboxid", pos: []posKind{pList}, names: []string{"mailbox ids"}, run: runMailboxIDExists})
	register(&spec{name: "spamtest", test: true, ext: "spamtest", groups: gComparator | gMatch,
		tags: []tagSpec{{name: "percent", ext: "spamtestplus"}}, pos: []posKind{pStr}, names: []string{"value"}, run: runSpamtest})
	register(&spec{name: "virustest", test: true, ext: "virustest", groups: gComparator | gMatch,
		pos: []posKind{pStr}, names: []string{"value"}, run: runVirustest})
	register(&spec{name: "duplicate", test: true, ext: "duplicate",
		tags: []tagSpec{{name: "handle", param: pStr}, {name: "header", param: pStr, group: "dupsrc"},
			{name: "uniqueid", param: pStr, group: "dupsrc"}, {name: "seconds", param: pNum}, {name: "last"}},
		run: runDuplicate})
	register(&spec{name: "valid_ext_list", test: true, ext: "extlists", pos: []posKind{pList}, names: []string{"list names"}, run: runValidExtList})
}

// ihaveRestricted lists extensions that change how a script is parsed and
// so cannot be enabled by ihave (RFC 5463 section 4).
var ihaveRestricted = map[string]bool{"encoded-character": true, "variables": true}

// environment items (RFC 5183).
func (in *interp) environment(name string) (string, bool) {
	name = strings.ToLower(name)
	if v, ok := in.env.Environment[name]; ok {
		return v, true
	}
	switch name {
	case "name":
		return "Gannet", true
	case "version":
		return "1.0", true
	case "phase":
		return "during", true
	case "domain", "host":
		return "localhost", true
	case "location":
		return "MDA", true
	case "vnd.dovecot.default-mailbox":
		return "INBOX", true
	}
	return "", false
}

func runEnvironment(in *interp, c *cmd) (bool, error) {
	v, ok := in.environment(in.str(c.args[0]))
	if !ok {
		return false, nil
	}
	return in.match(c, []string{v}, in.list(c.args[1]))
}

func runIhave(in *interp, c *cmd) (bool, error) {
	for _, e := range in.list(c.args[0]) {
		if ihaveRestricted[e] {
			return false, nil
		}
		if !extensions[e] || testOnlyExt[e] && e != "vnd.dovecot.testsuite" {
			return false, nil
		}
		if in.script.opt.Extensions != nil {
			found := false
			for _, a := range in.script.opt.Extensions {
				if a == e {
					found = true
				}
			}
			if !found {
				return false, nil
			}
		}
	}
	return true, nil
}

func checkMailboxNames(v *validator, c *cmd) {
	for _, n := range c.args[0].strs {
		if !strings.Contains(n, "${") && !utf8ValidString(n) {
			v.errorf(c.args[0].pos, "mailboxexists test: invalid mailbox name '%s' specified", n)
		}
	}
}

func runMailboxExists(in *interp, c *cmd) (bool, error) {
	for _, n := range in.list(c.args[0]) {
		if !utf8ValidString(n) || in.env.Mailboxes == nil {
			return false, nil
		}
		ok, err := in.env.Mailboxes.MailboxExists(in.ctx, n)
		if err != nil {
			return false, in.errorf(c.pos, "mailboxexists: %v", err)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

func validSpecialUse(s string) bool {
	if len(s) < 2 || s[0] != '\\' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isAlpha(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func checkSpecialUse(v *validator, c *cmd) {
	flags := c.args[len(c.args)-1]
	for _, f := range flags.strs {
		if !strings.Contains(f, "${") && !validSpecialUse(f) {
			v.errorf(flags.pos, "specialuse_exists test: invalid special-use flag '%s' specified", f)
		}
	}
	if len(c.args) == 2 {
		for _, n := range c.args[0].strs {
			if !strings.Contains(n, "${") && !utf8ValidString(n) {
				v.errorf(c.args[0].pos, "specialuse_exists test: invalid mailbox name '%s' specified", n)
			}
		}
	}
}

func runSpecialUseExists(in *interp, c *cmd) (bool, error) {
	uses := in.list(c.args[len(c.args)-1])
	mb := in.env.Mailboxes
	if len(c.args) == 2 {
		name := in.str(c.args[0])
		if !utf8ValidString(name) || mb == nil {
			return false, nil
		}
		have, err := mb.SpecialUse(in.ctx, name)
		if err != nil {
			return false, in.errorf(c.pos, "specialuse_exists: %v", err)
		}
		for _, u := range uses {
			if !validSpecialUse(u) {
				return false, nil
			}
			found := false
			for _, h := range have {
				if strings.EqualFold(h, u) {
					found = true
				}
			}
			if !found {
				return false, nil
			}
		}
		return true, nil
	}
	for _, u := range uses {
		if !validSpecialUse(u) || mb == nil {
			return false, nil
		}
		name, err := mb.SpecialUseMailbox(in.ctx, u)
		if err != nil {
			return false, in.errorf(c.pos, "specialuse_exists: %v", err)
		}
		if name == "" {
			return false, nil
		}
	}
	return true, nil
}

func runMailboxIDExists(in *interp, c *cmd) (bool, error) {
	for _, id := range in.list(c.args[0]) {
		if in.env.Mailboxes == nil {
			return false, nil
		}
		name, err := in.env.Mailboxes.MailboxID(in.ctx, id)
		if err != nil {
			return false, in.errorf(c.pos, "mailboxidexists: %v", err)
		}
		if name == "" {
			return false, nil
		}
	}
	return true, nil
}

// spamtest/virustest (RFC 5235): the value compared is a decimal string.
func runSpamtest(in *interp, c *cmd) (bool, error) {
	val := "0"
	if in.env.SpamTest != nil {
		s, err := in.env.SpamTest(in.ctx)
		if err != nil {
			return false, in.errorf(c.pos, "spamtest: %v", err)
		}
		if s.Tested {
			if c.has("percent") {
				if s.Percent >= 0 {
					val = strconv.Itoa(s.Percent)
				}
			} else {
				val = strconv.Itoa(max(1, min(10, s.Value)))
			}
		}
	}
	return in.match(c, []string{val}, []string{in.str(c.args[0])})
}

func runVirustest(in *interp, c *cmd) (bool, error) {
	val := "0"
	if in.env.VirusTest != nil {
		s, err := in.env.VirusTest(in.ctx)
		if err != nil {
			return false, in.errorf(c.pos, "virustest: %v", err)
		}
		if s.Tested {
			val = strconv.Itoa(max(1, min(5, s.Value)))
		}
	}
	return in.match(c, []string{val}, []string{in.str(c.args[0])})
}

// scaleScore maps a score against a maximum to 1..10 and a percentage.
func scaleScore(score, maxScore float64) Score {
	if maxScore <= 0 {
		return Score{}
	}
	pct := score / maxScore * 100
	pct = math.Max(0, math.Min(100, pct))
	v := 1 + int(math.Floor(pct/100*9))
	if score <= 0 {
		v = 1
	}
	return Score{Tested: true, Value: v, Percent: int(math.Round(pct))}
}

// duplicate (RFC 7352).
func runDuplicate(in *interp, c *cmd) (bool, error) {
	var id string
	switch {
	case c.has("uniqueid"):
		id = in.expand(c.tagStr("uniqueid"))
	case c.has("header"):
		h := in.expand(c.tagStr("header"))
		vals := fieldValues(in.topFields(), h)
		if len(vals) == 0 {
			return false, nil
		}
		id = vals[0]
	default:
		vals := fieldValues(in.topFields(), "Message-ID")
		if len(vals) == 0 {
			return false, nil
		}
		id = vals[0]
	}
	period := 7 * 24 * time.Hour
	if n, ok := c.tagNum("seconds"); ok {
		period = time.Duration(min(n, 1<<32)) * time.Second
	}
	key := fmt.Sprintf("duplicate\x00%s\x00%s", in.expand(c.tagStr("handle")), id)
	if in.dupSeen[key] {
		return true, nil
	}
	in.dupSeen[key] = true
	if in.env.Tracker == nil {
		return false, nil
	}
	seen, err := in.env.Tracker.Seen(in.ctx, key, period)
	if err != nil {
		return false, in.errorf(c.pos, "duplicate: %v", err)
	}
	return seen, nil
}

// extlists (RFC 6134).
func runValidExtList(in *interp, c *cmd) (bool, error) {
	for _, l := range in.list(c.args[0]) {
		if in.env.Lists == nil || !in.env.Lists.Valid(normList(l)) {
			return false, nil
		}
	}
	return true, nil
}

// normList expands the ":addrbook:default" shorthand (RFC 6134 2.1).
func normList(l string) string {
	if strings.HasPrefix(l, ":") {
		return "urn:ietf:params:sieve" + l
	}
	return l
}

func (in *interp) matchList(c *cmd, values, lists []string) (bool, error) {
	if in.env.Lists == nil {
		return false, nil
	}
	for _, v := range values {
		for _, l := range lists {
			if err := in.step(); err != nil {
				return false, err
			}
			ok, err := in.env.Lists.Contains(in.ctx, normList(l), v)
			if err != nil {
				return false, in.errorf(c.pos, "list lookup: %v", err)
			}
			if ok {
				if in.script.required["variables"] {
					in.setMatch([]string{v})
				}
				return true, nil
			}
		}
	}
	return false, nil
}
