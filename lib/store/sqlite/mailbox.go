package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gannet/lib/store"
)

// maxMailboxName bounds a mailbox name in bytes.
const maxMailboxName = 1000

// mailboxName checks a hierarchical mailbox name ("/" separated) and
// returns it with a leading INBOX component in upper case: INBOX is
// case-insensitive (RFC 9051 section 5.1).
func mailboxName(name string) (string, error) {
	if name == "" || len(name) > maxMailboxName || !utf8.ValidString(name) {
		return "", fmt.Errorf("invalid mailbox name %q", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" {
			return "", fmt.Errorf("invalid mailbox name %q: empty level", name)
		}
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("invalid mailbox name %q: control character", name)
		}
	}
	first, rest, hasRest := strings.Cut(name, "/")
	if strings.EqualFold(first, "INBOX") {
		if hasRest {
			return "INBOX/" + rest, nil
		}
		return "INBOX", nil
	}
	return name, nil
}

// createMailbox inserts m inside tx: UIDVALIDITY from the clock plus the
// new ID (so a mailbox deleted and created again gets a new one), a modseq
// bump and a change-log entry. It sets m's generated fields.
func (s *Store) createMailbox(ctx context.Context, tx *sql.Tx, m *store.Mailbox) error {
	name, err := mailboxName(m.Name)
	if err != nil {
		return err
	}
	modseq, err := s.bumpModSeq(ctx, tx, m.AccountID)
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO mailboxes
		(account_id, name, special_use, uidvalidity, uidnext, highest_modseq, subscribed, created)
		VALUES (?, ?, ?, 0, 1, ?, ?, ?) RETURNING id`,
		m.AccountID, name, m.SpecialUse, int64(modseq), boolInt(m.Subscribed), dbTime(now)).Scan(&id)
	if err != nil {
		return fmt.Errorf("mailbox %q: %w", name, constraintError(err))
	}
	uv := uint32(now.Unix()) + uint32(id)
	if uv == 0 {
		uv = 1
	}
	if _, err := tx.ExecContext(ctx, "UPDATE mailboxes SET uidvalidity = ? WHERE id = ?", int64(uv), id); err != nil {
		return err
	}
	if err := s.logChange(ctx, tx, store.Change{AccountID: m.AccountID, ModSeq: modseq, Kind: store.ChangeMailbox,
		ObjectID: id, MailboxID: id, Op: store.OpCreated, Time: now}); err != nil {
		return err
	}
	m.ID, m.Name, m.UIDValidity, m.UIDNext, m.HighestModSeq, m.Created = id, name, uv, 1, modseq, now
	return nil
}

// CreateMailbox creates m in its account and sets m.ID, m.UIDValidity,
// m.UIDNext, m.HighestModSeq and m.Created. ErrExists if the name is taken.
func (s *Store) CreateMailbox(ctx context.Context, m *store.Mailbox) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		mb := *m
		if err := s.createMailbox(ctx, tx, &mb); err != nil {
			return err
		}
		*m = mb
		return nil
	})
	if err != nil {
		return fmt.Errorf("create mailbox %q: %w", m.Name, err)
	}
	return nil
}

const mailboxCols = `id, account_id, name, special_use, uidvalidity, uidnext, highest_modseq, subscribed, created`

func scanMailbox(sc rowScanner) (store.Mailbox, error) {
	var m store.Mailbox
	var uv, next, sub, created int64
	err := sc.Scan(&m.ID, &m.AccountID, &m.Name, &m.SpecialUse, &uv, &next, &m.HighestModSeq, &sub, &created)
	m.UIDValidity, m.UIDNext, m.Subscribed, m.Created = uint32(uv), uint32(next), sub != 0, goTime(created)
	return m, err
}

// getMailbox reads one mailbox through q (a *sql.DB or *sql.Tx).
func getMailbox(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, what string, where string, args ...any) (*store.Mailbox, error) {
	m, err := scanMailbox(q.QueryRowContext(ctx, "SELECT "+mailboxCols+" FROM mailboxes WHERE "+where+" ORDER BY id LIMIT 1", args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("mailbox %s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("mailbox %s: %w", what, err)
	}
	return &m, nil
}

// GetMailbox finds a mailbox by name.
func (s *Store) GetMailbox(ctx context.Context, accountID int64, name string) (*store.Mailbox, error) {
	n, err := mailboxName(name)
	if err != nil {
		return nil, fmt.Errorf("mailbox %q: %w", name, store.ErrNotFound)
	}
	return getMailbox(ctx, &s.reads, fmt.Sprintf("%q", name), "account_id = ? AND name = ?", accountID, n)
}

// GetMailboxByID finds a mailbox of the account by ID.
func (s *Store) GetMailboxByID(ctx context.Context, accountID, id int64) (*store.Mailbox, error) {
	return getMailbox(ctx, &s.reads, fmt.Sprint(id), "account_id = ? AND id = ?", accountID, id)
}

// GetMailboxBySpecialUse finds the account's (first) mailbox with a
// special-use attribute such as \Junk.
func (s *Store) GetMailboxBySpecialUse(ctx context.Context, accountID int64, use string) (*store.Mailbox, error) {
	return getMailbox(ctx, &s.reads, use, "account_id = ? AND special_use = ?", accountID, use)
}

// ListMailboxes lists the account's mailboxes by name.
func (s *Store) ListMailboxes(ctx context.Context, accountID int64) ([]store.Mailbox, error) {
	out, err := queryAll(ctx, s.rdb, scanMailbox, "SELECT "+mailboxCols+" FROM mailboxes WHERE account_id = ? ORDER BY name", accountID)
	if err != nil {
		return nil, fmt.Errorf("list mailboxes: %w", err)
	}
	return out, nil
}

// RenameMailbox renames a mailbox and its children (a/b becomes new/b).
// Renaming INBOX moves its messages to a new mailbox of that name and
// leaves INBOX empty, its children in place (RFC 9051 section 6.3.6).
func (s *Store) RenameMailbox(ctx context.Context, accountID, id int64, newName string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		name, err := mailboxName(newName)
		if err != nil {
			return err
		}
		m, err := getMailbox(ctx, tx, fmt.Sprint(id), "account_id = ? AND id = ?", accountID, id)
		if err != nil {
			return err
		}
		if name == m.Name {
			return nil
		}
		if strings.HasPrefix(name, m.Name+"/") {
			return fmt.Errorf("cannot move %q under itself", m.Name)
		}
		if m.Name == "INBOX" {
			return s.renameInbox(ctx, tx, m, name)
		}
		modseq, err := s.bumpModSeq(ctx, tx, accountID)
		if err != nil {
			return err
		}
		ids, err := queryAll(ctx, tx, scanInt64, `UPDATE mailboxes SET name = ?1 || substr(name, length(?2) + 1), highest_modseq = ?3
			WHERE account_id = ?4 AND (id = ?5 OR substr(name, 1, length(?2) + 1) = ?2 || '/') RETURNING id`,
			name, m.Name, int64(modseq), accountID, id)
		if err != nil {
			return constraintError(err)
		}
		for _, mid := range ids {
			if err := s.logChange(ctx, tx, store.Change{AccountID: accountID, ModSeq: modseq, Kind: store.ChangeMailbox,
				ObjectID: mid, MailboxID: mid, Op: store.OpUpdated}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rename mailbox %d to %q: %w", id, newName, err)
	}
	return nil
}

// renameInbox creates mailbox name and moves every INBOX message into it.
func (s *Store) renameInbox(ctx context.Context, tx *sql.Tx, inbox *store.Mailbox, name string) error {
	nm := store.Mailbox{AccountID: inbox.AccountID, Name: name, Subscribed: true}
	if err := s.createMailbox(ctx, tx, &nm); err != nil {
		return err
	}
	ids, err := queryAll(ctx, tx, scanInt64, "SELECT id FROM messages WHERE mailbox_id = ? ORDER BY uid", inbox.ID)
	if err != nil {
		return err
	}
	_, err = s.moveMessages(ctx, tx, inbox.AccountID, ids, nm.ID)
	return err
}

// SetMailboxSubscribed sets or clears a mailbox's subscription.
func (s *Store) SetMailboxSubscribed(ctx context.Context, accountID, id int64, subscribed bool) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := getMailbox(ctx, tx, fmt.Sprint(id), "account_id = ? AND id = ?", accountID, id); err != nil {
			return err
		}
		modseq, err := s.bumpModSeq(ctx, tx, accountID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE mailboxes SET subscribed = ?, highest_modseq = ? WHERE id = ?",
			boolInt(subscribed), int64(modseq), id); err != nil {
			return err
		}
		return s.logChange(ctx, tx, store.Change{AccountID: accountID, ModSeq: modseq, Kind: store.ChangeMailbox,
			ObjectID: id, MailboxID: id, Op: store.OpUpdated})
	})
	if err != nil {
		return fmt.Errorf("subscribe mailbox %d: %w", id, err)
	}
	return nil
}

// DeleteMailbox deletes a mailbox and its messages (each logged as
// destroyed). INBOX cannot be deleted, nor a mailbox with children
// (ErrExists): delete those first.
func (s *Store) DeleteMailbox(ctx context.Context, accountID, id int64) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		m, err := getMailbox(ctx, tx, fmt.Sprint(id), "account_id = ? AND id = ?", accountID, id)
		if err != nil {
			return err
		}
		if m.Name == "INBOX" {
			return errors.New("INBOX cannot be deleted")
		}
		var children int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM mailboxes WHERE account_id = ?1 AND substr(name, 1, length(?2) + 1) = ?2 || '/'",
			accountID, m.Name).Scan(&children); err != nil {
			return err
		}
		if children > 0 {
			return fmt.Errorf("mailbox %q has %d children: %w", m.Name, children, store.ErrExists)
		}
		modseq, err := s.bumpModSeq(ctx, tx, accountID)
		if err != nil {
			return err
		}
		now := dbTime(time.Now())
		if _, err := tx.ExecContext(ctx, `INSERT INTO changes (account_id, modseq, kind, object_id, mailbox_id, uid, op, time)
			SELECT account_id, ?, ?, id, mailbox_id, uid, ?, ? FROM messages WHERE mailbox_id = ? ORDER BY uid`,
			int64(modseq), string(store.ChangeMessage), string(store.OpDestroyed), now, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET
			used_bytes = used_bytes - (SELECT total(size) FROM messages WHERE mailbox_id = ?1),
			used_messages = used_messages - (SELECT count(*) FROM messages WHERE mailbox_id = ?1)
			WHERE id = ?2`, id, accountID); err != nil {
			return err
		}
		if err := s.deleteMessages(ctx, tx, "m.mailbox_id = ?", id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM mailboxes WHERE id = ?", id); err != nil {
			return err
		}
		return s.logChange(ctx, tx, store.Change{AccountID: accountID, ModSeq: modseq, Kind: store.ChangeMailbox,
			ObjectID: id, MailboxID: id, Op: store.OpDestroyed})
	})
	if err != nil {
		return fmt.Errorf("delete mailbox %d: %w", id, err)
	}
	return nil
}

// MailboxStatus counts a mailbox's messages.
func (s *Store) MailboxStatus(ctx context.Context, accountID, id int64) (store.MailboxStatus, error) {
	var st store.MailboxStatus
	var exists int
	err := s.rdb.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM mailboxes WHERE id = ?1 AND account_id = ?2),
		count(*), coalesce(sum(sysflags & 1 = 0), 0), coalesce(sum(size), 0), coalesce(sum(sysflags & 8 != 0), 0)
		FROM messages WHERE mailbox_id = ?1 AND account_id = ?2`, id, accountID).
		Scan(&exists, &st.Messages, &st.Unseen, &st.Size, &st.Deleted)
	if err != nil {
		return st, fmt.Errorf("status of mailbox %d: %w", id, err)
	}
	if exists == 0 {
		return st, fmt.Errorf("status of mailbox %d: %w", id, store.ErrNotFound)
	}
	return st, nil
}
