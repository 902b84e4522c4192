package store

import (
	"context"
	"strconv"
	"time"
)

// ReputationCount is how many of a sender's past messages were judged spam
// and how many ham.
type ReputationCount struct {
	Spam, Ham int64
}

// ReputationDelta adds to the counts of one key ("ip:192.0.2.1",
// "net:192.0.2.0/24", "domain:example.org", "addr:a@example.org").
type ReputationDelta struct {
	Key       string
	Spam, Ham int64
}

// SpamThreshold is an account's own spam and reject thresholds (reject 0:
// never).
type SpamThreshold struct {
	Spam, Reject float64
}

// SpamState holds what the spam filter learns as mail passes: greylisting
// triplets, sender reputation and the Message-IDs accounts sent (for
// trusted replies).
type SpamState interface {
	// Greylist looks at a triplet key at now. A key seen for the first
	// time is recorded and refused; one first seen at least delay ago
	// passes, and keeps passing until it has not been seen for expire.
	Greylist(ctx context.Context, key string, now time.Time, delay, expire time.Duration) (pass bool, err error)
	// AddReputation adds the deltas, in one transaction.
	AddReputation(ctx context.Context, deltas []ReputationDelta) error
	// Reputation returns the counts of the keys that have any.
	Reputation(ctx context.Context, keys []string) (map[string]ReputationCount, error)
	// AddSentMessageIDs remembers Message-IDs (without angle brackets) an
	// account sent.
	AddSentMessageIDs(ctx context.Context, accountID int64, ids []string, now time.Time) error
	// SentMessageID reports whether the account (0: any account) sent a
	// message with one of the ids.
	SentMessageID(ctx context.Context, accountID int64, ids []string) (bool, error)
	// SpamThresholds returns the account's own thresholds, or
	// ErrNotFound when it uses the configured ones.
	SpamThresholds(ctx context.Context, accountID int64) (*SpamThreshold, error)
	// SetSpamThresholds sets them; nil goes back to the configured ones.
	SetSpamThresholds(ctx context.Context, accountID int64, t *SpamThreshold) error
	// PruneSpamState forgets greylisting triplets, reputation and sent
	// Message-IDs not seen since before.
	PruneSpamState(ctx context.Context, before time.Time) error
}

// SieveTracker remembers keys for Sieve's duplicate and vacation
// extensions.
type SieveTracker interface {
	// SieveSeen reports whether the account recorded key less than its
	// period ago; if not, it records it now for period. Expired keys are
	// replaced as they are met and removed by PruneSpamState.
	SieveSeen(ctx context.Context, accountID int64, key string, now time.Time, period time.Duration) (bool, error)
}

// MailboxObjectID is a mailbox's object id, the same in IMAP (MAILBOXID,
// RFC 8474 section 4), Sieve (mailboxid, RFC 9042) and JMAP.
func MailboxObjectID(id int64) string { return "F" + strconv.FormatInt(id, 10) }
