// Package deliver files messages into local mailboxes. smtpd (for MX and
// LMTP recipients), queued and the deliver program all go through it, so a
// message is resolved, filtered and stored the same way whichever door it
// came in by.
//
// A Deliverer resolves each recipient through the directory (accounts,
// aliases, groups, lists, subaddresses, catch-alls), runs the registered
// filters for each account reached, and stores one copy per account with one
// call to the store: concurrent deliveries share one group commit, and an
// account reached twice (by an alias and directly, say) gets one copy.
// Remote addresses an alias or list expands to are returned for the caller
// to queue.
package deliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"gannet/lib/config"
	"gannet/lib/directory"
	"gannet/lib/message"
	"gannet/lib/reply"
	"gannet/lib/store"
)

// Inbox is the name of the mailbox mail goes to unless told otherwise.
const Inbox = "INBOX"

// Errors of a malformed Request (Deliver returns them before doing anything).
var (
	ErrInvalidSender = errors.New("invalid envelope sender")
	ErrInvalidFlag   = errors.New("invalid flag")
)

// Deliverer puts messages into local mailboxes. It is safe for concurrent
// use once its filters are added.
type Deliverer struct {
	st      store.Store
	dir     *directory.Directory
	cfg     config.Deliver
	log     *slog.Logger
	filters []Filter
}

// New returns a Deliverer storing into st, resolving addresses through dir.
// A nil log discards log output.
func New(st store.Store, dir *directory.Directory, cfg config.Deliver, log *slog.Logger) *Deliverer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Deliverer{st: st, dir: dir, cfg: cfg, log: log}
}

// Request is one message for one or more recipients.
type Request struct {
	// Sender is the envelope sender (RFC 5321 reverse-path) without angle
	// brackets, "" for the null sender <>.
	Sender string
	// Recipients are the envelope recipients as given; each is resolved
	// through the directory.
	Recipients []string
	// OriginalRecipient is the recipient before an MTA rewrote it (deliver
	// -a, Postfix's ORIGINAL_RECIPIENT), for filters; "" when unknown.
	OriginalRecipient string
	// Raw is the message with CRLF line endings. It is not modified.
	Raw []byte
	// Parsed is Raw already parsed (parse once), or nil to have Deliver
	// parse it. It is not used when AddReturnPath is set: the offsets of a
	// parse of Raw do not fit the message with the header in front, so
	// Deliver parses that again. Callers adding trace headers of their own
	// can prepend ReturnPath(sender) themselves before parsing instead.
	Parsed *message.Parsed
	// AddReturnPath puts a Return-Path header field (RFC 5321 section 4.4)
	// with Sender in front of the stored message, as the final delivery
	// must. deliver and LMTP set it.
	AddReturnPath bool
	// Mailbox is the mailbox to file into, "" for INBOX. When an account
	// has no mailbox of that name the message goes to its INBOX (as
	// dovecot-lda does without lda_mailbox_autocreate): mail is never
	// refused for a missing folder.
	Mailbox string
	// Flags are set on the stored message (system flags such as \Seen,
	// keywords such as $Forwarded).
	Flags []string
	// InternalDate is the stored message's internal date; zero means now.
	InternalDate time.Time
	// DeliveryKey makes the delivery idempotent per account (see
	// store.NewMessage.DeliveryKey): queued sets it to its entry's ID, so
	// that an attempt repeated after a crash stores nothing twice.
	DeliveryKey string
}

// Result is the outcome for one recipient, in the order of
// Request.Recipients.
type Result struct {
	// Recipient is the address as given.
	Recipient string
	// Accounts are the IDs of the local accounts the message reached
	// (stored, or discarded by a filter).
	Accounts []int64
	// Forward are remote addresses the recipient expands to (alias and
	// list targets). Deliver does not send them: the caller queues Raw (as
	// given, without Return-Path) for them.
	Forward []string
	// Err is nil when the message reached the recipient. A recipient that
	// expands to several destinations fails only when it reached none of
	// them: a full mailbox of one group member is logged, not reported,
	// since retrying would duplicate the message for the others. Unknown
	// users get 550 5.1.1, a full mailbox 452 4.2.2 (or 552 5.2.2 when
	// deliver.quota_exceeded is "permanent"), store failures 451 4.3.0.
	Err *reply.Error
}

// Filter is a hook that runs for each account a message is about to be
// stored for, before it is stored, in the order the filters were added.
// It may change where and how the message is filed (Mailbox, Flags), drop
// it (Discard: the account counts as reached) or replace the stored bytes
// (Raw, then Parsed to the parse of the new Raw or nil to have Deliver parse
// it). An error fails the delivery to that account with the reply it
// carries (reply.As: 451 4.3.0 when it carries none).
//
// Later issues hook in here: Sieve, spam to Junk, encryption at rest.
type Filter func(ctx context.Context, d *Delivery) error

// Delivery is one message on its way into one account, as filters see it.
type Delivery struct {
	// Sender and OriginalRecipient are those of the Request.
	Sender            string
	OriginalRecipient string
	// Recipient is the envelope recipient (as given) that reached the
	// account; the first one when several did.
	Recipient string
	// Account is the account (a copy: changes are not stored).
	Account *store.Account
	// Detail and Via are from the directory (directory.Recipient).
	Detail string
	Via    string

	// Raw and Parsed are the message to store (shared between accounts:
	// replace them, never modify them in place).
	Raw    []byte
	Parsed *message.Parsed
	// Mailbox and Flags say where and how it is filed.
	Mailbox string
	Flags   []string
	// Create makes Mailbox when it does not exist (Sieve's fileinto
	// :create); otherwise a missing mailbox means INBOX.
	Create bool
	// Also are more copies to file, each in its own mailbox (Sieve's keep
	// and several fileinto): all are stored in one transaction with the
	// first.
	Also []Filing
	// Discard drops the message for this account.
	Discard bool
}

// Filing is one more copy of a delivery.
type Filing struct {
	Mailbox string
	Flags   []string
	Create  bool
}

// target is a resolved Filing.
type target struct {
	mailbox int64
	flags   []string
}

// AddFilter registers f. Add every filter before the first Deliver.
func (d *Deliverer) AddFilter(f Filter) {
	d.filters = append(d.filters, f)
}

// ReturnPath returns the Return-Path header field for sender, with its CRLF
// (RFC 5321 section 4.4: Return-Path: <reverse-path>, <> for the null
// sender).
func ReturnPath(sender string) []byte {
	return []byte("Return-Path: <" + sender + ">\r\n")
}

// job is the delivery to one account.
type job struct {
	del     Delivery
	rcpts   []int // indices into the request's recipients
	mailbox int64
	meta    *store.Meta
	also    []target
	err     *reply.Error
	done    bool // reached (stored or discarded)
}

// Deliver delivers req and returns a Result per recipient. The error is
// for a malformed request (ErrInvalidSender, ErrInvalidFlag); anything that
// goes wrong for a recipient is in its Result. When Deliver returns, every
// message it reports stored is on disk.
func (d *Deliverer) Deliver(ctx context.Context, req Request) ([]Result, error) {
	if err := checkSender(req.Sender); err != nil {
		return nil, err
	}
	if err := CheckFlags(req.Flags); err != nil {
		return nil, err
	}
	results := make([]Result, len(req.Recipients))
	var jobs []*job
	byAccount := map[int64]*job{}
	for i, rcpt := range req.Recipients {
		results[i].Recipient = rcpt
		res, rerr := d.resolve(ctx, rcpt)
		if rerr != nil {
			results[i].Err = rerr
			continue
		}
		results[i].Forward = res.Forward
		for _, r := range res.Accounts {
			if j, ok := byAccount[r.Account.ID]; ok {
				j.rcpts = append(j.rcpts, i)
				continue
			}
			j := &job{rcpts: []int{i}, del: Delivery{
				Sender: req.Sender, OriginalRecipient: req.OriginalRecipient, Recipient: rcpt,
				Account: r.Account, Detail: r.Detail, Via: r.Via,
				Mailbox: req.Mailbox, Flags: req.Flags,
			}}
			byAccount[r.Account.ID] = j
			jobs = append(jobs, j)
		}
	}

	if len(jobs) > 0 {
		raw, parsed := req.Raw, req.Parsed
		if req.AddReturnPath {
			rp := ReturnPath(req.Sender)
			raw = append(rp[:len(rp):len(rp)], req.Raw...)
			parsed = nil
		}
		if parsed == nil {
			parsed = message.Parse(raw)
		}
		var meta *store.Meta // of parsed, computed once
		for _, j := range jobs {
			j.del.Raw, j.del.Parsed = raw, parsed
			d.prepare(ctx, j)
			if j.err != nil || j.done {
				continue
			}
			if j.del.Parsed == parsed {
				if meta == nil {
					m := parsed.Meta()
					meta = &m
				}
				j.meta = meta
			} else {
				if j.del.Parsed == nil {
					j.del.Parsed = message.Parse(j.del.Raw)
				}
				m := j.del.Parsed.Meta()
				j.meta = &m
			}
		}
		d.store(ctx, jobs, req.InternalDate, req.DeliveryKey)
	}

	// Settle each recipient: reached when any destination was.
	var first = make([]*reply.Error, len(results))
	for _, j := range jobs {
		for _, i := range j.rcpts {
			if j.done {
				results[i].Accounts = append(results[i].Accounts, j.del.Account.ID)
			} else if first[i] == nil {
				first[i] = j.err
			}
		}
	}
	for i := range results {
		r := &results[i]
		if r.Err == nil && len(r.Accounts) == 0 && len(r.Forward) == 0 {
			r.Err = first[i]
			if r.Err == nil { // cannot happen: Resolve said it exists
				r.Err = reply.New(451, "4.3.0", "deliver", "temporary local problem, try again later")
			}
		}
		switch {
		case r.Err != nil && r.Err.Temporary() && r.Err.Check != "quota":
			d.log.Warn("not delivered", "rcpt", r.Recipient, "reply", r.Err.Error(), "err", r.Err.Err)
		case r.Err != nil:
			d.log.Info("not delivered", "rcpt", r.Recipient, "reply", r.Err.Error())
		default:
			d.log.Debug("delivered", "rcpt", r.Recipient, "accounts", r.Accounts, "forward", r.Forward,
				"size", len(req.Raw))
		}
	}
	// A failure hidden behind a recipient that was reached otherwise (a
	// group member's full mailbox) is known only to the log.
	for _, j := range jobs {
		if j.err == nil || !slices.ContainsFunc(j.rcpts, func(i int) bool { return results[i].Err == nil }) {
			continue
		}
		d.log.Warn("not stored for one account of a recipient", "account", j.del.Account.Address,
			"rcpt", j.del.Recipient, "reply", j.err.Error(), "err", j.err.Err)
	}
	return results, nil
}

// resolve resolves one recipient, or says why it cannot be delivered to.
func (d *Deliverer) resolve(ctx context.Context, rcpt string) (*directory.Resolution, *reply.Error) {
	res, err := d.dir.Resolve(ctx, rcpt)
	switch {
	case errors.Is(err, directory.ErrInvalidAddress):
		// RFC 3463 section 3.2: X.1.3 bad destination mailbox address syntax.
		return nil, reply.Wrap(err, 553, "5.1.3", "directory", "bad recipient address syntax")
	case errors.Is(err, directory.ErrTooDeep):
		// RFC 3463 section 3.5: X.4.6 routing loop detected.
		return nil, reply.Wrap(err, 550, "5.4.6", "directory", "aliases nested too deep")
	case err != nil:
		return nil, reply.Wrap(err, 451, "4.3.0", "directory", "temporary directory failure, try again later")
	case !res.Local:
		// RFC 3463 section 3.2: X.1.1 bad destination mailbox address.
		return nil, reply.New(550, "5.1.1", "directory", "not a local address")
	case !res.Exists:
		return nil, reply.New(550, "5.1.1", "directory", "no such user")
	}
	return res, nil
}

// prepare runs the filters for j and finds its mailbox.
func (d *Deliverer) prepare(ctx context.Context, j *job) {
	for _, f := range d.filters {
		if err := f(ctx, &j.del); err != nil {
			j.err = reply.As(err)
			return
		}
		if j.del.Discard {
			j.done = true
			return
		}
	}
	for _, f := range append([]Filing{{Flags: j.del.Flags}}, j.del.Also...) {
		if err := CheckFlags(f.Flags); err != nil {
			j.err = reply.Wrap(err, 451, "4.3.0", "filter", "temporary local problem, try again later")
			return
		}
	}
	name, id, err := d.mailbox(ctx, j.del.Account, j.del.Mailbox, j.del.Create)
	if err != nil {
		j.err = reply.Wrap(err, 451, "4.3.0", "store", "temporary local problem, try again later")
		return
	}
	j.del.Mailbox, j.mailbox = name, id
	seen := map[int64]bool{id: true}
	for _, f := range j.del.Also {
		_, id, err := d.mailbox(ctx, j.del.Account, f.Mailbox, f.Create)
		if err != nil {
			j.err = reply.Wrap(err, 451, "4.3.0", "store", "temporary local problem, try again later")
			return
		}
		if !seen[id] { // RFC 5228 section 2.10.3: one copy per mailbox
			seen[id] = true
			j.also = append(j.also, target{id, f.Flags})
		}
	}
}

// mailbox finds the mailbox to file into: name ("" is INBOX), created when
// create is set and it is missing, else INBOX in its place.
func (d *Deliverer) mailbox(ctx context.Context, acct *store.Account, name string, create bool) (string, int64, error) {
	if name == "" || strings.EqualFold(name, Inbox) {
		name = Inbox
	}
	mb, err := d.st.GetMailbox(ctx, acct.ID, name)
	if errors.Is(err, store.ErrNotFound) && name != Inbox && create {
		err = d.st.CreateMailbox(ctx, &store.Mailbox{AccountID: acct.ID, Name: name, Subscribed: true})
		if err == nil {
			d.log.Info("mailbox created for delivery", "account", acct.Address, "mailbox", name)
		}
		if err == nil || errors.Is(err, store.ErrExists) {
			mb, err = d.st.GetMailbox(ctx, acct.ID, name)
		}
	}
	if errors.Is(err, store.ErrNotFound) && name != Inbox {
		d.log.Info("no such mailbox, filing into INBOX", "account", acct.Address, "mailbox", name)
		name = Inbox
		mb, err = d.st.GetMailbox(ctx, acct.ID, name)
	}
	if err != nil {
		return "", 0, err
	}
	return name, mb.ID, nil
}

// store stores the prepared jobs: one AddMessages call for all (one
// group commit). The store's call is all or nothing, so when it fails for
// several accounts each is tried on its own (concurrently, so the retries
// share a commit again): a full mailbox must not keep the message from
// the others.
func (d *Deliverer) store(ctx context.Context, jobs []*job, date time.Time, key string) {
	var ready []*job
	for _, j := range jobs {
		if j.err == nil && !j.done {
			ready = append(ready, j)
		}
	}
	if len(ready) == 0 {
		return
	}
	msgsOf := func(j *job) []store.NewMessage {
		out := []store.NewMessage{{AccountID: j.del.Account.ID, MailboxID: j.mailbox, Raw: j.del.Raw,
			Meta: *j.meta, Flags: j.del.Flags, InternalDate: date, DeliveryKey: key}}
		for i, t := range j.also {
			k := key
			if k != "" {
				// Each copy is its own delivery for idempotence.
				k = fmt.Sprintf("%s/%d", key, i+1)
			}
			out = append(out, store.NewMessage{AccountID: j.del.Account.ID, MailboxID: t.mailbox, Raw: j.del.Raw,
				Meta: *j.meta, Flags: t.flags, InternalDate: date, DeliveryKey: k})
		}
		return out
	}
	var msgs []store.NewMessage
	for _, j := range ready {
		msgs = append(msgs, msgsOf(j)...)
	}
	_, err := d.st.AddMessages(ctx, msgs)
	if err == nil {
		for _, j := range ready {
			j.done = true
		}
		return
	}
	if len(ready) == 1 || ctx.Err() != nil {
		for _, j := range ready {
			j.err = d.storeError(err)
		}
		return
	}
	var wg sync.WaitGroup
	for _, j := range ready {
		wg.Go(func() {
			if _, err := d.st.AddMessages(ctx, msgsOf(j)); err != nil {
				j.err = d.storeError(err)
			} else {
				j.done = true
			}
		})
	}
	wg.Wait()
}

// storeError is the reply for a failed AddMessages.
func (d *Deliverer) storeError(err error) *reply.Error {
	if errors.Is(err, store.ErrQuotaExceeded) {
		// RFC 3463 section 3.3: X.2.2 mailbox full; RFC 5321 section 4.2.2:
		// 452 insufficient system storage, 552 exceeded storage allocation.
		if d.cfg.QuotaExceeded == "permanent" {
			return reply.Wrap(err, 552, "5.2.2", "quota", "mailbox full")
		}
		return reply.Wrap(err, 452, "4.2.2", "quota", "mailbox full, try again later")
	}
	return reply.Wrap(err, 451, "4.3.0", "store", "temporary local problem, try again later")
}

// checkSender refuses a sender that would break the Return-Path line.
func checkSender(s string) error {
	if len(s) > 998 {
		return fmt.Errorf("%w: longer than 998 bytes", ErrInvalidSender)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '<' || c == '>' {
			return fmt.Errorf("%w: %q", ErrInvalidSender, s)
		}
	}
	return nil
}

// systemFlags are the flags a client may set that start with a backslash
// (RFC 9051 section 2.3.2).
var systemFlags = []string{store.FlagSeen, store.FlagAnswered, store.FlagFlagged, store.FlagDeleted, store.FlagDraft}

// CheckFlags reports the first flag that is neither a system flag nor a
// keyword (RFC 9051 section 9: flag-keyword is an atom).
func CheckFlags(flags []string) error {
next:
	for _, f := range flags {
		for _, sf := range systemFlags {
			if strings.EqualFold(f, sf) {
				continue next
			}
		}
		if f == "" || len(f) > 255 {
			return fmt.Errorf("%w %q", ErrInvalidFlag, f)
		}
		for i := 0; i < len(f); i++ {
			// atom-specials: ( ) { SP CTL % * " \ ]
			if c := f[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
				return fmt.Errorf("%w %q", ErrInvalidFlag, f)
			}
		}
	}
	return nil
}
