// Package notify is Gannet's change feed between processes: a process that
// writes to the store announces "account A is now at modification sequence
// M", and every other process that listens hears of it within milliseconds,
// without scanning tables.
//
// Each listening process binds a datagram socket in a shared directory
// (by default /run/gannet/notify): DIR/<pid>-<random>.sock, mode 0660. A
// Publisher sends each batch of events as one small binary datagram to every
// socket in the directory, with non-blocking sends: a receiver whose queue is
// full never slows the sender. Sockets left behind by dead processes are
// removed by the publishers that find them.
//
// # What an event means
//
// An Event carries the latest modification sequence the publisher knew of
// for an account. Events are coalesced on the way (per account, the newest
// wins), so a subscriber must treat every event as "re-read the changes since
// the modification sequence I last saw", never as a single change. An event
// with AccountID 0 (and ModSeq 0) is a resync: something changed that the feed
// cannot attribute to an account (a publisher said so, a subscriber fell too far
// behind, or the fallback poller saw the database change); a subscriber
// re-checks every account it cares about.
//
// An event with AccountID QueueAccountID (-1, ModSeq 0) says "the mail
// queue changed": smtpd publishes it after queueing a message and queuectl
// after making entries due, so that queued looks at the queue at once. It
// reaches only the subscribers of QueueAccountID, never those of every
// account. Likewise an event with AccountID BansAccountID (ModSeq 0) says
// "the bans or the allow-list changed" (lib/ban) and reaches only the
// subscribers of BansAccountID.
//
// # Wire format
//
// A datagram is one version byte (1) followed by 1 to 64 records of 16 bytes:
// the account ID (int64) and the modification sequence (uint64), both
// big-endian. A datagram of any other size or version is ignored.
package notify

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// QueueAccountID is the AccountID of an event that says the mail queue
// changed (see the package documentation).
const QueueAccountID int64 = -1

// BansAccountID is the AccountID of an event that says the bans or the
// allow-list changed (see the package documentation). The negative numbers
// between it and QueueAccountID are not events.
const BansAccountID int64 = -7

// special reports whether id is the AccountID of a queue or bans event.
func special(id int64) bool { return id == QueueAccountID || id == BansAccountID }

// Event says that an account's data changed up to a modification sequence.
type Event struct {
	// AccountID is the account that changed; 0 means "some account,
	// re-check", QueueAccountID "the queue changed".
	AccountID int64
	// ModSeq is the account's latest modification sequence known to the
	// publisher; 0 in a resync event.
	ModSeq uint64
}

// Wire format constants.
const (
	wireVersion = 1
	recordSize  = 16
	maxRecords  = 64
	maxDatagram = 1 + recordSize*maxRecords
)

// errBadDatagram is returned by decode for any datagram that is not ours.
var errBadDatagram = errors.New("notify: malformed datagram")

// encode turns events into datagrams of at most maxRecords records each.
func encode(events []Event) [][]byte {
	var grams [][]byte
	for len(events) > 0 {
		n := min(len(events), maxRecords)
		b := make([]byte, 1, 1+recordSize*n)
		b[0] = wireVersion
		for _, ev := range events[:n] {
			b = binary.BigEndian.AppendUint64(b, uint64(ev.AccountID))
			b = binary.BigEndian.AppendUint64(b, ev.ModSeq)
		}
		grams = append(grams, b)
		events = events[n:]
	}
	return grams
}

// decode parses one datagram. It rejects wrong versions and sizes, negative
// account IDs other than QueueAccountID and BansAccountID, and resync,
// queue and bans records carrying a modification sequence.
func decode(b []byte) ([]Event, error) {
	if len(b) < 1+recordSize || len(b) > maxDatagram || (len(b)-1)%recordSize != 0 {
		return nil, fmt.Errorf("%w: %d bytes", errBadDatagram, len(b))
	}
	if b[0] != wireVersion {
		return nil, fmt.Errorf("%w: version %d", errBadDatagram, b[0])
	}
	events := make([]Event, 0, (len(b)-1)/recordSize)
	for r := b[1:]; len(r) > 0; r = r[recordSize:] {
		ev := Event{
			AccountID: int64(binary.BigEndian.Uint64(r)),
			ModSeq:    binary.BigEndian.Uint64(r[8:]),
		}
		if (ev.AccountID < 0 && !special(ev.AccountID)) || (ev.AccountID <= 0 && ev.ModSeq != 0) {
			return nil, fmt.Errorf("%w: bad record %+v", errBadDatagram, ev)
		}
		events = append(events, ev)
	}
	return events, nil
}

// coalescer keeps, per account, the newest modification sequence, in the
// order accounts were first seen. Past limit accounts it collapses into one
// resync event. It is not safe for concurrent use.
type coalescer struct {
	limit   int
	pending map[int64]uint64
	order   []int64
}

func newCoalescer(limit int) *coalescer {
	return &coalescer{limit: limit, pending: make(map[int64]uint64)}
}

// add merges ev into the pending set.
func (c *coalescer) add(ev Event) {
	if ev.AccountID <= 0 {
		ev.ModSeq = 0
	}
	if old, ok := c.pending[ev.AccountID]; ok {
		c.pending[ev.AccountID] = max(old, ev.ModSeq)
		return
	}
	if len(c.pending) >= c.limit {
		// Too many accounts behind: forget them and ask for a resync.
		clear(c.pending)
		c.order = c.order[:0]
		ev = Event{}
	}
	c.pending[ev.AccountID] = ev.ModSeq
	c.order = append(c.order, ev.AccountID)
}

// next removes and returns the oldest pending event.
func (c *coalescer) next() (Event, bool) {
	if len(c.order) == 0 {
		return Event{}, false
	}
	id := c.order[0]
	c.order = c.order[1:]
	if len(c.order) == 0 {
		c.order = nil
	}
	ev := Event{AccountID: id, ModSeq: c.pending[id]}
	delete(c.pending, id)
	return ev, true
}

// take removes and returns every pending event, oldest first.
func (c *coalescer) take() []Event {
	if len(c.order) == 0 {
		return nil
	}
	events := make([]Event, 0, len(c.order))
	for _, id := range c.order {
		events = append(events, Event{AccountID: id, ModSeq: c.pending[id]})
	}
	clear(c.pending)
	c.order = nil
	return events
}

// len reports the number of pending events.
func (c *coalescer) len() int { return len(c.order) }
