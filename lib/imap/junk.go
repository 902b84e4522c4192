package imap

import (
	"context"
	"slices"
	"time"

	"gannet/lib/store"
)

// Junk training: a user's verdicts on messages become training events for
// the account's Bayes database (store.SpamTraining), which the trainer
// consumes; Server.OnTrain hears of them as well. The verdicts are:
//
//   - COPY or MOVE into the \Junk mailbox (RFC 6154) from another one: spam;
//   - COPY or MOVE out of \Junk into a mailbox other than \Trash: ham
//     (throwing spam away says nothing about it);
//   - STORE setting $Junk: spam; STORE setting $NotJunk, or clearing
//     $Junk: ham (the keywords of RFC 9051 section 2.3.2).

// Sources of training events.
const (
	trainMove  = "imap-move"
	trainCopy  = "imap-copy"
	trainStore = "imap-store"
)

// isJunk tells whether mb is the Junk mailbox.
func isJunk(mb *store.Mailbox) bool { return mb.SpecialUse == store.SpecialJunk }

// trainCopied records the verdicts of a COPY or MOVE of msgs (as they are
// in the destination) from mailbox from to mailbox to.
func (s *session) trainCopied(ctx context.Context, from, to *store.Mailbox, msgs []store.Message, move bool) {
	var spam bool
	switch {
	case isJunk(to) && !isJunk(from):
		spam = true
	case isJunk(from) && !isJunk(to) && to.SpecialUse != store.SpecialTrash:
		spam = false
	default:
		return
	}
	source := trainCopy
	if move {
		source = trainMove
	}
	now := time.Now()
	events := make([]store.TrainingEvent, 0, len(msgs))
	for _, m := range msgs {
		events = append(events, store.TrainingEvent{AccountID: s.acct.ID, MessageID: m.ID,
			BlobID: m.BlobID, Spam: spam, Source: source, Time: now})
	}
	s.recordTraining(ctx, events)
}

// trainsOnFlags tells whether a STORE of flags with op may change a
// verdict, so that the flags before it are needed.
func trainsOnFlags(op store.FlagOp, flags []string) bool {
	return op == store.FlagsReplace || slices.Contains(flags, store.KeywordJunk) ||
		slices.Contains(flags, store.KeywordNotJunk)
}

// trainStored records the verdicts of a STORE: before holds the flags of
// the messages before it, after the messages as it left them, changed the
// IDs of those it changed.
func (s *session) trainStored(ctx context.Context, before map[int64][]string, after []store.Message, changed []int64) {
	now := time.Now()
	var events []store.TrainingEvent
	for _, m := range after {
		b, ok := before[m.ID]
		if !ok || !slices.Contains(changed, m.ID) {
			continue
		}
		wasJunk, isJunk := slices.Contains(b, store.KeywordJunk), slices.Contains(m.Flags, store.KeywordJunk)
		wasNot, isNot := slices.Contains(b, store.KeywordNotJunk), slices.Contains(m.Flags, store.KeywordNotJunk)
		var spam bool
		switch {
		case isJunk && !wasJunk:
			spam = true
		case isNot && !wasNot, wasJunk && !isJunk:
			spam = false
		default:
			continue
		}
		events = append(events, store.TrainingEvent{AccountID: s.acct.ID, MessageID: m.ID,
			BlobID: m.BlobID, Spam: spam, Source: trainStore, Time: now})
	}
	s.recordTraining(ctx, events)
}

// recordTraining stores events and tells Server.OnTrain. The command that
// made them has succeeded already, so a failure is logged, not returned.
func (s *session) recordTraining(ctx context.Context, events []store.TrainingEvent) {
	if len(events) == 0 {
		return
	}
	if err := s.srv.Store.AddTrainingEvents(ctx, events); err != nil {
		s.srv.log().Error("junk training", "account", s.acct.Address, "err", err)
		return
	}
	if s.srv.OnTrain != nil {
		s.srv.OnTrain(slices.Clone(events))
	}
}

// flagsOf returns the flags of the messages refs names, by message ID.
func (s *session) flagsOf(ctx context.Context, refs []msgRef) (map[int64][]string, error) {
	uids := make([]uint32, len(refs))
	for i, r := range refs {
		uids[i] = r.uid
	}
	msgs, err := s.srv.Store.MailboxIndex(ctx, s.acct.ID, s.sel.mbox.ID, uids)
	if err != nil {
		return nil, err
	}
	out := make(map[int64][]string, len(msgs))
	for _, m := range msgs {
		out[m.ID] = m.Flags
	}
	return out, nil
}
