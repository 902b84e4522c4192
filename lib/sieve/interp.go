package sieve

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// result is the set of actions a run (or several, for the testsuite)
// collects.
type result struct {
	actions       []Action
	keepCancelled bool
	redirects     int
	// executed counts the actions already carried out (the testsuite
	// executes a result several times); conflicts with them are tolerated.
	executed     int
	implicitDone bool
}

// interp executes a script.
type interp struct {
	ctx    context.Context
	script *Script
	env    *Env
	lim    Limits
	res    *result

	raw        []byte // current message bytes
	root       *part  // parsed message (lazily)
	edited     bool
	fields     []field // top-level fields when edited
	body       []byte
	flags      []string
	loops      int // foreverypart loops running (nesting across includes)
	vars       map[string]string
	globals    map[string]string
	matchVals  []string
	steps      int
	globSteps  int
	regexCache map[string]*regexp.Regexp
	now        time.Time
	start      time.Time

	includes  int
	depth     int
	onceDone  map[*Script]bool
	curPart   *part // foreverypart's current part
	loopDepth int
	dupSeen   map[string]bool
	warnings  []string

	// envFrom is the envelope sender set by vnd.gannet.envelope.
	envFrom *string
	// nsLookup resolves extra variable namespaces (the testsuite's "tst").
	nsLookup func(ns, name string) (string, bool)
	// suite is the testsuite's state when run by the conformance tests.
	suite any
	// lastRun is the script a testsuite command is running.
	errHook func(err error)
	// Pigeonhole-like tunables (the testsuite sets them).
	cfg map[string]string
}

var (
	errStop   = errors.New("stop")
	errReturn = errors.New("return")
)

type errBreak struct{ name string }

func (e *errBreak) Error() string { return "break " + e.name }

// RuntimeError is an error raised while running a script (RFC 5228
// section 2.10.6).
type RuntimeError struct {
	Pos Pos
	Msg string
}

// Error formats the error with its line.
func (e *RuntimeError) Error() string {
	return fmt.Sprintf("line %d: %s", e.Pos.Line, e.Msg)
}

func (in *interp) errorf(p Pos, format string, a ...any) error {
	return &RuntimeError{Pos: p, Msg: fmt.Sprintf(format, a...)}
}

func newInterp(ctx context.Context, s *Script, env *Env) *interp {
	if env == nil {
		env = &Env{}
	}
	in := &interp{
		ctx: ctx, script: s, env: env, lim: s.lim, res: &result{},
		raw: env.Message, vars: map[string]string{}, globals: map[string]string{},
		regexCache: map[string]*regexp.Regexp{}, onceDone: map[*Script]bool{},
		dupSeen: map[string]bool{}, cfg: map[string]string{},
	}
	in.flags = normFlags(env.Flags)
	in.start = time.Now()
	in.now = env.Now
	if in.now.IsZero() {
		in.now = time.Now()
	}
	return in
}

// run executes the whole script.
func (in *interp) run() error {
	err := in.exec(in.script.cmds)
	if err == errStop || err == errReturn {
		err = nil
	}
	return err
}

// msgRoot returns the parsed (possibly edited) message.
func (in *interp) msgRoot() *part {
	if in.root == nil {
		n := 0
		in.root = parsePart(in.message(), nil, "text/plain", 0, &n)
	}
	return in.root
}

// message returns the current message bytes.
func (in *interp) message() []byte {
	if in.edited {
		return buildMessage(in.fields, in.body)
	}
	return in.raw
}

// topFields returns the message's header fields.
func (in *interp) topFields() []field {
	if in.edited {
		return in.fields
	}
	return in.msgRoot().fields
}

// warn records a run-time problem that does not stop the script.
func (in *interp) warn(p Pos, format string, a ...any) {
	if len(in.warnings) < 100 {
		in.warnings = append(in.warnings, fmt.Sprintf("line %d: ", p.Line)+fmt.Sprintf(format, a...))
	}
}

// editedMessage returns the current message if editheader changed it.
func (in *interp) editedMessage() []byte {
	if !in.edited {
		return nil
	}
	return in.message()
}

// setMessage replaces the message (testsuite).
func (in *interp) setMessage(raw []byte) {
	in.raw = raw
	in.root = nil
	in.edited = false
	in.fields = nil
	in.body = nil
}

// step counts an instruction against the limit and checks the context.
func (in *interp) step() error {
	in.steps++
	if in.steps > in.lim.MaxInstructions {
		return fmt.Errorf("sieve: instruction limit (%d) exceeded", in.lim.MaxInstructions)
	}
	if in.steps%16 == 0 {
		if err := in.ctx.Err(); err != nil {
			return err
		}
		if time.Since(in.start) > in.lim.MaxCPUTime {
			return fmt.Errorf("sieve: execution exceeded the CPU time limit (%v)", in.lim.MaxCPUTime)
		}
	}
	return nil
}

func (in *interp) exec(cmds []*cmd) error {
	skipElse := false
	for _, c := range cmds {
		if err := in.step(); err != nil {
			return err
		}
		switch c.name {
		case "if", "elsif", "else":
			if c.name != "if" && skipElse {
				if !c.elseNext {
					skipElse = false
				}
				continue
			}
			ok := true
			if c.name != "else" {
				var err error
				ok, err = in.test(c.tests[0])
				if err != nil {
					return err
				}
			}
			if ok {
				skipElse = c.elseNext
				if err := in.exec(c.block); err != nil {
					return err
				}
			} else {
				skipElse = false
			}
			continue
		}
		skipElse = false
		if _, err := c.spec.run(in, c); err != nil {
			return err
		}
	}
	return nil
}

func (in *interp) test(c *cmd) (bool, error) {
	if err := in.step(); err != nil {
		return false, err
	}
	return c.spec.run(in, c)
}

// str returns a string argument with variables expanded.
func (in *interp) str(a *arg) string {
	if a == nil || len(a.strs) == 0 {
		return ""
	}
	return in.expand(a.strs[0])
}

// list returns a string-list argument with variables expanded.
func (in *interp) list(a *arg) []string {
	if a == nil {
		return nil
	}
	if !in.script.required["variables"] {
		return a.strs
	}
	out := make([]string, len(a.strs))
	for i, s := range a.strs {
		out[i] = in.expand(s)
	}
	return out
}

// addAction appends an action, applying RFC 5228 section 4 rules for
// duplicates and Pigeonhole's conflict rules.
func (in *interp) addAction(p Pos, a Action) error {
	res := in.res
	switch a := a.(type) {
	case Keep, FileInto:
		mbox := "INBOX"
		if f, ok := a.(FileInto); ok {
			mbox = f.Mailbox
		}
		for i, o := range res.actions {
			if _, ok := o.(Reject); ok && i >= res.executed {
				return in.errorf(p, "%s action conflicts with earlier reject action", actionName(a))
			}
		}
		for i, o := range res.actions {
			om := ""
			switch o := o.(type) {
			case Keep:
				om = "INBOX"
			case FileInto:
				om = o.Mailbox
			default:
				continue
			}
			if strings.EqualFold(om, "INBOX") && strings.EqualFold(mbox, "INBOX") || om == mbox {
				// Duplicate: the last flag list wins (RFC 5232 section 5).
				switch o := o.(type) {
				case Keep:
					o.Flags = flagsOf(a)
					res.actions[i] = o
				case FileInto:
					if k, ok := a.(Keep); ok {
						// keep subsumes a store into INBOX.
						res.actions[i] = k
					} else {
						o.Flags = flagsOf(a)
						res.actions[i] = o
					}
				}
				if f, ok := a.(FileInto); !ok || !f.Copy {
					res.keepCancelled = true
				}
				return nil
			}
		}
		if f, ok := a.(FileInto); !ok || !f.Copy {
			res.keepCancelled = true
		}
	case Redirect:
		for _, o := range res.actions {
			if r, ok := o.(Redirect); ok && strings.EqualFold(r.Address, a.Address) {
				if !a.Copy {
					res.keepCancelled = true
				}
				return nil
			}
			if _, ok := o.(Reject); ok {
				return in.errorf(p, "redirect action conflicts with earlier reject action")
			}
		}
		res.redirects++
		if res.redirects > in.lim.MaxRedirects {
			return in.errorf(p, "number of redirect actions exceeds policy limit (%d)", in.lim.MaxRedirects)
		}
		if !a.Copy {
			res.keepCancelled = true
		}
	case Reject:
		for i, o := range res.actions {
			if i < res.executed {
				if _, ok := o.(Reject); ok {
					return nil // already rejected: drop gracefully
				}
				continue
			}
			switch o.(type) {
			case Reject:
				return in.errorf(p, "duplicate reject/ereject action not allowed")
			case Keep, FileInto, Redirect, Vacation:
				return in.errorf(p, "reject action conflicts with earlier %s action", actionName(o))
			}
		}
		res.keepCancelled = true
	case Discard:
		for _, o := range res.actions {
			if _, ok := o.(Discard); ok {
				return nil
			}
		}
		res.keepCancelled = true
	case Vacation:
		for _, o := range res.actions {
			switch o.(type) {
			case Vacation:
				return in.errorf(p, "duplicate vacation action not allowed")
			case Reject:
				return in.errorf(p, "vacation action conflicts with earlier reject action")
			}
		}
	case Notify:
		for _, o := range res.actions {
			if n, ok := o.(Notify); ok && n.Method == a.Method {
				return nil
			}
		}
	}
	if len(res.actions) >= in.lim.MaxActions {
		return in.errorf(p, "total number of actions exceeds policy limit (%d)", in.lim.MaxActions)
	}
	res.actions = append(res.actions, a)
	return nil
}

func actionName(a Action) string {
	switch a.(type) {
	case Keep:
		return "keep"
	case FileInto:
		return "store"
	case Redirect:
		return "redirect"
	case Reject:
		return "reject"
	case Discard:
		return "discard"
	case Vacation:
		return "vacation"
	case Notify:
		return "notify"
	}
	return "unknown"
}

func flagsOf(a Action) []string {
	switch a := a.(type) {
	case Keep:
		return a.Flags
	case FileInto:
		return a.Flags
	}
	return nil
}

func unionFlags(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, f := range b {
		found := false
		for _, g := range out {
			if strings.EqualFold(f, g) {
				found = true
			}
		}
		if !found {
			out = append(out, f)
		}
	}
	return out
}

// finalActions returns the actions with the implicit keep appended when it
// is in effect.
func (in *interp) finalActions() []Action {
	acts := append([]Action(nil), in.res.actions...)
	if !in.res.keepCancelled {
		acts = append(acts, Keep{Flags: in.currentFlags(), Implicit: true, Message: in.editedMessage()})
	}
	return acts
}

func (in *interp) currentFlags() []string {
	// Flags set by an earlier script of a multiscript run (Env.Flags)
	// apply even when this script does not use imap4flags itself.
	if len(in.flags) == 0 {
		return nil
	}
	return append([]string(nil), in.flags...)
}

func (in *interp) outcome() *Outcome {
	o := &Outcome{Warnings: in.warnings}
	for _, a := range in.finalActions() {
		if v, ok := a.(Vacation); ok && v.skip != "" {
			continue
		}
		o.Actions = append(o.Actions, a)
	}
	if in.edited {
		o.Message = in.message()
	}
	o.Flags = append([]string(nil), in.flags...)
	o.EnvelopeFrom = in.envFrom
	return o
}
