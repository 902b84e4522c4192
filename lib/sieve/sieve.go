// Package sieve is Gannet's Sieve interpreter (RFC 5228 and the extensions
// listed by Extensions): lexer, parser, validator, a compiled form that can
// be kept in the store, and an interpreter with resource limits.
//
// This file is the contract the rest of the suite uses (sieved, sievectl,
// deliver, smtpd). The engine behind it lives in the other files:
// lexer.go and parse.go (RFC 5228 section 8, with error recovery so that
// every problem is reported), validate.go (commands, tags and arguments
// checked against specs; errors at line and column), interp.go (execution,
// actions and implicit keep), match.go (comparators and match types),
// message.go (header, address and MIME parsing) and one ext_*.go file per
// extension.
//
// Use: Compile once (the Script is immutable and safe for concurrent
// runs), then Run per delivery with an Env. The Outcome lists the actions;
// the caller performs them. Vacation decisions (RFC 3834 rules and the
// Tracker) are taken by the engine; a Vacation action in the Outcome is a
// reply to send. On a run-time error Run returns the error with an
// Outcome holding only the implicit keep (RFC 5228 section 2.10.6).
//
// Gannet's own extensions are vnd.gannet.eval (a test: eval "<expression>"
// in lib/expr's language over the script's variables, plus header("name"))
// and vnd.gannet.query (query :set "var" "<SQL>", run through Env.Query).
//
// The conformance tests (conformance_test.go) run Dovecot Pigeonhole's
// .svtest files through an implementation of vnd.dovecot.testsuite that
// exists in the test build only.
package sieve

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// Limits bound what a script may cost. The zero value of a field means its
// default (DefaultLimits).
type Limits struct {
	// MaxScriptSize in bytes (default 1 MiB).
	MaxScriptSize int
	// MaxInstructions executed per run (default 100,000).
	MaxInstructions int
	// MaxRedirects per run (default 4, as Pigeonhole).
	MaxRedirects int
	// MaxIncludes loaded per run, and MaxIncludeDepth (defaults 255, 10).
	MaxIncludes, MaxIncludeDepth int
	// MaxNesting of blocks and tests (default 32).
	MaxNesting int
	// MaxActions per run (default 32).
	MaxActions int
	// MaxCPUTime a run may take, measured as wall time (default 30s, as
	// Pigeonhole's sieve_max_cpu_time).
	MaxCPUTime time.Duration
}

// Error is a compile error: where and what.
type Error struct {
	Line, Column int
	Msg          string
}

// Error formats the error as "line L, column C: msg".
func (e *Error) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// Script is a compiled Sieve script, safe for concurrent runs.
type Script struct {
	cmds     []*cmd
	required map[string]bool
	lim      Limits
	opt      Options
	name     string
	// globals are the variables the script declared with "global".
	globals map[string]bool
	// warnings are the compile-time warnings (Warnings).
	warnings []string
}

// Warnings returns what compilation found questionable without rejecting
// the script, such as an included script missing at upload
// (Options.Upload); ManageSieve answers these with the WARNINGS response
// code (RFC 5804 section 1.3).
func (s *Script) Warnings() []string { return append([]string(nil), s.warnings...) }

// Compile parses and validates a script. A bad script yields an *ErrorList
// naming every problem found with its line and column. Included scripts
// (RFC 6609) are loaded through opt.Include and compiled now.
func Compile(src []byte, opt *Options) (*Script, error) {
	if opt == nil {
		opt = &Options{}
	}
	return compile(src, opt, "", &compileState{loading: map[incKey]bool{}, done: map[incKey]*Script{}})
}

type incKey struct {
	name   string
	global bool
}

// compileState is shared by a script and the scripts it includes.
type compileState struct {
	loading map[incKey]bool
	done    map[incKey]*Script
	depth   int
	count   int
}

func compile(src []byte, opt *Options, name string, cs *compileState) (*Script, error) {
	lim := opt.Limits.withDefaults()
	if len(src) > lim.MaxScriptSize {
		return nil, &ErrorList{{Line: 1, Column: 1, Msg: fmt.Sprintf("script is too large (%d bytes, the limit is %d)", len(src), lim.MaxScriptSize)}}
	}
	s := &Script{lim: lim, opt: *opt, name: name, globals: map[string]bool{}}
	cmds, v := validateScript(src, opt, lim, s, cs)
	if len(v.errs) > 0 {
		el := v.errs
		return nil, &el
	}
	s.cmds = cmds
	s.required = v.required
	s.warnings = v.warnings
	return s, nil
}

// Extensions returns the capability strings supported (for ManageSieve's
// SIEVE capability), sorted.
func Extensions() []string { return supported() }

// Requires reports the extensions the script requires.
func (s *Script) Requires() []string {
	var l []string
	for e := range s.required {
		l = append(l, e)
	}
	sort.Strings(l)
	return l
}

// Run executes the script against env. The returned Outcome lists the
// actions to perform, ending with the implicit keep when it was not
// cancelled (RFC 5228 section 2.10.2).
//
// A run-time error (a limit exceeded, a failed include, a conflict between
// actions, a callback's error) is returned together with an Outcome that
// holds only the implicit keep: as RFC 5228 section 2.10.6 requires, the
// caller then files the message into INBOX, ignoring the script's actions.
func (s *Script) Run(ctx context.Context, env *Env) (*Outcome, error) {
	in := newInterp(ctx, s, env)
	if err := in.run(); err != nil {
		return &Outcome{Actions: []Action{Keep{Implicit: true}}}, err
	}
	return in.outcome(), nil
}
