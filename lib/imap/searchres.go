package imap

import "sort"

// SEARCHRES (RFC 5182): SEARCH RETURN (SAVE) keeps the result, and "$"
// names it in a later command's sequence set. The session keeps the UIDs
// found, so messages expunged since drop out of "$" (RFC 5182 section
// 2.1) and "$" means the same messages in UID and non-UID commands.

// setSaved replaces the saved result with uids (sorted ascending).
func (s *session) setSaved(uids []uint32) {
	s.saved, s.savedSel = uids, s.sel
}

// savedUIDs returns the saved result: empty before any SEARCH with SAVE
// and after a new selection (RFC 5182 section 2.1).
func (s *session) savedUIDs() []uint32 {
	if s.savedSel != s.sel || s.sel == nil {
		return nil
	}
	return s.saved
}

// savedHas reports whether uid is in the saved result.
func (s *session) savedHas(uid uint32) bool {
	u := s.savedUIDs()
	i := sort.Search(len(u), func(i int) bool { return u[i] >= uid })
	return i < len(u) && u[i] == uid
}

// seqSetArg reads a sequence-set argument, which may be "$" (RFC 5182
// section 2.2): the saved result as UIDs for a UID command, else as the
// sequence numbers those messages have now. An empty result is an empty,
// non-nil set that names no message.
func (s *session) seqSetArg(arg string, uid bool) (seqSet, error) {
	if arg != "$" {
		return parseSeqSet(arg)
	}
	set := seqSet{}
	for _, u := range s.savedUIDs() {
		n := u
		if !uid {
			if n = s.sel.seqOf(u); n == 0 {
				continue // expunged since
			}
		}
		set = append(set, seqRange{n, n})
	}
	return set, nil
}
