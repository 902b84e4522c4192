package imap

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gannet/lib/imap/wire"
	"gannet/lib/message"
	"gannet/lib/store"
)

// searchKey is one parsed SEARCH key (RFC 9051 section 6.4.4).
type searchKey struct {
	op    string // upper-case key name; "AND" for a parenthesised list, "SET" for a sequence set
	str   string
	field string
	num   int64
	date  time.Time
	set   seqSet
	uid   bool // the set holds UIDs
	sub   []*searchKey
}

// searchParser walks the SEARCH arguments.
type searchParser struct {
	toks []wire.Token
	pos  int
}

func (p *searchParser) more() bool { return p.pos < len(p.toks) }

func (p *searchParser) next() (wire.Token, error) {
	if p.pos >= len(p.toks) {
		return wire.Token{}, bad("SEARCH key is missing an argument")
	}
	t := p.toks[p.pos]
	p.pos++
	return t, nil
}

func (p *searchParser) str() (string, error) {
	t, err := p.next()
	if err != nil {
		return "", err
	}
	if !t.IsString() {
		return "", bad("SEARCH expected a string, found %s", truncate(t.String()))
	}
	return t.Value, nil
}

func (p *searchParser) number() (int64, error) {
	t, err := p.next()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(t.Value, 10, 63)
	if t.Kind != wire.Atom || err != nil {
		return 0, bad("SEARCH expected a number, found %s", truncate(t.String()))
	}
	return int64(n), nil
}

// searchDateLayout is RFC 9051's date.
const searchDateLayout = "2-Jan-2006"

func (p *searchParser) date() (time.Time, error) {
	s, err := p.str()
	if err != nil {
		return time.Time{}, err
	}
	d, err := time.Parse(searchDateLayout, s)
	if err != nil {
		return time.Time{}, bad("invalid date %q", truncate(s))
	}
	return d, nil
}

// key parses one search key.
func (p *searchParser) key(depth int) (*searchKey, error) {
	if depth > 50 {
		return nil, bad("SEARCH keys nested too deep")
	}
	t, err := p.next()
	if err != nil {
		return nil, err
	}
	if t.Kind == wire.List {
		sub := &searchParser{toks: t.List}
		k := &searchKey{op: "AND"}
		for sub.more() {
			c, err := sub.key(depth + 1)
			if err != nil {
				return nil, err
			}
			k.sub = append(k.sub, c)
		}
		if len(k.sub) == 0 {
			return nil, bad("empty SEARCH key list")
		}
		return k, nil
	}
	if t.Kind != wire.Atom {
		return nil, bad("invalid SEARCH key %s", truncate(t.String()))
	}
	op := strings.ToUpper(t.Value)
	k := &searchKey{op: op}
	switch op {
	case "ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN", "UNANSWERED", "UNDELETED",
		"UNDRAFT", "UNFLAGGED", "UNSEEN", "NEW", "OLD", "RECENT":
	case "BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO":
		k.str, err = p.str()
	case "KEYWORD", "UNKEYWORD":
		k.str, err = p.str()
	case "HEADER":
		if k.field, err = p.str(); err == nil {
			k.str, err = p.str()
		}
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE",
		"SAVEDBEFORE", "SAVEDON", "SAVEDSINCE": // RFC 8514 section 4.4
		k.date, err = p.date()
	case "SAVEDATESUPPORTED": // RFC 8514 section 4.4
	case "EMAILID", "THREADID": // RFC 8474 section 6
		k.str, err = p.str()
	case "LARGER", "SMALLER":
		k.num, err = p.number()
	case "OLDER", "YOUNGER": // RFC 5032 section 3
		k.date, err = p.within()
	case "MODSEQ":
		// RFC 7162 section 3.1.5: MODSEQ [entry-name entry-type] n. The
		// entry names a flag's own mod-sequence; messages have one
		// mod-sequence for all their flags, which is used for every entry.
		if p.more() && p.toks[p.pos].Kind != wire.Atom {
			if _, err = p.str(); err == nil {
				var et wire.Token
				if et, err = p.next(); err == nil {
					switch strings.ToLower(et.Value) {
					case "priv", "shared", "all":
					default:
						err = bad("invalid MODSEQ entry type %s", truncate(et.String()))
					}
				}
			}
		}
		if err == nil {
			var t wire.Token
			if t, err = p.next(); err == nil {
				var n uint64
				n, err = parseModSeq(t)
				k.num = int64(n)
			}
		}
	case "UID":
		var s string
		if s, err = p.str(); err == nil {
			if s == "$" {
				k.op = "SAVED" // RFC 5182 section 2.2
			} else {
				k.set, err = parseSeqSet(s)
				k.uid = true
			}
		}
	case "NOT":
		var c *searchKey
		if c, err = p.key(depth + 1); err == nil {
			k.sub = []*searchKey{c}
		}
	case "OR":
		var a, b *searchKey
		if a, err = p.key(depth + 1); err == nil {
			if b, err = p.key(depth + 1); err == nil {
				k.sub = []*searchKey{a, b}
			}
		}
	case "$":
		k.op = "SAVED" // the saved result (RFC 5182 section 2.2)
	default:
		set, serr := parseSeqSet(t.Value)
		if serr != nil {
			return nil, bad("unknown SEARCH key %s", truncate(t.Value))
		}
		k.op, k.set = "SET", set
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

// uses reports whether k or a key under it is op.
func (k *searchKey) uses(op string) bool {
	if k.op == op {
		return true
	}
	for _, c := range k.sub {
		if c.uses(op) {
			return true
		}
	}
	return false
}

// needs reports what evaluating k needs beyond the message row: the
// parsed structure (headers) and the raw text (BODY, TEXT).
func (k *searchKey) needs() (structure, text bool) {
	switch k.op {
	case "BCC", "CC", "FROM", "TO", "SUBJECT", "HEADER", "SENTBEFORE", "SENTON", "SENTSINCE":
		structure = true
	case "BODY", "TEXT":
		structure, text = true, true
	}
	for _, c := range k.sub {
		s, t := c.needs()
		structure, text = structure || s, text || t
	}
	return
}

// searchMsg is a message under evaluation, with what has been read of it.
type searchMsg struct {
	s      *session
	ctx    context.Context
	m      *store.Message
	seq    uint32
	max    uint32 // messages in the view, for "*"
	maxUID uint32
	parsed *message.Parsed
	header []byte
	err    error
	text   map[*searchKey]*textHits // the full-text index's answers (searchtext.go)
}

func (sm *searchMsg) structure() *message.Parsed {
	if sm.parsed == nil && sm.err == nil {
		sm.parsed, sm.err = message.Decode(sm.m.Meta.Structure)
	}
	return sm.parsed
}

func (sm *searchMsg) reader() blobReader {
	return blobReader{ctx: sm.ctx, st: sm.s.srv.Store, id: sm.m.BlobID, size: sm.m.Size}
}

// headerBlock is the message's header, read once.
func (sm *searchMsg) headerBlock() []byte {
	if sm.header == nil && sm.err == nil {
		p := sm.structure()
		if p == nil {
			return nil
		}
		sm.header, sm.err = p.ReadSection(sm.reader(), message.Section{Spec: message.SpecHeader})
	}
	return sm.header
}

// headerValues returns the unfolded values of the fields named name.
func (sm *searchMsg) headerValues(name string) []string {
	hdr := sm.headerBlock()
	if hdr == nil {
		return nil
	}
	var out []string
	for _, line := range bytes.Split(message.FilterHeader(hdr, []string{name}, false), []byte("\n")) {
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1] += " " + strings.TrimSpace(string(line))
			continue
		}
		if _, v, ok := strings.Cut(string(line), ":"); ok {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// contains is SEARCH's substring match: case-insensitive, on the header
// value both as written and with RFC 2047 words decoded.
func contains(hay, needle string) bool {
	if needle == "" {
		return true
	}
	n := strings.ToLower(needle)
	return strings.Contains(strings.ToLower(hay), n) ||
		strings.Contains(strings.ToLower(message.DecodeText(hay)), n)
}

func (sm *searchMsg) headerMatch(name, needle string) bool {
	vals := sm.headerValues(name)
	if needle == "" {
		return len(vals) > 0 // RFC 9051: HEADER with "" matches every message with the field
	}
	for _, v := range vals {
		if contains(v, needle) {
			return true
		}
	}
	return false
}

// textMatch looks for needle in the message's text parts (decoded) and,
// for TEXT, in its header.
func (sm *searchMsg) textMatch(needle string, withHeader bool) bool {
	if withHeader && contains(string(sm.headerBlock()), needle) {
		return true
	}
	p := sm.structure()
	if p == nil {
		return false
	}
	n := strings.ToLower(needle)
	found := false
	var walk func(pt *message.Part)
	walk = func(pt *message.Part) {
		if found {
			return
		}
		for _, c := range pt.Parts {
			walk(c)
		}
		if pt.Embedded != nil {
			walk(pt.Embedded)
		}
		if len(pt.Parts) == 0 && pt.Embedded == nil && (pt.Type == "text" || pt.Type == "message") {
			txt, _, err := pt.Text(sm.reader(), 8<<20)
			if err == nil && strings.Contains(strings.ToLower(txt), n) {
				found = true
			}
		}
	}
	walk(p.Root)
	return found
}

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}

// dayOf is the date of t, disregarding time and timezone (RFC 9051
// section 6.4.4), as a UTC midnight.
func dayOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// match evaluates k on sm.
func (k *searchKey) match(sm *searchMsg) bool {
	m := sm.m
	switch k.op {
	case "ALL":
		return true
	case "SAVED":
		return sm.s.savedHas(m.UID)
	case "AND":
		for _, c := range k.sub {
			if !c.match(sm) {
				return false
			}
		}
		return true
	case "NOT":
		return !k.sub[0].match(sm)
	case "OR":
		return k.sub[0].match(sm) || k.sub[1].match(sm)
	case "SET":
		return k.set.contains(sm.seq, sm.max)
	case "UID":
		return k.set.contains(m.UID, sm.maxUID)
	case "ANSWERED":
		return hasFlag(m.Flags, store.FlagAnswered)
	case "DELETED":
		return hasFlag(m.Flags, store.FlagDeleted)
	case "DRAFT":
		return hasFlag(m.Flags, store.FlagDraft)
	case "FLAGGED":
		return hasFlag(m.Flags, store.FlagFlagged)
	case "SEEN":
		return hasFlag(m.Flags, store.FlagSeen)
	case "OLD":
		return !sm.s.isRecent(m.UID)
	case "UNANSWERED":
		return !hasFlag(m.Flags, store.FlagAnswered)
	case "UNDELETED":
		return !hasFlag(m.Flags, store.FlagDeleted)
	case "UNDRAFT":
		return !hasFlag(m.Flags, store.FlagDraft)
	case "UNFLAGGED":
		return !hasFlag(m.Flags, store.FlagFlagged)
	case "UNSEEN":
		return !hasFlag(m.Flags, store.FlagSeen)
	case "RECENT": // RFC 3501 section 6.4.4; never in IMAP4rev2 sessions
		return sm.s.isRecent(m.UID)
	case "NEW":
		return sm.s.isRecent(m.UID) && !hasFlag(m.Flags, store.FlagSeen)
	case "KEYWORD":
		return hasFlag(m.Flags, k.str)
	case "UNKEYWORD":
		return !hasFlag(m.Flags, k.str)
	case "MODSEQ":
		return m.ModSeq >= uint64(k.num)
	case "OLDER", "YOUNGER":
		return k.matchWithin(m.InternalDate)
	case "LARGER":
		return m.Size > k.num
	case "SMALLER":
		return m.Size < k.num
	case "SAVEDATESUPPORTED":
		return true // every mailbox keeps save dates
	case "SAVEDBEFORE":
		return !m.SaveDate.IsZero() && dayOf(m.SaveDate).Before(k.date)
	case "SAVEDON":
		return !m.SaveDate.IsZero() && sameDay(m.SaveDate, k.date)
	case "SAVEDSINCE":
		return !m.SaveDate.IsZero() && !dayOf(m.SaveDate).Before(k.date)
	case "EMAILID":
		return k.str == emailID(m)
	case "THREADID":
		return k.str != "" && k.str == threadID(m)
	case "BEFORE":
		return dayOf(m.InternalDate).Before(k.date)
	case "ON":
		return sameDay(m.InternalDate, k.date)
	case "SINCE":
		return !dayOf(m.InternalDate).Before(k.date)
	case "SENTBEFORE", "SENTON", "SENTSINCE":
		d := m.Meta.Date
		if d.IsZero() {
			d = m.InternalDate // RFC 9051: no usable Date: use INTERNALDATE
		}
		switch k.op {
		case "SENTBEFORE":
			return dayOf(d).Before(k.date)
		case "SENTON":
			return sameDay(d, k.date)
		}
		return !dayOf(d).Before(k.date)
	case "FROM", "TO", "CC", "BCC", "SUBJECT":
		return sm.headerMatch(k.op, k.str)
	case "HEADER":
		return sm.headerMatch(k.field, k.str)
	case "BODY", "TEXT":
		if hit, ok := sm.indexedText(k); ok {
			return hit
		}
		return sm.textMatch(k.str, k.op == "TEXT")
	}
	return false
}

func (s *session) cmdSearch(c *wire.Command, args []wire.Token) (string, error) {
	return s.search(c, args, false)
}

// search is SEARCH and UID SEARCH (RFC 9051 section 6.4.4), with ESEARCH
// results (RFC 4731) when the client asks with RETURN.
func (s *session) search(c *wire.Command, args []wire.Token, uid bool) (text string, err error) {
	p := &searchParser{toks: args}
	save := false
	defer func() {
		if err != nil && save {
			s.setSaved(nil) // RFC 5182 section 2.1: a failed SEARCH empties $
		}
	}()
	var ret []string
	esearch := false
	if p.more() && p.toks[0].Kind == wire.Atom && strings.EqualFold(p.toks[0].Value, "RETURN") {
		p.pos++
		t, err := p.next()
		if err != nil || t.Kind != wire.List {
			return "", bad("RETURN takes a list of options")
		}
		esearch = true
		for _, o := range t.List {
			opt := strings.ToUpper(o.Value)
			switch opt {
			case "MIN", "MAX", "COUNT", "ALL":
				ret = append(ret, opt)
			case "SAVE": // RFC 5182 section 2.1
				save = true
			default:
				return "", bad("unknown RETURN option %s", truncate(o.String()))
			}
		}
		if len(ret) == 0 && !save {
			ret = []string{"ALL"} // RFC 4731 section 3.1
		}
	} else if s.rev2 {
		// RFC 9051 section 6.4.4: IMAP4rev2 answers SEARCH with ESEARCH.
		esearch, ret = true, []string{"ALL"}
	}
	if p.more() && p.toks[p.pos].Kind == wire.Atom && strings.EqualFold(p.toks[p.pos].Value, "CHARSET") {
		p.pos++
		cs, err := p.str()
		if err != nil {
			return "", err
		}
		if !strings.EqualFold(cs, "UTF-8") && !strings.EqualFold(cs, "US-ASCII") {
			return "", no("BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset")
		}
	}
	root := &searchKey{op: "AND"}
	for p.more() {
		k, err := p.key(0)
		if err != nil {
			return "", err
		}
		root.sub = append(root.sub, k)
	}
	if len(root.sub) == 0 {
		return "", bad("SEARCH needs a key")
	}
	modseqKey := root.uses("MODSEQ")
	if modseqKey {
		s.enableCondstore() // RFC 7162 section 3.1
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	v := s.sel
	msgs, err := s.srv.Store.ListMessages(ctx, s.acct.ID, store.MessageFilter{MailboxID: v.mbox.ID})
	if err != nil {
		return "", err
	}
	indexed := s.textIndexed(ctx, root, v.mbox.ID) // after ListMessages: covers every message listed
	var hits []uint32                              // sequence numbers or UIDs
	var hitUIDs []uint32
	var highest uint64 // of the messages found, for MODSEQ searches
	max, maxUID := uint32(len(v.uids)), v.lastUID()
	for i := range msgs {
		seq := v.seqOf(msgs[i].UID)
		if seq == 0 {
			continue // not in the view (yet)
		}
		sm := &searchMsg{s: s, ctx: ctx, m: &msgs[i], seq: seq, max: max, maxUID: maxUID, text: indexed}
		if root.match(sm) {
			if msgs[i].ModSeq > highest {
				highest = msgs[i].ModSeq
			}
			hitUIDs = append(hitUIDs, msgs[i].UID)
			if uid {
				hits = append(hits, msgs[i].UID)
			} else {
				hits = append(hits, seq)
			}
		}
		if sm.err != nil {
			s.log.Warn("SEARCH could not read a message", "message", msgs[i].ID, "err", sm.err)
		}
	}
	sortUIDs(hits)
	if save {
		sortUIDs(hitUIDs)
		s.setSaved(savedResult(hitUIDs, ret))
	}
	if !esearch {
		s.w.Raw("* SEARCH")
		for _, h := range hits {
			s.w.Byte(' ')
			s.w.Number(uint64(h))
		}
		if modseqKey && len(hits) > 0 {
			// RFC 7162 section 3.1.5: the highest mod-sequence found.
			fmt.Fprintf(s.w, " (MODSEQ %d)", highest)
		}
		s.w.CRLF()
		return "SEARCH completed", nil
	}
	if len(ret) == 0 {
		// RFC 5182 section 2.1: SAVE alone gives no ESEARCH response.
		return "SEARCH completed", nil
	}
	// RFC 4731 section 3.1.
	s.writeESearch(c.Tag, uid, ret, hits, formatUIDList(hits))
	if modseqKey && len(hits) > 0 {
		fmt.Fprintf(s.w, " MODSEQ %d", highest) // RFC 7162 section 3.1.5
	}
	s.w.CRLF()
	return "SEARCH completed", nil
}

// writeESearch writes an ESEARCH response (RFC 4731 section 3.1) without
// its line end: the correlator, UID, and the RETURN items of ret over ids,
// whose ALL is written as all (a sequence set for SEARCH, a list in sort
// order for SORT, RFC 5267 section 3.2).
func (s *session) writeESearch(tag string, uid bool, ret []string, ids []uint32, all string) {
	s.w.Raw("* ESEARCH (TAG ")
	s.w.String(tag)
	s.w.Raw(")")
	if uid {
		s.w.Raw(" UID")
	}
	for _, r := range ret {
		switch r {
		case "MIN":
			if len(ids) > 0 {
				fmt.Fprintf(s.w, " MIN %d", ids[0])
			}
		case "MAX":
			if len(ids) > 0 {
				fmt.Fprintf(s.w, " MAX %d", ids[len(ids)-1])
			}
		case "COUNT":
			fmt.Fprintf(s.w, " COUNT %d", len(ids))
		case "ALL":
			if len(ids) > 0 {
				s.w.Raw(" ALL " + all)
			}
		}
	}
}

// savedResult is what SEARCH RETURN (SAVE ...) keeps of the UIDs found
// (RFC 5182 section 2.1): all of them, unless MIN or MAX come without ALL
// or COUNT, when only the minimum and maximum are kept.
func savedResult(uids []uint32, ret []string) []uint32 {
	var min, max, all bool
	for _, r := range ret {
		switch r {
		case "MIN":
			min = true
		case "MAX":
			max = true
		case "ALL", "COUNT":
			all = true
		}
	}
	if all || !min && !max || len(uids) == 0 {
		return uids
	}
	var out []uint32
	if min {
		out = append(out, uids[0])
	}
	if max && (!min || len(uids) > 1) {
		out = append(out, uids[len(uids)-1])
	}
	return out
}
