package imap

import (
	"context"
	"fmt"

	"gannet/lib/store"
)

// The change log is pruned (store.Changes.PruneChanges): a client or a
// session asking for changes from before its horizon cannot be told them
// one by one. The functions here work out the same answers from the
// mailbox as it is now instead, at the cost of reading its index.

// vanishedBeyondHorizon returns the UIDs in set (nil: all) below the
// mailbox's UIDNEXT that are not in the view: every message the client may
// know of and that is gone, expunged before or after the horizon. RFC 7162
// section 3.2.5.1 lets VANISHED (EARLIER) name UIDs the client never saw.
func (s *session) vanishedBeyondHorizon(set seqSet) []uint32 {
	v := s.sel
	var out []uint32
	next := uint32(v.mbox.UIDNext)
	maxUID := next - 1
	j := 0
	for uid := uint32(1); uid < next; uid++ {
		for j < len(v.uids) && v.uids[j] < uid {
			j++
		}
		if j < len(v.uids) && v.uids[j] == uid {
			continue
		}
		if set != nil && !set.contains(uid, maxUID) {
			continue
		}
		out = append(out, uid)
	}
	return out
}

// diffWithIndex compares the view with the mailbox as the store has it now,
// for a session whose view is older than the change log's horizon: the
// UIDs gone from it, the messages added after its last UID, and those whose
// mod-sequence is above what the client was told.
func (s *session) diffWithIndex(ctx context.Context, last uint32) (gone []uint32, added map[uint32]int64, updated map[uint32]bool, err error) {
	v := s.sel
	idx, err := s.srv.Store.MailboxIndex(ctx, s.acct.ID, v.mbox.ID, nil)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("mailbox index: %w", err)
	}
	added = map[uint32]int64{}
	updated = map[uint32]bool{}
	present := make(map[uint32]bool, len(idx))
	for _, m := range idx {
		present[m.UID] = true
		switch {
		case m.UID > last:
			added[m.UID] = m.ID
		case m.ModSeq > v.highest:
			updated[m.UID] = true
		}
		v.highest = max(v.highest, m.ModSeq)
	}
	for _, u := range v.uids {
		if !present[u] {
			gone = append(gone, u)
		}
	}
	return gone, added, updated, nil
}

// isHorizon reports whether c marks the change log's horizon.
func isHorizon(c store.Change) bool { return c.Kind == store.ChangePruned }
