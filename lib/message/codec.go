package message

import (
	"errors"
	"fmt"
)

// The structure encoding, stored with every message, is compact binary:
//
//	structure = version flags nparts nindex *(str gap len) part
//	part      = pflags hdrStart hdrLen bodyGap type subtype [fields...]
//	            [children] [embedded] bodyEnd
//
// Integers are unsigned varints. Offsets are deltas from the previous offset
// written (offsets only grow in document order), so most take one byte.
// Strings are a varint x: x odd means commonStrings[x>>1]; x even means x>>1
// bytes follow. The version byte changes whenever the format (or the
// commonStrings table, which may only be appended to) changes.
const structVersion = 1

// Part flags: which optional fields follow.
const (
	pfParams = 1 << iota
	pfID
	pfDescription
	pfEncoding
	pfDisposition
	pfDispParams
	pfLanguage
	pfLocation
	pfMD5
	pfEnvelope
	pfEmbedded
	pfParts
	pfLines
	pfDecoded // DecodedSize differs from Size
)

// commonStrings are stored as small numbers. Append only.
var commonStrings = append([]string{
	"", "text", "plain", "html", "multipart", "mixed", "alternative", "related",
	"message", "rfc822", "application", "octet-stream", "image", "jpeg", "png",
	"gif", "pdf", "charset", "utf-8", "us-ascii", "iso-8859-1", "boundary",
	"name", "filename", "format", "flowed", "delsp", "yes", "no",
	"base64", "quoted-printable", "7bit", "8bit", "binary", "attachment",
	"inline", "report", "delivery-status", "signed", "encrypted",
	"pgp-signature", "pkcs7-signature", "x-pkcs7-signature", "protocol",
	"micalg", "report-type", "calendar", "method", "digest", "global",
	"windows-1252", "iso-8859-15", "UTF-8", "US-ASCII", "ISO-8859-1",
	"creation-date", "modification-date", "size", "type", "start", "en-US",
	"en", "zip", "msword", "vnd.openxmlformats-officedocument.wordprocessingml.document",
	"vnd.openxmlformats-officedocument.spreadsheetml.sheet", "ics", "svg+xml",
	"webp", "disposition-notification", "rfc822-headers", "pgp-encrypted",
	"application/pgp-signature", "application/pkcs7-signature",
}, commonNames...)

var commonIndex = func() map[string]int {
	m := make(map[string]int, len(commonStrings))
	for i, s := range commonStrings {
		if _, dup := m[s]; !dup {
			m[s] = i
		}
	}
	return m
}()

type encoder struct {
	b      []byte
	cursor int64
}

// encode is the structure encoding of p (what Meta puts in Structure).
func (p *Parsed) encode() []byte {
	e := encoder{b: make([]byte, 0, 512)}
	e.b = append(e.b, structVersion)
	flags := uint64(0)
	if p.HeaderTruncated {
		flags |= 1
	}
	e.uvarint(flags)
	e.uvarint(uint64(countParts(p.Root)))
	e.uvarint(uint64(len(p.Header)))
	var prev int64
	for _, h := range p.Header {
		e.str(h.Name)
		e.uvarint(uint64(h.Start - prev))
		e.uvarint(uint64(h.End - h.Start))
		prev = h.End
	}
	e.part(p.Root)
	return e.b
}

func countParts(pt *Part) int {
	n := 1
	for _, c := range pt.Parts {
		n += countParts(c)
	}
	if pt.Embedded != nil {
		n += countParts(pt.Embedded)
	}
	return n
}

func (e *encoder) uvarint(v uint64) {
	for v >= 0x80 {
		e.b = append(e.b, byte(v)|0x80)
		v >>= 7
	}
	e.b = append(e.b, byte(v))
}

func (e *encoder) str(s string) {
	if i, ok := commonIndex[s]; ok {
		e.uvarint(uint64(i)<<1 | 1)
		return
	}
	e.uvarint(uint64(len(s)) << 1)
	e.b = append(e.b, s...)
}

func (e *encoder) params(ps []Param) {
	e.uvarint(uint64(len(ps)))
	for _, p := range ps {
		e.str(p.Name)
		e.str(p.Value)
	}
}

func (e *encoder) part(pt *Part) {
	var f uint64
	set := func(cond bool, bit uint64) {
		if cond {
			f |= bit
		}
	}
	set(pt.Params != nil, pfParams)
	set(pt.ID != "", pfID)
	set(pt.Description != "", pfDescription)
	set(pt.Encoding != "", pfEncoding)
	set(pt.Disposition != "", pfDisposition)
	set(pt.DispositionParams != nil, pfDispParams)
	set(pt.Language != nil, pfLanguage)
	set(pt.Location != "", pfLocation)
	set(pt.MD5 != "", pfMD5)
	set(pt.Envelope != nil, pfEnvelope)
	set(pt.Embedded != nil, pfEmbedded)
	set(pt.Parts != nil, pfParts)
	set(pt.Lines != 0, pfLines)
	set(pt.DecodedSize != pt.Size(), pfDecoded)
	e.uvarint(f)
	e.uvarint(uint64(pt.HeaderStart - e.cursor))
	e.uvarint(uint64(pt.HeaderEnd - pt.HeaderStart))
	e.uvarint(uint64(pt.BodyStart - pt.HeaderEnd))
	e.cursor = pt.BodyStart
	e.str(pt.Type)
	e.str(pt.Subtype)
	if f&pfParams != 0 {
		e.params(pt.Params)
	}
	if f&pfID != 0 {
		e.str(pt.ID)
	}
	if f&pfDescription != 0 {
		e.str(pt.Description)
	}
	if f&pfEncoding != 0 {
		e.str(pt.Encoding)
	}
	if f&pfDisposition != 0 {
		e.str(pt.Disposition)
	}
	if f&pfDispParams != 0 {
		e.params(pt.DispositionParams)
	}
	if f&pfLanguage != 0 {
		e.uvarint(uint64(len(pt.Language)))
		for _, l := range pt.Language {
			e.str(l)
		}
	}
	if f&pfLocation != 0 {
		e.str(pt.Location)
	}
	if f&pfMD5 != 0 {
		e.str(pt.MD5)
	}
	if f&pfLines != 0 {
		e.uvarint(uint64(pt.Lines))
	}
	if f&pfDecoded != 0 {
		e.uvarint(uint64(pt.DecodedSize + 1))
	}
	if f&pfEnvelope != 0 {
		e.envelope(pt.Envelope)
	}
	if f&pfParts != 0 {
		e.uvarint(uint64(len(pt.Parts)))
		for _, c := range pt.Parts {
			e.part(c)
		}
	}
	if f&pfEmbedded != 0 {
		e.part(pt.Embedded)
	}
	e.uvarint(uint64(pt.BodyEnd - e.cursor))
	e.cursor = pt.BodyEnd
}

func (e *encoder) envelope(env *Envelope) {
	e.str(env.Date)
	e.str(env.Subject)
	e.str(env.InReplyTo)
	e.str(env.MessageID)
	for _, l := range [...][]Address{env.From, env.Sender, env.ReplyTo, env.To, env.Cc, env.Bcc} {
		e.uvarint(uint64(len(l)))
		for _, a := range l {
			if a.Group {
				e.uvarint(1)
				e.str(a.Mailbox)
				continue
			}
			e.uvarint(0)
			e.str(a.Name)
			e.str(a.ADL)
			e.str(a.Mailbox)
			e.str(a.Host)
		}
	}
}

// ---------------------------------------------------------------------------

var errCorrupt = errors.New("corrupt structure")

// Decode reads back a structure from Meta().Structure. The result has no raw
// bytes: pass them (or a reader over the blob) to the section helpers.
func Decode(structure []byte) (*Parsed, error) {
	if len(structure) == 0 {
		return nil, fmt.Errorf("message: decode structure: empty")
	}
	if structure[0] != structVersion {
		return nil, fmt.Errorf("message: decode structure: unknown version %d", structure[0])
	}
	d := decoder{s: string(structure), i: 1}
	p := &Parsed{}
	flags := d.uvarint()
	p.HeaderTruncated = flags&1 != 0
	n := d.count(MaxParts)
	d.slab = make([]Part, n)
	if nh := d.count(MaxHeaderFields); nh > 0 {
		p.Header = make([]HeaderField, nh)
		var prev int64
		for i := range p.Header {
			h := &p.Header[i]
			h.Name = d.str()
			h.Start = prev + d.offset()
			h.End = h.Start + d.offset()
			prev = h.End
		}
	}
	p.Root = d.part(0)
	if d.err == nil && d.i != len(d.s) {
		d.err = errCorrupt
	}
	if d.err != nil {
		return nil, fmt.Errorf("message: decode structure: %w", d.err)
	}
	return p, nil
}

type decoder struct {
	s      string
	i      int
	err    error
	cursor int64
	slab   []Part
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.i = len(d.s)
}

func (d *decoder) uvarint() uint64 {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if d.i >= len(d.s) {
			d.fail()
			return 0
		}
		c := d.s[d.i]
		d.i++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	d.fail()
	return 0
}

// offset reads an offset delta, bounded so sums cannot overflow.
func (d *decoder) offset() int64 {
	v := d.uvarint()
	if v > 1<<40 {
		d.fail()
		return 0
	}
	return int64(v)
}

// count reads a count of items, each at least one byte long.
func (d *decoder) count(max int) int {
	v := d.uvarint()
	if v > uint64(max) || v > uint64(len(d.s)-d.i) {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *decoder) str() string {
	x := d.uvarint()
	if x&1 != 0 {
		if x>>1 >= uint64(len(commonStrings)) {
			d.fail()
			return ""
		}
		return commonStrings[x>>1]
	}
	n := x >> 1
	if n > uint64(len(d.s)-d.i) {
		d.fail()
		return ""
	}
	s := d.s[d.i : d.i+int(n)]
	d.i += int(n)
	return s
}

func (d *decoder) params() []Param {
	n := d.count(maxParams)
	if n == 0 {
		return []Param{}
	}
	ps := make([]Param, n)
	for i := range ps {
		ps[i] = Param{Name: d.str(), Value: d.str()}
	}
	return ps
}

func (d *decoder) part(depth int) *Part {
	if d.err != nil {
		return &Part{}
	}
	if depth > MaxDepth+1 || len(d.slab) == 0 {
		d.fail()
		return &Part{}
	}
	pt := &d.slab[0]
	d.slab = d.slab[1:]
	f := d.uvarint()
	pt.HeaderStart = d.cursor + d.offset()
	pt.HeaderEnd = pt.HeaderStart + d.offset()
	pt.BodyStart = pt.HeaderEnd + d.offset()
	d.cursor = pt.BodyStart
	pt.Type = d.str()
	pt.Subtype = d.str()
	if f&pfParams != 0 {
		pt.Params = d.params()
	}
	if f&pfID != 0 {
		pt.ID = d.str()
	}
	if f&pfDescription != 0 {
		pt.Description = d.str()
	}
	if f&pfEncoding != 0 {
		pt.Encoding = d.str()
	}
	if f&pfDisposition != 0 {
		pt.Disposition = d.str()
	}
	if f&pfDispParams != 0 {
		pt.DispositionParams = d.params()
	}
	if f&pfLanguage != 0 {
		n := d.count(maxLanguages)
		pt.Language = make([]string, n)
		for i := range pt.Language {
			pt.Language[i] = d.str()
		}
	}
	if f&pfLocation != 0 {
		pt.Location = d.str()
	}
	if f&pfMD5 != 0 {
		pt.MD5 = d.str()
	}
	if f&pfLines != 0 {
		pt.Lines = d.offset()
	}
	decoded := int64(-2)
	if f&pfDecoded != 0 {
		decoded = d.offset() - 1
	}
	if f&pfEnvelope != 0 {
		pt.Envelope = d.envelope()
	}
	if f&pfParts != 0 {
		n := d.count(MaxParts)
		pt.Parts = make([]*Part, n)
		for i := range pt.Parts {
			pt.Parts[i] = d.part(depth + 1)
		}
	}
	if f&pfEmbedded != 0 {
		pt.Embedded = d.part(depth + 1)
	}
	pt.BodyEnd = d.cursor + d.offset()
	d.cursor = pt.BodyEnd
	if decoded == -2 {
		decoded = pt.Size()
	}
	pt.DecodedSize = decoded
	return pt
}

func (d *decoder) envelope() *Envelope {
	env := &Envelope{Date: d.str(), Subject: d.str(), InReplyTo: d.str(), MessageID: d.str()}
	for _, l := range [...]*[]Address{&env.From, &env.Sender, &env.ReplyTo, &env.To, &env.Cc, &env.Bcc} {
		n := d.count(maxAddresses + 1)
		if n == 0 {
			continue
		}
		as := make([]Address, n)
		for i := range as {
			switch d.uvarint() {
			case 1:
				as[i] = Address{Group: true, Mailbox: d.str()}
			case 0:
				as[i] = Address{Name: d.str(), ADL: d.str(), Mailbox: d.str(), Host: d.str()}
			default:
				d.fail()
			}
		}
		*l = as
	}
	return env
}
