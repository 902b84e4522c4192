package notify

import "testing"

// The bans' events (AccountID BansAccountID) reach the bans' subscribers
// only, as the queue's do.
func TestBansEvents(t *testing.T) {
	dir := t.TempDir()
	l := listen(t, ListenOptions{Dir: dir})
	bans, unsubBans := l.Subscribe(BansAccountID)
	defer unsubBans()
	all, unsubAll := l.Subscribe(0)
	defer unsubAll()
	queue, unsubQueue := l.Subscribe(QueueAccountID)
	defer unsubQueue()
	p := publisher(t, dir)

	p.Publish(Event{AccountID: BansAccountID, ModSeq: 3}) // the ModSeq is dropped
	if ev := next(t, bans); ev != (Event{AccountID: BansAccountID}) {
		t.Errorf("bans subscriber got %+v", ev)
	}
	p.Publish(Event{AccountID: 5, ModSeq: 2})
	p.Publish(Event{AccountID: QueueAccountID})
	if ev := next(t, all); ev != (Event{AccountID: 5, ModSeq: 2}) {
		t.Errorf("subscriber of every account got %+v first", ev)
	}
	if ev := next(t, queue); ev != (Event{AccountID: QueueAccountID}) {
		t.Errorf("queue subscriber got %+v", ev)
	}
	p.Publish(Event{})
	if ev := next(t, bans); ev != (Event{}) {
		t.Errorf("bans subscriber got %+v, want the resync (and no other event)", ev)
	}
	if ev := next(t, all); ev != (Event{}) {
		t.Errorf("subscriber of every account got %+v, want the resync (and no bans event)", ev)
	}
	events, err := decode(encode([]Event{{AccountID: BansAccountID}})[0])
	if err != nil || len(events) != 1 || events[0] != (Event{AccountID: BansAccountID}) {
		t.Errorf("decode of a bans event: %+v, %v", events, err)
	}
	for _, bad := range [][]byte{encodeRaw(BansAccountID, 1), encodeRaw(-3, 0), encodeRaw(-8, 0)} {
		if _, err := decode(bad); err == nil {
			t.Errorf("decode(%x) accepted", bad)
		}
	}
}
