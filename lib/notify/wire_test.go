package notify

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func TestWireRoundTrip(t *testing.T) {
	var events []Event
	for i := range 150 {
		events = append(events, Event{AccountID: int64(i + 1), ModSeq: uint64(i) * 1000})
	}
	events = append(events, Event{AccountID: math.MaxInt64, ModSeq: math.MaxUint64}, Event{})
	grams := encode(events)
	if len(grams) != 3 {
		t.Fatalf("%d events in %d datagrams, want 3", len(events), len(grams))
	}
	var got []Event
	for _, g := range grams {
		if len(g) > maxDatagram {
			t.Errorf("datagram of %d bytes", len(g))
		}
		evs, err := decode(g)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, evs...)
	}
	if len(got) != len(events) {
		t.Fatalf("got %d events, want %d", len(got), len(events))
	}
	for i := range events {
		if got[i] != events[i] {
			t.Errorf("event %d: got %+v, want %+v", i, got[i], events[i])
		}
	}
	// The layout is fixed: version, then account and modseq big-endian.
	want := []byte{1, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 3, 4}
	if g := encode([]Event{{AccountID: 0x102, ModSeq: 0x304}})[0]; !bytes.Equal(g, want) {
		t.Errorf("encoding % x, want % x", g, want)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := encode([]Event{{AccountID: 1, ModSeq: 2}})[0]
	for name, b := range map[string][]byte{
		"empty":         nil,
		"version only":  {wireVersion},
		"short":         good[:len(good)-1],
		"long":          append(append([]byte{}, good...), 0),
		"version 0":     append([]byte{0}, good[1:]...),
		"version 2":     append([]byte{2}, good[1:]...),
		"too many":      append([]byte{wireVersion}, make([]byte, recordSize*(maxRecords+1))...),
		"negative":      encodeRaw(-5, 1),
		"resync modseq": encodeRaw(0, 1),
	} {
		if evs, err := decode(b); !errors.Is(err, errBadDatagram) {
			t.Errorf("%s: decode gave %+v, %v", name, evs, err)
		}
	}
}

func TestCoalescer(t *testing.T) {
	c := newCoalescer(3)
	c.add(Event{AccountID: 1, ModSeq: 5})
	c.add(Event{AccountID: 2, ModSeq: 1})
	c.add(Event{AccountID: 1, ModSeq: 4}) // older: ignored
	c.add(Event{AccountID: 1, ModSeq: 7})
	c.add(Event{AccountID: 0, ModSeq: 9}) // resync: modseq dropped
	if ev, _ := c.next(); ev != (Event{AccountID: 1, ModSeq: 7}) {
		t.Errorf("first %+v", ev)
	}
	if got := c.take(); len(got) != 2 || got[0] != (Event{AccountID: 2, ModSeq: 1}) || got[1] != (Event{}) {
		t.Errorf("rest %+v", got)
	}
	if _, ok := c.next(); ok || c.len() != 0 {
		t.Error("not empty after take")
	}
	for a := int64(1); a <= 4; a++ {
		c.add(Event{AccountID: a, ModSeq: 1})
	}
	c.add(Event{AccountID: 5, ModSeq: 1})
	// Past the limit, the accounts collapse into one resync; what comes
	// after queues behind it.
	if got := c.take(); len(got) != 2 || got[0] != (Event{}) || got[1] != (Event{AccountID: 5, ModSeq: 1}) {
		t.Errorf("after overflow %+v", got)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode([]Event{{AccountID: 1, ModSeq: 2}})[0])
	f.Add(encode([]Event{{}, {AccountID: 3, ModSeq: 4}})[0])
	f.Add([]byte{2, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, err := decode(b)
		if err != nil {
			return
		}
		// Whatever decodes is a datagram we could have sent.
		grams := encode(evs)
		if len(grams) != 1 || !bytes.Equal(grams[0], b) {
			t.Fatalf("decode(% x) = %+v, which encodes as % x", b, evs, grams)
		}
	})
}
