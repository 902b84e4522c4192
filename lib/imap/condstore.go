package imap

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"gannet/lib/imap/wire"
	"gannet/lib/store"
)

// This file holds CONDSTORE and QRESYNC (RFC 7162). Every mailbox has
// mod-sequences (the store's per-message ModSeq and per-mailbox
// HighestModSeq), so NOMODSEQ is never sent; the store's change log,
// which records expunges with their UIDs and is never pruned, answers
// VANISHED (EARLIER) exactly and at a cost proportional to the changes.

// enableCondstore notes a CONDSTORE enabling command (RFC 7162 section
// 3.1). The first one in the selected state is told the mailbox's
// HIGHESTMODSEQ, which SELECT did not send under that state yet.
func (s *session) enableCondstore() {
	if s.condstore {
		return
	}
	s.condstore = true
	if s.sel != nil {
		s.w.Status("", "OK", fmt.Sprintf("HIGHESTMODSEQ %d", s.sel.highest), "Highest")
	}
}

// parseModSeq reads a mod-sequence value (RFC 7162 section 7:
// 1*DIGIT, at most 2^63-1).
func parseModSeq(t wire.Token) (uint64, error) {
	n, err := strconv.ParseUint(t.Value, 10, 63)
	if t.Kind != wire.Atom || err != nil {
		return 0, bad("invalid mod-sequence %s", truncate(t.String()))
	}
	return n, nil
}

// qresyncParams is the QRESYNC parameter of SELECT and EXAMINE (RFC 7162
// section 3.2.5).
type qresyncParams struct {
	uidValidity uint32
	modseq      uint64
	known       seqSet // nil: every UID
}

// parseSelectParams reads SELECT's parameter list: CONDSTORE (RFC 7162
// section 3.1.8) and QRESYNC (section 3.2.5).
func (s *session) parseSelectParams(t wire.Token) (*qresyncParams, error) {
	if t.Kind != wire.List {
		return nil, bad("SELECT parameters must be a list")
	}
	var qr *qresyncParams
	l := t.List
	for i := 0; i < len(l); i++ {
		if l[i].Kind != wire.Atom {
			return nil, bad("invalid SELECT parameter %s", truncate(l[i].String()))
		}
		switch strings.ToUpper(l[i].Value) {
		case "CONDSTORE":
			s.condstore = true // HIGHESTMODSEQ follows in the SELECT responses
		case "QRESYNC":
			// RFC 7162 section 3.2.5: BAD unless QRESYNC was enabled.
			if !s.qresync {
				return nil, bad("QRESYNC must be enabled first")
			}
			if i+1 >= len(l) || l[i+1].Kind != wire.List || qr != nil {
				return nil, bad("QRESYNC takes a list")
			}
			i++
			var err error
			if qr, err = parseQresync(l[i].List); err != nil {
				return nil, err
			}
		default:
			return nil, bad("unknown SELECT parameter %s", truncate(l[i].Value))
		}
	}
	return qr, nil
}

// parseQresync reads (uidvalidity modseq [known-uids [(seqs uids)]]).
// The sequence match data is checked but not used: the change log tells
// exactly which UIDs vanished, so there is nothing to narrow.
func parseQresync(l []wire.Token) (*qresyncParams, error) {
	if len(l) < 2 || len(l) > 4 {
		return nil, bad("QRESYNC takes a UIDVALIDITY, a mod-sequence and optional known UIDs")
	}
	uv, err := strconv.ParseUint(l[0].Value, 10, 32)
	if l[0].Kind != wire.Atom || err != nil || uv == 0 {
		return nil, bad("invalid UIDVALIDITY %s", truncate(l[0].String()))
	}
	qr := &qresyncParams{uidValidity: uint32(uv)}
	if qr.modseq, err = parseModSeq(l[1]); err != nil {
		return nil, err
	}
	if len(l) >= 3 {
		if l[2].Kind != wire.Atom {
			return nil, bad("invalid known UIDs")
		}
		if qr.known, err = parseSeqSet(l[2].Value); err != nil {
			return nil, err
		}
	}
	if len(l) == 4 {
		m := l[3]
		if m.Kind != wire.List || len(m.List) != 2 || m.List[0].Kind != wire.Atom || m.List[1].Kind != wire.Atom {
			return nil, bad("invalid sequence match data")
		}
		for _, x := range m.List {
			if _, err := parseSeqSet(x.Value); err != nil {
				return nil, err
			}
		}
	}
	return qr, nil
}

// resync is the QRESYNC part of SELECT (RFC 7162 section 3.2.5.1): the
// known UIDs expunged since the client's mod-sequence as VANISHED
// (EARLIER), then the messages changed since as FETCH.
func (s *session) resync(ctx context.Context, qr *qresyncParams) error {
	gone, err := s.vanishedSince(ctx, qr.modseq, qr.known)
	if err != nil {
		return err
	}
	s.writeVanished(true, gone)
	return s.fetchChanged(ctx, qr.modseq, qr.known)
}

// fetchChanged writes FETCH (UID FLAGS MODSEQ) for the messages of the
// view in set (nil: all) whose mod-sequence is above since.
func (s *session) fetchChanged(ctx context.Context, since uint64, set seqSet) error {
	v := s.sel
	msgs, err := s.srv.Store.ListMessages(ctx, s.acct.ID, store.MessageFilter{MailboxID: v.mbox.ID, ChangedSince: since})
	if err != nil {
		return fmt.Errorf("changed messages: %w", err)
	}
	maxUID := v.lastUID()
	for i := range msgs {
		m := &msgs[i]
		seq := v.seqOf(m.UID)
		if seq == 0 || (set != nil && !set.contains(m.UID, maxUID)) {
			continue
		}
		s.w.Untagged()
		s.w.Number(uint64(seq))
		s.w.Raw(" FETCH (UID ")
		s.w.Number(uint64(m.UID))
		s.w.Raw(" FLAGS ")
		s.writeFlags(s.withRecent(m.UID, m.Flags))
		s.w.Raw(" MODSEQ (")
		s.w.Number(m.ModSeq)
		s.w.Raw("))\r\n")
	}
	return nil
}

// vanishedSince returns the UIDs in set (nil: all) of messages expunged
// from (or moved out of) the selected mailbox after since, from the
// change log: its cost follows the number of changes, not the size of
// the mailbox. UIDs still in the view are left out; the client hears of
// them as they leave it.
func (s *session) vanishedSince(ctx context.Context, since uint64, set seqSet) ([]uint32, error) {
	v := s.sel
	var maxUID uint32 = math.MaxUint32 // "*" reaches past the last UID left
	found := map[uint32]bool{}
	var out []uint32
	for {
		changes, err := s.srv.Store.ChangesSince(ctx, s.acct.ID, since, changeBatch)
		if err != nil {
			return nil, fmt.Errorf("changes since %d: %w", since, err)
		}
		for _, c := range changes {
			if isHorizon(c) {
				// The client's mod-sequence is older than the change
				// log: name every UID it may know of that is gone.
				return s.vanishedBeyondHorizon(set), nil
			}
			if c.Kind != store.ChangeMessage || c.MailboxID != v.mbox.ID || c.Op != store.OpDestroyed || found[c.UID] {
				continue
			}
			if v.seqOf(c.UID) != 0 || (set != nil && !set.contains(c.UID, maxUID)) {
				continue
			}
			found[c.UID] = true
			out = append(out, c.UID)
		}
		if len(changes) < changeBatch {
			break
		}
		// Several changes may share a mod-sequence (a move is two): read
		// the last one again rather than risk skipping part of it.
		first, last := changes[0].ModSeq, changes[len(changes)-1].ModSeq
		if first < last {
			since = last - 1
		} else {
			since = last
		}
	}
	return out, nil
}

// writeVanished writes a VANISHED response (RFC 7162 section 3.2.10):
// EARLIER for expunges the client may not know of, without it for the
// ones that leave the view now.
func (s *session) writeVanished(earlier bool, uids []uint32) {
	if len(uids) == 0 {
		return
	}
	s.w.Raw("* VANISHED ")
	if earlier {
		s.w.Raw("(EARLIER) ")
	}
	s.w.Raw(formatUIDs(uids))
	s.w.CRLF()
}

// writeModSeq writes the MODSEQ fetch item (RFC 7162 section 3.1.4.1).
func writeModSeq(w io.Writer, modseq uint64) {
	fmt.Fprintf(w, "MODSEQ (%d)", modseq)
}

// fetchModifiers are FETCH's modifiers (RFC 4466 section 2.4).
type fetchModifiers struct {
	changedSince *uint64 // CHANGEDSINCE (RFC 7162 section 3.1.4.2)
	vanished     bool    // VANISHED (RFC 7162 section 3.2.6)
}

// parseFetchModifiers reads (CHANGEDSINCE n [VANISHED]).
func (s *session) parseFetchModifiers(t wire.Token, uid bool) (fetchModifiers, error) {
	var m fetchModifiers
	if t.Kind != wire.List || len(t.List) == 0 {
		return m, bad("FETCH modifiers must be a list")
	}
	l := t.List
	for i := 0; i < len(l); i++ {
		switch strings.ToUpper(l[i].Value) {
		case "CHANGEDSINCE":
			if i+1 >= len(l) || m.changedSince != nil {
				return m, bad("CHANGEDSINCE takes a mod-sequence")
			}
			i++
			n, err := parseModSeq(l[i])
			if err != nil {
				return m, err
			}
			m.changedSince = &n
		case "VANISHED":
			// RFC 7162 section 3.2.6: UID FETCH only, after ENABLE QRESYNC.
			if !uid || !s.qresync {
				return m, bad("VANISHED needs UID FETCH and QRESYNC enabled")
			}
			m.vanished = true
		default:
			return m, bad("unknown FETCH modifier %s", truncate(l[i].String()))
		}
	}
	if m.vanished && m.changedSince == nil {
		return m, bad("VANISHED needs CHANGEDSINCE")
	}
	return m, nil
}

// expungeDone ends EXPUNGE and UID EXPUNGE. Under CONDSTORE the client
// cannot learn the mailbox's new HIGHESTMODSEQ from EXPUNGE or VANISHED,
// so the tagged OK carries it (RFC 7162 section 3.1.2.1), after the
// changes up to it have been told.
func (s *session) expungeDone(text string) (string, error) {
	if !s.condstore {
		return text, nil
	}
	if err := s.sync(true); err != nil {
		return "", err
	}
	return fmt.Sprintf("[HIGHESTMODSEQ %d] %s", s.sel.highest, text), nil
}

// holdHighest follows a FETCH or STORE that told MODSEQ values while it
// could not tell expunges (RFC 9051 section 7.5.1). When expunges from
// the view are waiting, with lower mod-sequences than those told, the
// client is given the HIGHESTMODSEQ it is complete up to, so that it
// loses nothing if the connection drops before it hears of them (RFC
// 7162 section 3.2). The check reads only the changes not yet told.
func (s *session) holdHighest(ctx context.Context) error {
	v := s.sel
	changes, err := s.srv.Store.ChangesSince(ctx, s.acct.ID, v.seen, changeBatch)
	if err != nil {
		return fmt.Errorf("changes since %d: %w", v.seen, err)
	}
	for _, c := range changes {
		if c.Kind == store.ChangeMessage && c.MailboxID == v.mbox.ID && c.Op == store.OpDestroyed && v.seqOf(c.UID) != 0 {
			s.w.Status("", "OK", fmt.Sprintf("HIGHESTMODSEQ %d", v.highest), "Expunges pending")
			return nil
		}
	}
	return nil
}
