package imap

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"gannet/lib/imap/wire"
	"gannet/lib/message"
	"gannet/lib/store"
)

// sortMsg is a message found by SORT or THREAD, with the values its sort
// keys compare, read from the stored envelope (the message itself is not
// read).
type sortMsg struct {
	m   *store.Message
	seq uint32
	env *message.Envelope // read by envelope
	// base is the base subject in i;ascii-casemap form, and reply
	// whether the subject marks a reply; set by baseKey.
	base    string
	reply   bool
	hasBase bool
}

// baseKey returns the message's base subject (RFC 5256 section 2.1) in
// i;ascii-casemap canonical form, and whether it is a reply or forward.
func (sm *sortMsg) baseKey() (string, bool) {
	if !sm.hasBase {
		b, reply := baseSubject(sm.subject())
		sm.base, sm.reply, sm.hasBase = asciiCasemap(b), reply, true
	}
	return sm.base, sm.reply
}

// envelope returns the stored envelope of m, read once.
func (sm *sortMsg) envelope() *message.Envelope {
	if sm.env == nil {
		if p, err := message.Decode(sm.m.Meta.Structure); err == nil && p.Envelope() != nil {
			sm.env = p.Envelope()
		} else {
			sm.env = &message.Envelope{Subject: sm.m.Meta.Subject}
		}
	}
	return sm.env
}

// sentDate is the message's Date field adjusted to UTC, or its internal
// date when it has no usable Date (RFC 5256 section 3, "sent date").
func (sm *sortMsg) sentDate() time.Time {
	if d := sm.m.Meta.Date; !d.IsZero() {
		return d.UTC()
	}
	return sm.m.InternalDate.UTC()
}

// subject is the message's Subject with RFC 2047 words decoded, as the
// store keeps it (RFC 5256 section 2.1 step 1).
func (sm *sortMsg) subject() string { return sm.m.Meta.Subject }

// firstAddr is the first address of list that is not a group marker.
func firstAddr(list []message.Address) (message.Address, bool) {
	for _, a := range list {
		if !a.Group {
			return a, true
		}
	}
	return message.Address{}, false
}

// mailboxKey is RFC 5256 section 3's value for FROM, TO and CC: the
// addr-mailbox (local part) of the first address, "" when there is none.
func mailboxKey(list []message.Address) string {
	a, ok := firstAddr(list)
	if !ok {
		return ""
	}
	return a.Mailbox
}

// displayKey is RFC 5957 section 3's value for DISPLAYFROM and
// DISPLAYTO: the decoded display name of the first address, or its
// addr-spec when it has no display name.
func displayKey(list []message.Address) string {
	a, ok := firstAddr(list)
	if !ok {
		return ""
	}
	if n := strings.TrimSpace(message.DecodeText(a.Name)); n != "" {
		return n
	}
	return a.Addr()
}

// asciiCasemap is the i;ascii-casemap comparator's canonical form (RFC
// 4790 section 9.2): ASCII letters upper-cased.
func asciiCasemap(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
}

// unicodeCasemap is the canonical form of i;unicode-casemap (RFC 5051
// section 2), which RFC 5957 section 3 asks for the display keys: each
// character title-cased, then the whole decomposed (NFKD).
func unicodeCasemap(s string) string {
	return norm.NFKD.String(strings.Map(unicode.ToTitle, s))
}

// sortCriterion is one sort key with its REVERSE modifier.
type sortCriterion struct {
	key     string
	reverse bool
}

// parseSortCriteria parses RFC 5256 section 3's sort-criteria list.
func parseSortCriteria(t wire.Token) ([]sortCriterion, error) {
	if t.Kind != wire.List || len(t.List) == 0 {
		return nil, bad("SORT needs a list of sort criteria")
	}
	var out []sortCriterion
	reverse := false
	for _, k := range t.List {
		if k.Kind != wire.Atom {
			return nil, bad("invalid sort criterion %s", truncate(k.String()))
		}
		key := strings.ToUpper(k.Value)
		switch key {
		case "REVERSE":
			if reverse {
				return nil, bad("REVERSE REVERSE is not a sort criterion")
			}
			reverse = true
			continue
		case "ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO",
			"DISPLAYFROM", "DISPLAYTO": // RFC 5957 section 3
		default:
			return nil, bad("unknown sort criterion %s", truncate(k.Value))
		}
		out = append(out, sortCriterion{key: key, reverse: reverse})
		reverse = false
	}
	if reverse {
		return nil, bad("REVERSE needs a sort key after it")
	}
	return out, nil
}

// compareBy compares a and b by one sort key (RFC 5256 section 3).
func compareBy(key string, a, b *sortMsg) int {
	switch key {
	case "ARRIVAL":
		return a.m.InternalDate.Compare(b.m.InternalDate)
	case "DATE":
		return a.sentDate().Compare(b.sentDate())
	case "SIZE":
		return cmpInt(a.m.Size, b.m.Size)
	case "SUBJECT":
		as, _ := a.baseKey()
		bs, _ := b.baseKey()
		return strings.Compare(as, bs)
	case "FROM":
		return strings.Compare(asciiCasemap(mailboxKey(a.envelope().From)), asciiCasemap(mailboxKey(b.envelope().From)))
	case "TO":
		return strings.Compare(asciiCasemap(mailboxKey(a.envelope().To)), asciiCasemap(mailboxKey(b.envelope().To)))
	case "CC":
		return strings.Compare(asciiCasemap(mailboxKey(a.envelope().Cc)), asciiCasemap(mailboxKey(b.envelope().Cc)))
	case "DISPLAYFROM":
		return strings.Compare(unicodeCasemap(displayKey(a.envelope().From)), unicodeCasemap(displayKey(b.envelope().From)))
	case "DISPLAYTO":
		return strings.Compare(unicodeCasemap(displayKey(a.envelope().To)), unicodeCasemap(displayKey(b.envelope().To)))
	}
	return 0
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sortMessages orders msgs by the criteria; ties go by sequence number
// (RFC 5256 section 3).
func sortMessages(msgs []*sortMsg, crit []sortCriterion) {
	slices.SortStableFunc(msgs, func(a, b *sortMsg) int {
		for _, c := range crit {
			r := compareBy(c.key, a, b)
			if c.reverse {
				r = -r
			}
			if r != 0 {
				return r
			}
		}
		return cmpInt(int64(a.seq), int64(b.seq))
	})
}

// matching evaluates a SORT or THREAD command's search keys on the
// selected mailbox and returns the messages found, in sequence order.
func (s *session) matching(ctx context.Context, p *searchParser) ([]*sortMsg, error) {
	// RFC 5256 section 3: the charset is required.
	cs, err := p.str()
	if err != nil {
		return nil, bad("missing charset")
	}
	if !strings.EqualFold(cs, "UTF-8") && !strings.EqualFold(cs, "US-ASCII") {
		return nil, no("BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset")
	}
	root := &searchKey{op: "AND"}
	for p.more() {
		k, err := p.key(0)
		if err != nil {
			return nil, err
		}
		root.sub = append(root.sub, k)
	}
	if len(root.sub) == 0 {
		return nil, bad("missing search key")
	}
	if root.uses("MODSEQ") {
		s.enableCondstore() // RFC 7162 section 3.1
	}
	v := s.sel
	msgs, err := s.srv.Store.ListMessages(ctx, s.acct.ID, store.MessageFilter{MailboxID: v.mbox.ID})
	if err != nil {
		return nil, err
	}
	text := s.textIndexed(ctx, root, v.mbox.ID) // as SEARCH does (searchtext.go)
	var out []*sortMsg
	max, maxUID := uint32(len(v.uids)), v.lastUID()
	for i := range msgs {
		seq := v.seqOf(msgs[i].UID)
		if seq == 0 {
			continue // not in the view (yet)
		}
		sm := &searchMsg{s: s, ctx: ctx, m: &msgs[i], seq: seq, max: max, maxUID: maxUID, text: text}
		if root.match(sm) {
			out = append(out, &sortMsg{m: &msgs[i], seq: seq})
		}
		if sm.err != nil {
			s.log.Warn("could not read a message", "message", msgs[i].ID, "err", sm.err)
		}
	}
	slices.SortFunc(out, func(a, b *sortMsg) int { return cmpInt(int64(a.seq), int64(b.seq)) })
	return out, nil
}

func (s *session) cmdSort(c *wire.Command, args []wire.Token) (string, error) {
	return s.sort(c, args, false)
}

// sort is SORT and UID SORT (RFC 5256 section 3), with ESORT's RETURN
// options (RFC 5267 section 3).
func (s *session) sort(c *wire.Command, args []wire.Token, uid bool) (string, error) {
	p := &searchParser{toks: args}
	var ret []string
	esort := false
	if p.more() && p.toks[0].Kind == wire.Atom && strings.EqualFold(p.toks[0].Value, "RETURN") {
		p.pos++
		t, err := p.next()
		if err != nil || t.Kind != wire.List {
			return "", bad("RETURN takes a list of options")
		}
		esort = true
		for _, o := range t.List {
			opt := strings.ToUpper(o.Value)
			switch opt {
			case "MIN", "MAX", "COUNT", "ALL":
				ret = append(ret, opt)
			default:
				return "", bad("unknown RETURN option %s", truncate(o.String()))
			}
		}
		if len(ret) == 0 {
			ret = []string{"ALL"} // RFC 4731 section 3.1
		}
	}
	t, err := p.next()
	if err != nil {
		return "", bad("SORT needs sort criteria")
	}
	crit, err := parseSortCriteria(t)
	if err != nil {
		return "", err
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	msgs, err := s.matching(ctx, p)
	if err != nil {
		return "", err
	}
	sortMessages(msgs, crit)
	ids := make([]uint32, len(msgs))
	for i, m := range msgs {
		ids[i] = m.seq
		if uid {
			ids[i] = m.m.UID
		}
	}
	if !esort {
		// RFC 5256 section 4: * SORT followed by the numbers in sort order.
		s.w.Raw("* SORT")
		for _, id := range ids {
			s.w.Raw(" " + strconv.FormatUint(uint64(id), 10))
		}
		s.w.CRLF()
		return "SORT completed", nil
	}
	// RFC 5267 section 3.2: an ESEARCH response whose MIN and MAX are the
	// first and last messages in sort order and whose ALL lists them in
	// sort order.
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatUint(uint64(id), 10)
	}
	s.writeESearch(c.Tag, uid, ret, ids, strings.Join(parts, ","))
	s.w.CRLF()
	return "SORT completed", nil
}
