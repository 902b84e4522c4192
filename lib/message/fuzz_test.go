package message

import (
	"bytes"
	"net/mail"
	"testing"
	"unicode/utf8"
)

func addSeeds(f *testing.F) {
	for _, tc := range cases {
		f.Add([]byte(tc.raw))
	}
	f.Add(bench10KB())
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a--\r\n--a\r\n"))
	f.Add([]byte("Content-Type: message/rfc822\n\nContent-Type: message/rfc822\n\nContent-Type: multipart/digest; boundary=\"\"\n\n--\n"))
}

// FuzzParse checks that Parse accepts anything: no panic, offsets inside the
// input and properly nested, the part tree within its bounds, decoded sizes
// that match decoding, a structure that decodes back to the same tree, and
// Meta strings in UTF-8.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		p := Parse(raw)
		checkInvariants(t, p, raw)
		roundTrip(t, p)
		m := p.Meta()
		if utf8.RuneCountInString(m.Preview) > previewRunes {
			t.Fatalf("preview of %d characters", utf8.RuneCountInString(m.Preview))
		}
		for _, s := range append([]string{m.Preview, m.Subject, m.From, m.MessageID}, append(m.To, append(m.InReplyTo, m.References...)...)...) {
			if !utf8.ValidString(s) {
				t.Fatalf("Meta holds invalid UTF-8 %q", s)
			}
		}
	})
}

// FuzzSection checks the section helpers on any message and any section:
// no panic, Section and ReadSection agree, contiguous sections are the
// bytes at SectionRange, and BINARY.SIZE matches BINARY.
func FuzzSection(f *testing.F) {
	for _, tc := range cases {
		f.Add([]byte(tc.raw), []byte{2, 1}, uint8(0), "Subject")
		f.Add([]byte(tc.raw), []byte{1}, uint8(5), "")
		f.Add([]byte(tc.raw), []byte{}, uint8(3), "From")
	}
	f.Fuzz(func(t *testing.T, raw, path []byte, spec uint8, field string) {
		p := Parse(raw)
		s := Section{Spec: Specifier(spec % 6), Fields: []string{field, "content-type"}}
		for _, b := range path {
			s.Path = append(s.Path, int(b%8))
		}
		got, err := p.Section(raw, s)
		got2, err2 := p.ReadSection(bytes.NewReader(raw), s)
		if (err == nil) != (err2 == nil) || !bytes.Equal(got, got2) {
			t.Fatalf("Section = %q, %v; ReadSection = %q, %v", got, err, got2, err2)
		}
		if err != nil {
			if err != ErrNoSection {
				t.Fatalf("Section: %v", err)
			}
			return
		}
		start, end, err := p.SectionRange(s)
		if err != nil || start < 0 || end < start || end > int64(len(raw)) {
			t.Fatalf("SectionRange = %d, %d, %v", start, end, err)
		}
		switch s.Spec {
		case SpecHeaderFields, SpecHeaderFieldsNot:
			if len(got) > int(end-start)+2*(MaxHeaderFields+2) {
				t.Fatalf("HEADER.FIELDS gave %d bytes from a %d-byte header", len(got), end-start)
			}
		default:
			if !bytes.Equal(got, raw[start:end]) {
				t.Fatalf("section is not the bytes of its range")
			}
		}
		if s.Spec == SpecNone {
			bin, berr := p.Binary(bytes.NewReader(raw), s.Path)
			size, serr := p.BinarySize(s.Path)
			if (berr == nil) != (serr == nil) || berr == nil && int64(len(bin)) != size {
				t.Fatalf("BINARY %d bytes (%v), BINARY.SIZE %d (%v)", len(bin), berr, size, serr)
			}
		}
	})
}

// FuzzDecode checks that Decode rejects or accepts any bytes without
// panicking, and that what it accepts can be used.
func FuzzDecode(f *testing.F) {
	for _, tc := range cases {
		f.Add(Parse([]byte(tc.raw)).Meta().Structure)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode(data)
		if err != nil {
			return
		}
		p.Meta()
		for _, path := range [][]int{nil, {1}, {2}, {1, 1}, {2, 1}} {
			if pt, ok := p.Part(path); ok {
				_ = pt.Size()
				_, _, _ = p.SectionRange(Section{Path: path, Spec: SpecHeader})
			}
		}
	})
}

// FuzzParseDate checks that ParseDate gives net/mail's answer for any
// input: the same instant and the same acceptance.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{
		"Thu, 03 Dec 2026 10:00:00 +0000", "3 Dec 2026 10:00 -0330", "Thu, 03 Dec 2026 10:00:00 GMT",
		"Thu, 03 Dec 2026 10:00:00 +0000 (UTC)", "Thu, 03 Dec 2026 10:00:60 +0000", "Thu, 31 Feb 2026 10:00:00 +0000",
		"Thu,  3 Dec 2026 10:00:00 +9959", "03 dec 2026 10:00:00 +0000 x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, gotErr := ParseDate(s)
		want, wantErr := mail.ParseDate(s)
		if (gotErr == nil) != (wantErr == nil) || !got.Equal(want) {
			t.Errorf("ParseDate(%q) = %v, %v; net/mail: %v, %v", s, got, gotErr, want, wantErr)
		}
	})
}
