package imap

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"gannet/lib/imap/wire"
	"gannet/lib/store"
)

// listCmd is a parsed LIST or LSUB command: the plain form of RFC 3501 or
// the extended form of RFC 5258 (folded into RFC 9051 section 6.3.9),
// with the STATUS return option of RFC 5819 and the SPECIAL-USE options
// of RFC 6154.
type listCmd struct {
	lsub     bool
	extended bool
	ref      string
	patterns []string

	// Selection options (RFC 5258 section 3.1, RFC 6154 section 5.1).
	subscribedOnly bool
	specialOnly    bool
	recursive      bool
	// Return options (RFC 5258 section 3.2, RFC 5819, RFC 6154).
	retSubscribed bool
	status        []string
}

// maxListPatterns bounds the patterns of one extended LIST.
const maxListPatterns = 100

// parseList reads the arguments of LIST or LSUB.
func (s *session) parseList(args []wire.Token, lsub bool) (*listCmd, error) {
	l := &listCmd{lsub: lsub}
	cmd := "LIST"
	if lsub {
		cmd = "LSUB"
	}
	i := 0
	if !lsub && len(args) > 0 && args[0].Kind == wire.List {
		// RFC 5258 section 3: list-select-opts.
		l.extended = true
		for _, o := range args[0].List {
			if o.Kind != wire.Atom {
				return nil, bad("invalid LIST selection option %s", truncate(o.String()))
			}
			switch strings.ToUpper(o.Value) {
			case "SUBSCRIBED":
				l.subscribedOnly, l.retSubscribed = true, true // implies the return option
			case "REMOTE":
				// No remote mailboxes here (RFC 5258 section 3.1).
			case "RECURSIVEMATCH":
				l.recursive = true
			case "SPECIAL-USE": // RFC 6154 section 5.1
				l.specialOnly = true
			default:
				return nil, bad("unknown LIST selection option %s", truncate(o.Value))
			}
		}
		// RFC 5258 section 3.1: RECURSIVEMATCH needs a selection option it
		// modifies.
		if l.recursive && !l.subscribedOnly && !l.specialOnly {
			return nil, bad("RECURSIVEMATCH needs another selection option")
		}
		i++
	}
	if len(args) < i+2 || !args[i].IsString() {
		return nil, bad("%s takes a reference and a mailbox pattern", cmd)
	}
	l.ref = args[i].Value
	switch p := args[i+1]; {
	case p.Kind == wire.List && !lsub:
		// RFC 5258 section 3: several patterns.
		l.extended = true
		if len(p.List) == 0 || len(p.List) > maxListPatterns {
			return nil, bad("LIST takes 1 to %d patterns", maxListPatterns)
		}
		for _, t := range p.List {
			if !t.IsString() {
				return nil, bad("invalid LIST pattern %s", truncate(t.String()))
			}
			l.patterns = append(l.patterns, t.Value)
		}
	case p.IsString():
		l.patterns = []string{p.Value}
	default:
		return nil, bad("%s takes a reference and a mailbox pattern", cmd)
	}
	i += 2
	if !lsub && i+2 == len(args) && args[i].Kind == wire.Atom && strings.EqualFold(args[i].Value, "RETURN") {
		if args[i+1].Kind != wire.List {
			return nil, bad("RETURN takes a list of options")
		}
		l.extended = true
		opts := args[i+1].List
		for j := 0; j < len(opts); j++ {
			o := opts[j]
			if o.Kind != wire.Atom {
				return nil, bad("invalid LIST return option %s", truncate(o.String()))
			}
			switch strings.ToUpper(o.Value) {
			case "SUBSCRIBED":
				l.retSubscribed = true
			case "CHILDREN", "SPECIAL-USE":
				// Always sent (RFC 5258 section 4, RFC 6154 section 2).
			case "STATUS": // RFC 5819 section 2
				if j+1 >= len(opts) {
					return nil, bad("STATUS return option takes a list of items")
				}
				j++
				items, err := s.parseStatusItems(opts[j])
				if err != nil {
					return nil, err
				}
				l.status = items
			default:
				return nil, bad("unknown LIST return option %s", truncate(o.Value))
			}
		}
		i += 2
	}
	if i != len(args) {
		return nil, bad("too many %s arguments", cmd)
	}
	return l, nil
}

// list is LIST and LSUB (RFC 9051 section 6.3.9, RFC 3501 section 6.3.9,
// RFC 5258).
func (s *session) list(args []wire.Token, lsub bool) (string, error) {
	l, err := s.parseList(args, lsub)
	if err != nil {
		return "", err
	}
	cmd := "LIST"
	if lsub {
		cmd = "LSUB"
	}
	if len(l.patterns) == 1 && l.patterns[0] == "" && !lsub {
		// RFC 9051 section 6.3.9: the delimiter and root.
		s.w.Raw(`* LIST (\Noselect) "/" ""` + "\r\n")
		return "LIST completed", nil
	}
	patterns := make([]string, 0, len(l.patterns))
	for _, pat := range l.patterns {
		pattern := pat
		if ref := l.ref; ref != "" {
			if !strings.HasSuffix(ref, string(delim)) && !strings.HasPrefix(pat, string(delim)) {
				pattern = ref + string(delim) + pat
			} else {
				pattern = ref + pat
			}
		}
		pattern, err := s.decodePattern(pattern)
		if err != nil {
			return "", err
		}
		patterns = append(patterns, pattern)
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	mbs, err := s.srv.Store.ListMailboxes(ctx, s.acct.ID)
	if err != nil {
		return "", err
	}
	entries := listEntries(mbs)
	// chosen tells whether the selection options pick a mailbox.
	chosen := func(e *listEntry) bool {
		if lsub {
			return e.mb != nil && e.mb.Subscribed
		}
		if !l.subscribedOnly && !l.specialOnly {
			return true
		}
		return e.mb != nil && (!l.subscribedOnly || e.mb.Subscribed) && (!l.specialOnly || e.mb.SpecialUse != "")
	}
	// RFC 5258 section 3.5: with RECURSIVEMATCH, a mailbox with a
	// descendant that the selection options pick is told, with CHILDINFO.
	chosenBelow := map[string]bool{}
	if l.recursive {
		for i := range entries {
			if !chosen(&entries[i]) {
				continue
			}
			name := entries[i].name
			for j := strings.LastIndexByte(name, delim); j > 0; j = strings.LastIndexByte(name, delim) {
				name = name[:j]
				chosenBelow[name] = true
			}
		}
	}
	for i := range entries {
		e := &entries[i]
		if !matchAny(patterns, e.name) {
			continue
		}
		childInfo := chosenBelow[e.name]
		if !chosen(e) && !childInfo {
			continue
		}
		attrs := listAttrs(e, l)
		fmt.Fprintf(s.w, "* %s (%s) \"/\" ", cmd, strings.Join(attrs, " "))
		s.writeMailboxName(e.name)
		if childInfo {
			var crit []string
			if l.subscribedOnly {
				crit = append(crit, `"SUBSCRIBED"`)
			}
			if l.specialOnly {
				crit = append(crit, `"SPECIAL-USE"`)
			}
			s.w.Raw(` ("CHILDINFO" (` + strings.Join(crit, " ") + `))`)
		}
		s.w.CRLF()
		if len(l.status) > 0 && e.mb != nil {
			// RFC 5819 section 2: STATUS after the mailbox's LIST.
			if err := s.writeStatus(ctx, e.mb, l.status); err != nil {
				return "", err
			}
		}
	}
	return cmd + " completed", nil
}

// matchAny reports whether name matches one of the patterns (INBOX in
// any case).
func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if matchPattern(p, name) || strings.EqualFold(name, "INBOX") && matchPattern(strings.ToUpper(p), name) {
			return true
		}
	}
	return false
}

// listAttrs returns the mailbox attributes of a LIST or LSUB response.
func listAttrs(e *listEntry, l *listCmd) []string {
	var attrs []string
	if e.mb == nil {
		if l.extended {
			attrs = append(attrs, `\NonExistent`) // RFC 5258 section 3.4: implies \Noselect
		} else {
			attrs = append(attrs, `\Noselect`)
		}
	}
	if l.lsub {
		return attrs
	}
	if e.hasChildren {
		attrs = append(attrs, `\HasChildren`)
	} else {
		attrs = append(attrs, `\HasNoChildren`)
	}
	if l.retSubscribed && e.mb != nil && e.mb.Subscribed {
		attrs = append(attrs, `\Subscribed`)
	}
	if e.mb != nil && e.mb.SpecialUse != "" {
		attrs = append(attrs, e.mb.SpecialUse)
	}
	return attrs
}

// selectList writes the LIST response SELECT and EXAMINE send in an
// IMAP4rev2 session (RFC 9051 section 6.3.2: the mailbox's name and
// attributes).
func (s *session) selectList(ctx context.Context, mb *store.Mailbox) error {
	mbs, err := s.srv.Store.ListMailboxes(ctx, s.acct.ID)
	if err != nil {
		return fmt.Errorf("list mailboxes: %w", err)
	}
	e := &listEntry{name: mb.Name, mb: mb}
	prefix := mb.Name + string(delim)
	for i := range mbs {
		if strings.HasPrefix(mbs[i].Name, prefix) {
			e.hasChildren = true
			break
		}
	}
	attrs := listAttrs(e, &listCmd{retSubscribed: true})
	fmt.Fprintf(s.w, "* LIST (%s) \"/\" ", strings.Join(attrs, " "))
	s.writeMailboxName(mb.Name)
	s.w.CRLF()
	return nil
}

// statusItems are the STATUS data items served (RFC 9051 section 6.3.11,
// RFC 8438 SIZE, RFC 7162 HIGHESTMODSEQ).
var statusItems = map[string]bool{"MESSAGES": true, "UIDNEXT": true, "UIDVALIDITY": true,
	"UNSEEN": true, "DELETED": true, "SIZE": true, "RECENT": true, "HIGHESTMODSEQ": true,
	"MAILBOXID": true} // RFC 8474 section 4.3

// parseStatusItems reads a list of STATUS data items.
func (s *session) parseStatusItems(t wire.Token) ([]string, error) {
	if t.Kind != wire.List || len(t.List) == 0 {
		return nil, bad("STATUS takes a list of items")
	}
	var items []string
	for _, t := range t.List {
		it := strings.ToUpper(t.Value)
		if t.Kind != wire.Atom || !statusItems[it] {
			return nil, bad("unknown STATUS item %s", truncate(t.String()))
		}
		items = append(items, it)
		if it == "HIGHESTMODSEQ" {
			s.enableCondstore() // RFC 7162 section 3.1
		}
	}
	return items, nil
}

func (s *session) cmdStatus(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) != 2 || args[1].Kind != wire.List || len(args[1].List) == 0 {
		return "", bad("STATUS takes a mailbox name and a list of items")
	}
	items, err := s.parseStatusItems(args[1])
	if err != nil {
		return "", err
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	mb, err := s.mailbox(ctx, args[0].Value)
	if err != nil {
		return "", err
	}
	if err := s.writeStatus(ctx, mb, items); err != nil {
		return "", err
	}
	return "STATUS completed", nil
}

// writeStatus writes a STATUS response (RFC 9051 section 7.3.1).
func (s *session) writeStatus(ctx context.Context, mb *store.Mailbox, items []string) error {
	st, err := s.srv.Store.MailboxStatus(ctx, s.acct.ID, mb.ID)
	if err != nil {
		return fmt.Errorf("status of %s: %w", mb.Name, err)
	}
	var recent uint32
	if slices.Contains(items, "RECENT") {
		if recent, err = s.statusRecent(ctx, mb); err != nil {
			return fmt.Errorf("status of %s: %w", mb.Name, err)
		}
	}
	s.w.Raw("* STATUS ")
	s.writeMailboxName(mb.Name)
	s.w.Raw(" (")
	for i, it := range items {
		if i > 0 {
			s.w.Byte(' ')
		}
		s.w.Raw(it + " ")
		switch it {
		case "MESSAGES":
			s.w.Number(uint64(st.Messages))
		case "UIDNEXT":
			s.w.Number(uint64(mb.UIDNext))
		case "UIDVALIDITY":
			s.w.Number(uint64(mb.UIDValidity))
		case "UNSEEN":
			s.w.Number(uint64(st.Unseen))
		case "DELETED":
			s.w.Number(uint64(st.Deleted))
		case "SIZE":
			s.w.Number(uint64(st.Size))
		case "RECENT": // RFC 3501 section 6.3.10
			s.w.Number(uint64(recent))
		case "HIGHESTMODSEQ": // RFC 7162 section 3.1.6
			s.w.Number(mb.HighestModSeq)
		case "MAILBOXID":
			s.w.Raw("(" + mailboxID(mb.ID) + ")")
		}
	}
	s.w.Raw(")\r\n")
	return nil
}
