package imap

import (
	"context"
	"sort"

	"gannet/lib/store"
)

// flagRecent is the session flag of RFC 3501 section 2.3.2, shown to
// IMAP4rev1 sessions only (RFC 9051 appendix E removed it).
const flagRecent = `\Recent`

// uidRange is the UIDs from lo up to, not including, hi.
type uidRange struct{ lo, hi uint32 }

// recentView is what a selected mailbox's session holds \Recent: the UID
// ranges it claimed from the store's boundary (store.Mailboxes.ClaimRecent),
// one at SELECT and one for each batch of messages that arrives while it
// is selected. A read-only session claims nothing and sees as \Recent
// what nobody claimed when it selected.
type recentView struct {
	ranges []uidRange
}

func (r *recentView) has(uid uint32) bool {
	i := sort.Search(len(r.ranges), func(i int) bool { return r.ranges[i].hi > uid })
	return i < len(r.ranges) && r.ranges[i].lo <= uid
}

func (r *recentView) add(lo, hi uint32) {
	if lo >= hi {
		return
	}
	if n := len(r.ranges); n > 0 && r.ranges[n-1].hi == lo {
		r.ranges[n-1].hi = hi
		return
	}
	r.ranges = append(r.ranges, uidRange{lo, hi})
}

// count is the number of uids (ascending) that are \Recent.
func (r *recentView) count(uids []uint32) uint32 {
	var n uint32
	for _, rg := range r.ranges {
		i := sort.Search(len(uids), func(i int) bool { return uids[i] >= rg.lo })
		j := sort.Search(len(uids), func(i int) bool { return uids[i] >= rg.hi })
		n += uint32(j - i)
	}
	return n
}

// isRecent reports whether uid is \Recent in this session.
func (s *session) isRecent(uid uint32) bool {
	return !s.rev2 && s.sel != nil && s.sel.recent.has(uid)
}

// withRecent returns flags with \Recent added when uid is \Recent in this
// session.
func (s *session) withRecent(uid uint32, flags []string) []string {
	if !s.isRecent(uid) {
		return flags
	}
	return append(append(make([]string, 0, len(flags)+1), flags...), flagRecent)
}

// claimRecent is the \Recent part of selecting v (RFC 3501 section 2.3.2):
// an IMAP4rev1 session selecting read-write takes the messages nobody has
// seen yet; EXAMINE only looks. It returns the RECENT count.
func (s *session) claimRecent(ctx context.Context, v *selected) (uint32, error) {
	if s.rev2 {
		return 0, nil
	}
	var upTo uint32
	if !v.readOnly && len(v.uids) > 0 {
		upTo = v.uids[len(v.uids)-1] + 1
	}
	from, _, err := s.srv.Store.ClaimRecent(ctx, s.acct.ID, v.mbox.ID, upTo)
	if err != nil {
		return 0, err
	}
	hi := upTo
	if v.readOnly {
		hi = ^uint32(0)
	}
	v.recent.add(from, hi)
	return v.recent.count(v.uids), nil
}

// claimArrived claims the messages that arrived while v is selected (UIDs
// from lo, ascending) and returns how many are \Recent to this session.
func (s *session) claimArrived(ctx context.Context, v *selected, arrived []uint32) (uint32, error) {
	if s.rev2 || len(arrived) == 0 {
		return 0, nil
	}
	if !v.readOnly {
		upTo := arrived[len(arrived)-1] + 1
		from, _, err := s.srv.Store.ClaimRecent(ctx, s.acct.ID, v.mbox.ID, upTo)
		if err != nil {
			return 0, err
		}
		v.recent.add(max(from, arrived[0]), upTo)
	}
	return v.recent.count(v.uids), nil
}

// statusRecent is STATUS RECENT: the messages no IMAP4rev1 session has
// claimed (0 for IMAP4rev2 sessions, whose STATUS has no RECENT).
func (s *session) statusRecent(ctx context.Context, mb *store.Mailbox) (uint32, error) {
	if s.rev2 {
		return 0, nil
	}
	_, n, err := s.srv.Store.ClaimRecent(ctx, s.acct.ID, mb.ID, 0)
	return n, err
}
