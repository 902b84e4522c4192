package deliver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gannet/lib/message"
	"gannet/lib/reply"
	"gannet/lib/store"
)

// Importer files existing mail (an mbox being imported, say) into one
// mailbox of the accounts an address resolves to. Unlike Deliver it runs no
// filters, adds no Return-Path, creates the mailbox when it is missing, and
// stores a whole batch in one all-or-nothing call.
type Importer struct {
	d       *Deliverer
	targets []importTarget
	mailbox string
}

type importTarget struct {
	account *store.Account
	mailbox int64
}

// ImportMessage is one message to import.
type ImportMessage struct {
	// Raw is the message with CRLF line endings.
	Raw []byte
	// Flags are set on the stored message.
	Flags []string
	// InternalDate is the stored message's internal date; zero means the
	// message's Date header field, or now when it has none.
	InternalDate time.Time
}

// NewImporter resolves each address to its local accounts (each account
// once) and finds or creates mailbox in each ("" is INBOX). Remote targets
// of aliases and lists are ignored. An address that reaches no local
// account fails with an error wrapping a *reply.Error (550 5.1.1, or as
// Deliver would reply).
func (d *Deliverer) NewImporter(ctx context.Context, mailbox string, addresses ...string) (*Importer, error) {
	if mailbox == "" || strings.EqualFold(mailbox, Inbox) {
		mailbox = Inbox
	}
	im := &Importer{d: d, mailbox: mailbox}
	seen := map[int64]bool{}
	for _, addr := range addresses {
		res, rerr := d.resolve(ctx, addr)
		if rerr != nil {
			return nil, fmt.Errorf("%s: %w", addr, rerr)
		}
		if len(res.Accounts) == 0 {
			return nil, fmt.Errorf("%s: %w", addr, reply.New(550, "5.1.1", "directory", "no local mailbox"))
		}
		for _, r := range res.Accounts {
			if seen[r.Account.ID] {
				continue
			}
			seen[r.Account.ID] = true
			mb, err := d.st.GetMailbox(ctx, r.Account.ID, mailbox)
			if errors.Is(err, store.ErrNotFound) {
				mb = &store.Mailbox{AccountID: r.Account.ID, Name: mailbox, Subscribed: true}
				err = d.st.CreateMailbox(ctx, mb)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: mailbox %s: %w", r.Account.Address, mailbox, err)
			}
			im.targets = append(im.targets, importTarget{account: r.Account, mailbox: mb.ID})
		}
	}
	return im, nil
}

// Accounts lists the addresses of the accounts imported into.
func (im *Importer) Accounts() []string {
	out := make([]string, len(im.targets))
	for i, t := range im.targets {
		out[i] = t.account.Address
	}
	return out
}

// Mailbox is the name of the mailbox imported into.
func (im *Importer) Mailbox() string { return im.mailbox }

// Import stores msgs in every target account, all or nothing, in one
// store call. A full mailbox fails with a *reply.Error as Deliver's.
func (im *Importer) Import(ctx context.Context, msgs []ImportMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	out := make([]store.NewMessage, 0, len(msgs)*len(im.targets))
	for i, m := range msgs {
		if err := CheckFlags(m.Flags); err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		meta := message.Parse(m.Raw).Meta()
		date := m.InternalDate
		if date.IsZero() {
			date = meta.Date
		}
		for _, t := range im.targets {
			out = append(out, store.NewMessage{AccountID: t.account.ID, MailboxID: t.mailbox, Raw: m.Raw,
				Meta: meta, Flags: m.Flags, InternalDate: date})
		}
	}
	if _, err := im.d.st.AddMessages(ctx, out); err != nil {
		return im.d.storeError(err)
	}
	return nil
}
