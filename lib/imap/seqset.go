package imap

import (
	"sort"
	"strconv"
	"strings"
)

// seqRange is lo:hi of a sequence set; 0 stands for "*".
type seqRange struct{ lo, hi uint32 }

// seqSet is a sequence set (RFC 9051 section 9 sequence-set) of sequence
// numbers or UIDs.
type seqSet []seqRange

// parseSeqSet reads "1:3,5,7:*".
func parseSeqSet(s string) (seqSet, error) {
	if s == "" {
		return nil, bad("empty sequence set")
	}
	var set seqSet
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err := seqNumber(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = seqNumber(hi); err != nil {
				return nil, err
			}
		}
		set = append(set, seqRange{a, b})
	}
	return set, nil
}

func seqNumber(s string) (uint32, error) {
	if s == "*" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 || s[0] == '0' {
		return 0, bad("invalid sequence number %q", truncate(s))
	}
	return uint32(n), nil
}

// bounds resolves "*" to max and orders each range.
func (r seqRange) bounds(max uint32) (uint32, uint32) {
	lo, hi := r.lo, r.hi
	if lo == 0 {
		lo = max
	}
	if hi == 0 {
		hi = max
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return lo, hi
}

// hasStar reports whether the set uses "*".
func (set seqSet) hasStar() bool {
	for _, r := range set {
		if r.lo == 0 || r.hi == 0 {
			return true
		}
	}
	return false
}

// containsUID reports whether uid is in the set, "*" being max.
func (set seqSet) contains(n, max uint32) bool {
	for _, r := range set {
		lo, hi := r.bounds(max)
		if lo <= n && n <= hi {
			return true
		}
	}
	return false
}

// formatUIDs writes UIDs, sorted, as a compact sequence set ("1:3,7").
func formatUIDs(uids []uint32) string {
	u := append([]uint32(nil), uids...)
	sortUIDs(u)
	return formatUIDList(u)
}

// formatUIDList writes UIDs in the given order, runs joined
// (for COPYUID, whose two sets correspond element by element).
func formatUIDList(uids []uint32) string {
	var b strings.Builder
	for i := 0; i < len(uids); {
		j := i
		for j+1 < len(uids) && uids[j+1] == uids[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(uids[i]), 10))
		if j > i {
			b.WriteByte(':')
			b.WriteString(strconv.FormatUint(uint64(uids[j]), 10))
		}
		i = j + 1
	}
	return b.String()
}

func sortUIDs(u []uint32) { sort.Slice(u, func(i, j int) bool { return u[i] < u[j] }) }
