// Package store defines Gannet's storage interface: accounts, mailboxes,
// messages, the change log, the queue, bans, spam tokens, Sieve scripts,
// certificates and DKIM keys. Callers see objects, never SQL;
// lib/store/sqlite implements it and a PostgreSQL backend must be able to
// slot in beneath it unchanged.
package store

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors every backend returns (wrapped) so callers can test with errors.Is.
var (
	ErrNotFound      = errors.New("not found")
	ErrExists        = errors.New("already exists")
	ErrQuotaExceeded = errors.New("quota exceeded")
	ErrLeaseLost     = errors.New("queue lease lost")
)

// Store is the whole storage interface. It is safe for concurrent use by many
// goroutines, and several OS processes may open the same store at once.
type Store interface {
	Directory
	Mailboxes
	Messages
	Changes
	Queue
	Bans
	SpamTokens
	SpamTokenUpkeep
	SpamTraining
	SpamState    // spamstate.go
	SieveTracker // spamstate.go
	SieveScripts
	Certificates
	DKIMKeys
	Blobs
	TextIndex
	// Close releases the store's connections.
	Close() error
}

// ---------------------------------------------------------------------------
// Directory: domains, accounts, aliases, groups, mailing lists.

// Domain is a mail domain the server is final destination for.
type Domain struct {
	ID   int64
	Name string // lower-case ASCII (A-labels for IDN)
	// CatchAll, when set, is the account address that receives mail for
	// unknown local parts of this domain.
	CatchAll string
	Created  time.Time
}

// Account is a user who can log in and owns mailboxes.
type Account struct {
	ID       int64
	DomainID int64
	// Address is the canonical login, local@domain, lower-case, ASCII domain.
	Address      string
	DisplayName  string
	PasswordHash string // PHC string, e.g. $argon2id$v=19$m=...,t=...,p=...$salt$hash
	// SCRAMSHA256 holds the SCRAM-SHA-256 keys derived from the password
	// (RFC 7677), in RFC 5803 form:
	// SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>.
	// It is "" when the account has none (SCRAM-SHA-256 then fails for it).
	SCRAMSHA256 string
	// QuotaBytes and QuotaMessages limit storage; 0 means unlimited.
	QuotaBytes    int64
	QuotaMessages int64
	Disabled      bool
	Created       time.Time
}

// AccountUsage is what an account currently stores.
type AccountUsage struct {
	Bytes    int64
	Messages int64
}

// AppPassword is an extra password for one account, for one client.
type AppPassword struct {
	ID        int64
	AccountID int64
	Label     string
	Hash      string
	Created   time.Time
	LastUsed  time.Time
}

// Alias maps an address to one or more target addresses (local or remote).
type Alias struct {
	ID      int64
	Address string
	Targets []string
}

// GroupKind tells a group from a mailing list.
type GroupKind string

const (
	// KindGroup is a shared address: mail goes to every member account and
	// every member may send as the group's address.
	KindGroup GroupKind = "group"
	// KindList is a mailing list: mail goes to every member address (local
	// or remote); members do not gain the right to send as it.
	KindList GroupKind = "list"
)

// Group is a group or mailing list address and its members.
type Group struct {
	ID      int64
	Kind    GroupKind
	Address string
	Members []string
}

// Directory stores domains, accounts and the addresses that point at them.
type Directory interface {
	CreateDomain(ctx context.Context, d *Domain) error
	GetDomain(ctx context.Context, name string) (*Domain, error)
	ListDomains(ctx context.Context) ([]Domain, error)
	UpdateDomain(ctx context.Context, d *Domain) error
	// DeleteDomain fails with ErrExists while accounts remain in it.
	DeleteDomain(ctx context.Context, name string) error

	// CreateAccount also creates the default mailboxes (INBOX, Sent, Drafts,
	// Junk, Trash, Archive) with their special-use attributes.
	CreateAccount(ctx context.Context, a *Account) error
	GetAccount(ctx context.Context, address string) (*Account, error)
	GetAccountByID(ctx context.Context, id int64) (*Account, error)
	// ListAccounts lists the accounts of one domain, or all when domain is "".
	ListAccounts(ctx context.Context, domain string) ([]Account, error)
	UpdateAccount(ctx context.Context, a *Account) error
	// DeleteAccount removes the account with its mailboxes, messages and scripts.
	DeleteAccount(ctx context.Context, address string) error
	AccountUsage(ctx context.Context, accountID int64) (AccountUsage, error)

	AddAppPassword(ctx context.Context, p *AppPassword) error
	ListAppPasswords(ctx context.Context, accountID int64) ([]AppPassword, error)
	DeleteAppPassword(ctx context.Context, accountID, id int64) error

	CreateAlias(ctx context.Context, a *Alias) error
	GetAlias(ctx context.Context, address string) (*Alias, error)
	ListAliases(ctx context.Context, domain string) ([]Alias, error)
	DeleteAlias(ctx context.Context, address string) error

	CreateGroup(ctx context.Context, g *Group) error
	GetGroup(ctx context.Context, address string) (*Group, error)
	ListGroups(ctx context.Context, kind GroupKind, domain string) ([]Group, error)
	AddGroupMember(ctx context.Context, address, member string) error
	RemoveGroupMember(ctx context.Context, address, member string) error
	DeleteGroup(ctx context.Context, address string) error
	// GroupsWithMember lists the groups an address belongs to (for senders
	// allowed to use a group's address).
	GroupsWithMember(ctx context.Context, member string) ([]Group, error)
}

// ---------------------------------------------------------------------------
// Mailboxes.

// Special-use attributes (RFC 6154).
const (
	SpecialAll     = `\All`
	SpecialArchive = `\Archive`
	SpecialDrafts  = `\Drafts`
	SpecialFlagged = `\Flagged`
	SpecialJunk    = `\Junk`
	SpecialSent    = `\Sent`
	SpecialTrash   = `\Trash`
)

// Mailbox is a folder of messages in one account.
type Mailbox struct {
	ID        int64
	AccountID int64
	// Name is the full hierarchical name with "/" as separator, "INBOX" for
	// the inbox.
	Name          string
	SpecialUse    string
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Subscribed    bool
	Created       time.Time
}

// MailboxStatus holds counters for STATUS and JMAP Mailbox/get.
type MailboxStatus struct {
	Messages uint32
	Unseen   uint32
	Size     int64
	// Deleted counts messages flagged \Deleted.
	Deleted uint32
}

// Mailboxes stores folders.
type Mailboxes interface {
	CreateMailbox(ctx context.Context, m *Mailbox) error
	GetMailbox(ctx context.Context, accountID int64, name string) (*Mailbox, error)
	GetMailboxByID(ctx context.Context, accountID, id int64) (*Mailbox, error)
	// GetMailboxBySpecialUse finds e.g. the \Junk mailbox of an account.
	GetMailboxBySpecialUse(ctx context.Context, accountID int64, use string) (*Mailbox, error)
	ListMailboxes(ctx context.Context, accountID int64) ([]Mailbox, error)
	// RenameMailbox renames a mailbox and its children.
	RenameMailbox(ctx context.Context, accountID, id int64, newName string) error
	SetMailboxSubscribed(ctx context.Context, accountID, id int64, subscribed bool) error
	DeleteMailbox(ctx context.Context, accountID, id int64) error
	MailboxStatus(ctx context.Context, accountID, id int64) (MailboxStatus, error)
	// ClaimRecent raises the mailbox's \Recent boundary (RFC 3501 section
	// 2.3.2: messages with a UID at or above it are new to IMAP4rev1
	// sessions) to upTo when higher, and returns the boundary before and
	// the number of messages at or above it; upTo 0 only reads them.
	ClaimRecent(ctx context.Context, accountID, mailboxID int64, upTo uint32) (from, count uint32, err error)
}

// ---------------------------------------------------------------------------
// Messages.

// Well-known system flags (RFC 9051 section 2.3.2).
const (
	FlagSeen       = `\Seen`
	FlagAnswered   = `\Answered`
	FlagFlagged    = `\Flagged`
	FlagDeleted    = `\Deleted`
	FlagDraft      = `\Draft`
	KeywordJunk    = `$Junk`
	KeywordNotJunk = `$NotJunk`
)

// Meta is what ingest learned from parsing a message once. Structure is the
// encoded body structure with part offsets (lib/message owns its format); the
// store keeps it opaque and hands it back unchanged.
type Meta struct {
	Date          time.Time
	Subject       string
	From          string // first From address, lower-case
	To            []string
	MessageID     string // without angle brackets
	InReplyTo     []string
	References    []string
	Preview       string // up to 256 characters of body text
	HasAttachment bool
	// Structure is lib/message's encoding of envelope, body structure, part
	// offsets and header index.
	Structure []byte
}

// Message is one message in one mailbox.
type Message struct {
	ID           int64 // unique in the store, stable across MOVE
	AccountID    int64
	MailboxID    int64
	UID          uint32
	ModSeq       uint64
	BlobID       string // hex SHA-256 of the raw message
	Size         int64
	InternalDate time.Time
	SaveDate     time.Time
	Flags        []string // system flags and keywords, sorted
	ThreadID     int64
	Meta         Meta
}

// NewMessage is a message to put into a mailbox.
type NewMessage struct {
	AccountID    int64
	MailboxID    int64
	Raw          []byte
	Meta         Meta
	Flags        []string
	InternalDate time.Time // zero means now
	// IgnoreQuota stores even over quota (e.g. a DSN to the postmaster).
	IgnoreQuota bool
	// DeliveryKey, when set, makes the delivery idempotent: a second
	// message with the same key for the same account is not stored, and
	// AddMessages returns a Message with ID 0 for it. queued sets it to the
	// queue entry and recipient, so that an attempt repeated after a crash
	// does not deliver twice.
	DeliveryKey string
}

// FlagOp is how UpdateFlags changes flags.
type FlagOp int

const (
	FlagsAdd FlagOp = iota
	FlagsRemove
	FlagsReplace
)

// FlagUpdate is what UpdateFlagsIf did.
type FlagUpdate struct {
	// Messages holds every message found, with its flags and ModSeq after
	// the update (IDs not found are left out).
	Messages []Message
	// Changed lists the IDs of the messages whose flags changed.
	Changed []int64
	// Modified lists the IDs of the messages that failed the
	// unchangedSince test and were left alone.
	Modified []int64
}

// IndexedMessage is one message in a MailboxIndex listing.
type IndexedMessage struct {
	ID     int64
	UID    uint32
	ModSeq uint64
	Flags  []string // system flags and keywords, sorted
}

// MessageFilter narrows a message listing.
type MessageFilter struct {
	MailboxID int64
	// UIDs restricts to these UIDs when not nil.
	UIDs []uint32
	// ChangedSince returns only messages with a greater ModSeq when non-zero.
	ChangedSince uint64
	// MinUID and MaxUID restrict to UIDs from MinUID to MaxUID inclusive
	// when MaxUID is non-zero: one range scan of the mailbox's UIDs, where
	// UIDs names each. They are meant with MailboxID set.
	MinUID, MaxUID uint32
	// StructureOnly fills in only Structure of each message's Meta, leaving
	// its other fields zero, so that less of each message is read (what
	// IMAP FETCH needs, PREVIEW aside).
	StructureOnly bool
}

// Messages stores messages. Every change bumps the account's modification
// sequence and is recorded in the change log.
type Messages interface {
	// AddMessages stores messages durably. Concurrent calls from any number of
	// goroutines share commits (group commit); when AddMessages returns nil
	// every message is on disk. The returned slice gives each message's ID,
	// UID and ModSeq in order.
	AddMessages(ctx context.Context, msgs []NewMessage) ([]Message, error)
	GetMessage(ctx context.Context, accountID, id int64) (*Message, error)
	ListMessages(ctx context.Context, accountID int64, f MessageFilter) ([]Message, error)
	// MailboxIndex lists the messages of a mailbox by UID with only what
	// numbers them and their flags (IMAP SELECT's view), reading no
	// metadata. uids restricts it to those UIDs when not nil.
	MailboxIndex(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]IndexedMessage, error)
	UpdateFlags(ctx context.Context, accountID int64, ids []int64, op FlagOp, flags []string) ([]Message, error)
	// UpdateFlagsIf is UpdateFlags that leaves alone the messages whose
	// ModSeq is above unchangedSince, tested in the same transaction (the
	// conditional STORE of RFC 7162 section 3.1.3; math.MaxUint64 tests
	// nothing). It also tells which messages it changed.
	UpdateFlagsIf(ctx context.Context, accountID int64, ids []int64, op FlagOp, flags []string, unchangedSince uint64) (FlagUpdate, error)
	// MoveMessages moves messages to another mailbox of the same account,
	// giving them new UIDs there (RFC 6851).
	MoveMessages(ctx context.Context, accountID int64, ids []int64, toMailbox int64) ([]Message, error)
	CopyMessages(ctx context.Context, accountID int64, ids []int64, toMailbox int64) ([]Message, error)
	// ExpungeMessages removes messages for good.
	ExpungeMessages(ctx context.Context, accountID int64, ids []int64) error
	// PruneDeliveryKeys forgets the delivery keys recorded before before,
	// and returns how many it removed.
	PruneDeliveryKeys(ctx context.Context, before time.Time) (int64, error)
}

// TextField selects what SearchText looks in.
type TextField int

// The fields of SearchText: IMAP SEARCH BODY and TEXT (RFC 9051 section 6.4.4).
const (
	TextBody TextField = iota // the decoded text parts
	TextAll                   // the header and the decoded text parts
)

// IndexEntry is the text of one message for the full-text index.
type IndexEntry struct {
	MessageID int64
	Header    string // the header as written, then with RFC 2047 words decoded
	Body      string // the text parts, decoded to UTF-8
}

// TextResult is the answer of SearchText for one mailbox.
type TextResult struct {
	Matches   []int64 // indexed messages whose text contains the query
	Unindexed []int64 // messages not indexed yet: the caller must scan them
}

// TextIndex is the full-text index of messages, filled in the background
// after delivery.
type TextIndex interface {
	// IndexPending returns up to limit messages not indexed yet, oldest first.
	IndexPending(ctx context.Context, limit int) ([]Message, error)
	// IndexMessages stores the text of messages and marks them indexed.
	// Entries of messages gone meanwhile are dropped.
	IndexMessages(ctx context.Context, entries []IndexEntry) error
	// SearchText finds the mailbox's messages whose field contains query,
	// case-insensitively. The query must be at least MinTextQuery
	// characters long.
	SearchText(ctx context.Context, accountID, mailboxID int64, query string, field TextField) (TextResult, error)
}

// MinTextQuery is the shortest query, in characters, SearchText answers;
// shorter needles are matched by scanning.
const MinTextQuery = 3

// Blobs reads raw message bytes, content-addressed by hex SHA-256.
type Blobs interface {
	// ReadBlob returns length bytes from offset (length < 0: to the end).
	ReadBlob(ctx context.Context, blobID string, offset, length int64) ([]byte, error)
	// OpenBlob streams a whole blob.
	OpenBlob(ctx context.Context, blobID string) (io.ReadCloser, error)
}

// ---------------------------------------------------------------------------
// Change log.

// ChangeKind names the kind of object a change is about.
type ChangeKind string

const (
	ChangeMailbox ChangeKind = "mailbox"
	ChangeMessage ChangeKind = "message"
	// ChangePruned marks the horizon of an account's change log: the
	// changes up to its ModSeq were pruned (PruneChanges). ChangesSince
	// returns it first when asked for changes from below the horizon, so
	// a reader knows it cannot be told everything since then.
	ChangePruned ChangeKind = "pruned"
)

// ChangeOp names what happened to it.
type ChangeOp string

const (
	OpCreated   ChangeOp = "created"
	OpUpdated   ChangeOp = "updated"
	OpDestroyed ChangeOp = "destroyed"
)

// Change is one entry of an account's change log.
type Change struct {
	AccountID int64
	ModSeq    uint64
	Kind      ChangeKind
	ObjectID  int64 // message or mailbox ID
	MailboxID int64 // for messages: the mailbox it is (or was) in
	UID       uint32
	Op        ChangeOp
	Time      time.Time
}

// Changes serves CONDSTORE/QRESYNC, JMAP /changes and push.
type Changes interface {
	// AccountModSeq is the account's highest modification sequence.
	AccountModSeq(ctx context.Context, accountID int64) (uint64, error)
	// ChangesSince lists changes with ModSeq > since, oldest first, at most
	// limit (0: all).
	ChangesSince(ctx context.Context, accountID int64, since uint64, limit int) ([]Change, error)
	// PruneChanges removes, for every account, the changes made before
	// the given time, leaving a ChangePruned entry at each account's new
	// horizon. It returns how many changes it removed.
	PruneChanges(ctx context.Context, before time.Time) (int64, error)
}

// ---------------------------------------------------------------------------
// Queue.

// QueueStatus is where an entry stands.
type QueueStatus string

const (
	QueueActive QueueStatus = "active" // waiting for its next attempt or being worked
	QueueHeld   QueueStatus = "held"   // kept back by the administrator
	QueueDone   QueueStatus = "done"   // every recipient settled
)

// RecipientStatus is where one recipient of a queue entry stands.
type RecipientStatus string

const (
	RcptPending   RecipientStatus = "pending"
	RcptDelivered RecipientStatus = "delivered"
	RcptFailed    RecipientStatus = "failed" // permanently
)

// QueueRecipient is one envelope recipient with its DSN parameters (RFC 3461).
type QueueRecipient struct {
	Address string
	// Notify is the DSN NOTIFY list (SUCCESS, FAILURE, DELAY or NEVER).
	Notify []string
	// ORcpt is the original recipient, "rfc822;addr".
	ORcpt     string
	Status    RecipientStatus
	LastError string
	Attempts  int
}

// QueueEntry is one message waiting for delivery.
type QueueEntry struct {
	ID          int64
	Sender      string // "" for the null sender
	Recipients  []QueueRecipient
	BlobID      string
	Size        int64
	Created     time.Time
	NextAttempt time.Time
	Attempts    int
	Status      QueueStatus
	// DSN envelope parameters (RFC 3461): RET is FULL or HDRS.
	DSNRet   string
	DSNEnvID string
	// RequireTLS records the REQUIRETLS MAIL parameter (RFC 8689).
	RequireTLS bool
	// SMTPUTF8 records the SMTPUTF8 MAIL parameter (RFC 6531).
	SMTPUTF8 bool
	// AuthAccount is the authenticated submitter's account ID, 0 if none.
	AuthAccount   int64
	LeaseOwner    string
	LeaseUntil    time.Time
	DelayNotified bool
	LastError     string
}

// NewQueueEntry is a message to queue.
type NewQueueEntry struct {
	Sender      string
	Recipients  []QueueRecipient
	Raw         []byte
	DSNRet      string
	DSNEnvID    string
	RequireTLS  bool
	SMTPUTF8    bool
	AuthAccount int64
}

// QueueFilter narrows a queue listing; empty fields match everything.
type QueueFilter struct {
	Sender    string
	Recipient string
	Domain    string // recipient domain
	Status    QueueStatus
}

// Queue stores messages waiting for delivery. Entries are leased: a worker
// that crashes loses its lease when it runs out and another takes the entry.
type Queue interface {
	// Enqueue stores entries durably (group commit, like AddMessages).
	Enqueue(ctx context.Context, entries []NewQueueEntry) ([]int64, error)
	// Lease takes up to n active entries due at or before now that nobody else
	// holds, and holds them for owner until now+d.
	Lease(ctx context.Context, owner string, n int, now time.Time, d time.Duration) ([]QueueEntry, error)
	// RenewLease extends owner's lease; ErrLeaseLost if it is no longer owner's.
	RenewLease(ctx context.Context, id int64, owner string, until time.Time) error
	// UpdateQueueEntry saves recipient states, attempts, next attempt and
	// status, and releases the lease; ErrLeaseLost if owner no longer holds it.
	UpdateQueueEntry(ctx context.Context, e *QueueEntry, owner string) error
	GetQueueEntry(ctx context.Context, id int64) (*QueueEntry, error)
	ListQueue(ctx context.Context, f QueueFilter) ([]QueueEntry, error)
	// SetQueueStatus holds, releases (active) or settles an entry; a zero
	// nextAttempt leaves it unchanged.
	SetQueueStatus(ctx context.Context, id int64, status QueueStatus, nextAttempt time.Time) error
	DeleteQueueEntry(ctx context.Context, id int64) error
}

// ---------------------------------------------------------------------------
// Bans.

// BanKind says what a ban is keyed on.
type BanKind string

const (
	BanIP    BanKind = "ip"    // an address or CIDR
	BanLogin BanKind = "login" // an account name
)

// Ban keeps a stranger out until Expires (zero: for good).
type Ban struct {
	Kind    BanKind
	Key     string
	Reason  string
	Created time.Time
	Expires time.Time
	// Allow marks an allow-list entry rather than a ban.
	Allow bool
}

// Bans stores bans and allow-list entries.
type Bans interface {
	PutBan(ctx context.Context, b *Ban) error
	DeleteBan(ctx context.Context, kind BanKind, key string) error
	// ListBans lists entries not expired at now.
	ListBans(ctx context.Context, now time.Time) ([]Ban, error)
	// GetBan returns the live entry for key, or ErrNotFound.
	GetBan(ctx context.Context, kind BanKind, key string, now time.Time) (*Ban, error)

	// CountBanEvent adds one to the counter of event for (kind, key) and
	// returns its new value. A counter whose window has run out at now
	// starts again at one, with a new window of the given length.
	CountBanEvent(ctx context.Context, kind BanKind, key, event string, window time.Duration, now time.Time) (int, error)
	// ListBanCounters lists the counters whose window is still open at
	// now, for (kind, key), or for every key of kind when key is "", by
	// key and event.
	ListBanCounters(ctx context.Context, kind BanKind, key string, now time.Time) ([]BanCounter, error)
	// ResetBanCounters deletes the counters of (kind, key).
	ResetBanCounters(ctx context.Context, kind BanKind, key string) error
}

// BanCounter counts the failures or abuse of one kind (Event: "auth",
// "rcpt", "protocol", "scanner"...) from an address or for a login within
// a window, for lib/ban.
type BanCounter struct {
	Kind  BanKind
	Key   string
	Event string
	Count int
	// Start is when the window began, Until when it ends.
	Start, Until time.Time
	// Last is the latest event.
	Last time.Time
}

// ---------------------------------------------------------------------------
// Spam tokens (Bayes).

// TokenCount is how often a token was seen in spam and in ham.
type TokenCount struct {
	Spam uint32
	Ham  uint32
}

// BayesTotals counts the messages a Bayes database was trained on.
type BayesTotals struct {
	Spam uint32
	Ham  uint32
}

// LearnResult says what LearnMessage did.
type LearnResult int

const (
	// Learned: the message was new to the database and was trained.
	Learned LearnResult = iota
	// Relearned: it had been trained the other way; that was undone first.
	Relearned
	// AlreadyLearned: it had been trained the same way; nothing changed.
	AlreadyLearned
	// Forgotten: its earlier training was undone.
	Forgotten
	// NotLearned: forgetting a message that was never trained; nothing changed.
	NotLearned
)

// SpamTokens stores Bayes token counts per account; account 0 is global.
type SpamTokens interface {
	// TrainTokens adds (or with negative deltas removes) one message's tokens.
	TrainTokens(ctx context.Context, accountID int64, tokens []uint64, spamDelta, hamDelta int) error
	// TokenCounts returns the counts of the tokens that are known.
	TokenCounts(ctx context.Context, accountID int64, tokens []uint64) (map[uint64]TokenCount, error)
	BayesTotals(ctx context.Context, accountID int64) (BayesTotals, error)
	// BayesGeneration returns BayesTotals and the database's generation, a
	// number that changes whenever its tokens change (every TrainTokens and
	// LearnMessage that changes something), so that a reader caching the
	// counts knows when to read them again.
	BayesGeneration(ctx context.Context, accountID int64) (BayesTotals, int64, error)
	// LearnMessage trains (or with forget untrains) one message's distinct
	// tokens as spam or ham, in one transaction with the record of learned
	// messages (msgHash names the message): a message already learned the
	// same way is not counted twice; one learned the other way is moved.
	LearnMessage(ctx context.Context, accountID int64, msgHash uint64, tokens []uint64, spam, forget bool) (LearnResult, error)
	// ScanTokens calls fn for every token of the account (0: global) whose
	// spam+ham count is at least minTotal, in no particular order, within
	// one read transaction.
	ScanTokens(ctx context.Context, accountID int64, minTotal int, fn func(token uint64, c TokenCount) error) error
}

// LearnItem is one message for LearnMessages: its hash (as LearnMessage's
// msgHash) and its tokens.
type LearnItem struct {
	Hash   uint64
	Tokens []uint64
}

// SpamTokenUpkeep holds the bulk operations on Bayes databases: learning
// many messages at once and expiring tokens. (Apart from SpamTokens so that
// in-memory SpamTokens of benchmarks and tests need not implement them.)
type SpamTokenUpkeep interface {
	// LearnMessages is LearnMessage for each of msgs in order, in one
	// transaction: the results are those of learning them one by one.
	LearnMessages(ctx context.Context, accountID int64, msgs []LearnItem, spam, forget bool) ([]LearnResult, error)
	// ExpireTokens removes from the account's database (accountID < 0:
	// every database) the tokens seen in fewer than two messages and not
	// trained since the day of before, then, when more than keep tokens
	// remain (keep <= 0: no cap), the least recently trained ones beyond
	// keep. It returns how many tokens it removed and changes the
	// generation of each database it removed tokens from.
	ExpireTokens(ctx context.Context, accountID int64, before time.Time, keep int) (int, error)
}

// TrainingEvent is a user's verdict on one message, waiting for the Bayes
// trainer: the message was moved or copied into or out of Junk, or $Junk
// or $NotJunk was set or cleared on it.
type TrainingEvent struct {
	ID        int64 // set by AddTrainingEvents, ascending
	AccountID int64
	MessageID int64
	// BlobID names the raw message (the message may be expunged by the
	// time the trainer reads the event).
	BlobID string
	// Spam is the verdict: spam when true, ham when false.
	Spam bool
	// Source tells what made the event, e.g. "imap-move", "imap-copy",
	// "imap-store".
	Source string
	Time   time.Time
}

// SpamTraining queues training events for the Bayes trainer.
type SpamTraining interface {
	// AddTrainingEvents records events in one transaction; it sets each
	// event's ID (and Time when zero).
	AddTrainingEvents(ctx context.Context, events []TrainingEvent) error
	// ListTrainingEvents returns up to limit events with an ID above
	// after, oldest first, of every account.
	ListTrainingEvents(ctx context.Context, after int64, limit int) ([]TrainingEvent, error)
	// ClaimTrainingEvents hands owner up to limit events past the durable
	// cursor, oldest first, and leases them to owner until lease passes:
	// while the lease holds, other owners get none. It returns nothing
	// when another owner holds a live lease or no event waits.
	ClaimTrainingEvents(ctx context.Context, owner string, limit int, lease time.Duration) ([]TrainingEvent, error)
	// FinishTrainingEvents moves the cursor past through, deletes the
	// events up to it and ends owner's lease. It fails when owner's lease
	// was lost to another owner (the other owner applies the events).
	FinishTrainingEvents(ctx context.Context, owner string, through int64) error
}

// ---------------------------------------------------------------------------
// Sieve scripts.

// SieveScript is one stored Sieve script of an account.
type SieveScript struct {
	AccountID int64
	Name      string
	Content   string
	Active    bool
	Updated   time.Time
}

// SieveScripts stores Sieve scripts; at most one per account is active.
type SieveScripts interface {
	PutSieveScript(ctx context.Context, s *SieveScript) error
	// PutSieveScriptWithin is PutSieveScript, except that creating a
	// script fails with ErrQuotaExceeded when the account already has
	// maxScripts (0: no limit), counted in the transaction that writes, so
	// that concurrent sessions cannot pass the limit together. Replacing a
	// script is always allowed.
	PutSieveScriptWithin(ctx context.Context, s *SieveScript, maxScripts int) error
	GetSieveScript(ctx context.Context, accountID int64, name string) (*SieveScript, error)
	// ActiveSieveScript returns the active script or ErrNotFound.
	ActiveSieveScript(ctx context.Context, accountID int64) (*SieveScript, error)
	ListSieveScripts(ctx context.Context, accountID int64) ([]SieveScript, error)
	// ActivateSieveScript makes name the active script; "" deactivates all.
	ActivateSieveScript(ctx context.Context, accountID int64, name string) error
	RenameSieveScript(ctx context.Context, accountID int64, oldName, newName string) error
	DeleteSieveScript(ctx context.Context, accountID int64, name string) error
}

// ---------------------------------------------------------------------------
// Certificates.

// Certificate is a certificate chain and key for some names, PEM-encoded.
type Certificate struct {
	Name     string // the primary domain
	Domains  []string
	CertPEM  []byte
	KeyPEM   []byte
	NotAfter time.Time
	Updated  time.Time
}

// Certificates stores TLS certificates (from ACME or imported).
type Certificates interface {
	PutCertificate(ctx context.Context, c *Certificate) error
	GetCertificate(ctx context.Context, name string) (*Certificate, error)
	ListCertificates(ctx context.Context) ([]Certificate, error)
	DeleteCertificate(ctx context.Context, name string) error
}

// ---------------------------------------------------------------------------
// DKIM keys.

// DKIMKey is a domain's DKIM signing key (RFC 6376). The private key is
// stored as given; protecting it at rest is the caller's concern.
type DKIMKey struct {
	ID       int64
	Domain   string // a local domain, lower-case ASCII (A-labels)
	Selector string // s= (RFC 6376 section 3.1)
	// Algorithm is a= without variants: "rsa-sha256" or "ed25519-sha256"
	// (RFC 8463).
	Algorithm  string
	PrivateKey []byte // PKCS #8, DER
	Created    time.Time
	// Active keys sign new mail; an inactive key is kept (and its DNS
	// record may stay published) while signatures made with it age out.
	Active bool
}

// DKIMKeys stores the DKIM signing keys of the local domains. Deleting a
// domain deletes its keys.
type DKIMKeys interface {
	// AddDKIMKey stores k and returns its ID (also set in k.ID, and
	// k.Created when zero). ErrExists for a domain and selector that have a
	// key already, ErrNotFound for a domain that is not local.
	AddDKIMKey(ctx context.Context, k *DKIMKey) (int64, error)
	// ListDKIMKeys lists the keys of one domain, or all when domain is "",
	// ordered by domain and selector.
	ListDKIMKeys(ctx context.Context, domain string) ([]DKIMKey, error)
	// SetDKIMKeyActive makes a key sign new mail, or stop; ErrNotFound when
	// there is no such key.
	SetDKIMKeyActive(ctx context.Context, domain, selector string, active bool) error
	// DeleteDKIMKey deletes a key; ErrNotFound when there is no such key.
	DeleteDKIMKey(ctx context.Context, domain, selector string) error
}
