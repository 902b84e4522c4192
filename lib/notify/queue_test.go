package notify

import "testing"

// The queue's events (AccountID QueueAccountID) travel the feed to the
// queue's subscribers only; a subscriber of every account never sees one.
func TestQueueEvents(t *testing.T) {
	dir := t.TempDir()
	l := listen(t, ListenOptions{Dir: dir})
	queue, unsubQueue := l.Subscribe(QueueAccountID)
	defer unsubQueue()
	all, unsubAll := l.Subscribe(0)
	defer unsubAll()
	p := publisher(t, dir)

	p.Publish(Event{AccountID: QueueAccountID, ModSeq: 7}) // the ModSeq is dropped
	if ev := next(t, queue); ev != (Event{AccountID: QueueAccountID}) {
		t.Errorf("queue subscriber got %+v", ev)
	}
	p.Publish(Event{AccountID: -2})             // not an event
	p.Publish(Event{AccountID: 4, ModSeq: 1})   // an account's change
	p.Publish(Event{AccountID: QueueAccountID}) // the queue again
	if ev := next(t, all); ev != (Event{AccountID: 4, ModSeq: 1}) {
		t.Errorf("subscriber of every account got %+v first", ev)
	}
	if ev := next(t, queue); ev != (Event{AccountID: QueueAccountID}) {
		t.Errorf("queue subscriber got %+v", ev)
	}
	// A resync reaches the queue's subscriber too.
	p.Publish(Event{})
	if ev := next(t, queue); ev != (Event{}) {
		t.Errorf("queue subscriber got %+v, want a resync", ev)
	}
	if ev := next(t, all); ev != (Event{}) {
		t.Errorf("subscriber of every account got %+v, want the resync (and no queue event)", ev)
	}
}

func TestQueueEventWire(t *testing.T) {
	events, err := decode(encode([]Event{{AccountID: QueueAccountID}})[0])
	if err != nil || len(events) != 1 || events[0] != (Event{AccountID: QueueAccountID}) {
		t.Errorf("decode of a queue event: %+v, %v", events, err)
	}
	for _, bad := range [][]byte{encodeRaw(-2, 0), encodeRaw(QueueAccountID, 3)} {
		if _, err := decode(bad); err == nil {
			t.Errorf("decode(%x) accepted", bad)
		}
	}
}
