package imap

import (
	"slices"
	"strconv"
	"strings"

	"gannet/lib/imap/wire"
)

// threadNode is a container of RFC 5256 section 3's REFERENCES
// algorithm: a message, or a dummy (msg nil) standing for a message that
// is referred to but not in the set.
type threadNode struct {
	msg      *sortMsg
	parent   *threadNode
	children []*threadNode
}

// first is the message whose sent date a node sorts by: its own, or the
// first child's for a dummy (RFC 5256 section 3, REFERENCES step 5).
func (n *threadNode) first() *sortMsg {
	for n.msg == nil {
		if len(n.children) == 0 {
			return nil
		}
		n = n.children[0]
	}
	return n.msg
}

// hasAncestor reports whether a is n or one of n's ancestors.
func (n *threadNode) hasAncestor(a *threadNode) bool {
	for p := n; p != nil; p = p.parent {
		if p == a {
			return true
		}
	}
	return false
}

func (n *threadNode) unlink() {
	if p := n.parent; p != nil {
		i := slices.Index(p.children, n)
		p.children = slices.Delete(p.children, i, i+1)
		n.parent = nil
	}
}

func (n *threadNode) adopt(c *threadNode) {
	c.unlink()
	c.parent = n
	n.children = append(n.children, c)
}

// compareSent orders by sent date, then sequence number.
func compareSent(a, b *sortMsg) int {
	if a == nil || b == nil {
		return cmpInt(int64(boolInt(a != nil)), int64(boolInt(b != nil)))
	}
	if c := a.sentDate().Compare(b.sentDate()); c != 0 {
		return c
	}
	return cmpInt(int64(a.seq), int64(b.seq))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sortSiblings sorts every level under the nodes, children before their
// parents so that a dummy sorts by its earliest child.
func sortSiblings(nodes []*threadNode) {
	for _, n := range nodes {
		sortSiblings(n.children)
	}
	slices.SortStableFunc(nodes, func(a, b *threadNode) int { return compareSent(a.first(), b.first()) })
}

// threadOrderedSubject is RFC 5256 section 3's ORDEREDSUBJECT: messages
// grouped by base subject, each group ordered by sent date with every
// message a child of the first, groups ordered by their first message.
func threadOrderedSubject(msgs []*sortMsg) []*threadNode {
	sorted := slices.Clone(msgs)
	slices.SortStableFunc(sorted, func(a, b *sortMsg) int {
		as, _ := a.baseKey()
		bs, _ := b.baseKey()
		if c := strings.Compare(as, bs); c != 0 {
			return c
		}
		return compareSent(a, b)
	})
	var roots []*threadNode
	last := ""
	for i, m := range sorted {
		b, _ := m.baseKey()
		n := &threadNode{msg: m}
		if i > 0 && b == last {
			roots[len(roots)-1].adopt(n)
			continue
		}
		last = b
		roots = append(roots, n)
	}
	slices.SortStableFunc(roots, func(a, b *threadNode) int { return compareSent(a.msg, b.msg) })
	return roots
}

// maxThreadRefsIMAP bounds the references of one message that REFERENCES
// threading follows (the last ones are kept).
const maxThreadRefsIMAP = 100

// threadReferences is RFC 5256 section 3's REFERENCES algorithm.
func threadReferences(msgs []*sortMsg) []*threadNode {
	byID := map[string]*threadNode{}
	var all []*threadNode
	node := func(id string) *threadNode {
		if n, ok := byID[id]; ok {
			return n
		}
		n := &threadNode{}
		byID[id] = n
		all = append(all, n)
		return n
	}
	for _, m := range msgs {
		// Step 1.A: the message's container; a missing or duplicate
		// Message-ID gets a container of its own.
		var cur *threadNode
		if id := normMsgID(m.m.Meta.MessageID); id != "" {
			if n, ok := byID[id]; !ok || n.msg == nil {
				cur = node(id)
			}
		}
		if cur == nil {
			cur = &threadNode{}
			all = append(all, cur)
		}
		cur.msg = m
		// Step 1.B: link the references in order, parent before child,
		// never making a loop and never changing an existing link. With
		// no References the first In-Reply-To Message-ID is used.
		refs := m.m.Meta.References
		if len(refs) == 0 && len(m.m.Meta.InReplyTo) > 0 {
			refs = m.m.Meta.InReplyTo[:1]
		}
		if len(refs) > maxThreadRefsIMAP {
			refs = refs[len(refs)-maxThreadRefsIMAP:]
		}
		var prev *threadNode
		for _, r := range refs {
			id := normMsgID(r)
			if id == "" {
				continue
			}
			n := node(id)
			if prev != nil && n.parent == nil && n != prev && !prev.hasAncestor(n) {
				prev.adopt(n)
			}
			prev = n
		}
		// Step 1.C: the last reference becomes the parent, replacing
		// any earlier parent, unless that would make a loop.
		if prev != nil && prev != cur && !prev.hasAncestor(cur) {
			prev.adopt(cur)
		} else if prev == nil {
			cur.unlink()
		}
	}
	// Step 2: the root set.
	var roots []*threadNode
	for _, n := range all {
		if n.parent == nil {
			roots = append(roots, n)
		}
	}
	// Step 4: prune dummies.
	roots = prune(roots, true)
	// Step 5: sort the root set by sent date.
	slices.SortStableFunc(roots, func(a, b *threadNode) int { return compareSent(a.first(), b.first()) })
	// Step 6: gather the roots by base subject.
	type entry struct {
		n     *threadNode
		reply bool
	}
	subjects := map[string]entry{}
	subjectOf := func(n *threadNode) (string, bool) {
		m := n.msg
		if m == nil {
			m = n.children[0].msg
			if m == nil {
				return "", false
			}
		}
		return m.baseKey()
	}
	for _, n := range roots {
		b, reply := subjectOf(n)
		if b == "" {
			continue
		}
		old, ok := subjects[b]
		if !ok || (n.msg == nil && old.n.msg != nil) ||
			(old.n.msg != nil && old.reply && n.msg != nil && !reply) {
			subjects[b] = entry{n, reply}
		}
	}
	removed := map[*threadNode]bool{}
	for _, n := range roots {
		if removed[n] {
			continue
		}
		b, reply := subjectOf(n)
		e, ok := subjects[b]
		if b == "" || !ok || e.n == n {
			continue
		}
		t := e.n
		switch {
		case t.msg == nil && n.msg == nil:
			// Both dummies: n's children join t.
			for _, c := range slices.Clone(n.children) {
				t.adopt(c)
			}
			removed[n] = true
		case t.msg == nil:
			t.adopt(n) // the message joins the dummy
			removed[n] = true
		case n.msg == nil:
			n.adopt(t) // the message joins the dummy
			removed[t] = true
			subjects[b] = entry{n, false}
		case reply && !e.reply:
			t.adopt(n) // a reply joins the original
			removed[n] = true
		default:
			// Neither is a reply to the other: a new dummy holds both
			// and takes the table entry's place.
			d := &threadNode{}
			roots[slices.Index(roots, t)] = d
			d.adopt(t)
			d.adopt(n)
			removed[n] = true
			subjects[b] = entry{d, false}
		}
	}
	var out []*threadNode
	for _, n := range roots {
		if !removed[n] {
			out = append(out, n)
		}
	}
	// Step 7: sort all siblings by sent date.
	sortSiblings(out)
	return out
}

// prune removes dummies without children and promotes the children of
// dummies, except a root dummy with more than one child (RFC 5256
// section 3, REFERENCES step 4).
func prune(nodes []*threadNode, root bool) []*threadNode {
	var out []*threadNode
	for _, n := range nodes {
		n.children = prune(n.children, false)
		for _, c := range n.children {
			c.parent = n
		}
		if n.msg != nil {
			out = append(out, n)
			continue
		}
		switch {
		case len(n.children) == 0:
		case root && len(n.children) > 1:
			out = append(out, n)
		default:
			for _, c := range n.children {
				c.parent = n.parent
			}
			out = append(out, n.children...)
		}
	}
	return out
}

// normMsgID is a Message-ID without angle brackets or surrounding space.
func normMsgID(id string) string {
	return strings.TrimSpace(strings.Trim(strings.TrimSpace(id), "<>"))
}

// formatThreads writes thread-list responses (RFC 5256 section 4).
func formatThreads(roots []*threadNode, uid bool) string {
	var b strings.Builder
	for _, n := range roots {
		b.WriteByte('(')
		writeThread(&b, n, uid)
		b.WriteByte(')')
	}
	return b.String()
}

// writeThread writes the inside of one thread-list: a chain of messages
// each with a single child, then the nested lists of the branches.
func writeThread(b *strings.Builder, n *threadNode, uid bool) {
	sep := ""
	for n.msg != nil {
		b.WriteString(sep)
		id := n.msg.seq
		if uid {
			id = n.msg.m.UID
		}
		b.WriteString(strconv.FormatUint(uint64(id), 10))
		sep = " "
		if len(n.children) != 1 {
			break
		}
		n = n.children[0]
	}
	if len(n.children) > 1 || n.msg == nil {
		b.WriteString(sep)
		for _, c := range n.children {
			b.WriteByte('(')
			writeThread(b, c, uid)
			b.WriteByte(')')
		}
	}
}

func (s *session) cmdThread(c *wire.Command, args []wire.Token) (string, error) {
	return s.thread(args, false)
}

// thread is THREAD and UID THREAD (RFC 5256 section 3).
func (s *session) thread(args []wire.Token, uid bool) (string, error) {
	p := &searchParser{toks: args}
	t, err := p.next()
	if err != nil || t.Kind != wire.Atom {
		return "", bad("THREAD needs an algorithm")
	}
	alg := strings.ToUpper(t.Value)
	if alg != "ORDEREDSUBJECT" && alg != "REFERENCES" {
		return "", bad("unknown THREAD algorithm %s", truncate(t.Value))
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	msgs, err := s.matching(ctx, p)
	if err != nil {
		return "", err
	}
	var roots []*threadNode
	if alg == "ORDEREDSUBJECT" {
		roots = threadOrderedSubject(msgs)
	} else {
		roots = threadReferences(msgs)
	}
	// RFC 5256 section 4: "* THREAD" and the thread lists.
	s.w.Raw("* THREAD")
	if len(roots) > 0 {
		s.w.Raw(" " + formatThreads(roots, uid))
	}
	s.w.CRLF()
	return "THREAD completed", nil
}
