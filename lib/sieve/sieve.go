// Package sieve is Gannet's Sieve interpreter (RFC 5228 and the extensions
// listed by Extensions): lexer, parser, validator, a compiled form that can
// be kept in the store, and an interpreter with resource limits.
//
// This file is the contract the rest of the suite uses (sieved, sievectl,
// deliver, smtpd). The engine behind it lives in the other files.
package sieve

import "fmt"

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
}

// Error is a compile error: where and what.
type Error struct {
	Line, Column int
	Msg          string
}

func (e *Error) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}
