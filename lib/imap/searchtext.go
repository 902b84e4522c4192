package imap

import (
	"context"
	"unicode/utf8"

	"gannet/lib/store"
)

// textHits is the full-text index's answer for one BODY or TEXT key.
type textHits struct {
	match     map[int64]bool
	unindexed map[int64]bool
}

// textIndexed asks the store's full-text index about every BODY and TEXT
// key under root (RFC 9051 section 6.4.4) whose string is long enough for
// it. Keys left out, and messages the index has not reached yet, are
// matched by scanning the message, so the answer does not depend on how
// far the background indexer has come. On an index error the key is left
// to the scan.
func (s *session) textIndexed(ctx context.Context, root *searchKey, mailboxID int64) map[*searchKey]*textHits {
	var out map[*searchKey]*textHits
	var walk func(k *searchKey)
	walk = func(k *searchKey) {
		for _, c := range k.sub {
			walk(c)
		}
		if (k.op != "BODY" && k.op != "TEXT") || utf8.RuneCountInString(k.str) < store.MinTextQuery {
			return
		}
		field := store.TextBody
		if k.op == "TEXT" {
			field = store.TextAll
		}
		res, err := s.srv.Store.SearchText(ctx, s.acct.ID, mailboxID, k.str, field)
		if err != nil {
			s.log.Warn("SEARCH text index failed; scanning", "err", err)
			return
		}
		h := &textHits{match: make(map[int64]bool, len(res.Matches)), unindexed: make(map[int64]bool, len(res.Unindexed))}
		for _, id := range res.Matches {
			h.match[id] = true
		}
		for _, id := range res.Unindexed {
			h.unindexed[id] = true
		}
		if out == nil {
			out = make(map[*searchKey]*textHits)
		}
		out[k] = h
	}
	walk(root)
	return out
}

// indexedText answers k (BODY or TEXT) for sm from the full-text index;
// ok is false when the message must be scanned instead.
func (sm *searchMsg) indexedText(k *searchKey) (match, ok bool) {
	h := sm.text[k]
	if h == nil || h.unindexed[sm.m.ID] {
		return false, false
	}
	return h.match[sm.m.ID], true
}
