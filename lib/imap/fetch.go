package imap

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sort"
	"strconv"
	"strings"

	"gannet/lib/imap/render"
	"gannet/lib/imap/wire"
	"gannet/lib/message"
	"gannet/lib/store"
)

// fetchKind is a FETCH data item (RFC 9051 section 6.4.5).
type fetchKind uint8

const (
	fFlags fetchKind = iota + 1
	fInternalDate
	fSize
	fUID
	fEnvelope
	fBodyStructure // BODYSTRUCTURE: with extension data
	fBody          // BODY alone: the structure without extension data
	fSection       // BODY[...], BODY.PEEK[...], RFC822, RFC822.HEADER, RFC822.TEXT
	fBinary        // BINARY[...], BINARY.PEEK[...] (RFC 3516)
	fBinarySize    // BINARY.SIZE[...]
	fModSeq        // MODSEQ (RFC 7162 section 3.1.4.1)
	fEmailID       // EMAILID (RFC 8474 section 5.1)
	fThreadID      // THREADID (RFC 8474 section 5.2)
	fSaveDate      // SAVEDATE (RFC 8514 section 4.3)
	fPreview       // PREVIEW (RFC 8970 section 3.1)
)

// fetchItem is one requested data item.
type fetchItem struct {
	kind    fetchKind
	peek    bool   // does not set \Seen
	name    string // the item's name in the response, e.g. BODY[1.MIME]<0>
	sec     message.Section
	partial bool
	offset  int64
	count   int64
}

// needsParsed reports whether the item needs the message's structure.
func (it *fetchItem) needsParsed() bool {
	switch it.kind {
	case fEnvelope, fBodyStructure, fBody, fSection, fBinary, fBinarySize:
		return true
	}
	return false
}

// parseFetchItems reads the FETCH item list: a macro, one item or a
// parenthesised list.
func parseFetchItems(t wire.Token) ([]fetchItem, error) {
	var toks []wire.Token
	switch t.Kind {
	case wire.Atom:
		switch strings.ToUpper(t.Value) {
		case "ALL":
			return parseFetchList("FLAGS INTERNALDATE RFC822.SIZE ENVELOPE")
		case "FAST":
			return parseFetchList("FLAGS INTERNALDATE RFC822.SIZE")
		case "FULL":
			return parseFetchList("FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY")
		}
		toks = []wire.Token{t}
	case wire.List:
		toks = t.List
	default:
		return nil, bad("invalid FETCH items")
	}
	if len(toks) == 0 {
		return nil, bad("empty FETCH item list")
	}
	items := make([]fetchItem, 0, len(toks))
	for i, tk := range toks {
		if tk.Kind == wire.List && i > 0 && toks[i-1].Kind == wire.Atom && strings.EqualFold(toks[i-1].Value, "PREVIEW") {
			if err := parsePreviewModifiers(tk); err != nil { // PREVIEW (LAZY)
				return nil, err
			}
			continue
		}
		if tk.Kind != wire.Atom {
			return nil, bad("invalid FETCH item %s", truncate(tk.String()))
		}
		it, err := parseFetchItem(tk.Value)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

func parseFetchList(s string) ([]fetchItem, error) {
	var items []fetchItem
	for _, f := range strings.Fields(s) {
		it, err := parseFetchItem(f)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

// parseFetchItem reads one item, such as BODY.PEEK[1.HEADER]<0.100>.
func parseFetchItem(s string) (fetchItem, error) {
	up := strings.ToUpper(s)
	switch up {
	case "FLAGS":
		return fetchItem{kind: fFlags, name: "FLAGS"}, nil
	case "INTERNALDATE":
		return fetchItem{kind: fInternalDate, name: "INTERNALDATE"}, nil
	case "RFC822.SIZE":
		return fetchItem{kind: fSize, name: "RFC822.SIZE"}, nil
	case "UID":
		return fetchItem{kind: fUID, name: "UID"}, nil
	case "MODSEQ":
		return fetchItem{kind: fModSeq, name: "MODSEQ"}, nil
	case "EMAILID":
		return fetchItem{kind: fEmailID, name: "EMAILID"}, nil
	case "THREADID":
		return fetchItem{kind: fThreadID, name: "THREADID"}, nil
	case "SAVEDATE":
		return fetchItem{kind: fSaveDate, name: "SAVEDATE"}, nil
	case "PREVIEW":
		return fetchItem{kind: fPreview, name: "PREVIEW"}, nil
	case "ENVELOPE":
		return fetchItem{kind: fEnvelope, name: "ENVELOPE"}, nil
	case "BODYSTRUCTURE":
		return fetchItem{kind: fBodyStructure, name: "BODYSTRUCTURE"}, nil
	case "BODY":
		return fetchItem{kind: fBody, name: "BODY"}, nil
	case "RFC822":
		return fetchItem{kind: fSection, name: "RFC822"}, nil
	case "RFC822.HEADER":
		return fetchItem{kind: fSection, peek: true, name: "RFC822.HEADER", sec: message.Section{Spec: message.SpecHeader}}, nil
	case "RFC822.TEXT":
		return fetchItem{kind: fSection, name: "RFC822.TEXT", sec: message.Section{Spec: message.SpecText}}, nil
	}
	open := strings.IndexByte(s, '[')
	if open < 0 || !strings.Contains(s[open:], "]") {
		return fetchItem{}, bad("unknown FETCH item %s", truncate(s))
	}
	close := strings.LastIndexByte(s, ']')
	head, inner, tail := up[:open], s[open+1:close], s[close+1:]
	var it fetchItem
	switch head {
	case "BODY":
		it.kind = fSection
	case "BODY.PEEK":
		it.kind, it.peek = fSection, true
	case "BINARY":
		it.kind = fBinary
	case "BINARY.PEEK":
		it.kind, it.peek = fBinary, true
	case "BINARY.SIZE":
		it.kind = fBinarySize
	default:
		return fetchItem{}, bad("unknown FETCH item %s", truncate(s))
	}
	sec, err := parseSection(inner, it.kind != fSection)
	if err != nil {
		return fetchItem{}, err
	}
	it.sec = sec
	respHead := strings.TrimSuffix(head, ".PEEK")
	it.name = respHead + "[" + inner + "]"
	if tail != "" {
		if it.kind == fBinarySize || len(tail) < 3 || tail[0] != '<' || tail[len(tail)-1] != '>' {
			return fetchItem{}, bad("invalid partial %s", truncate(tail))
		}
		o, n, ok := strings.Cut(tail[1:len(tail)-1], ".")
		off, err1 := strconv.ParseUint(o, 10, 32)
		cnt, err2 := strconv.ParseUint(n, 10, 32)
		if !ok || err1 != nil || err2 != nil || cnt == 0 {
			return fetchItem{}, bad("invalid partial %s", truncate(tail))
		}
		it.partial, it.offset, it.count = true, int64(off), int64(cnt)
		it.name += "<" + o + ">"
	}
	return it, nil
}

// parseSection reads a section-spec (RFC 9051 section 9); binary sections
// are part numbers only.
func parseSection(s string, binary bool) (message.Section, error) {
	var sec message.Section
	rest := s
	for rest != "" && rest[0] >= '0' && rest[0] <= '9' {
		num, after, _ := strings.Cut(rest, ".")
		n, err := strconv.ParseUint(num, 10, 32)
		if err != nil || n == 0 {
			if err == nil || !strings.ContainsAny(num, " (") {
				return sec, bad("invalid section part number %q", truncate(num))
			}
		}
		sec.Path = append(sec.Path, int(n))
		rest = after
		if len(sec.Path) > 100 {
			return sec, bad("section too deep")
		}
	}
	if binary {
		if rest != "" {
			return sec, bad("BINARY takes part numbers only")
		}
		return sec, nil
	}
	up := strings.ToUpper(rest)
	switch {
	case up == "":
		sec.Spec = message.SpecNone
	case up == "HEADER":
		sec.Spec = message.SpecHeader
	case up == "TEXT":
		sec.Spec = message.SpecText
	case up == "MIME":
		if len(sec.Path) == 0 {
			return sec, bad("MIME needs a part number")
		}
		sec.Spec = message.SpecMIME
	case strings.HasPrefix(up, "HEADER.FIELDS"):
		sec.Spec = message.SpecHeaderFields
		list := strings.TrimPrefix(up, "HEADER.FIELDS")
		if strings.HasPrefix(list, ".NOT") {
			sec.Spec = message.SpecHeaderFieldsNot
			list = list[4:]
		}
		list = strings.TrimSpace(list)
		if len(list) < 2 || list[0] != '(' || list[len(list)-1] != ')' {
			return sec, bad("HEADER.FIELDS needs a list of field names")
		}
		for _, f := range strings.Fields(list[1 : len(list)-1]) {
			if strings.HasPrefix(f, `"`) {
				u, err := strconv.Unquote(f)
				if err != nil {
					return sec, bad("invalid header field name %s", truncate(f))
				}
				f = u
			}
			sec.Fields = append(sec.Fields, f)
		}
		if len(sec.Fields) == 0 {
			return sec, bad("HEADER.FIELDS needs at least one field name")
		}
	default:
		return sec, bad("invalid section %q", truncate(s))
	}
	return sec, nil
}

// blobReader reads a message's blob through the store, for the section
// helpers of lib/message.
type blobReader struct {
	ctx  context.Context
	st   store.Blobs
	id   string
	size int64
}

// ReadAt implements io.ReaderAt.
func (b blobReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= b.size {
		return 0, io.EOF
	}
	data, err := b.st.ReadBlob(b.ctx, b.id, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	n := copy(p, data)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Size is the blob's size.
func (b blobReader) Size() int64 { return b.size }

func (s *session) cmdFetch(c *wire.Command, args []wire.Token) (string, error) {
	return s.fetch(args, false)
}

// fetch is FETCH and UID FETCH (RFC 9051 section 6.4.5).
func (s *session) fetch(args []wire.Token, uid bool) (string, error) {
	if len(args) < 2 || len(args) > 3 || args[0].Kind != wire.Atom {
		return "", bad("FETCH takes a sequence set, data items and optional modifiers")
	}
	set, err := s.seqSetArg(args[0].Value, uid)
	if err != nil {
		return "", err
	}
	items, err := parseFetchItems(args[1])
	if err != nil {
		return "", err
	}
	var mods fetchModifiers
	if len(args) == 3 {
		if mods, err = s.parseFetchModifiers(args[2], uid); err != nil {
			return "", err
		}
	}
	hasModSeq := false
	for _, it := range items {
		hasModSeq = hasModSeq || it.kind == fModSeq
	}
	if mods.changedSince != nil && !hasModSeq {
		// RFC 7162 section 3.1.4.2: CHANGEDSINCE implies MODSEQ.
		items = append(items, fetchItem{kind: fModSeq, name: "MODSEQ"})
		hasModSeq = true
	}
	if hasModSeq {
		s.enableCondstore()
	}
	if uid {
		// UID FETCH always returns UIDs (RFC 9051 section 6.4.9).
		has := false
		for _, it := range items {
			has = has || it.kind == fUID
		}
		if !has {
			items = append([]fetchItem{{kind: fUID, name: "UID"}}, items...)
		}
	}
	refs, err := s.sel.resolve(set, uid)
	if err != nil {
		return "", err
	}
	if len(refs) == 0 && !mods.vanished {
		return "FETCH completed", nil
	}
	setSeen, needParsed, envelopeOnly, preview := false, false, true, false
	for _, it := range items {
		if (it.kind == fSection || it.kind == fBinary) && !it.peek && !s.sel.readOnly {
			setSeen = true
		}
		if it.needsParsed() {
			needParsed = true
			envelopeOnly = envelopeOnly && it.kind == fEnvelope
		}
		preview = preview || it.kind == fPreview
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	if mods.vanished {
		// RFC 7162 section 3.2.6: the UIDs of the set expunged since.
		gone, err := s.vanishedSince(ctx, *mods.changedSince, set)
		if err != nil {
			return "", err
		}
		s.writeVanished(true, gone)
		if len(refs) == 0 {
			return "FETCH completed", nil
		}
	}
	fb := fetchBatch{items: items, setSeen: setSeen, needParsed: needParsed && !envelopeOnly,
		needEnvelope: needParsed && envelopeOnly, needPreview: preview, hasModSeq: hasModSeq,
		indexOnly: indexOnly(items), seenNow: map[uint32]bool{}}
	if mods.changedSince != nil {
		fb.changedSince = *mods.changedSince
	}
	err = s.fetchBatches(ctx, &fb, refs, mods.changedSince != nil && len(refs) > changeBatch)
	// The responses written so far go out whatever happened to the rest.
	if ferr := fb.flush(s); err == nil {
		err = ferr
	}
	if err != nil {
		return "", err
	}
	seenNow, failed := fb.seenNow, fb.failed
	if s.condstore && !uid && (hasModSeq || len(seenNow) > 0) {
		if err := s.holdHighest(ctx); err != nil {
			return "", err
		}
	}
	if failed {
		return "", no("SERVERBUG", "Some messages could not be read")
	}
	return "FETCH completed", nil
}

// fetchBatches writes the FETCH responses of refs. With changed set it
// reads only the messages changed since fb.changedSince.
func (s *session) fetchBatches(ctx context.Context, fb *fetchBatch, refs []msgRef, changed bool) error {
	if changed {
		// Only the messages changed since: the store finds them by
		// mod-sequence, whatever the size of the mailbox.
		return s.fetchBatch(ctx, fb, refs, false)
	}
	// A batch at a time, each written before the next is read, so that a
	// FETCH of a large mailbox holds one batch in memory.
	for len(refs) > 0 {
		n := min(len(refs), fetchBatchSize)
		if err := s.fetchBatch(ctx, fb, refs[:n], true); err != nil {
			return err
		}
		refs = refs[n:]
	}
	return nil
}

// fetchBatchSize is how many messages FETCH reads from the store at a
// time.
const fetchBatchSize = 1000

// fetchWriteSize is how much FETCH response text is gathered before it
// is handed to the connection: written in pieces this large, the
// responses go out in full TLS records (16 KB) rather than one per
// response or per 4 KB of the connection's buffer.
const fetchWriteSize = 32 << 10

// fetchBatch is the state of one FETCH command across its batches.
type fetchBatch struct {
	items        []fetchItem
	setSeen      bool
	needParsed   bool // the whole structure: message.Decode
	needEnvelope bool // the envelope alone: message.DecodeEnvelope
	needPreview  bool // Meta.Preview, which ListMessages leaves out otherwise
	hasModSeq    bool
	indexOnly    bool   // only FLAGS, UID and MODSEQ: the mailbox index will do
	changedSince uint64 // CHANGEDSINCE, 0 if none
	seenNow      map[uint32]bool
	failed       bool
	out          bytes.Buffer // responses not yet handed to the connection
}

// flush hands the gathered responses to the connection's writer.
func (fb *fetchBatch) flush(s *session) error {
	if fb.out.Len() == 0 {
		return nil
	}
	s.w.Write(fb.out.Bytes())
	if fb.out.Cap() > maxKeptFetchBuffer {
		fb.out = bytes.Buffer{} // a large literal went out: do not keep its room
	} else {
		fb.out.Reset()
	}
	return s.w.Err()
}

// maxKeptFetchBuffer is the most room fetchBatch.out keeps between
// flushes.
const maxKeptFetchBuffer = 4 * fetchWriteSize

// indexOnly reports whether items need no more than the mailbox index
// holds (UID, flags and mod-sequence).
func indexOnly(items []fetchItem) bool {
	for _, it := range items {
		switch it.kind {
		case fFlags, fUID, fModSeq:
		default:
			return false
		}
	}
	return true
}

// uidRangeSlack bounds how sparse a batch's UIDs may be for the store to
// read it as one range of UIDs (messages in the range but not in the
// batch are read and skipped) rather than by naming each UID.
const uidRangeSlack = 2

// findUID returns the message of msgs (in UID order) with UID uid, nil if
// there is none.
func findUID(msgs []store.Message, uid uint32) *store.Message {
	i := sort.Search(len(msgs), func(i int) bool { return msgs[i].UID >= uid })
	if i < len(msgs) && msgs[i].UID == uid {
		return &msgs[i]
	}
	return nil
}

// fetchBatch reads refs from the store and writes their FETCH
// responses. With byUID unset it lists the mailbox's messages changed
// since fb.changedSince instead of naming refs' UIDs.
func (s *session) fetchBatch(ctx context.Context, fb *fetchBatch, refs []msgRef, byUID bool) error {
	var msgs []store.Message // in UID order
	if fb.indexOnly && byUID {
		uids := make([]uint32, len(refs))
		for i, r := range refs {
			uids[i] = r.uid
		}
		idx, err := s.srv.Store.MailboxIndex(ctx, s.acct.ID, s.sel.mbox.ID, uids)
		if err != nil {
			return err
		}
		msgs = make([]store.Message, 0, len(idx))
		for _, m := range idx {
			if fb.changedSince != 0 && m.ModSeq <= fb.changedSince {
				continue
			}
			msgs = append(msgs, store.Message{ID: m.ID, AccountID: s.acct.ID, MailboxID: s.sel.mbox.ID,
				UID: m.UID, ModSeq: m.ModSeq, Flags: m.Flags})
		}
	} else {
		f := store.MessageFilter{MailboxID: s.sel.mbox.ID, ChangedSince: fb.changedSince,
			StructureOnly: !fb.needPreview}
		if byUID {
			// refs are in UID order. When they are (nearly) all the UIDs
			// between the first and the last, as in a FETCH 1:*, the store
			// reads the range: one index scan instead of a lookup per UID.
			lo, hi := refs[0].uid, refs[len(refs)-1].uid
			if uint64(hi-lo) < uidRangeSlack*uint64(len(refs)) {
				f.MinUID, f.MaxUID = lo, hi
			} else {
				f.UIDs = make([]uint32, len(refs))
				for i, r := range refs {
					f.UIDs[i] = r.uid
				}
			}
		}
		var err error
		if msgs, err = s.srv.Store.ListMessages(ctx, s.acct.ID, f); err != nil {
			return err
		}
	}
	if fb.setSeen {
		var ids []int64
		for i := range msgs {
			if !hasFlag(msgs[i].Flags, store.FlagSeen) {
				ids = append(ids, msgs[i].ID)
			}
		}
		if len(ids) > 0 {
			changed, err := s.srv.Store.UpdateFlags(ctx, s.acct.ID, ids, store.FlagsAdd, []string{store.FlagSeen})
			if err != nil {
				return err
			}
			for i := range changed {
				if m := findUID(msgs, changed[i].UID); m != nil && changed[i].MailboxID == s.sel.mbox.ID {
					m.Flags, m.ModSeq = changed[i].Flags, changed[i].ModSeq
					fb.seenNow[m.UID] = true
					s.sel.own[changed[i].ModSeq] = true
				}
			}
		}
	}
	buf := &fb.out
	j := 0 // msgs[j:] are the messages not yet matched with refs
	for _, r := range refs {
		for j < len(msgs) && msgs[j].UID < r.uid {
			j++
		}
		if j == len(msgs) || msgs[j].UID != r.uid {
			continue // expunged meanwhile, or unchanged since
		}
		m := &msgs[j]
		var parsed *message.Parsed
		var env *message.Envelope
		switch {
		case fb.needParsed:
			var err error
			if parsed, err = message.Decode(m.Meta.Structure); err != nil {
				s.log.Error("stored structure unreadable", "message", m.ID, "err", err)
				fb.failed = true
				continue
			}
			env = parsed.Envelope()
		case fb.needEnvelope:
			var err error
			if env, err = message.DecodeEnvelope(m.Meta.Structure); err != nil {
				s.log.Error("stored structure unreadable", "message", m.ID, "err", err)
				fb.failed = true
				continue
			}
		}
		mark := buf.Len()
		buf.WriteString("* ")
		buf.Write(strconv.AppendUint(buf.AvailableBuffer(), uint64(r.seq), 10))
		buf.WriteString(" FETCH (")
		wroteFlags := false
		for i := range fb.items {
			it := &fb.items[i]
			if i > 0 {
				buf.WriteByte(' ')
			}
			if it.kind == fFlags {
				wroteFlags = true
			}
			if err := s.fetchItem(ctx, buf, m, parsed, env, it); err != nil {
				// What this response had written is not sent; what the
				// ones before it wrote is (fetch flushes it).
				buf.Truncate(mark)
				return err
			}
		}
		if fb.seenNow[m.UID] && !wroteFlags {
			buf.WriteString(" FLAGS ")
			writeFlagList(buf, s.withRecent(m.UID, m.Flags))
			if s.condstore && !fb.hasModSeq {
				buf.WriteByte(' ')
				writeModSeq(buf, m.ModSeq)
			}
		}
		buf.WriteString(")\r\n")
		if buf.Len() >= fetchWriteSize {
			if err := fb.flush(s); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeFlagList(b *bytes.Buffer, flags []string) {
	b.WriteByte('(')
	for i, f := range flags {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f)
	}
	b.WriteByte(')')
}

// internalDateLayout is RFC 9051's date-time.
const internalDateLayout = "_2-Jan-2006 15:04:05 -0700"

// fetchItem writes one data item of one message. p is the message's
// decoded structure, nil when no item needs more than env, its envelope.
func (s *session) fetchItem(ctx context.Context, b *bytes.Buffer, m *store.Message, p *message.Parsed, env *message.Envelope, it *fetchItem) error {
	b.WriteString(it.name)
	b.WriteByte(' ')
	if s.writeObjectItem(b, m, it.kind) {
		return nil
	}
	switch it.kind {
	case fFlags:
		writeFlagList(b, s.withRecent(m.UID, m.Flags))
	case fUID:
		b.Write(strconv.AppendUint(b.AvailableBuffer(), uint64(m.UID), 10))
	case fModSeq:
		b.WriteByte('(')
		b.Write(strconv.AppendUint(b.AvailableBuffer(), m.ModSeq, 10))
		b.WriteByte(')')
	case fSize:
		b.Write(strconv.AppendInt(b.AvailableBuffer(), m.Size, 10))
	case fInternalDate:
		b.WriteByte('"')
		b.Write(appendDateTime(b.AvailableBuffer(), m.InternalDate))
		b.WriteByte('"')
	case fEnvelope:
		render.Envelope(b, env, s.utf8 || s.rev2)
	case fBodyStructure:
		render.BodyStructure(b, p.Root, true, s.utf8 || s.rev2)
	case fBody:
		render.BodyStructure(b, p.Root, false, s.utf8 || s.rev2)
	case fSection:
		r := blobReader{ctx: ctx, st: s.srv.Store, id: m.BlobID, size: m.Size}
		data, err := p.ReadSection(r, it.sec)
		if errors.Is(err, message.ErrNoSection) {
			data, err = nil, nil // RFC 9051 section 6.4.5: an empty string
		}
		if err != nil {
			return err
		}
		writeLiteral(b, partial(data, it), false)
	case fBinary:
		r := blobReader{ctx: ctx, st: s.srv.Store, id: m.BlobID, size: m.Size}
		data, err := p.Binary(r, it.sec.Path)
		switch {
		case errors.Is(err, message.ErrUnknownCTE):
			return no("UNKNOWN-CTE", "Cannot decode the part's content-transfer-encoding")
		case errors.Is(err, message.ErrNoSection):
			return no("NONEXISTENT", "No such part")
		case err != nil:
			return err
		}
		writeLiteral(b, partial(data, it), true)
	case fBinarySize:
		n, err := p.BinarySize(it.sec.Path)
		switch {
		case errors.Is(err, message.ErrUnknownCTE):
			return no("UNKNOWN-CTE", "Cannot decode the part's content-transfer-encoding")
		case errors.Is(err, message.ErrNoSection):
			return no("NONEXISTENT", "No such part")
		case err != nil:
			return err
		}
		b.WriteString(strconv.FormatInt(n, 10))
	}
	return nil
}

// partial cuts the <offset.count> window out of data.
func partial(data []byte, it *fetchItem) []byte {
	if !it.partial {
		return data
	}
	if it.offset >= int64(len(data)) {
		return nil
	}
	end := min(it.offset+it.count, int64(len(data)))
	return data[it.offset:end]
}

// writeLiteral writes data as a literal, or a literal8 when binary is
// set and it holds NUL (RFC 3516 section 4.2).
func writeLiteral(b *bytes.Buffer, data []byte, binary bool) {
	if binary && bytes.IndexByte(data, 0) >= 0 {
		b.WriteByte('~')
	}
	b.WriteByte('{')
	b.WriteString(strconv.Itoa(len(data)))
	b.WriteString("}\r\n")
	b.Write(data)
}
