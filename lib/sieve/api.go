package sieve

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Options control compilation.
type Options struct {
	// Limits bound the script's cost; zero fields take DefaultLimits.
	Limits Limits
	// Extensions enabled for "require"; nil means all supported (Extensions()).
	Extensions []string
	// Include loads the script named by an include command (RFC 6609):
	// global reports ":global" (else ":personal"). Nil makes include fail.
	// A script that does not exist is an error matching ErrNotFound or
	// fs.ErrNotExist (errors.Is); any other error is reported as a failure
	// to load the script.
	Include func(name string, global bool) ([]byte, error)
	// Upload compiles a script being uploaded (ManageSieve PUTSCRIPT and
	// CHECKSCRIPT, sievectl put): an included script that does not exist
	// yet is a warning (Script.Warnings), not an error, since scripts
	// arrive one at a time, in any order. Pigeonhole does the same
	// ("ignored during upload"). Such an include fails at run time unless
	// it is :optional, so delivery must compile without Upload.
	Upload bool

	// cfg holds Pigeonhole-style settings (the testsuite's test_config_set).
	cfg map[string]string
}

// ErrNotFound is what an Options.Include loader returns (or wraps) for a
// script that does not exist.
var ErrNotFound = errors.New("sieve: script not found")

// ErrorList is the error Compile returns for a bad script: every problem found,
// in source order.
type ErrorList []*Error

// Error lists the problems, one "line L, column C: msg" per line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// DefaultLimits are the limits used for zero fields of Limits.
var DefaultLimits = Limits{
	MaxScriptSize:   1 << 20,
	MaxInstructions: 100000,
	MaxRedirects:    4,
	MaxIncludes:     255,
	MaxIncludeDepth: 10,
	MaxNesting:      32,
	MaxActions:      32,
	MaxCPUTime:      30 * time.Second,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxScriptSize > 0 {
		d.MaxScriptSize = l.MaxScriptSize
	}
	if l.MaxInstructions > 0 {
		d.MaxInstructions = l.MaxInstructions
	}
	if l.MaxRedirects > 0 {
		d.MaxRedirects = l.MaxRedirects
	}
	if l.MaxIncludes > 0 {
		d.MaxIncludes = l.MaxIncludes
	}
	if l.MaxIncludeDepth > 0 {
		d.MaxIncludeDepth = l.MaxIncludeDepth
	}
	if l.MaxNesting > 0 {
		d.MaxNesting = l.MaxNesting
	}
	if l.MaxActions > 0 {
		d.MaxActions = l.MaxActions
	}
	if l.MaxCPUTime > 0 {
		d.MaxCPUTime = l.MaxCPUTime
	}
	return d
}

// Mailboxes answers questions about the account's mailboxes, for the
// mailbox (RFC 5490), special-use (RFC 8579) and mailboxid (RFC 9042)
// extensions.
type Mailboxes interface {
	// MailboxExists reports whether the named mailbox exists.
	MailboxExists(ctx context.Context, name string) (bool, error)
	// SpecialUse returns the special-use attributes (such as "\\Junk") of
	// the named mailbox, or of no mailbox ("") the names of mailboxes
	// are not needed: it reports nil for an unknown mailbox.
	SpecialUse(ctx context.Context, name string) ([]string, error)
	// SpecialUseMailbox returns the mailbox that has the special-use
	// attribute, or "" if none.
	SpecialUseMailbox(ctx context.Context, use string) (string, error)
	// MailboxID returns the mailbox with that object id (RFC 8474), or "".
	MailboxID(ctx context.Context, id string) (string, error)
}

// Tracker remembers keys for a while, for the duplicate (RFC 7352) and
// vacation (RFC 5230) extensions. The caller backs it with the store.
type Tracker interface {
	// Seen reports whether key was recorded within period, and records it
	// (restarting its period).
	Seen(ctx context.Context, key string, period time.Duration) (bool, error)
}

// Lists answers extlists (RFC 6134) lookups.
type Lists interface {
	// Valid reports whether the list name is known (valid_ext_list).
	Valid(list string) bool
	// Contains reports whether value is a member of the list.
	Contains(ctx context.Context, list, value string) (bool, error)
}

// Score is a spamtest or virustest verdict (RFC 5235).
type Score struct {
	// Tested is false when the message was not tested (the test yields "0").
	Tested bool
	// Value is 1..10 for spamtest (1 certainly not spam) and 1..5 for
	// virustest (1 clean, 5 infected, not cleanable).
	Value int
	// Percent is 0..100 for spamtestplus ":percent"; -1 if unknown.
	Percent int
}

// Env is what a run sees of the world. Only Message is required.
type Env struct {
	// Message is the raw message (RFC 5322, CRLF line ends).
	Message []byte
	// From is the envelope sender (MAIL FROM, "" for the null path).
	From string
	// To is the envelope recipient this run delivers to (RCPT TO).
	To string
	// OrigTo is the original recipient (ORCPT or before aliasing), if known.
	OrigTo string
	// AuthUser is the authenticated submitter, if any (envelope "auth").
	AuthUser string
	// User is the account's address, used as vacation's default :from and
	// :addresses (may be "": To is used).
	User string

	// Mailboxes answers mailbox/special-use/mailboxid tests; nil: none exist.
	Mailboxes Mailboxes
	// Tracker backs duplicate and vacation; nil: nothing is ever seen.
	Tracker Tracker
	// Lists backs extlists; nil: no list is valid.
	Lists Lists
	// SpamTest and VirusTest compute the verdicts lazily; nil: untested.
	SpamTest, VirusTest func(ctx context.Context) (Score, error)
	// Environment holds items for the environment extension (RFC 5183),
	// such as "domain", "host", "remote-host", "remote-ip", "phase".
	// "name" and "version" are filled in when missing.
	Environment map[string]string
	// Query runs a read-only SQL query for vnd.gannet.query, args bound
	// to its parameters as text, and returns its result as one string; nil
	// makes the query command fail at run time.
	Query func(ctx context.Context, query string, args []string) (string, error)
	// Now is the current time (date's currentdate); zero: time.Now().
	Now time.Time
	// Flags is the initial value of imap4flags' internal variable (RFC
	// 5232 section 3), empty by default. When scripts run one after the
	// other for one message (a multiscript run: global before and after
	// scripts around the user's), pass Outcome.Flags of the previous
	// script so that its setflag/addflag carry into the next one's keep
	// and fileinto.
	Flags []string
}

// Action is one entry of an Outcome: Keep, FileInto, Redirect, Reject,
// Discard, Vacation or Notify.
type Action interface{ action() }

// Keep stores the message in INBOX, explicitly or by implicit keep.
type Keep struct {
	// Flags to set (imap4flags), nil for none.
	Flags []string
	// Implicit is set for implicit keep (RFC 5228 section 2.10.2).
	Implicit bool
	// Message is the message as editheader left it when this action was
	// taken, nil when unchanged (store Env.Message then).
	Message []byte
}

// FileInto stores the message in Mailbox (RFC 5228 section 4.1).
type FileInto struct {
	Mailbox    string
	Flags      []string // imap4flags :flags or the internal variable
	Copy       bool     // :copy (RFC 3894), informative: keep was not cancelled
	Create     bool     // :create (RFC 5490)
	SpecialUse string   // :specialuse (RFC 8579): prefer the mailbox with this use
	MailboxID  string   // :mailboxid (RFC 9042): prefer the mailbox with this id
	// Message is the edited message at the time of the action (editheader),
	// nil when unchanged.
	Message []byte
}

// Redirect forwards the message to Address (RFC 5228 section 4.2). The
// caller prepends "X-Sieve-Redirected-From: <Env.User or Env.To>" to the
// message it sends; the engine skips a redirect of a message that already
// carries that header for this recipient (a mail loop).
type Redirect struct {
	Address string
	Copy    bool
	// Notify and Ret are the redirect-dsn (RFC 6009) :notify and :ret values.
	Notify string
	Ret    string
	// Message is the edited message at the time of the action (editheader),
	// nil when unchanged.
	Message []byte
}

// Reject refuses the message with Reason (RFC 5429); Extended is ereject
// (refuse at SMTP time when possible).
type Reject struct {
	Reason   string
	Extended bool
}

// Discard silently drops the message (RFC 5228 section 4.5).
type Discard struct{}

// Vacation is an auto-reply (RFC 5230) the caller sends unless the Tracker
// has already seen Handle for this sender (the engine has checked it).
type Vacation struct {
	To      string // the reply's recipient (the envelope sender)
	From    string
	Subject string
	Reason  string // the body text (or MIME entity with :mime)
	Mime    bool
	Handle  string
	Period  time.Duration
	// Message is the complete reply (RFC 5322, CRLF), ready to send with
	// an empty envelope sender.
	Message []byte

	// skip says why no reply is sent (RFC 5230 section 4.5, RFC 3834);
	// such vacation actions are left out of the Outcome.
	skip string
}

// Notify is an enotify (RFC 5435) notification.
type Notify struct {
	Method     string
	From       string
	Importance string
	Options    []string
	Message    string
}

func (Keep) action()     {}
func (FileInto) action() {}
func (Redirect) action() {}
func (Reject) action()   {}
func (Discard) action()  {}
func (Vacation) action() {}
func (Notify) action()   {}

// Outcome is the result of a run.
type Outcome struct {
	// Actions in execution order; implicit keep appears as Keep{Implicit: true}.
	Actions []Action
	// Message is the edited message (editheader) when changed, else nil.
	Message []byte
	// Flags is the final value of imap4flags' internal variable.
	Flags []string
	// Warnings from the run (not errors).
	Warnings []string
	// EnvelopeFrom is the envelope sender a vnd.gannet.envelope script set
	// (set "envelope.from"), nil when it set none.
	EnvelopeFrom *string
}
