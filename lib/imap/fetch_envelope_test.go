package imap

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"gannet/lib/imap/render"
	"gannet/lib/message"
	"gannet/lib/store"
)

// TestFetchEnvelopeAsDecoded checks, byte for byte, that FETCH writes
// ENVELOPE, alone (read with message.DecodeEnvelope) and next to BODY and
// UID (read with message.Decode), as the renderer writes the envelope of
// the fully decoded structure, for every message of the renderer's test
// data; and that the rest of each response is as before.
func TestFetchEnvelopeAsDecoded(t *testing.T) {
	files, err := filepath.Glob("render/testdata/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test messages: %v", err)
	}
	h := newHarness(t)
	var stored []store.Message
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, h.deliver("INBOX", string(raw)))
	}
	c := dialRaw(t, h)
	c.command(t, "s", "SELECT INBOX")
	for _, tc := range []struct {
		items string
		want  func(b *bytes.Buffer, m store.Message, p *message.Parsed)
	}{
		{"(ENVELOPE)", func(b *bytes.Buffer, m store.Message, p *message.Parsed) {
			b.WriteString("ENVELOPE ")
			render.Envelope(b, p.Envelope(), false)
		}},
		{"(ENVELOPE BODY)", func(b *bytes.Buffer, m store.Message, p *message.Parsed) {
			b.WriteString("ENVELOPE ")
			render.Envelope(b, p.Envelope(), false)
			b.WriteString(" BODY ")
			render.BodyStructure(b, p.Root, false, false)
		}},
		{"(UID RFC822.SIZE INTERNALDATE)", func(b *bytes.Buffer, m store.Message, p *message.Parsed) {
			b.WriteString("UID " + strconv.FormatUint(uint64(m.UID), 10))
			b.WriteString(" RFC822.SIZE " + strconv.FormatInt(m.Size, 10))
			b.WriteString(` INTERNALDATE "` + m.InternalDate.Format(internalDateLayout) + `"`)
		}},
	} {
		var want bytes.Buffer
		for i, m := range stored {
			p, err := message.Decode(m.Meta.Structure)
			if err != nil {
				t.Fatal(err)
			}
			want.WriteString("* " + strconv.Itoa(i+1) + " FETCH (")
			tc.want(&want, m, p)
			want.WriteString(")\r\n")
		}
		var got bytes.Buffer
		c.out = &got
		if n := c.command(t, "f", "FETCH 1:* "+tc.items); n != len(stored) {
			t.Errorf("FETCH 1:* %s: %d responses, want %d", tc.items, n, len(stored))
		}
		c.out = nil
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("FETCH 1:* %s:\n got %q\nwant %q", tc.items, got.Bytes(), want.Bytes())
		}
	}
}
