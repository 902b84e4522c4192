package imap

import (
	"errors"
	"sort"
	"strings"
	"unicode/utf8"

	"gannet/lib/imap/wire"
	"gannet/lib/store"
)

// delim is the hierarchy delimiter; the store's names use it too.
const delim = '/'

// decodeName turns a mailbox name as the client sent it into the store's
// UTF-8 name: modified UTF-7 for IMAP4rev1 sessions (RFC 3501 section
// 5.1.3), UTF-8 after UTF8=ACCEPT. INBOX is case-insensitive.
func (s *session) decodeName(name string) (string, error) {
	if !s.utf8 && !s.rev2 {
		if d, err := decodeUTF7(name); err == nil {
			name = d
		} else if !utf8.ValidString(name) {
			return "", bad("mailbox name is neither modified UTF-7 nor UTF-8")
		}
	} else if !utf8.ValidString(name) {
		return "", bad("mailbox name is not UTF-8")
	}
	name = strings.TrimSuffix(name, string(delim))
	if first, rest, ok := strings.Cut(name, string(delim)); strings.EqualFold(first, "INBOX") {
		if ok {
			return "INBOX/" + rest, nil
		}
		return "INBOX", nil
	}
	return name, nil
}

// encodeName is the reverse of decodeName.
func (s *session) encodeName(name string) string {
	if s.utf8 || s.rev2 {
		return name
	}
	return encodeUTF7(name)
}

// writeMailboxName writes a mailbox name as an astring.
func (s *session) writeMailboxName(name string) {
	s.w.AString(s.encodeName(name))
}

// nameArg reads a mailbox name argument and decodes it.
func (s *session) nameArg(t wire.Token) (string, error) {
	if !t.IsString() {
		return "", bad("expected a mailbox name")
	}
	n, err := s.decodeName(t.Value)
	if err != nil {
		return "", err
	}
	if n == "" {
		return "", bad("empty mailbox name")
	}
	return n, nil
}

func (s *session) cmdNamespace(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) != 0 {
		return "", bad("NAMESPACE takes no arguments")
	}
	// RFC 2342: one personal namespace, no others.
	s.w.Raw(`* NAMESPACE (("" "/")) NIL NIL` + "\r\n")
	return "NAMESPACE completed", nil
}

func (s *session) cmdCreate(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) != 1 && len(args) != 2 {
		return "", bad("CREATE takes a mailbox name and optional parameters")
	}
	name, err := s.nameArg(args[0])
	if err != nil {
		return "", err
	}
	use := ""
	if len(args) == 2 {
		if use, err = parseCreateParams(args[1]); err != nil {
			return "", err
		}
	}
	if name == "INBOX" {
		return "", no("ALREADYEXISTS", "INBOX always exists")
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	if use != "" {
		// One mailbox per special use, so that deliveries and the Junk
		// training know where to go (RFC 6154 section 3 allows refusing).
		_, err := s.srv.Store.GetMailboxBySpecialUse(ctx, s.acct.ID, use)
		if err == nil {
			return "", no("USEATTR", "A mailbox already has the special use %s", use)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
	}
	// RFC 9051 section 6.3.4: create the missing superiors too.
	parts := strings.Split(name, string(delim))
	var created int64
	for i := range parts {
		n := strings.Join(parts[:i+1], string(delim))
		last := i == len(parts)-1
		mb := &store.Mailbox{AccountID: s.acct.ID, Name: n, Subscribed: last}
		if last {
			mb.SpecialUse = use
		}
		err := s.srv.Store.CreateMailbox(ctx, mb)
		switch {
		case err == nil:
			created = mb.ID
		case errors.Is(err, store.ErrExists):
			if last {
				return "", no("ALREADYEXISTS", "Mailbox already exists")
			}
		default:
			if strings.Contains(err.Error(), "invalid mailbox name") {
				return "", no("CANNOT", "Invalid mailbox name")
			}
			return "", err
		}
	}
	// RFC 8474 section 4.1: the new mailbox's MAILBOXID.
	return "[MAILBOXID (" + mailboxID(created) + ")] CREATE completed", nil
}

// specialUses are the special uses CREATE accepts (RFC 6154 section 2).
var specialUses = []string{store.SpecialAll, store.SpecialArchive, store.SpecialDrafts,
	store.SpecialFlagged, store.SpecialJunk, store.SpecialSent, store.SpecialTrash}

// parseCreateParams reads CREATE's parameters (RFC 4466 section 2.2): only
// USE (RFC 6154 section 3), with one special use, is known.
func parseCreateParams(t wire.Token) (string, error) {
	if t.Kind != wire.List || len(t.List) != 2 || t.List[0].Kind != wire.Atom ||
		!strings.EqualFold(t.List[0].Value, "USE") || t.List[1].Kind != wire.List {
		return "", bad("CREATE takes only the USE parameter")
	}
	uses := t.List[1].List
	if len(uses) == 0 {
		return "", nil
	}
	if len(uses) > 1 {
		return "", no("USEATTR", "Only one special use per mailbox")
	}
	for _, u := range specialUses {
		if uses[0].Kind == wire.Atom && strings.EqualFold(uses[0].Value, u) {
			return u, nil
		}
	}
	return "", no("USEATTR", "Unknown special use %s", truncate(uses[0].Value))
}

func (s *session) cmdDelete(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) != 1 {
		return "", bad("DELETE takes a mailbox name")
	}
	name, err := s.nameArg(args[0])
	if err != nil {
		return "", err
	}
	if name == "INBOX" {
		return "", no("CANNOT", "INBOX cannot be deleted")
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	mb, err := s.srv.Store.GetMailbox(ctx, s.acct.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return "", no("NONEXISTENT", "No such mailbox")
	}
	if err != nil {
		return "", err
	}
	err = s.srv.Store.DeleteMailbox(ctx, s.acct.ID, mb.ID)
	if errors.Is(err, store.ErrExists) {
		return "", no("HASCHILDREN", "Delete the mailboxes inside it first")
	}
	if err != nil {
		return "", err
	}
	if s.sel != nil && s.sel.mbox.ID == mb.ID {
		s.sel, s.state = nil, stateAuth
	}
	return "DELETE completed", nil
}

func (s *session) cmdRename(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) != 2 {
		return "", bad("RENAME takes two mailbox names")
	}
	from, err := s.nameArg(args[0])
	if err != nil {
		return "", err
	}
	to, err := s.nameArg(args[1])
	if err != nil {
		return "", err
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	mb, err := s.srv.Store.GetMailbox(ctx, s.acct.ID, from)
	if errors.Is(err, store.ErrNotFound) {
		return "", no("NONEXISTENT", "No such mailbox")
	}
	if err != nil {
		return "", err
	}
	if _, err := s.srv.Store.GetMailbox(ctx, s.acct.ID, to); err == nil {
		return "", no("ALREADYEXISTS", "Target mailbox exists")
	}
	// Superiors of the new name are created (RFC 9051 section 6.3.6).
	parts := strings.Split(to, string(delim))
	for i := 0; i < len(parts)-1; i++ {
		n := strings.Join(parts[:i+1], string(delim))
		if err := s.srv.Store.CreateMailbox(ctx, &store.Mailbox{AccountID: s.acct.ID, Name: n}); err != nil && !errors.Is(err, store.ErrExists) {
			return "", err
		}
	}
	if err := s.srv.Store.RenameMailbox(ctx, s.acct.ID, mb.ID, to); err != nil {
		if errors.Is(err, store.ErrExists) {
			return "", no("ALREADYEXISTS", "Target mailbox exists")
		}
		return "", no("CANNOT", "Cannot rename: %v", errors.Unwrap(err))
	}
	return "RENAME completed", nil
}

func (s *session) cmdSubscribe(c *wire.Command, args []wire.Token) (string, error) {
	return s.subscribe(args, true)
}

func (s *session) cmdUnsubscribe(c *wire.Command, args []wire.Token) (string, error) {
	return s.subscribe(args, false)
}

// subscribe is SUBSCRIBE and UNSUBSCRIBE (RFC 9051 sections 6.3.7, 6.3.8).
// Subscriptions are a mark on existing mailboxes in the store, so a
// mailbox that does not exist cannot be subscribed.
func (s *session) subscribe(args []wire.Token, on bool) (string, error) {
	if len(args) != 1 {
		return "", bad("SUBSCRIBE and UNSUBSCRIBE take a mailbox name")
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	name, err := s.nameArg(args[0])
	if err != nil {
		return "", err
	}
	mb, err := s.srv.Store.GetMailbox(ctx, s.acct.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		if !on {
			return "UNSUBSCRIBE completed", nil
		}
		return "", no("NONEXISTENT", "No such mailbox")
	}
	if err != nil {
		return "", err
	}
	if err := s.srv.Store.SetMailboxSubscribed(ctx, s.acct.ID, mb.ID, on); err != nil {
		return "", err
	}
	if on {
		return "SUBSCRIBE completed", nil
	}
	return "UNSUBSCRIBE completed", nil
}

// listEntry is one mailbox name LIST may report.
type listEntry struct {
	name        string
	mb          *store.Mailbox // nil for a superior that does not exist
	hasChildren bool
}

// listEntries returns the account's mailboxes and their missing
// superiors, by name.
func listEntries(mbs []store.Mailbox) []listEntry {
	byName := map[string]*listEntry{}
	var out []*listEntry
	for i := range mbs {
		e := &listEntry{name: mbs[i].Name, mb: &mbs[i]}
		byName[e.name] = e
		out = append(out, e)
	}
	for i := range mbs {
		name := mbs[i].Name
		for j := strings.LastIndexByte(name, delim); j > 0; j = strings.LastIndexByte(name, delim) {
			name = name[:j]
			p := byName[name]
			if p == nil {
				p = &listEntry{name: name}
				byName[name] = p
				out = append(out, p)
			}
			p.hasChildren = true
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	res := make([]listEntry, len(out))
	for i, e := range out {
		res[i] = *e
	}
	return res
}

// matchPattern matches a name against a LIST pattern: "*" matches
// anything, "%" anything but the delimiter (RFC 9051 section 6.3.9).
func matchPattern(pattern, name string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*', '%':
			rest := pattern[1:]
			for i := 0; i <= len(name); i++ {
				if matchPattern(rest, name[i:]) {
					return true
				}
				if i < len(name) && pattern[0] == '%' && name[i] == delim {
					return false
				}
			}
			return false
		default:
			if len(name) == 0 || name[0] != pattern[0] {
				return false
			}
			pattern, name = pattern[1:], name[1:]
		}
	}
	return name == ""
}

func (s *session) cmdList(c *wire.Command, args []wire.Token) (string, error) {
	return s.list(args, false)
}

func (s *session) cmdLsub(c *wire.Command, args []wire.Token) (string, error) {
	return s.list(args, true)
}

// decodePattern decodes a LIST pattern's name parts as decodeName does,
// keeping wildcards.
func (s *session) decodePattern(p string) (string, error) {
	if !s.utf8 && !s.rev2 {
		if d, err := decodeUTF7(p); err == nil {
			return d, nil
		}
	}
	if !utf8.ValidString(p) {
		return "", bad("invalid mailbox pattern")
	}
	return p, nil
}
