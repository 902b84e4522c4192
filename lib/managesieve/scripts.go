package managesieve

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"gannet/lib/store"
)

// Response codes of NO answers (RFC 5804 section 1.3).
const (
	CodeAuthTooWeak    = "AUTH-TOO-WEAK"
	CodeEncryptNeeded  = "ENCRYPT-NEEDED"
	CodeQuota          = "QUOTA"
	CodeQuotaMaxScript = "QUOTA/MAXSCRIPTS"
	CodeQuotaMaxSize   = "QUOTA/MAXSIZE"
	CodeTryLater       = "TRYLATER"
	CodeActive         = "ACTIVE"
	CodeNonexistent    = "NONEXISTENT"
	CodeAlreadyExists  = "ALREADYEXISTS"
	CodeWarnings       = "WARNINGS"
)

// Error is a refusal: the NO (or BYE) a server answers, with its response
// code ("" for none) and human-readable text. The store-backed Account
// returns the same errors the Client reads from a server, so callers treat
// both alike.
type Error struct {
	// Status is "NO" or "BYE".
	Status string
	// Code is the response code (CodeNonexistent...), "" for none.
	Code string
	// Msg is the text for a human.
	Msg string
}

func (e *Error) Error() string {
	s := e.Msg
	if s == "" {
		s = "refused"
	}
	if e.Code != "" {
		return s + " (" + e.Code + ")"
	}
	return s
}

// HasCode reports whether err is an *Error with the response code code, or
// one of its subcodes (QUOTA matches QUOTA/MAXSIZE).
func HasCode(err error, code string) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code == code || (len(e.Code) > len(code) && e.Code[:len(code)] == code && e.Code[len(code)] == '/')
}

func no(code, format string, args ...any) *Error {
	return &Error{Status: "NO", Code: code, Msg: fmt.Sprintf(format, args...)}
}

// ScriptInfo is one entry of LISTSCRIPTS.
type ScriptInfo struct {
	Name   string `json:"name"`
	Active bool   `json:"active"`
}

// Scripts is what can be done with one account's scripts: Account does it
// in the store, Client over ManageSieve. Refusals are *Error values.
type Scripts interface {
	// ListScripts lists the scripts by name (LISTSCRIPTS).
	ListScripts(ctx context.Context) ([]ScriptInfo, error)
	// GetScript returns a script's content (GETSCRIPT).
	GetScript(ctx context.Context, name string) ([]byte, error)
	// PutScript checks and stores a script, replacing one of the same
	// name and keeping it active if it was (PUTSCRIPT).
	PutScript(ctx context.Context, name string, content []byte) error
	// SetActive makes the script the active one; "" leaves none active
	// (SETACTIVE).
	SetActive(ctx context.Context, name string) error
	// DeleteScript deletes a script that is not active (DELETESCRIPT).
	DeleteScript(ctx context.Context, name string) error
	// RenameScript renames a script (RENAMESCRIPT).
	RenameScript(ctx context.Context, oldName, newName string) error
	// CheckScript checks a script without storing it (CHECKSCRIPT).
	CheckScript(ctx context.Context, content []byte) error
	// HaveSpace reports whether a script of size octets could be stored as
	// name (HAVESPACE).
	HaveSpace(ctx context.Context, name string, size int64) error
}

// Limits are the quotas on an account's scripts.
type Limits struct {
	// MaxScripts per account; 0 means no limit.
	MaxScripts int
	// MaxScriptSize in octets; 0 means no limit.
	MaxScriptSize int64
}

// CheckFunc checks a script uploaded to an account: sieved and sievectl
// compile it with an include loader reading the account's other scripts
// (RFC 6609). A refused script gets an error, whose text is shown to the
// user (sieve.ErrorList's, one problem per line); an accepted one may come
// with warnings, which ManageSieve answers with the WARNINGS response code
// (RFC 5804 section 1.3).
type CheckFunc func(ctx context.Context, accountID int64, script []byte) (warnings []string, err error)

// Account is an account's scripts in the store, with the checks and
// quotas of a ManageSieve server applied. sieved serves one per session;
// sievectl uses one without a server.
type Account struct {
	Store     store.SieveScripts
	AccountID int64
	Limits    Limits
	// Check, when set, checks a script's syntax; nil accepts any UTF-8
	// script.
	Check CheckFunc
	// Warn, when set, is given the warnings of a script that PutScript
	// stored or CheckScript accepted.
	Warn func(warnings []string)
}

// Compile-time checks.
var (
	_ Scripts = (*Account)(nil)
	_ Scripts = (*Client)(nil)
)

// maxNameBytes bounds a script name (RFC 5804 section 1.6 asks for at
// least 128 characters; the store takes up to 1024 octets).
const maxNameBytes = 1024

// CheckName applies RFC 5804 section 1.6 to a script name: UTF-8, not
// empty, no control characters (U+0000-U+001F, U+007F-U+009F) nor the line
// and paragraph separators (U+2028, U+2029).
func CheckName(name string) error {
	switch {
	case name == "":
		return no("", "Script name is empty")
	case len(name) > maxNameBytes:
		return no("", "Script name is longer than %d octets", maxNameBytes)
	case !utf8.ValidString(name):
		return no("", "Script name is not UTF-8")
	}
	for _, r := range name {
		if r <= 0x1f || (r >= 0x7f && r <= 0x9f) || r == 0x2028 || r == 0x2029 {
			return no("", "Script name holds the control character %U", r)
		}
	}
	return nil
}

// storeError turns a store error into a refusal: ErrNotFound is
// NONEXISTENT, anything unexpected TRYLATER.
func storeError(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return no(CodeNonexistent, "There is no script %q", what)
	}
	return &storeFailure{err}
}

// storeFailure is a store error the server answers NO (TRYLATER) to; its
// text is logged, not shown.
type storeFailure struct{ err error }

func (e *storeFailure) Error() string { return e.err.Error() }
func (e *storeFailure) Unwrap() error { return e.err }

// ListScripts implements Scripts.
func (a *Account) ListScripts(ctx context.Context) ([]ScriptInfo, error) {
	list, err := a.Store.ListSieveScripts(ctx, a.AccountID)
	if err != nil {
		return nil, &storeFailure{err}
	}
	out := make([]ScriptInfo, len(list))
	for i, s := range list {
		out[i] = ScriptInfo{Name: s.Name, Active: s.Active}
	}
	return out, nil
}

// GetScript implements Scripts.
func (a *Account) GetScript(ctx context.Context, name string) ([]byte, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	s, err := a.Store.GetSieveScript(ctx, a.AccountID, name)
	if err != nil {
		return nil, storeError(err, name)
	}
	return []byte(s.Content), nil
}

// HaveSpace implements Scripts: QUOTA/MAXSIZE for a script too large,
// QUOTA/MAXSCRIPTS when name is new and the account has its fill (RFC 5804
// section 2.5).
func (a *Account) HaveSpace(ctx context.Context, name string, size int64) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if a.Limits.MaxScriptSize > 0 && size > a.Limits.MaxScriptSize {
		return no(CodeQuotaMaxSize, "Script is larger than %d octets", a.Limits.MaxScriptSize)
	}
	if a.Limits.MaxScripts <= 0 {
		return nil
	}
	list, err := a.Store.ListSieveScripts(ctx, a.AccountID)
	if err != nil {
		return &storeFailure{err}
	}
	if len(list) < a.Limits.MaxScripts {
		return nil
	}
	for _, s := range list {
		if s.Name == name {
			return nil // a replacement takes no more room
		}
	}
	return no(CodeQuotaMaxScript, "Too many scripts (at most %d)", a.Limits.MaxScripts)
}

// CheckScript implements Scripts: the script must be UTF-8 (RFC 5228
// section 2.2) and pass Check; its warnings go to Warn.
func (a *Account) CheckScript(ctx context.Context, content []byte) error {
	warnings, err := a.check(ctx, content)
	a.warn(warnings, err)
	return err
}

// check is CheckScript, returning the warnings.
func (a *Account) check(ctx context.Context, content []byte) ([]string, error) {
	if a.Limits.MaxScriptSize > 0 && int64(len(content)) > a.Limits.MaxScriptSize {
		return nil, no(CodeQuotaMaxSize, "Script is larger than %d octets", a.Limits.MaxScriptSize)
	}
	if !utf8.Valid(content) {
		return nil, no("", "Script is not UTF-8")
	}
	if a.Check == nil {
		return nil, nil
	}
	warnings, err := a.Check(ctx, a.AccountID, content)
	var sf *storeFailure
	switch {
	case errors.As(err, &sf):
		// The include loader could not read the store: TRYLATER, not a
		// verdict on the script.
		return nil, err
	case err != nil:
		return nil, no("", "%s", err.Error())
	}
	return warnings, nil
}

func (a *Account) warn(warnings []string, err error) {
	if err == nil && len(warnings) > 0 && a.Warn != nil {
		a.Warn(warnings)
	}
}

// PutScript implements Scripts: quota first, then the syntax (RFC 5804
// section 2.6); the warnings go to Warn.
func (a *Account) PutScript(ctx context.Context, name string, content []byte) error {
	warnings, err := a.put(ctx, name, content)
	a.warn(warnings, err)
	return err
}

// put is PutScript, returning the warnings.
func (a *Account) put(ctx context.Context, name string, content []byte) ([]string, error) {
	if err := a.HaveSpace(ctx, name, int64(len(content))); err != nil {
		return nil, err
	}
	warnings, err := a.check(ctx, content)
	if err != nil {
		return nil, err
	}
	// The count is checked again as the script is written: another session
	// may have put one since HaveSpace.
	err = a.Store.PutSieveScriptWithin(ctx, &store.SieveScript{AccountID: a.AccountID, Name: name, Content: string(content)}, max(a.Limits.MaxScripts, 0))
	switch {
	case errors.Is(err, store.ErrQuotaExceeded):
		return nil, no(CodeQuotaMaxScript, "Too many scripts (at most %d)", a.Limits.MaxScripts)
	case err != nil:
		return nil, &storeFailure{err}
	}
	return warnings, nil
}

// SetActive implements Scripts.
func (a *Account) SetActive(ctx context.Context, name string) error {
	if name != "" {
		if err := CheckName(name); err != nil {
			return err
		}
	}
	return storeError(a.Store.ActivateSieveScript(ctx, a.AccountID, name), name)
}

// DeleteScript implements Scripts: the active script is refused with
// ACTIVE (RFC 5804 section 2.10).
func (a *Account) DeleteScript(ctx context.Context, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	err := a.Store.DeleteSieveScript(ctx, a.AccountID, name)
	if errors.Is(err, store.ErrExists) {
		return no(CodeActive, "Script %q is active; deactivate it first", name)
	}
	return storeError(err, name)
}

// RenameScript implements Scripts: NONEXISTENT when oldName is missing,
// ALREADYEXISTS when newName is taken (RFC 5804 section 2.11.1).
func (a *Account) RenameScript(ctx context.Context, oldName, newName string) error {
	if err := CheckName(oldName); err != nil {
		return err
	}
	if err := CheckName(newName); err != nil {
		return err
	}
	err := a.Store.RenameSieveScript(ctx, a.AccountID, oldName, newName)
	if errors.Is(err, store.ErrExists) {
		return no(CodeAlreadyExists, "There is already a script %q", newName)
	}
	return storeError(err, oldName)
}
