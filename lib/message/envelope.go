package message

import "fmt"

// DecodeEnvelope reads only the message's envelope out of a structure from
// Meta().Structure: what Decode(structure).Envelope() gives, without
// building the part tree. It stops once it has read the envelope, which
// the encoding keeps near the start (after the header index and the fields
// of the top-level part), so an IMAP FETCH of ENVELOPE alone reads a
// fraction of each structure and allocates no parts.
//
// It returns nil and no error for a structure whose message has no
// envelope. For every structure Decode accepts, DecodeEnvelope agrees with
// it; it may accept a structure that is damaged only after the envelope,
// which Decode refuses.
func DecodeEnvelope(structure []byte) (*Envelope, error) {
	if len(structure) == 0 {
		return nil, fmt.Errorf("message: decode envelope: empty structure")
	}
	if structure[0] != structVersion {
		return nil, fmt.Errorf("message: decode envelope: unknown structure version %d", structure[0])
	}
	d := decoder{s: string(structure), i: 1}
	d.uvarint() // flags
	if d.count(MaxParts) == 0 && d.err == nil {
		d.fail() // Decode needs a part to read the root into
	}
	nh := d.count(MaxHeaderFields)
	for range nh {
		d.str()
		d.offset()
		d.offset()
	}
	// The top-level part (see decoder.part), up to its envelope.
	f := d.uvarint()
	for range 3 {
		d.offset() // header start, header length, body gap
	}
	d.str() // type
	d.str() // subtype
	if f&pfParams != 0 {
		d.skipParams()
	}
	for _, bit := range [...]uint64{pfID, pfDescription, pfEncoding, pfDisposition} {
		if f&bit != 0 {
			d.str()
		}
	}
	if f&pfDispParams != 0 {
		d.skipParams()
	}
	if f&pfLanguage != 0 {
		for range d.count(maxLanguages) {
			d.str()
		}
	}
	for _, bit := range [...]uint64{pfLocation, pfMD5} {
		if f&bit != 0 {
			d.str()
		}
	}
	for _, bit := range [...]uint64{pfLines, pfDecoded} {
		if f&bit != 0 {
			d.offset()
		}
	}
	var env *Envelope
	if f&pfEnvelope != 0 {
		env = d.envelope()
	}
	if d.err != nil {
		return nil, fmt.Errorf("message: decode envelope: %w", d.err)
	}
	return env, nil
}

// skipParams reads past a parameter list.
func (d *decoder) skipParams() {
	for range d.count(maxParams) {
		d.str()
		d.str()
	}
}
