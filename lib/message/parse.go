package message

import (
	"bytes"
	"strings"
)

// parser splits one raw message in a single pass. Multipart bodies are
// split by scanning for boundary delimiter lines of every enclosing
// multipart at once, innermost first, so a multipart whose close delimiter
// is missing ends where an enclosing one's delimiter appears (RFC 2046
// section 5.1.2).
type parser struct {
	raw    []byte
	bounds [][]byte // boundaries of the enclosing multiparts, outermost first
	nparts int
	slab   []Part

	index          []HeaderField
	indexTruncated bool
	references     string
}

// match is a boundary delimiter line found by nextBoundary.
type match struct {
	idx     int  // index in bounds of the boundary; -1 at the end of the data
	close   bool // a close delimiter ("--boundary--")
	bodyEnd int  // end of the content before the delimiter line's line break
	next    int  // first byte after the delimiter line
	eol     int  // where the delimiter line's own line break starts
}

var nlDashDash = []byte("\n--")

func (ps *parser) newPart() *Part {
	if len(ps.slab) == 0 {
		n := 4
		if ps.nparts >= 4 {
			n = 32
		}
		ps.slab = make([]Part, n)
	}
	pt := &ps.slab[0]
	ps.slab = ps.slab[1:]
	ps.nparts++
	return pt
}

// entity parses the entity (header and body) that starts at pos. digest
// says the enclosing multipart is a multipart/digest; message that the
// entity is a message (the top level or an embedded message), whose header
// gives an envelope. It returns the part and the delimiter that ended it.
func (ps *parser) entity(pos int, digest, message bool, depth int) (*Part, match) {
	pt := ps.newPart()
	hs := ps.scanHeader(pos, message && depth == 0)
	pt.HeaderStart, pt.HeaderEnd, pt.BodyStart = int64(pos), int64(hs.end), int64(hs.end)
	ps.mimeFields(pt, &hs, digest)
	if message {
		pt.Envelope = ps.envelope(&hs)
		if depth == 0 {
			ps.references = hs.text(ps.raw, fReferences)
		}
	}
	if hs.atBoundary {
		if pt.Type == "multipart" {
			textPlain(pt)
		}
		pt.BodyEnd = pt.BodyStart
		ps.leafStats(pt)
		return pt, hs.m
	}
	switch {
	case pt.Type == "multipart":
		if b := pt.boundary(); b != "" && depth < MaxDepth && ps.nparts < MaxParts {
			return ps.multipart(pt, []byte(b), depth)
		}
		textPlain(pt)
	case pt.Type == "message" && (pt.Subtype == "rfc822" || pt.Subtype == "global") &&
		identity(pt.Encoding) && depth < MaxDepth && ps.nparts < MaxParts:
		emb, m := ps.entity(hs.end, false, true, depth+1)
		pt.Embedded = emb
		pt.BodyEnd = emb.BodyEnd
		ps.leafStats(pt)
		return pt, m
	}
	m := ps.nextBoundary(hs.end)
	pt.BodyEnd = int64(m.bodyEnd)
	ps.leafStats(pt)
	return pt, m
}

// multipart splits the body of a multipart (RFC 2046 section 5.1.1).
func (ps *parser) multipart(pt *Part, boundary []byte, depth int) (*Part, match) {
	own := len(ps.bounds)
	ps.bounds = append(ps.bounds, boundary)
	digest := pt.Subtype == "digest"
	m := ps.nextBoundary(int(pt.BodyStart)) // the preamble ends here
	for m.idx == own && !m.close && ps.nparts < MaxParts {
		child, cm := ps.entity(m.next, digest, false, depth+1)
		pt.Parts = append(pt.Parts, child)
		m = cm
	}
	ps.bounds = ps.bounds[:own]
	if m.idx == own {
		// After the close delimiter (or once MaxParts is reached) the rest,
		// up to an enclosing delimiter, is the epilogue. When there is no
		// epilogue, the close delimiter line's own line break is the one
		// that precedes the enclosing delimiter, so it belongs to that.
		m = ps.boundaryAfter(m.next, m.eol)
	}
	pt.BodyEnd = int64(m.bodyEnd)
	if len(pt.Parts) == 0 {
		// The boundary never appears: serve the body as text/plain.
		textPlain(pt)
		ps.leafStats(pt)
	} else {
		pt.DecodedSize = pt.Size()
	}
	return pt, m
}

// nextBoundary finds the first delimiter line of an enclosing multipart at
// or after from, which must be the start of a line.
func (ps *parser) nextBoundary(from int) match {
	return ps.boundaryAfter(from, from)
}

// boundaryAfter is nextBoundary where the content before the delimiter may
// end as early as floor (<= from).
func (ps *parser) boundaryAfter(from, floor int) match {
	raw := ps.raw
	if len(ps.bounds) > 0 {
		if m, ok := ps.matchLine(from, floor); ok {
			return m
		}
		p := from
		for {
			i := bytes.Index(raw[p:], nlDashDash)
			if i < 0 {
				break
			}
			p += i + 1
			if m, ok := ps.matchLine(p, floor); ok {
				return m
			}
		}
	}
	return match{idx: -1, bodyEnd: len(raw), next: len(raw), eol: len(raw)}
}

// matchLine reports whether the line at ls is a delimiter line of one of
// the enclosing multiparts. RFC 2046 section 5.1.1 lets the delimiter be a
// prefix of the line; an exact match (only "--" and white space after the
// boundary) wins over a prefix match, then the innermost multipart wins.
// The content before the line ends at the line break before it (which
// belongs to the delimiter), but not before from.
func (ps *parser) matchLine(ls, from int) (match, bool) {
	raw := ps.raw
	if ls+2 > len(raw) || raw[ls] != '-' || raw[ls+1] != '-' {
		return match{}, false
	}
	rest := raw[ls+2:]
	found, closed := -1, false
	for pass := 0; pass < 2 && found < 0; pass++ {
		for i := len(ps.bounds) - 1; i >= 0; i-- {
			b := ps.bounds[i]
			if !bytes.HasPrefix(rest, b) {
				continue
			}
			after := rest[len(b):]
			cl := len(after) >= 2 && after[0] == '-' && after[1] == '-'
			if pass == 0 {
				t := after
				if cl {
					t = t[2:]
				}
				for len(t) > 0 && (t[0] == ' ' || t[0] == '\t') {
					t = t[1:]
				}
				if len(t) > 0 && t[0] != '\n' && !(t[0] == '\r' && (len(t) == 1 || t[1] == '\n')) {
					continue
				}
			}
			found, closed = i, cl
			break
		}
	}
	if found < 0 {
		return match{}, false
	}
	next, eol := len(raw), len(raw)
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		next = ls + 2 + i + 1
		eol = next - 1
		if raw[eol-1] == '\r' {
			eol--
		}
	}
	end := ls
	if ls > from && raw[ls-1] == '\n' {
		end = ls - 1
		if end > from && raw[end-1] == '\r' {
			end--
		}
	}
	return match{idx: found, close: closed, bodyEnd: end, next: next, eol: eol}, true
}

// mimeFields fills the MIME fields of pt from its header.
func (ps *parser) mimeFields(pt *Part, hs *headerScan, digest bool) {
	raw := ps.raw
	ok := false
	if v := hs.value(raw, fContentType); v != nil {
		pt.Type, pt.Subtype, pt.Params, ok = parseContentType(unfold(v))
	} else if digest {
		// RFC 2046 section 5.1.5: the default in a digest is message/rfc822.
		pt.Type, pt.Subtype, ok = "message", "rfc822", true
	}
	if !ok {
		// RFC 2045 section 5.2: missing or invalid means text/plain; charset=us-ascii.
		pt.Type, pt.Subtype = "text", "plain"
		pt.Params = []Param{{Name: "charset", Value: "us-ascii"}}
	}
	if hs.have == 0 {
		return
	}
	if v := hs.value(raw, fContentTransferEncoding); v != nil {
		s := skipCFWS(unfold(v))
		i := 0
		for i < len(s) && !isSpaceStr(s[i]) && s[i] != '(' && s[i] != ';' {
			i++
		}
		pt.Encoding = lower(s[:i])
	}
	pt.ID = hs.text(raw, fContentID)
	pt.Description = hs.text(raw, fContentDescription)
	if v := hs.value(raw, fContentDisposition); v != nil {
		pt.Disposition, pt.DispositionParams = parseDisposition(unfold(v))
	}
	if v := hs.value(raw, fContentLanguage); v != nil {
		for _, tag := range strings.Split(unfold(v), ",") {
			if tag = strings.TrimSpace(skipCFWS(tag)); tag != "" && len(pt.Language) < maxLanguages {
				pt.Language = append(pt.Language, tag)
			}
		}
	}
	pt.Location = hs.text(raw, fContentLocation)
	pt.MD5 = hs.text(raw, fContentMD5)
}

// boundary returns the multipart boundary parameter, "" when it is
// missing or unusable.
func (pt *Part) boundary() string {
	for _, p := range pt.Params {
		if p.Name == "boundary" {
			if len(p.Value) > 998 || strings.ContainsAny(p.Value, "\r\n") {
				return ""
			}
			return p.Value
		}
	}
	return ""
}

// textPlain turns a multipart that cannot be split into a text/plain leaf.
func textPlain(pt *Part) {
	pt.Type, pt.Subtype, pt.Params = "text", "plain", nil
	pt.Parts = nil
}

// identity reports whether a Content-Transfer-Encoding leaves the body as
// it is (RFC 2045 section 6.1).
func identity(enc string) bool {
	switch enc {
	case "", "7bit", "8bit", "binary":
		return true
	}
	return false
}

// leafStats computes Lines and DecodedSize for a part without subparts.
func (ps *parser) leafStats(pt *Part) {
	body := ps.raw[pt.BodyStart:pt.BodyEnd]
	if pt.Type == "text" || pt.Type == "message" {
		pt.Lines = countLines(body)
	}
	pt.DecodedSize = decodedLen(pt.Encoding, body)
}

// countLines counts the lines of body, a last line without a line break
// included.
func countLines(body []byte) int64 {
	n := int64(bytes.Count(body, []byte{'\n'}))
	if len(body) > 0 && body[len(body)-1] != '\n' {
		n++
	}
	return n
}
