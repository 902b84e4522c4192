package imap

import (
	"bytes"
	"strconv"
	"strings"

	"gannet/lib/imap/render"
	"gannet/lib/imap/wire"
	"gannet/lib/store"
)

// Object identifiers (RFC 8474) come from the store's IDs: a message's ID
// is stable across MOVE, so EMAILID is too. Each has a letter so that the
// three kinds never look alike: M for messages, T for threads, F for
// mailboxes (folders).

// emailID is a message's EMAILID (RFC 8474 section 5.1).
func emailID(m *store.Message) string { return "M" + strconv.FormatInt(m.ID, 10) }

// threadID is a message's THREADID, or "" when it has none (RFC 8474
// section 5.2: NIL).
func threadID(m *store.Message) string {
	if m.ThreadID == 0 {
		return ""
	}
	return "T" + strconv.FormatInt(m.ThreadID, 10)
}

// mailboxID is a mailbox's MAILBOXID (RFC 8474 section 4).
func mailboxID(id int64) string { return store.MailboxObjectID(id) }

// writeObjectItem writes the value of an EMAILID, THREADID, SAVEDATE or
// PREVIEW FETCH item; it reports false for other kinds.
func (s *session) writeObjectItem(b *bytes.Buffer, m *store.Message, kind fetchKind) bool {
	switch kind {
	case fEmailID: // RFC 8474 section 5.1
		b.WriteString("(" + emailID(m) + ")")
	case fThreadID: // RFC 8474 section 5.2
		if t := threadID(m); t != "" {
			b.WriteString("(" + t + ")")
		} else {
			b.WriteString("NIL")
		}
	case fSaveDate: // RFC 8514 section 4.3
		if m.SaveDate.IsZero() {
			b.WriteString("NIL")
		} else {
			b.WriteString(`"` + m.SaveDate.Format(internalDateLayout) + `"`)
		}
	case fPreview: // RFC 8970 section 3.1: at most 256 characters, stored at ingest
		render.String(b, m.Meta.Preview, s.utf8 || s.rev2)
	default:
		return false
	}
	return true
}

// parsePreviewModifiers checks the modifiers of PREVIEW (RFC 8970
// section 3.1): only LAZY is known, and the preview is always at hand.
func parsePreviewModifiers(t wire.Token) error {
	for _, m := range t.List {
		if m.Kind != wire.Atom || !strings.EqualFold(m.Value, "LAZY") {
			return bad("unknown PREVIEW modifier %s", truncate(m.String()))
		}
	}
	return nil
}

// cmdUnauthenticate is UNAUTHENTICATE (RFC 8437): back to the not
// authenticated state on the same connection, with TLS kept and the
// user's state (selection, ENABLEd extensions, change feed) dropped.
func (s *session) cmdUnauthenticate(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) != 0 {
		return "", bad("UNAUTHENTICATE takes no arguments")
	}
	if s.unsub != nil {
		s.unsub()
	}
	s.feed, s.unsub, s.dirty = nil, nil, false
	s.sel, s.saved, s.savedSel = nil, nil, nil
	s.acct = nil
	s.state = stateNotAuth
	s.rev2, s.utf8, s.condstore, s.qresync = false, false, false, false
	s.w.UTF8 = false
	s.log = s.srv.log().With("remote", s.raw.RemoteAddr().String())
	s.log.Info("unauthenticated")
	return "[CAPABILITY " + s.capabilities() + "] Not authenticated any more", nil
}
