package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"gannet/lib/store"
)

// Flags are kept in two columns of the message row (see schema/001_core.sql):
// the system flags as bits of sysflags, so that STATUS counts and SEARCH
// UNSEEN/DELETED are integer tests SQLite can do without parsing, and the
// keywords as one space-delimited text with a space at each end, so that a
// keyword test is instr(keywords, ' $Junk ') > 0. A separate flags table
// would cost a row per flag per message on every ingest and a join on every
// read; flags change one message at a time, so one row per message wins.

// systemFlags maps each system flag to its bit in sysflags.
var systemFlags = []struct {
	name string
	bit  int64
}{
	{store.FlagSeen, 1},
	{store.FlagAnswered, 2},
	{store.FlagFlagged, 4},
	{store.FlagDeleted, 8},
	{store.FlagDraft, 16},
}

// maxKeyword bounds a keyword's length in bytes.
const maxKeyword = 255

// maxThreadRefs bounds how many Message-IDs of one message take part in
// threading: its own, In-Reply-To and the last References.
const maxThreadRefs = 64

// parseFlags splits flags into system flag bits and sorted, unique
// keywords. System flags are recognised case-insensitively; any other flag
// starting with a backslash, and keywords with spaces or control characters,
// are refused.
func parseFlags(flags []string) (int64, []string, error) {
	var sys int64
	var kw []string
next:
	for _, f := range flags {
		for _, sf := range systemFlags {
			if strings.EqualFold(f, sf.name) {
				sys |= sf.bit
				continue next
			}
		}
		if f == "" || len(f) > maxKeyword || f[0] == '\\' {
			return 0, nil, fmt.Errorf("invalid flag %q", f)
		}
		for i := 0; i < len(f); i++ {
			if f[i] <= ' ' || f[i] == 0x7f {
				return 0, nil, fmt.Errorf("invalid flag %q", f)
			}
		}
		kw = append(kw, f)
	}
	slices.Sort(kw)
	return sys, slices.Compact(kw), nil
}

// encodeKeywords gives the stored form of sorted keywords: " a b ".
func encodeKeywords(kw []string) string {
	if len(kw) == 0 {
		return " "
	}
	return " " + strings.Join(kw, " ") + " "
}

// flagList gives the sorted flags of stored sysflags and keywords.
func flagList(sys int64, keywords string) []string {
	out := strings.Fields(keywords)
	for _, sf := range systemFlags {
		if sys&sf.bit != 0 {
			out = append(out, sf.name)
		}
	}
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// applyFlags computes the flags after op.
func applyFlags(op store.FlagOp, sys int64, kw []string, opSys int64, opKw []string) (int64, []string, error) {
	switch op {
	case store.FlagsReplace:
		return opSys, opKw, nil
	case store.FlagsAdd:
		out := append(slices.Clone(kw), opKw...)
		slices.Sort(out)
		return sys | opSys, slices.Compact(out), nil
	case store.FlagsRemove:
		out := slices.DeleteFunc(slices.Clone(kw), func(k string) bool { return slices.Contains(opKw, k) })
		return sys &^ opSys, out, nil
	}
	return 0, nil, fmt.Errorf("unknown flag operation %d", op)
}

// joinList and splitList store a list of strings as newline-separated text.
func joinList(ss []string) string { return strings.Join(ss, "\n") }

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// cleanList drops newlines from list items (they separate items in the
// stored form) and empty items.
func cleanList(ss []string) []string {
	var out []string
	for _, s := range ss {
		s = strings.TrimSpace(strings.NewReplacer("\r", "", "\n", "").Replace(s))
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// threadRefs lists the Message-IDs by which meta joins a thread.
func threadRefs(meta *store.Meta) []string {
	refs := []string{} // encodes as [], never null
	add := func(id string) {
		id = strings.TrimSpace(strings.Trim(strings.TrimSpace(id), "<>"))
		if id != "" && len(id) <= 998 && !slices.Contains(refs, id) {
			refs = append(refs, id)
		}
	}
	add(meta.MessageID)
	for _, r := range meta.InReplyTo {
		add(r)
	}
	r := meta.References
	if len(r) > maxThreadRefs {
		r = r[len(r)-maxThreadRefs:]
	}
	for i := len(r) - 1; i >= 0; i-- {
		add(r[i])
	}
	return refs
}

// The statements of the ingest path (prepared once, see hotQueries).
const (
	qAccountChange = `UPDATE accounts SET modseq = modseq + 1,
		used_bytes = used_bytes + ?, used_messages = used_messages + ? WHERE id = ?
		RETURNING modseq, used_bytes, used_messages, quota_bytes, quota_messages`
	qNextUID = `UPDATE mailboxes SET uidnext = uidnext + 1, highest_modseq = ?
		WHERE id = ? AND account_id = ? RETURNING uidnext - 1`
	qTouchMailbox = "UPDATE mailboxes SET highest_modseq = max(highest_modseq, ?) WHERE id = ?"
	qThreadLookup = `SELECT thread_id FROM thread_refs WHERE account_id = ?
		AND ref IN (SELECT value FROM json_each(?)) ORDER BY thread_id LIMIT 1`
	qMessageInsert = `INSERT INTO messages (account_id, mailbox_id, uid, modseq, blob_id, size,
		internal_date, save_date, thread_id, sysflags, keywords, date, subject, from_addr, to_addrs, message_id,
		in_reply_to, refs, preview, has_attachment, structure)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`
	qThreadSet = "UPDATE messages SET thread_id = ? WHERE id = ?"
	// qDeliveryKey records a delivery key; no row changes for a key seen
	// before.
	qDeliveryKey = "INSERT OR IGNORE INTO delivery_keys (account_id, key, created) VALUES (?, ?, ?)"
	qThreadRefs  = `INSERT INTO thread_refs (account_id, ref, thread_id)
		SELECT ?, value, ? FROM json_each(?) WHERE true ON CONFLICT DO NOTHING`
)

const msgCols = `id, account_id, mailbox_id, uid, modseq, blob_id, size, internal_date, save_date,
	thread_id, sysflags, keywords, date, subject, from_addr, to_addrs, message_id, in_reply_to,
	refs, preview, has_attachment, structure`

func scanMessage(sc rowScanner) (store.Message, error) {
	var m store.Message
	var uid, internal, saved, sys, date int64
	var kw, to, irt, refs string
	var att int
	err := sc.Scan(&m.ID, &m.AccountID, &m.MailboxID, &uid, &m.ModSeq, &m.BlobID, &m.Size, &internal, &saved,
		&m.ThreadID, &sys, &kw, &date, &m.Meta.Subject, &m.Meta.From, &to, &m.Meta.MessageID, &irt,
		&refs, &m.Meta.Preview, &att, &m.Meta.Structure)
	m.UID, m.InternalDate, m.SaveDate = uint32(uid), goTime(internal), goTime(saved)
	m.Flags = flagList(sys, kw)
	m.Meta.Date, m.Meta.To, m.Meta.InReplyTo, m.Meta.References = goTime(date), splitList(to), splitList(irt), splitList(refs)
	m.Meta.HasAttachment = att != 0
	return m, err
}

// leanCols are the columns of a listing with StructureOnly set: msgCols
// without account_id (the caller knows it) and the Meta fields other than
// the structure, which are most of the bytes of a row.
const leanCols = `id, mailbox_id, uid, modseq, blob_id, size, internal_date, save_date,
	thread_id, sysflags, keywords, structure`

// leanRow reads rows of leanCols. It keeps the scratch values and the
// destination list from row to row, and scans into the caller's Message,
// so that a row costs no allocation of its own beyond the values read.
type leanRow struct {
	uid, internal, saved, sys int64
	kw                        string
	dest                      [12]any
}

// scan reads the current row into m; the account ID is left to the
// caller.
func (r *leanRow) scan(sc rowScanner, m *store.Message) error {
	r.dest = [12]any{&m.ID, &m.MailboxID, &r.uid, &m.ModSeq, &m.BlobID, &m.Size, &r.internal, &r.saved,
		&m.ThreadID, &r.sys, &r.kw, &m.Meta.Structure}
	if err := sc.Scan(r.dest[:]...); err != nil {
		return err
	}
	m.UID, m.InternalDate, m.SaveDate = uint32(r.uid), goTime(r.internal), goTime(r.saved)
	m.Flags = flagList(r.sys, r.kw)
	return nil
}

// listLean runs a listing query of leanCols for ListMessages with
// StructureOnly; sizeHint is how many rows to make room for at first.
func (s *Store) listLean(ctx context.Context, accountID int64, sizeHint int, q string, args ...any) ([]store.Message, error) {
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Message
	if sizeHint > 0 {
		out = make([]store.Message, 0, sizeHint)
	}
	var r leanRow
	for rows.Next() {
		out = append(out, store.Message{AccountID: accountID})
		if err := r.scan(rows, &out[len(out)-1]); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// getMessageTx reads one message of the account inside tx.
func getMessageTx(ctx context.Context, tx *sql.Tx, accountID, id int64) (*store.Message, error) {
	m, err := scanMessage(tx.QueryRowContext(ctx, "SELECT "+msgCols+" FROM messages WHERE id = ? AND account_id = ?", id, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("message %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", id, err)
	}
	return &m, nil
}

// accountChange bumps the account's modseq and adds to its usage in one
// statement; when checkQuota is set and the new usage is over a quota it
// fails with ErrQuotaExceeded (the caller's savepoint or transaction undoes
// the update).
func (s *Store) accountChange(ctx context.Context, tx *sql.Tx, accountID, dBytes, dMsgs int64, checkQuota bool) (uint64, error) {
	var modseq uint64
	var usedB, usedM, quotaB, quotaM int64
	err := s.queryRowP(ctx, tx, qAccountChange, dBytes, dMsgs, accountID).Scan(&modseq, &usedB, &usedM, &quotaB, &quotaM)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("account %d: %w", accountID, store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("account %d: %w", accountID, err)
	}
	if checkQuota {
		if quotaB > 0 && usedB > quotaB {
			return 0, fmt.Errorf("account %d: %d of %d bytes: %w", accountID, usedB, quotaB, store.ErrQuotaExceeded)
		}
		if quotaM > 0 && usedM > quotaM {
			return 0, fmt.Errorf("account %d: %d of %d messages: %w", accountID, usedM, quotaM, store.ErrQuotaExceeded)
		}
	}
	s.changed(accountID, modseq)
	return modseq, nil
}

// nextUID takes the next UID of a mailbox of the account and records
// modseq as its highest.
func (s *Store) nextUID(ctx context.Context, tx *sql.Tx, accountID, mailboxID int64, modseq uint64) (uint32, error) {
	var uid int64
	err := s.queryRowP(ctx, tx, qNextUID, int64(modseq), mailboxID, accountID).Scan(&uid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("mailbox %d: %w", mailboxID, store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("mailbox %d: %w", mailboxID, err)
	}
	if uid >= math.MaxUint32 {
		return 0, fmt.Errorf("mailbox %d: UIDs exhausted", mailboxID)
	}
	return uint32(uid), nil
}

// touchMailbox records modseq as a mailbox's highest.
func (s *Store) touchMailbox(ctx context.Context, tx *sql.Tx, mailboxID int64, modseq uint64) error {
	_, err := s.execP(ctx, tx, qTouchMailbox, int64(modseq), mailboxID)
	return err
}

// newMessage is a NewMessage with what can be worked out before the
// transaction.
type newMessage struct {
	*store.NewMessage
	blobID   string
	sys      int64
	keywords string
	flags    []string
	internal time.Time
	refs     string // JSON array of thread Message-IDs
	to       string
	irt      string
	mrefs    string
}

// AddMessages stores messages through the group commit: concurrent calls
// share one transaction and one fsync. The call is all or nothing: when one
// message fails (unknown mailbox, quota) none is stored.
func (s *Store) AddMessages(ctx context.Context, msgs []store.NewMessage) ([]store.Message, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	prep := make([]newMessage, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		sys, kw, err := parseFlags(m.Flags)
		if err != nil {
			return nil, fmt.Errorf("add messages: message %d: %w", i, err)
		}
		refs, err := json.Marshal(threadRefs(&m.Meta))
		if err != nil {
			return nil, fmt.Errorf("add messages: %w", err)
		}
		p := newMessage{NewMessage: m, blobID: blobID(m.Raw), sys: sys, keywords: encodeKeywords(kw),
			flags: flagList(sys, encodeKeywords(kw)), internal: m.InternalDate, refs: string(refs),
			to: joinList(cleanList(m.Meta.To)), irt: joinList(cleanList(m.Meta.InReplyTo)),
			mrefs: joinList(cleanList(m.Meta.References))}
		if p.internal.IsZero() {
			p.internal = now
		}
		prep[i] = p
	}
	out := make([]store.Message, len(msgs))
	err := s.grouped(ctx, func(tx *sql.Tx) error {
		// Once running, finish: a cancelled statement would abort the
		// whole batch's transaction.
		ctx := context.WithoutCancel(ctx)
		for i := range prep {
			m, err := s.addMessage(ctx, tx, &prep[i], now)
			if err != nil {
				if len(prep) > 1 {
					return fmt.Errorf("message %d: %w", i, err)
				}
				return err
			}
			out[i] = m
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("add messages: %w", err)
	}
	s.messages.Add(int64(len(msgs)))
	return out, nil
}

// addMessage stores one message inside tx.
func (s *Store) addMessage(ctx context.Context, tx *sql.Tx, p *newMessage, now time.Time) (store.Message, error) {
	if p.DeliveryKey != "" {
		res, err := s.execP(ctx, tx, qDeliveryKey, p.AccountID, p.DeliveryKey, dbTime(now))
		if err != nil {
			return store.Message{}, fmt.Errorf("delivery key: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return store.Message{}, fmt.Errorf("delivery key: %w", err)
		} else if n == 0 {
			// Delivered before: store nothing (store.NewMessage.DeliveryKey).
			return store.Message{}, nil
		}
	}
	size := int64(len(p.Raw))
	modseq, err := s.accountChange(ctx, tx, p.AccountID, size, 1, !p.IgnoreQuota)
	if err != nil {
		return store.Message{}, err
	}
	uid, err := s.nextUID(ctx, tx, p.AccountID, p.MailboxID, modseq)
	if err != nil {
		return store.Message{}, err
	}
	if err := s.putBlobID(tx, p.blobID, p.Raw); err != nil {
		return store.Message{}, err
	}
	var thread int64
	err = s.queryRowP(ctx, tx, qThreadLookup, p.AccountID, p.refs).Scan(&thread)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return store.Message{}, fmt.Errorf("thread: %w", err)
	}
	meta := &p.Meta
	var id int64
	err = s.queryRowP(ctx, tx, qMessageInsert,
		p.AccountID, p.MailboxID, int64(uid), int64(modseq), p.blobID, size,
		dbTime(p.internal), dbTime(now), thread, p.sys, p.keywords, dbTime(meta.Date), meta.Subject, meta.From,
		p.to, meta.MessageID, p.irt, p.mrefs, meta.Preview, boolInt(meta.HasAttachment), meta.Structure).Scan(&id)
	if err != nil {
		return store.Message{}, fmt.Errorf("insert message: %w", err)
	}
	if thread == 0 {
		thread = id
		if _, err := s.execP(ctx, tx, qThreadSet, thread, id); err != nil {
			return store.Message{}, fmt.Errorf("thread: %w", err)
		}
	}
	if p.refs != "[]" {
		if _, err := s.execP(ctx, tx, qThreadRefs, p.AccountID, thread, p.refs); err != nil {
			return store.Message{}, fmt.Errorf("thread: %w", err)
		}
	}
	if err := s.logChange(ctx, tx, store.Change{AccountID: p.AccountID, ModSeq: modseq, Kind: store.ChangeMessage,
		ObjectID: id, MailboxID: p.MailboxID, UID: uid, Op: store.OpCreated, Time: now}); err != nil {
		return store.Message{}, err
	}
	m := store.Message{ID: id, AccountID: p.AccountID, MailboxID: p.MailboxID, UID: uid, ModSeq: modseq,
		BlobID: p.blobID, Size: size, InternalDate: p.internal, SaveDate: now, Flags: p.flags, ThreadID: thread,
		Meta: *meta}
	m.Meta.To, m.Meta.InReplyTo, m.Meta.References = splitList(p.to), splitList(p.irt), splitList(p.mrefs)
	m.Meta.Date = goTime(dbTime(meta.Date))
	return m, nil
}

// GetMessage reads one message of the account.
func (s *Store) GetMessage(ctx context.Context, accountID, id int64) (*store.Message, error) {
	m, err := scanMessage(s.rdb.QueryRowContext(ctx, "SELECT "+msgCols+" FROM messages WHERE id = ? AND account_id = ?", id, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("message %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", id, err)
	}
	return &m, nil
}

// maxListHint bounds the room ListMessages makes for a listing before it
// has read it.
const maxListHint = 4096

// ListMessages lists the account's messages matching f, by mailbox and UID.
func (s *Store) ListMessages(ctx context.Context, accountID int64, f store.MessageFilter) ([]store.Message, error) {
	cols := msgCols
	if f.StructureOnly {
		cols = leanCols
	}
	q := "SELECT " + cols + " FROM messages WHERE account_id = ?"
	args := []any{accountID}
	if f.MailboxID != 0 {
		q += " AND mailbox_id = ?"
		args = append(args, f.MailboxID)
	}
	if f.ChangedSince != 0 {
		q += " AND modseq > ?"
		args = append(args, int64(f.ChangedSince))
	}
	if f.MaxUID != 0 {
		if f.MinUID > f.MaxUID {
			return nil, nil
		}
		// With mailbox_id above, one range scan of UNIQUE (mailbox_id, uid).
		q += " AND uid BETWEEN ? AND ?"
		args = append(args, int64(f.MinUID), int64(f.MaxUID))
	}
	if f.UIDs != nil {
		if len(f.UIDs) == 0 {
			return nil, nil
		}
		uids, err := json.Marshal(f.UIDs)
		if err != nil {
			return nil, fmt.Errorf("list messages: %w", err)
		}
		q += " AND uid IN (SELECT value FROM json_each(?))"
		args = append(args, string(uids))
	}
	q += " ORDER BY mailbox_id, uid"
	var out []store.Message
	var err error
	if f.StructureOnly {
		hint := 0
		switch {
		case f.UIDs != nil:
			hint = len(f.UIDs)
		case f.MaxUID != 0:
			hint = int(min(f.MaxUID-f.MinUID, maxListHint-1)) + 1
		}
		out, err = s.listLean(ctx, accountID, hint, q, args...)
	} else {
		out, err = queryAll(ctx, s.rdb, scanMessage, q, args...)
	}
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	return out, nil
}

// MailboxIndex lists the messages of one mailbox of the account in UID
// order, with their IDs, UIDs, modseqs and flags only: the columns it reads
// come before the metadata in the row, so the structure is never loaded.
// When uids is not nil only those UIDs are listed.
func (s *Store) MailboxIndex(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]store.IndexedMessage, error) {
	q := "SELECT id, uid, modseq, sysflags, keywords FROM messages WHERE account_id = ? AND mailbox_id = ?"
	args := []any{accountID, mailboxID}
	if uids != nil {
		if len(uids) == 0 {
			return nil, nil
		}
		js, err := json.Marshal(uids)
		if err != nil {
			return nil, fmt.Errorf("mailbox index: %w", err)
		}
		q += " AND uid IN (SELECT value FROM json_each(?))"
		args = append(args, string(js))
	}
	out, err := queryAll(ctx, s.rdb, scanIndexedMessage, q+" ORDER BY uid", args...)
	if err != nil {
		return nil, fmt.Errorf("mailbox index of mailbox %d: %w", mailboxID, err)
	}
	return out, nil
}

func scanIndexedMessage(sc rowScanner) (store.IndexedMessage, error) {
	var e store.IndexedMessage
	var uid, sys int64
	var kw string
	if err := sc.Scan(&e.ID, &uid, &e.ModSeq, &sys, &kw); err != nil {
		return e, err
	}
	e.UID, e.Flags = uint32(uid), flagList(sys, kw)
	return e, nil
}

// UpdateFlags changes the flags of messages of the account. Each message
// whose flags change gets a new modseq and a change-log entry; the result
// holds every message found, changed or not. IDs not found (expunged
// meanwhile) are left out of the result.
func (s *Store) UpdateFlags(ctx context.Context, accountID int64, ids []int64, op store.FlagOp, flags []string) ([]store.Message, error) {
	u, err := s.UpdateFlagsIf(ctx, accountID, ids, op, flags, math.MaxUint64)
	return u.Messages, err
}

// UpdateFlagsIf is UpdateFlags for the messages whose modseq is at most
// unchangedSince when the transaction reads them; the others are left
// alone and listed in Modified (RFC 7162 section 3.1.3).
func (s *Store) UpdateFlagsIf(ctx context.Context, accountID int64, ids []int64, op store.FlagOp, flags []string, unchangedSince uint64) (store.FlagUpdate, error) {
	opSys, opKw, err := parseFlags(flags)
	if err != nil {
		return store.FlagUpdate{}, fmt.Errorf("update flags: %w", err)
	}
	var u store.FlagUpdate
	err = s.grouped(ctx, func(tx *sql.Tx) error {
		ctx := context.WithoutCancel(ctx)
		u = store.FlagUpdate{} // the group commit may run this again
		for _, id := range ids {
			m, err := getMessageTx(ctx, tx, accountID, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if m.ModSeq > unchangedSince {
				u.Modified = append(u.Modified, id)
				u.Messages = append(u.Messages, *m)
				continue
			}
			sys, kw, err := parseFlags(m.Flags)
			if err != nil {
				return err
			}
			nsys, nkw, err := applyFlags(op, sys, kw, opSys, opKw)
			if err != nil {
				return err
			}
			if nsys == sys && slices.Equal(nkw, kw) {
				u.Messages = append(u.Messages, *m)
				continue
			}
			modseq, err := s.accountChange(ctx, tx, accountID, 0, 0, false)
			if err != nil {
				return err
			}
			enc := encodeKeywords(nkw)
			if _, err := tx.ExecContext(ctx, "UPDATE messages SET sysflags = ?, keywords = ?, modseq = ? WHERE id = ?",
				nsys, enc, int64(modseq), id); err != nil {
				return err
			}
			if err := s.touchMailbox(ctx, tx, m.MailboxID, modseq); err != nil {
				return err
			}
			if err := s.logChange(ctx, tx, store.Change{AccountID: accountID, ModSeq: modseq, Kind: store.ChangeMessage,
				ObjectID: id, MailboxID: m.MailboxID, UID: m.UID, Op: store.OpUpdated}); err != nil {
				return err
			}
			m.Flags, m.ModSeq = flagList(nsys, enc), modseq
			u.Messages = append(u.Messages, *m)
			u.Changed = append(u.Changed, id)
		}
		return nil
	})
	if err != nil {
		return store.FlagUpdate{}, fmt.Errorf("update flags: %w", err)
	}
	return u, nil
}

// MoveMessages moves messages of the account to mailbox toMailbox, where
// they get new UIDs (RFC 6851); their IDs stay. The change log records each
// as destroyed in its old mailbox and created in the new one. Messages
// already in toMailbox are returned unchanged; IDs not found are left out.
func (s *Store) MoveMessages(ctx context.Context, accountID int64, ids []int64, toMailbox int64) ([]store.Message, error) {
	var out []store.Message
	err := s.grouped(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = s.moveMessages(context.WithoutCancel(ctx), tx, accountID, ids, toMailbox)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("move messages: %w", err)
	}
	return out, nil
}

func (s *Store) moveMessages(ctx context.Context, tx *sql.Tx, accountID int64, ids []int64, to int64) ([]store.Message, error) {
	if _, err := getMailbox(ctx, tx, fmt.Sprint(to), "account_id = ? AND id = ?", accountID, to); err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	var out []store.Message
	for _, id := range ids {
		m, err := getMessageTx(ctx, tx, accountID, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m.MailboxID == to {
			out = append(out, *m)
			continue
		}
		modseq, err := s.accountChange(ctx, tx, accountID, 0, 0, false)
		if err != nil {
			return nil, err
		}
		uid, err := s.nextUID(ctx, tx, accountID, to, modseq)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE messages SET mailbox_id = ?, uid = ?, modseq = ?, save_date = ? WHERE id = ?",
			to, int64(uid), int64(modseq), dbTime(now), id); err != nil {
			return nil, err
		}
		if err := s.touchMailbox(ctx, tx, m.MailboxID, modseq); err != nil {
			return nil, err
		}
		for _, c := range []store.Change{
			{ObjectID: id, MailboxID: m.MailboxID, UID: m.UID, Op: store.OpDestroyed},
			{ObjectID: id, MailboxID: to, UID: uid, Op: store.OpCreated},
		} {
			c.AccountID, c.ModSeq, c.Kind, c.Time = accountID, modseq, store.ChangeMessage, now
			if err := s.logChange(ctx, tx, c); err != nil {
				return nil, err
			}
		}
		m.MailboxID, m.UID, m.ModSeq, m.SaveDate = to, uid, modseq, now
		out = append(out, *m)
	}
	return out, nil
}

// CopyMessages copies messages of the account into mailbox toMailbox: new
// messages (new IDs and UIDs) sharing the blob, flags and thread. Copies
// count against the quota. IDs not found are left out of the result.
func (s *Store) CopyMessages(ctx context.Context, accountID int64, ids []int64, toMailbox int64) ([]store.Message, error) {
	var out []store.Message
	err := s.grouped(ctx, func(tx *sql.Tx) error {
		ctx := context.WithoutCancel(ctx)
		out = out[:0]
		if _, err := getMailbox(ctx, tx, fmt.Sprint(toMailbox), "account_id = ? AND id = ?", accountID, toMailbox); err != nil {
			return err
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		for _, id := range ids {
			m, err := getMessageTx(ctx, tx, accountID, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			modseq, err := s.accountChange(ctx, tx, accountID, m.Size, 1, true)
			if err != nil {
				return err
			}
			uid, err := s.nextUID(ctx, tx, accountID, toMailbox, modseq)
			if err != nil {
				return err
			}
			var nid int64
			err = tx.QueryRowContext(ctx, `INSERT INTO messages (account_id, mailbox_id, uid, modseq, blob_id, size,
				internal_date, save_date, thread_id, sysflags, keywords, date, subject, from_addr, to_addrs, message_id,
				in_reply_to, refs, preview, has_attachment, structure)
				SELECT account_id, ?, ?, ?, blob_id, size, internal_date, ?, thread_id, sysflags, keywords, date,
				subject, from_addr, to_addrs, message_id, in_reply_to, refs, preview, has_attachment, structure
				FROM messages WHERE id = ? RETURNING id`,
				toMailbox, int64(uid), int64(modseq), dbTime(now), id).Scan(&nid)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE blobs SET refs = refs + 1 WHERE id = ?", m.BlobID); err != nil {
				return err
			}
			if err := s.logChange(ctx, tx, store.Change{AccountID: accountID, ModSeq: modseq, Kind: store.ChangeMessage,
				ObjectID: nid, MailboxID: toMailbox, UID: uid, Op: store.OpCreated, Time: now}); err != nil {
				return err
			}
			m.ID, m.MailboxID, m.UID, m.ModSeq, m.SaveDate = nid, toMailbox, uid, modseq, now
			out = append(out, *m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("copy messages: %w", err)
	}
	s.messages.Add(int64(len(out)))
	return out, nil
}

// ExpungeMessages removes messages of the account for good, releasing their
// blobs. IDs not found are ignored.
func (s *Store) ExpungeMessages(ctx context.Context, accountID int64, ids []int64) error {
	err := s.grouped(ctx, func(tx *sql.Tx) error {
		ctx := context.WithoutCancel(ctx)
		now := time.Now()
		for _, id := range ids {
			var mailbox, uid, size int64
			var blob string
			err := tx.QueryRowContext(ctx, "DELETE FROM messages WHERE id = ? AND account_id = ? RETURNING mailbox_id, uid, size, blob_id",
				id, accountID).Scan(&mailbox, &uid, &size, &blob)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			modseq, err := s.accountChange(ctx, tx, accountID, -size, -1, false)
			if err != nil {
				return err
			}
			if err := s.releaseBlob(tx, blob); err != nil {
				return err
			}
			if err := s.touchMailbox(ctx, tx, mailbox, modseq); err != nil {
				return err
			}
			if err := s.logChange(ctx, tx, store.Change{AccountID: accountID, ModSeq: modseq, Kind: store.ChangeMessage,
				ObjectID: id, MailboxID: mailbox, UID: uint32(uid), Op: store.OpDestroyed, Time: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("expunge messages: %w", err)
	}
	return nil
}

// PruneDeliveryKeys implements store.Messages.
func (s *Store) PruneDeliveryKeys(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM delivery_keys WHERE created < ?", dbTime(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune delivery keys: %w", err)
	}
	return n, nil
}
