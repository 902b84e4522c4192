package smtp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"gannet/lib/directory"
	"gannet/lib/message"
	"gannet/lib/reply"
	"gannet/lib/spam"
	"gannet/lib/store"
)

// SpamOptions wires lib/spam into smtpd (NewSpamFilter).
type SpamOptions struct {
	Filter *spam.Filter
	// Memory records verdicts (reputation), sent Message-IDs (trusted
	// replies), greylisting and spam traps; nil turns those off.
	Memory *spam.Memory
	// Store gives accounts' own thresholds; Dir finds the account of a
	// single recipient (its Bayes model and thresholds).
	Store store.Store
	Dir   *directory.Directory
	// Train, when set, trains a message as spam (mail to a spam trap).
	Train func(ctx context.Context, m *spam.Message, isSpam bool) error
	// Verdict, when set, is told of every verdict (auto-learning); it must
	// not block.
	Verdict func(m *spam.Message, v *spam.Verdict)
	Log     *slog.Logger
}

// NewSpamFilter returns the SpamFilter that runs lib/spam at the end of
// DATA. Mail from authenticated clients is not filtered (its Message-ID is
// remembered for trusted replies); other mail has forged X-Spam-* fields
// removed and the verdict's fields added, and is refused with 550 5.7.1
// from the reject threshold on. The result also implements RcptFilter
// (greylisting, spam traps).
func NewSpamFilter(o SpamOptions) SpamFilter {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &spamFilter{o: o}
}

type spamFilter struct{ o SpamOptions }

// RcptFilter is the optional part of a SpamFilter asked at RCPT TO.
type RcptFilter interface {
	// IsTrap reports whether addr (after rewriting) is a spam trap: it is
	// accepted whether or not it exists, and its copy is thrown away.
	IsTrap(addr string) bool
	// Greylist refuses, with a *reply.Error, the first attempt of an
	// unknown (client, sender, recipient) triplet. It is not asked about
	// authenticated clients nor relay networks.
	Greylist(ctx context.Context, env *Envelope, rcpt string) error
	// Trapped is told of a message sent to spam traps. When it has other
	// recipients too (alone false), CheckSpam is then asked about it with
	// env.Trapped set and files it as spam.
	Trapped(ctx context.Context, env *Envelope, traps []string, msg []byte, alone bool)
}

func (f *spamFilter) IsTrap(addr string) bool { return f.o.Memory.IsTrap(addr) }

func (f *spamFilter) Greylist(ctx context.Context, env *Envelope, rcpt string) error {
	if f.o.Memory == nil {
		return nil
	}
	err := f.o.Memory.Greylist(ctx, env.ClientIP, env.Sender, rcpt)
	switch {
	case errors.Is(err, spam.ErrGreylisted):
		// RFC 6647 section 2.1: a temporary failure the sender retries.
		return reply.New(451, "4.7.1", "greylist", "Greylisted, please try again later")
	case err != nil:
		// A broken greylist must not hold mail back.
		f.o.Log.Warn("greylisting failed; accepting", "session", env.SessionID, "err", err)
	}
	return nil
}

func (f *spamFilter) Trapped(ctx context.Context, env *Envelope, traps []string, msg []byte, alone bool) {
	m, err := spam.NewMessage(msg, f.envelope(ctx, env, 0))
	if err != nil {
		f.o.Log.Warn("spam trap: message not understood", "session", env.SessionID, "err", err)
		return
	}
	if alone {
		f.o.Memory.Record(m, true) // otherwise CheckSpam records it
	}
	if f.o.Train != nil {
		if err := f.o.Train(ctx, m, true); err != nil {
			f.o.Log.Warn("spam trap: training failed", "session", env.SessionID, "err", err)
		}
	}
	f.o.Log.Info("spam trap hit", "session", env.SessionID, "client", env.ClientIP, "sender", env.Sender, "traps", traps)
}

// envelope is what the filter knows of the session.
func (f *spamFilter) envelope(ctx context.Context, env *Envelope, accountID int64) spam.Envelope {
	e := spam.Envelope{
		ClientIP:   env.ClientIP,
		HELO:       env.Helo,
		MailFrom:   env.Sender,
		Recipients: env.Recipients,
		Auth:       env.Auth,
		Quarantine: env.Quarantine,
		Trapped:    env.Trapped,
		AccountID:  accountID,
	}
	if env.Account != nil {
		e.Authenticated = env.Account.Address
	}
	return e
}

// recipientAccount returns the account mail to the single recipient of env
// goes to, or 0 (several recipients, or one that expands to several).
func (f *spamFilter) recipientAccount(ctx context.Context, env *Envelope) int64 {
	if len(env.Recipients) != 1 || f.o.Dir == nil {
		return 0
	}
	res, err := f.o.Dir.Resolve(ctx, env.Recipients[0])
	if err != nil || len(res.Accounts) != 1 {
		return 0
	}
	return res.Accounts[0].Account.ID
}

// CheckSpam implements SpamFilter.
func (f *spamFilter) CheckSpam(ctx context.Context, env *Envelope, msg []byte) ([]byte, error) {
	if env.Account != nil {
		// Submission: remember what the user sent, for trusted replies.
		if f.o.Memory != nil {
			if id := messageID(msg); id != "" {
				if err := f.o.Memory.RecordSent(ctx, env.Account.ID, id); err != nil {
					f.o.Log.Warn("recording a sent Message-ID failed", "session", env.SessionID, "err", err)
				}
			}
		}
		return nil, nil
	}
	acct := f.recipientAccount(ctx, env)
	clean := spam.StripFields(msg)
	m, err := spam.NewMessage(clean, f.envelope(ctx, env, acct))
	if err != nil {
		return nil, fmt.Errorf("spam filter: %w", err)
	}
	v := f.o.Filter.Check(ctx, m, spam.AccountThresholds(ctx, f.o.Store, acct))
	f.o.Memory.Record(m, v.Spam)
	if f.o.Verdict != nil {
		f.o.Verdict(m, v)
	}
	f.o.Log.Info("spam verdict", "session", env.SessionID, "score", v.Score, "spam", v.Spam, "reject", v.Reject, "tags", tagNames(v.Tags))
	if v.Reject {
		return nil, reply.New(550, "5.7.1", "spam", fmt.Sprintf("Message refused as spam (score %.2f)", v.Score))
	}
	fields := v.Fields()
	out := make([]byte, 0, len(fields)+len(clean))
	out = append(out, fields...)
	return append(out, clean...), nil
}

func tagNames(tags []spam.Tag) []string {
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = t.Name
	}
	return out
}

// messageID returns the Message-ID of msg, "" when none.
func messageID(msg []byte) string {
	p := message.Parse(msg)
	if p.Root == nil || p.Root.Envelope == nil {
		return ""
	}
	return p.Root.Envelope.MessageID
}
