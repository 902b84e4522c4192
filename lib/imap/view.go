package imap

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"gannet/lib/imap/wire"
	"gannet/lib/store"
)

// selected is a session's view of its selected mailbox: the messages the
// client knows of, in sequence-number order (RFC 9051 section 2.3.1.2).
// It changes only when the session tells the client (EXISTS, EXPUNGE), so
// sequence numbers stay in step whatever other sessions do meanwhile.
type selected struct {
	mbox     store.Mailbox
	readOnly bool
	uids     []uint32 // ascending; index+1 is the sequence number
	ids      []int64  // store message IDs, parallel to uids
	// seen is the account modification sequence the view is consistent
	// with: changes after it are yet to be told.
	seen uint64
	// highest is the mailbox's HIGHESTMODSEQ as the client knows it (RFC
	// 7162 section 3.1.2.1): every change to the mailbox up to it has
	// been told.
	highest uint64
	// own holds the modification sequences of flag changes this session
	// made and already reported.
	own map[uint64]bool
	// recent is what is \Recent to an IMAP4rev1 session (recent.go).
	recent recentView
}

// seqOf returns the sequence number of uid, or 0.
func (v *selected) seqOf(uid uint32) uint32 {
	i := sort.Search(len(v.uids), func(i int) bool { return v.uids[i] >= uid })
	if i < len(v.uids) && v.uids[i] == uid {
		return uint32(i + 1)
	}
	return 0
}

func (v *selected) lastUID() uint32 {
	if len(v.uids) == 0 {
		return 0
	}
	return v.uids[len(v.uids)-1]
}

// msgRef is one message of the view a command works on.
type msgRef struct {
	seq uint32
	uid uint32
	id  int64
}

// resolve returns the messages of the view a set names, in sequence
// order. Sequence numbers beyond the view are an error (RFC 9051 section
// 9: they must be valid); UIDs that are not there are skipped.
func (v *selected) resolve(set seqSet, uid bool) ([]msgRef, error) {
	n := uint32(len(v.uids))
	if !uid {
		for _, r := range set {
			if (r.lo > n || r.hi > n) && !(n == 0 && set.hasStar()) {
				return nil, bad("invalid message sequence number (%d messages)", n)
			}
		}
	}
	if n == 0 {
		return nil, nil
	}
	// Each range becomes a span [lo, hi) of indexes into the view: a
	// sequence number is an index, a UID is found by binary search.
	spans := make([][2]int, 0, len(set))
	for _, r := range set {
		var lo, hi int
		if uid {
			a, b := r.bounds(v.lastUID())
			lo = sort.Search(len(v.uids), func(i int) bool { return v.uids[i] >= a })
			hi = sort.Search(len(v.uids), func(i int) bool { return v.uids[i] > b })
		} else {
			a, b := r.bounds(n)
			lo, hi = int(a)-1, int(b)
		}
		if lo < hi {
			spans = append(spans, [2]int{lo, hi})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
	var out []msgRef
	next := 0 // the first index not yet written
	for _, sp := range spans {
		for i := max(sp[0], next); i < sp[1]; i++ {
			out = append(out, msgRef{uint32(i + 1), v.uids[i], v.ids[i]})
		}
		next = max(next, sp[1])
	}
	return out, nil
}

// remove takes uid out of the view and returns its sequence number.
func (v *selected) remove(uid uint32) uint32 {
	seq := v.seqOf(uid)
	if seq == 0 {
		return 0
	}
	v.uids = append(v.uids[:seq-1], v.uids[seq:]...)
	v.ids = append(v.ids[:seq-1], v.ids[seq:]...)
	return seq
}

// expunged tells the client that uids are gone and takes them out of the
// view, highest sequence number first (RFC 9051 section 7.5.1).
func (s *session) expunged(uids []uint32) {
	seqs := make([]uint32, 0, len(uids))
	for _, u := range uids {
		if seq := s.sel.seqOf(u); seq != 0 {
			seqs = append(seqs, seq)
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] > seqs[j] })
	if s.qresync {
		// RFC 7162 section 3.2.10: VANISHED replaces EXPUNGE.
		gone := make([]uint32, 0, len(seqs))
		for _, seq := range seqs {
			gone = append(gone, s.sel.uids[seq-1])
			s.sel.remove(s.sel.uids[seq-1])
		}
		s.writeVanished(false, gone)
		return
	}
	for _, seq := range seqs {
		uid := s.sel.uids[seq-1]
		s.sel.remove(uid)
		s.w.Untagged()
		s.w.Number(uint64(seq))
		s.w.Raw(" EXPUNGE\r\n")
	}
}

// changeBatch is how many change-log entries sync reads at a time.
const changeBatch = 5000

// sync tells the client of the changes to its selected mailbox that it has
// not heard of: expunged messages, new ones (EXISTS) and flag changes
// (FETCH). It runs between commands, where EXPUNGE is allowed. Unless
// force is set it reads the change log only when the change feed said
// something changed (or there is no feed).
func (s *session) sync(force bool) error {
	s.drainFeed()
	if s.sel == nil || (!force && !s.dirty && s.srv.Feed != nil) {
		return nil
	}
	s.dirty = false
	v := s.sel
	ctx, cancel := s.opCtx()
	defer cancel()
	var (
		gone    []uint32
		added   = map[uint32]int64{}
		updated = map[uint32]bool{}
		deleted bool
		pruned  bool
	)
	last := v.lastUID()
	for {
		changes, err := s.srv.Store.ChangesSince(ctx, s.acct.ID, v.seen, changeBatch)
		if err != nil {
			return fmt.Errorf("changes since %d: %w", v.seen, err)
		}
		full := len(changes) == changeBatch
		if full {
			// Several changes may share a mod-sequence (a move is two):
			// leave the last one's for the next batch, whole.
			j := len(changes)
			for j > 0 && changes[j-1].ModSeq == changes[len(changes)-1].ModSeq {
				j--
			}
			if j > 0 {
				changes = changes[:j]
			}
		}
		for _, c := range changes {
			v.seen = max(v.seen, c.ModSeq)
			if isHorizon(c) {
				pruned = true
				continue
			}
			if c.Kind == store.ChangeMailbox {
				if c.ObjectID == v.mbox.ID && c.Op == store.OpDestroyed {
					deleted = true
				}
				continue
			}
			if c.MailboxID != v.mbox.ID {
				continue
			}
			v.highest = max(v.highest, c.ModSeq)
			switch c.Op {
			case store.OpCreated:
				if c.UID > last {
					added[c.UID] = c.ObjectID
				}
			case store.OpDestroyed:
				if _, ok := added[c.UID]; ok {
					delete(added, c.UID)
				} else if v.seqOf(c.UID) != 0 {
					gone = append(gone, c.UID)
				}
				delete(updated, c.UID)
			case store.OpUpdated:
				if !v.own[c.ModSeq] {
					updated[c.UID] = true
				}
			}
		}
		if !full {
			break
		}
	}
	for m := range v.own {
		if m <= v.seen {
			delete(v.own, m) // told, or skipped above
		}
	}
	if pruned && !deleted {
		// The view is older than the change log keeps: compare it with
		// the mailbox instead.
		var err error
		if gone, added, updated, err = s.diffWithIndex(ctx, last); err != nil {
			return err
		}
	}
	s.expunged(gone)
	if deleted {
		// The mailbox is gone (RFC 9051 section 7.1: BYE is allowed, but
		// telling the client its messages are gone keeps it working).
		s.w.Status("", "OK", "", "The selected mailbox was deleted")
	}
	if len(added) > 0 {
		uids := make([]uint32, 0, len(added))
		for u := range added {
			uids = append(uids, u)
		}
		sortUIDs(uids)
		for _, u := range uids {
			v.uids = append(v.uids, u)
			v.ids = append(v.ids, added[u])
		}
		s.w.Untagged()
		s.w.Number(uint64(len(v.uids)))
		s.w.Raw(" EXISTS\r\n")
		if !s.rev2 {
			n, err := s.claimArrived(ctx, v, uids)
			if err != nil {
				return fmt.Errorf("recent messages: %w", err)
			}
			s.w.Untagged()
			s.w.Number(uint64(n))
			s.w.Raw(" RECENT\r\n") // RFC 3501 section 7.3.2
		}
	}
	if len(updated) > 0 {
		uids := make([]uint32, 0, len(updated))
		for u := range updated {
			if _, new := added[u]; !new && v.seqOf(u) != 0 {
				uids = append(uids, u)
			}
		}
		if len(uids) > 0 {
			msgs, err := s.srv.Store.ListMessages(ctx, s.acct.ID, store.MessageFilter{MailboxID: v.mbox.ID, UIDs: uids})
			if err != nil {
				return fmt.Errorf("changed messages: %w", err)
			}
			for i := range msgs {
				m := &msgs[i]
				seq := v.seqOf(m.UID)
				if seq == 0 {
					continue
				}
				s.w.Untagged()
				s.w.Number(uint64(seq))
				s.w.Raw(" FETCH (UID ")
				s.w.Number(uint64(m.UID))
				s.w.Raw(" FLAGS ")
				s.writeFlags(s.withRecent(m.UID, m.Flags))
				if s.condstore {
					// RFC 7162 section 3.1.4: with MODSEQ once enabled.
					s.w.Raw(" MODSEQ (")
					s.w.Number(m.ModSeq)
					s.w.Byte(')')
				}
				s.w.Raw(")\r\n")
			}
		}
	}
	return nil
}

// drainFeed notes the events waiting on the change feed.
func (s *session) drainFeed() {
	for s.feed != nil {
		select {
		case _, ok := <-s.feed:
			if !ok {
				s.feed = nil // the listener closed: look every time
				s.srv.log().Debug("change feed closed")
				s.dirty = true
				return
			}
			s.dirty = true
		default:
			return
		}
	}
	if s.srv.Feed == nil || s.unsub != nil && s.feed == nil {
		s.dirty = true
	}
}

// writeFlags writes a flag list.
func (s *session) writeFlags(flags []string) {
	s.w.Byte('(')
	for i, f := range flags {
		if i > 0 {
			s.w.Byte(' ')
		}
		s.w.Raw(f)
	}
	s.w.Byte(')')
}

// The flags every mailbox supports; keywords may be created freely.
const (
	systemFlags    = `\Answered \Flagged \Deleted \Seen \Draft`
	permanentFlags = `\Answered \Flagged \Deleted \Seen \Draft \*`
)

func (s *session) cmdSelect(c *wire.Command, args []wire.Token) (string, error) {
	return s.selectMailbox(args, false)
}

func (s *session) cmdExamine(c *wire.Command, args []wire.Token) (string, error) {
	return s.selectMailbox(args, true)
}

// selectMailbox is SELECT and EXAMINE (RFC 9051 sections 6.3.2, 6.3.3).
func (s *session) selectMailbox(args []wire.Token, readOnly bool) (string, error) {
	if len(args) < 1 || len(args) > 2 || !args[0].IsString() {
		return "", bad("SELECT and EXAMINE take a mailbox name and optional parameters")
	}
	var qr *qresyncParams
	if len(args) == 2 {
		var err error
		if qr, err = s.parseSelectParams(args[1]); err != nil {
			return "", err
		}
	}
	// Selecting deselects first, even when the new selection fails (RFC
	// 9051 section 6.3.2), with a CLOSED response code.
	if s.sel != nil {
		s.sel = nil
		s.state = stateAuth
		s.w.Status("", "OK", "CLOSED", "Previous mailbox closed")
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	mb, err := s.mailbox(ctx, args[0].Value)
	if err != nil {
		return "", err
	}
	modseq, err := s.srv.Store.AccountModSeq(ctx, s.acct.ID)
	if err != nil {
		return "", err
	}
	// The light listing: numbers and flags, no metadata (FETCH reads that).
	msgs, err := s.srv.Store.MailboxIndex(ctx, s.acct.ID, mb.ID, nil)
	if err != nil {
		return "", err
	}
	v := &selected{mbox: *mb, readOnly: readOnly, seen: modseq, highest: mb.HighestModSeq, own: map[uint64]bool{},
		uids: make([]uint32, len(msgs)), ids: make([]int64, len(msgs))}
	keywords := map[string]bool{}
	var firstUnseen uint32
	for i := range msgs {
		v.uids[i], v.ids[i] = msgs[i].UID, msgs[i].ID
		seen := false
		for _, f := range msgs[i].Flags {
			if f == store.FlagSeen {
				seen = true
			} else if !strings.HasPrefix(f, `\`) {
				keywords[f] = true
			}
		}
		if !seen && firstUnseen == 0 {
			firstUnseen = uint32(i + 1)
		}
	}
	flags := systemFlags + " " + store.KeywordJunk + " " + store.KeywordNotJunk
	kws := make([]string, 0, len(keywords))
	for k := range keywords {
		if k != store.KeywordJunk && k != store.KeywordNotJunk {
			kws = append(kws, k)
		}
	}
	sort.Strings(kws)
	for _, k := range kws {
		flags += " " + k
	}
	s.w.Raw("* FLAGS (" + flags + ")\r\n")
	s.w.Untagged()
	s.w.Number(uint64(len(v.uids)))
	s.w.Raw(" EXISTS\r\n")
	if !s.rev2 {
		n, err := s.claimRecent(ctx, v)
		if err != nil {
			return "", err
		}
		s.w.Untagged()
		s.w.Number(uint64(n))
		s.w.Raw(" RECENT\r\n") // RFC 3501 section 7.3.2
		if firstUnseen != 0 {
			s.w.Status("", "OK", fmt.Sprintf("UNSEEN %d", firstUnseen), "First unseen")
		}
	} else if err := s.selectList(ctx, mb); err != nil {
		return "", err // RFC 9051 section 6.3.2: IMAP4rev2 wants a LIST response
	}
	s.w.Status("", "OK", fmt.Sprintf("UIDVALIDITY %d", mb.UIDValidity), "UIDs valid")
	s.w.Status("", "OK", fmt.Sprintf("UIDNEXT %d", mb.UIDNext), "Predicted next UID")
	if readOnly {
		s.w.Status("", "OK", "PERMANENTFLAGS ()", "No permanent flags permitted")
	} else {
		s.w.Status("", "OK", "PERMANENTFLAGS ("+permanentFlags+")", "Flags permitted")
	}
	// RFC 7162 section 3.1.2.1: every mailbox has mod-sequences.
	s.w.Status("", "OK", "MAILBOXID ("+mailboxID(mb.ID)+")", "Mailbox ID") // RFC 8474 section 4.2
	s.w.Status("", "OK", fmt.Sprintf("HIGHESTMODSEQ %d", v.highest), "Highest")
	s.sel = v
	s.state = stateSelected
	s.dirty = false
	if qr != nil && qr.uidValidity == mb.UIDValidity {
		if err := s.resync(ctx, qr); err != nil {
			return "", err
		}
	}
	if readOnly {
		return "[READ-ONLY] EXAMINE completed", nil
	}
	return "[READ-WRITE] SELECT completed", nil
}

// mailbox finds a mailbox by the name the client gave.
func (s *session) mailbox(ctx context.Context, name string) (*store.Mailbox, error) {
	n, err := s.decodeName(name)
	if err != nil {
		return nil, err
	}
	mb, err := s.srv.Store.GetMailbox(ctx, s.acct.ID, n)
	if errors.Is(err, store.ErrNotFound) {
		return nil, no("NONEXISTENT", "No such mailbox")
	}
	return mb, err
}

func (s *session) cmdClose(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) != 0 {
		return "", bad("CLOSE takes no arguments")
	}
	// RFC 9051 section 6.4.1: expunge silently when read-write.
	if !s.sel.readOnly {
		if _, err := s.expungeDeleted(nil, false); err != nil {
			return "", err
		}
	}
	s.sel, s.state = nil, stateAuth
	return "CLOSE completed", nil
}

func (s *session) cmdUnselect(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) != 0 {
		return "", bad("UNSELECT takes no arguments")
	}
	s.sel, s.state = nil, stateAuth
	return "UNSELECT completed", nil
}

func (s *session) cmdExpunge(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) != 0 {
		return "", bad("EXPUNGE takes no arguments")
	}
	if s.sel.readOnly {
		return "", no("READ-ONLY", "Mailbox is read-only")
	}
	if _, err := s.expungeDeleted(nil, true); err != nil {
		return "", err
	}
	return s.expungeDone("EXPUNGE completed")
}

// expungeDeleted removes the messages of the view flagged \Deleted (only
// those in uidSet when it is not nil, for UID EXPUNGE), telling the client
// when report is set. It returns the UIDs removed.
func (s *session) expungeDeleted(uidSet seqSet, report bool) ([]uint32, error) {
	ctx, cancel := s.opCtx()
	defer cancel()
	v := s.sel
	f := store.MessageFilter{MailboxID: v.mbox.ID}
	if uidSet != nil {
		refs, _ := v.resolve(uidSet, true)
		f.UIDs = make([]uint32, 0, len(refs))
		for _, r := range refs {
			f.UIDs = append(f.UIDs, r.uid)
		}
	}
	msgs, err := s.srv.Store.ListMessages(ctx, s.acct.ID, f)
	if err != nil {
		return nil, err
	}
	var ids []int64
	var uids []uint32
	for i := range msgs {
		if hasFlag(msgs[i].Flags, store.FlagDeleted) && v.seqOf(msgs[i].UID) != 0 {
			ids = append(ids, msgs[i].ID)
			uids = append(uids, msgs[i].UID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if err := s.srv.Store.ExpungeMessages(ctx, s.acct.ID, ids); err != nil {
		return nil, err
	}
	if report {
		s.expunged(uids)
	} else {
		for _, u := range uids {
			v.remove(u)
		}
	}
	return uids, nil
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}
