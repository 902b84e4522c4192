// Package reply defines the error that crosses into a protocol: it carries the
// SMTP reply code, the enhanced status code (RFC 3463), whether the failure is
// temporary, and which check raised it. smtpd, LMTP and deliver turn it into
// their own answers (an SMTP reply, a sysexits status).
package reply

import (
	"errors"
	"fmt"
)

// Error is a failure with the reply a client should see.
type Error struct {
	// Code is the SMTP reply code, e.g. 550 or 451 (RFC 5321 section 4.2).
	Code int
	// Enhanced is the enhanced status code, e.g. "5.1.1" (RFC 3463).
	Enhanced string
	// Message is the human-readable text, without codes.
	Message string
	// Check names what raised it: "directory", "quota", "spf", "dmarc"...
	Check string
	// Err is the underlying cause, if any; never shown to the client.
	Err error
}

// Error formats the reply as an SMTP server would send it.
func (e *Error) Error() string {
	return fmt.Sprintf("%d %s %s", e.Code, e.Enhanced, e.Message)
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether the client should try again later (4xx).
func (e *Error) Temporary() bool { return e.Code >= 400 && e.Code < 500 }

// New returns an Error with the given codes and message.
func New(code int, enhanced, check, msg string) *Error {
	return &Error{Code: code, Enhanced: enhanced, Check: check, Message: msg}
}

// Wrap returns an Error that keeps err as its cause.
func Wrap(err error, code int, enhanced, check, msg string) *Error {
	return &Error{Code: code, Enhanced: enhanced, Check: check, Message: msg, Err: err}
}

// As returns the *Error in err's chain, or a generic temporary failure
// (451 4.3.0) when err carries no reply: an unknown failure must never turn
// into a permanent rejection of mail.
func As(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: 451, Enhanced: "4.3.0", Message: "temporary local problem, try again later", Check: "internal", Err: err}
}

// Exit statuses from sysexits(3), as dovecot-lda and Postfix's local(8) use.
const (
	ExitOK          = 0
	ExitUsage       = 64 // EX_USAGE
	ExitDataErr     = 65 // EX_DATAERR
	ExitNoUser      = 67 // EX_NOUSER
	ExitSoftware    = 70 // EX_SOFTWARE
	ExitCantCreat   = 73 // EX_CANTCREAT
	ExitTempFail    = 75 // EX_TEMPFAIL
	ExitNoPerm      = 77 // EX_NOPERM
	ExitUnavailable = 69 // EX_UNAVAILABLE
)

// ExitCode maps a reply to a sysexits(3) status for a delivery agent.
func (e *Error) ExitCode() int {
	switch {
	case e == nil:
		return ExitOK
	case e.Temporary():
		return ExitTempFail
	case e.Enhanced == "5.1.1":
		return ExitNoUser
	case e.Enhanced == "5.6.0" || e.Enhanced == "5.6.1" || e.Enhanced == "5.6.2":
		return ExitDataErr
	case e.Enhanced == "5.7.1":
		return ExitNoPerm
	default:
		return ExitUnavailable
	}
}
