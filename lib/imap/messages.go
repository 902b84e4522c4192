package imap

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"gannet/lib/imap/wire"
	"gannet/lib/message"
	"gannet/lib/store"
)

// cmdUID is UID COPY, UID MOVE, UID FETCH, UID SEARCH, UID STORE and UID
// EXPUNGE (RFC 9051 section 6.4.9).
func (s *session) cmdUID(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) == 0 || args[0].Kind != wire.Atom {
		return "", bad("UID needs a command")
	}
	rest := args[1:]
	switch strings.ToUpper(args[0].Value) {
	case "FETCH":
		return s.fetch(rest, true)
	case "STORE":
		return s.store(rest, true)
	case "SEARCH":
		return s.search(c, rest, true)
	case "SORT":
		return s.sort(c, rest, true)
	case "THREAD":
		return s.thread(rest, true)
	case "COPY":
		return s.copy(rest, true, false)
	case "MOVE":
		return s.copy(rest, true, true)
	case "EXPUNGE":
		if len(rest) != 1 || rest[0].Kind != wire.Atom {
			return "", bad("UID EXPUNGE takes a UID set")
		}
		set, err := s.seqSetArg(rest[0].Value, true)
		if err != nil {
			return "", err
		}
		if s.sel.readOnly {
			return "", no("READ-ONLY", "Mailbox is read-only")
		}
		if _, err := s.expungeDeleted(set, true); err != nil {
			return "", err
		}
		return s.expungeDone("UID EXPUNGE completed")
	}
	return "", bad("unknown UID command %s", truncate(args[0].Value))
}

// parseFlagArgs reads flags given as a list or as atoms.
func parseFlagArgs(toks []wire.Token) ([]string, error) {
	if len(toks) == 1 && toks[0].Kind == wire.List {
		toks = toks[0].List
	}
	flags := make([]string, 0, len(toks))
	for _, t := range toks {
		if t.Kind != wire.Atom {
			return nil, bad("invalid flag %s", truncate(t.String()))
		}
		f := t.Value
		if strings.HasPrefix(f, `\`) {
			switch strings.ToLower(f) {
			case `\seen`, `\answered`, `\flagged`, `\deleted`, `\draft`:
				f = `\` + strings.ToUpper(f[1:2]) + strings.ToLower(f[2:])
			case `\recent`:
				continue // not settable (RFC 3501 section 2.3.2)
			default:
				return nil, bad("invalid system flag %s", truncate(f))
			}
		} else if strings.ContainsAny(f, "[]") || len(f) > 255 {
			return nil, bad("invalid keyword %s", truncate(f))
		}
		flags = append(flags, f)
	}
	return flags, nil
}

func (s *session) cmdStore(c *wire.Command, args []wire.Token) (string, error) {
	return s.store(args, false)
}

// store is STORE and UID STORE (RFC 9051 section 6.4.6), with the
// UNCHANGEDSINCE modifier of a conditional STORE (RFC 7162 section
// 3.1.3).
func (s *session) store(args []wire.Token, uid bool) (string, error) {
	unchangedSince := uint64(math.MaxUint64)
	if len(args) > 1 && args[1].Kind == wire.List {
		l := args[1].List
		if len(l) != 2 || !strings.EqualFold(l[0].Value, "UNCHANGEDSINCE") {
			return "", bad("STORE takes the modifier (UNCHANGEDSINCE mod-sequence)")
		}
		n, err := parseModSeq(l[1])
		if err != nil {
			return "", err
		}
		unchangedSince = n
		args = append(args[:1:1], args[2:]...)
		s.enableCondstore()
	}
	if len(args) < 3 || args[0].Kind != wire.Atom || args[1].Kind != wire.Atom {
		return "", bad("STORE takes a sequence set, an item and flags")
	}
	set, err := s.seqSetArg(args[0].Value, uid)
	if err != nil {
		return "", err
	}
	item := strings.ToUpper(args[1].Value)
	silent := strings.HasSuffix(item, ".SILENT")
	item = strings.TrimSuffix(item, ".SILENT")
	var op store.FlagOp
	switch item {
	case "FLAGS":
		op = store.FlagsReplace
	case "+FLAGS":
		op = store.FlagsAdd
	case "-FLAGS":
		op = store.FlagsRemove
	default:
		return "", bad("unknown STORE item %s", truncate(args[1].Value))
	}
	flags, err := parseFlagArgs(args[2:])
	if err != nil {
		return "", err
	}
	if s.sel.readOnly {
		return "", no("READ-ONLY", "Mailbox is read-only")
	}
	refs, err := s.sel.resolve(set, uid)
	if err != nil {
		return "", err
	}
	if len(refs) == 0 {
		return "STORE completed", nil
	}
	if op != store.FlagsReplace && len(flags) == 0 {
		return "STORE completed", nil
	}
	ids := make([]int64, len(refs))
	refOf := make(map[int64]msgRef, len(refs))
	for i, r := range refs {
		ids[i] = r.id
		refOf[r.id] = r
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	// The flags before, for the Junk training (junk.go).
	var before map[int64][]string
	if trainsOnFlags(op, flags) {
		if before, err = s.flagsOf(ctx, refs); err != nil {
			return "", err
		}
	}
	u, err := s.srv.Store.UpdateFlagsIf(ctx, s.acct.ID, ids, op, flags, unchangedSince)
	if err != nil {
		if strings.Contains(err.Error(), "invalid flag") {
			return "", bad("invalid flag")
		}
		return "", err
	}
	if before != nil {
		s.trainStored(ctx, before, u.Messages, u.Changed)
	}
	changed := make(map[int64]bool, len(u.Changed))
	for _, id := range u.Changed {
		changed[id] = true
	}
	modified := make(map[int64]bool, len(u.Modified))
	for _, id := range u.Modified {
		modified[id] = true
	}
	for i := range u.Messages {
		m := &u.Messages[i]
		if m.MailboxID != s.sel.mbox.ID || modified[m.ID] {
			continue
		}
		if changed[m.ID] {
			s.sel.own[m.ModSeq] = true
		}
		// RFC 7162 section 3.1.3: with CONDSTORE even .SILENT tells
		// the new MODSEQ of the messages changed.
		if silent && !(s.condstore && changed[m.ID]) {
			continue
		}
		s.w.Untagged()
		s.w.Number(uint64(refOf[m.ID].seq))
		s.w.Raw(" FETCH (")
		sep := ""
		if !silent {
			s.w.Raw("FLAGS ")
			s.writeFlags(s.withRecent(m.UID, m.Flags))
			sep = " "
		}
		if uid {
			s.w.Raw(sep + "UID ")
			s.w.Number(uint64(m.UID))
			sep = " "
		}
		if s.condstore {
			s.w.Raw(sep)
			writeModSeq(s.w, m.ModSeq)
		}
		s.w.Raw(")\r\n")
	}
	if s.condstore && !uid && len(u.Changed) > 0 {
		if err := s.holdHighest(ctx); err != nil {
			return "", err
		}
	}
	if len(u.Modified) > 0 {
		nums := make([]uint32, 0, len(u.Modified))
		for _, id := range u.Modified {
			if uid {
				nums = append(nums, refOf[id].uid)
			} else {
				nums = append(nums, refOf[id].seq)
			}
		}
		return "[MODIFIED " + formatUIDs(nums) + "] Conditional STORE failed", nil
	}
	return "STORE completed", nil
}

func (s *session) cmdCopy(c *wire.Command, args []wire.Token) (string, error) {
	return s.copy(args, false, false)
}

func (s *session) cmdMove(c *wire.Command, args []wire.Token) (string, error) {
	return s.copy(args, false, true)
}

// copy is COPY, MOVE (RFC 6851) and their UID forms, answering COPYUID
// (RFC 4315).
func (s *session) copy(args []wire.Token, uid, move bool) (string, error) {
	name := "COPY"
	if move {
		name = "MOVE"
	}
	if len(args) != 2 || args[0].Kind != wire.Atom || !args[1].IsString() {
		return "", bad("%s takes a sequence set and a mailbox name", name)
	}
	set, err := s.seqSetArg(args[0].Value, uid)
	if err != nil {
		return "", err
	}
	if move && s.sel.readOnly {
		return "", no("READ-ONLY", "Mailbox is read-only")
	}
	refs, err := s.sel.resolve(set, uid)
	if err != nil {
		return "", err
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	dest, err := s.mailbox(ctx, args[1].Value)
	if err != nil {
		var ce *cmdError
		if errors.As(err, &ce) && ce.code == "NONEXISTENT" {
			return "", no("TRYCREATE", "No such mailbox")
		}
		return "", err
	}
	if len(refs) == 0 {
		return name + " completed", nil
	}
	ids := make([]int64, len(refs))
	uidOf := make(map[int64]uint32, len(refs))
	for i, r := range refs {
		ids[i] = r.id
		uidOf[r.id] = r.uid
	}
	var out []store.Message
	if move {
		out, err = s.srv.Store.MoveMessages(ctx, s.acct.ID, ids, dest.ID)
	} else {
		out, err = s.srv.Store.CopyMessages(ctx, s.acct.ID, ids, dest.ID)
	}
	if errors.Is(err, store.ErrQuotaExceeded) {
		return "", no("OVERQUOTA", "Quota exceeded")
	}
	if err != nil {
		return "", err
	}
	s.trainCopied(ctx, &s.sel.mbox, dest, out, move)
	var src, dst []uint32
	for i, m := range out {
		// Moves keep their IDs; copies come back in the order of ids,
		// those expunged meanwhile left out (then the mapping is lost
		// and COPYUID is not sent).
		from := uidOf[m.ID]
		if !move {
			from = 0
			if len(out) == len(ids) {
				from = uidOf[ids[i]]
			}
		}
		if from == 0 {
			continue
		}
		src = append(src, from)
		dst = append(dst, m.UID)
	}
	code := ""
	if len(src) > 0 {
		code = fmt.Sprintf("COPYUID %d %s %s", dest.UIDValidity, formatUIDList(src), formatUIDList(dst))
	}
	if move {
		if dest.ID == s.sel.mbox.ID {
			return name + " completed", nil
		}
		// RFC 6851 section 4.3: COPYUID in an untagged OK before the
		// EXPUNGEs.
		if code != "" {
			s.w.Status("", "OK", code, "Moved")
		}
		s.expunged(src)
		return name + " completed", nil
	}
	if code != "" {
		return "[" + code + "] " + name + " completed", nil
	}
	return name + " completed", nil
}

// appendDateLayout is RFC 9051's date-time as APPEND takes it.
const appendDateLayout = "_2-Jan-2006 15:04:05 -0700"

// cmdAppend is APPEND (RFC 9051 section 6.3.12) with APPENDUID (RFC 4315),
// literal8 content (RFC 3516) and several messages at once (MULTIAPPEND,
// RFC 3502: stored in one transaction, all or none).
func (s *session) cmdAppend(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) < 2 || !args[0].IsString() {
		return "", bad("APPEND takes a mailbox, optional flags and date, and a message")
	}
	msgs, err := parseAppendMessages(args[1:])
	if err != nil {
		return "", err
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	mb, err := s.mailbox(ctx, args[0].Value)
	if err != nil {
		var ce *cmdError
		if errors.As(err, &ce) && ce.code == "NONEXISTENT" {
			return "", no("TRYCREATE", "No such mailbox")
		}
		return "", err
	}
	add := make([]store.NewMessage, len(msgs))
	for i, m := range msgs {
		// Parsed once, here; FETCH serves from the stored structure.
		add[i] = store.NewMessage{AccountID: s.acct.ID, MailboxID: mb.ID, Raw: m.raw,
			Meta: message.Parse(m.raw).Meta(), Flags: m.flags, InternalDate: m.date}
	}
	out, err := s.srv.Store.AddMessages(ctx, add)
	if errors.Is(err, store.ErrQuotaExceeded) {
		return "", no("OVERQUOTA", "Quota exceeded")
	}
	if err != nil {
		return "", err
	}
	if s.sel != nil && s.sel.mbox.ID == mb.ID {
		s.dirty = true // tell of the new message before the tagged OK
	}
	uids := make([]uint32, len(out))
	for i, m := range out {
		uids[i] = m.UID
	}
	// RFC 3502 section 6.3.11 and RFC 4315 section 3: the UIDs in the
	// order of the messages.
	return fmt.Sprintf("[APPENDUID %d %s] APPEND completed", mb.UIDValidity, formatUIDList(uids)), nil
}

// cmdIdle is IDLE (RFC 2177, RFC 9051 section 6.3.13): the client hears
// of changes as they happen until it sends DONE.
func (s *session) cmdIdle(c *wire.Command, args []wire.Token) (string, error) {
	if len(args) != 0 {
		return "", bad("IDLE takes no arguments")
	}
	if err := s.sync(true); err != nil {
		return "", err
	}
	if err := s.w.Continuation("idling"); err != nil {
		return "", err
	}
	type lineResult struct {
		line string
		err  error
	}
	lines := make(chan lineResult, 1)
	s.raw.SetReadDeadline(time.Now().Add(s.srv.idleTimeout()))
	go func() {
		l, err := s.r.ReadLine()
		lines <- lineResult{l, err}
	}()
	var tick <-chan time.Time
	if s.feed == nil {
		// No change feed: look at the change log now and then.
		t := time.NewTicker(time.Second)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			s.dirty = true
			if err := s.sync(false); err != nil {
				// The reader goroutine still owns the connection: go on
				// idling rather than end the command under it.
				s.log.Warn("IDLE: reading changes failed", "err", err)
			}
			s.w.Flush() // a failed write shows as a failed read
		case res := <-lines:
			if res.err != nil {
				if s.ctx.Err() != nil {
					s.w.Status("", "BYE", "UNAVAILABLE", "Server shutting down")
					s.w.Flush()
				}
				return "", res.err
			}
			if !strings.EqualFold(res.line, "DONE") {
				return "", bad("expected DONE")
			}
			return "IDLE terminated", nil
		case _, ok := <-s.feed:
			if !ok {
				s.feed = nil
				continue
			}
			s.dirty = true
			if err := s.sync(false); err != nil {
				// The reader goroutine still owns the connection: go on
				// idling rather than end the command under it.
				s.log.Warn("IDLE: reading changes failed", "err", err)
			}
			s.w.Flush() // a failed write shows as a failed read
		}
	}
}
