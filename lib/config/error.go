package config

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem with a configuration file: where it is and what is
// wrong. Parse, Load and Validate return an *Error, or several joined with
// errors.Join so that an administrator sees every problem at once; use
// errors.As to reach the first.
type Error struct {
	// File is the configuration file's name ("" when the configuration was
	// not read from a file).
	File string
	// Line is the 1-based line of the key, or 0 when it is not known (a
	// default value, or a key missing from the file).
	Line int
	// Key is the dotted key, with the index of array elements
	// ("smtpd.listener[1].address"), or "" for an error about the whole file.
	Key string
	// Msg says what is wrong.
	Msg string

	err error // underlying cause, for errors.Is
}

// Error formats the error as "FILE:LINE: KEY: MSG", leaving out the parts
// that are not known.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(clip(e.Key, 200))
		b.WriteString(": ")
	}
	b.WriteString(clip(e.Msg, 1000))
	return b.String()
}

// clip shortens what a hostile or broken file could make enormous.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}

// Unwrap returns the underlying cause (an *fs.PathError for an unreadable
// file, for instance), or nil.
func (e *Error) Unwrap() error { return e.err }

// joinErrors sorts errs by line and key and joins them; a single error is
// returned as itself so that its message is not wrapped.
func joinErrors(errs []*Error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	slices.SortStableFunc(errs, func(a, b *Error) int {
		// Errors without a line (missing keys) come after the located ones.
		la, lb := a.Line, b.Line
		if la == 0 {
			la = int(^uint(0) >> 1)
		}
		if lb == 0 {
			lb = int(^uint(0) >> 1)
		}
		return cmp.Or(cmp.Compare(la, lb), cmp.Compare(a.Key, b.Key))
	})
	list := make([]error, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return errors.Join(list...)
}
