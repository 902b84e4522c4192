package notify

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// deadline bounds every wait in these tests; the latency requirement
// itself is checked separately (TestCrossProcess).
const deadline = 5 * time.Second

// listen starts a listener on dir, closed at the end of the test.
func listen(t *testing.T, opts ListenOptions) *Listener {
	t.Helper()
	l, err := ListenWith(t.Context(), opts)
	if err != nil {
		t.Fatalf("ListenWith: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Listener.Close: %v", err)
		}
	})
	return l
}

// publisher starts a publisher on dir, closed at the end of the test.
func publisher(t *testing.T, dir string) *Publisher {
	t.Helper()
	p, err := NewPublisher(dir)
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Publisher.Close: %v", err)
		}
	})
	return p
}

// next returns the next event on ch, failing the test after deadline.
func next(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("subscription channel closed")
		}
		return ev
	case <-time.After(deadline):
		t.Fatal("no event within the deadline")
	}
	panic("unreachable")
}

// until reads ch until want arrives, checking that modification sequences
// for each account never go backwards, and returns what it read.
func until(t *testing.T, ch <-chan Event, want Event) []Event {
	t.Helper()
	var got []Event
	last := map[int64]uint64{}
	for {
		ev := next(t, ch)
		got = append(got, ev)
		if ev.ModSeq < last[ev.AccountID] {
			t.Fatalf("modseq went backwards for account %d: %d after %d", ev.AccountID, ev.ModSeq, last[ev.AccountID])
		}
		last[ev.AccountID] = ev.ModSeq
		if ev == want {
			return got
		}
	}
}

// eventually polls cond until it holds, failing after deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// rawSocket binds a datagram socket named name in dir that nobody reads.
func rawSocket(t *testing.T, dir, name string) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: filepath.Join(dir, name)}); err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	return fd
}

// readRaw reads one datagram from fd, waiting at most deadline.
func readRaw(t *testing.T, fd int) []Event {
	t.Helper()
	tv := syscall.NsecToTimeval(deadline.Nanoseconds())
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, maxDatagram+1)
	n, _, err := syscall.Recvfrom(fd, buf, 0)
	if err != nil {
		t.Fatalf("reading raw socket: %v", err)
	}
	evs, err := decode(buf[:n])
	if err != nil {
		t.Fatalf("raw socket got a bad datagram: %v", err)
	}
	return evs
}

func TestPublishSubscribeInProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "notify")
	l := listen(t, ListenOptions{Dir: dir})
	ch, unsubscribe := l.Subscribe(5)
	defer unsubscribe()
	p := publisher(t, dir)
	for i := uint64(1); i <= 100; i++ {
		p.Publish(Event{AccountID: 5, ModSeq: i})
	}
	got := until(t, ch, Event{AccountID: 5, ModSeq: 100})
	for _, ev := range got {
		if ev.AccountID != 5 {
			t.Errorf("subscriber of account 5 got %+v", ev)
		}
	}
}

func TestPublisherBeforeListener(t *testing.T) {
	// A publisher started before the directory exists finds a listener
	// that comes later, without waiting for its periodic re-listing.
	dir := filepath.Join(t.TempDir(), "notify")
	p := publisher(t, dir)
	p.Publish(Event{AccountID: 1, ModSeq: 1}) // into the void
	l := listen(t, ListenOptions{Dir: dir})
	ch, unsubscribe := l.Subscribe(1)
	defer unsubscribe()
	start := time.Now()
	p.Publish(Event{AccountID: 1, ModSeq: 2})
	until(t, ch, Event{AccountID: 1, ModSeq: 2})
	if d := time.Since(start); d >= relistInterval {
		t.Errorf("new listener heard only after %v, as if by the periodic re-listing", d)
	}
}

func TestAccountFiltering(t *testing.T) {
	dir := t.TempDir()
	l := listen(t, ListenOptions{Dir: dir})
	one, unsub1 := l.Subscribe(1)
	defer unsub1()
	two, unsub2 := l.Subscribe(2)
	defer unsub2()
	all, unsubAll := l.Subscribe(0)
	defer unsubAll()
	p := publisher(t, dir)

	p.Publish(Event{AccountID: 2, ModSeq: 20})
	p.Publish(Event{AccountID: 3, ModSeq: 30})
	got := map[Event]bool{}
	for len(got) < 2 {
		ev := next(t, all)
		got[ev] = true
		if !(ev == Event{AccountID: 2, ModSeq: 20} || ev == Event{AccountID: 3, ModSeq: 30}) {
			t.Fatalf("subscriber of all accounts got %+v", ev)
		}
	}
	// Both are dispatched by now; events reach a subscriber in order, so
	// account 1's subscriber must see account 1's event first.
	p.Publish(Event{AccountID: 1, ModSeq: 10})
	if ev := next(t, one); ev != (Event{AccountID: 1, ModSeq: 10}) {
		t.Errorf("subscriber of account 1 got %+v first", ev)
	}
	if ev := next(t, all); ev != (Event{AccountID: 1, ModSeq: 10}) {
		t.Errorf("subscriber of all accounts got %+v, want account 1's event", ev)
	}
	p.Publish(Event{AccountID: 2, ModSeq: 21})
	if ev := next(t, two); ev != (Event{AccountID: 2, ModSeq: 20}) {
		t.Errorf("subscriber of account 2 got %+v first", ev)
	}
	if ev := next(t, two); ev != (Event{AccountID: 2, ModSeq: 21}) {
		t.Errorf("subscriber of account 2 got %+v second", ev)
	}
	// A resync reaches everyone, after what each had pending.
	p.Publish(Event{AccountID: 0, ModSeq: 99})
	if ev := next(t, all); ev != (Event{AccountID: 2, ModSeq: 21}) {
		t.Errorf("subscriber of all accounts got %+v", ev)
	}
	for name, ch := range map[string]<-chan Event{"1": one, "2": two, "0": all} {
		if ev := next(t, ch); ev != (Event{}) {
			t.Errorf("subscriber of %s got %+v, want a resync", name, ev)
		}
	}
}

func TestTwoListenersBothHear(t *testing.T) {
	dir := t.TempDir()
	a := listen(t, ListenOptions{Dir: dir})
	b := listen(t, ListenOptions{Dir: dir})
	cha, unsubA := a.Subscribe(9)
	defer unsubA()
	chb, unsubB := b.Subscribe(0)
	defer unsubB()
	p := publisher(t, dir)
	p.Publish(Event{AccountID: 9, ModSeq: 3})
	until(t, cha, Event{AccountID: 9, ModSeq: 3})
	until(t, chb, Event{AccountID: 9, ModSeq: 3})
}

func TestUnsubscribeAndClose(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "feed")
	l, err := Listen(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&^dirMode != 0 {
		t.Errorf("directory mode %v, want at most %v", perm, fs.FileMode(dirMode))
	}
	socks, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
	if len(socks) != 1 {
		t.Fatalf("sockets in %s: %v, want one", dir, socks)
	}
	fi, err = os.Lstat(socks[0])
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != sockMode {
		t.Errorf("socket mode %v, want socket %v", fi.Mode(), fs.FileMode(sockMode))
	}
	if !strings.HasPrefix(filepath.Base(socks[0]), fmt.Sprintf("%d-", os.Getpid())) {
		t.Errorf("socket %s is not named after the process", socks[0])
	}

	gone, unsubscribe := l.Subscribe(1)
	stay, _ := l.Subscribe(1)
	unsubscribe()
	unsubscribe() // twice is harmless
	if _, ok := <-gone; ok {
		t.Error("channel still open after unsubscribe")
	}
	p := publisher(t, dir)
	p.Publish(Event{AccountID: 1, ModSeq: 1})
	until(t, stay, Event{AccountID: 1, ModSeq: 1})

	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case _, ok := <-stay:
		if ok {
			t.Error("event after Close")
		}
	case <-time.After(deadline):
		t.Error("channel not closed by Close")
	}
	if _, err := os.Lstat(socks[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left behind after Close: %v", err)
	}
	late, _ := l.Subscribe(1)
	if _, ok := <-late; ok {
		t.Error("Subscribe after Close gave an open channel")
	}
}

func TestContextEndsListener(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	l, err := Listen(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := l.Subscribe(0)
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Error("event after cancel")
		}
	case <-time.After(deadline):
		t.Fatal("channel not closed when the context ended")
	}
	eventually(t, "the socket is removed", func() bool {
		socks, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
		return len(socks) == 0
	})
	if err := l.Close(); err != nil {
		t.Errorf("Close after cancel: %v", err)
	}
}

func TestLongDirectoryPath(t *testing.T) {
	dir := t.TempDir()
	for len(dir) < 150 {
		dir = filepath.Join(dir, "a-rather-long-directory-name")
	}
	l := listen(t, ListenOptions{Dir: dir})
	ch, unsubscribe := l.Subscribe(4)
	defer unsubscribe()
	p := publisher(t, dir)
	p.Publish(Event{AccountID: 4, ModSeq: 44})
	until(t, ch, Event{AccountID: 4, ModSeq: 44})
}

func TestStaleSocketsRemoved(t *testing.T) {
	dir := t.TempDir()
	// A socket from a process that died long ago: bound, then closed
	// without removing the file.
	old := filepath.Join(dir, "999999-dead.sock")
	syscall.Close(rawSocket(t, dir, "999999-dead.sock"))
	long := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}
	// One that refuses too but is young: it may be a live process's,
	// caught between bind and listen, and must stay.
	young := filepath.Join(dir, "999998-young.sock")
	syscall.Close(rawSocket(t, dir, "999998-young.sock"))
	// A file that is no socket is none of ours.
	other := filepath.Join(dir, "notes.sock")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	l := listen(t, ListenOptions{Dir: dir})
	ch, unsubscribe := l.Subscribe(1)
	defer unsubscribe()
	p := publisher(t, dir)
	p.Publish(Event{AccountID: 1, ModSeq: 1})
	until(t, ch, Event{AccountID: 1, ModSeq: 1})
	eventually(t, "the stale socket is removed", func() bool {
		_, err := os.Lstat(old)
		return errors.Is(err, fs.ErrNotExist)
	})
	for _, f := range []string{young, other} {
		if _, err := os.Lstat(f); err != nil {
			t.Errorf("%s was removed: %v", f, err)
		}
	}

	// A listener that dies while the publisher is connected to it: the
	// next send is refused and the file, once old, is removed.
	fd := rawSocket(t, dir, "999997-dying.sock")
	dying := filepath.Join(dir, "999997-dying.sock")
	p.Publish(Event{AccountID: 1, ModSeq: 2})
	until(t, ch, Event{AccountID: 1, ModSeq: 2})
	if evs := readRaw(t, fd); len(evs) != 1 || evs[0] != (Event{AccountID: 1, ModSeq: 2}) {
		t.Fatalf("dying socket got %+v", evs)
	}
	syscall.Close(fd)
	if err := os.Chtimes(dying, long, long); err != nil {
		t.Fatal(err)
	}
	p.Publish(Event{AccountID: 1, ModSeq: 3})
	until(t, ch, Event{AccountID: 1, ModSeq: 3})
	eventually(t, "the dead listener's socket is removed", func() bool {
		_, err := os.Lstat(dying)
		return errors.Is(err, fs.ErrNotExist)
	})
}

func TestFullReceiverNeitherBlocksNorStarves(t *testing.T) {
	dir := t.TempDir()
	// A listener that does not read: its queue fills up.
	stuck := rawSocket(t, dir, "999996-stuck.sock")
	defer syscall.Close(stuck)
	l := listen(t, ListenOptions{Dir: dir})
	all, unsubscribe := l.Subscribe(0)
	defer unsubscribe()
	p := publisher(t, dir)

	const accounts, rounds = 200, 50
	latest := map[int64]uint64{}
	start := time.Now()
	for r := uint64(1); r <= rounds; r++ {
		for a := int64(1); a <= accounts; a++ {
			p.Publish(Event{AccountID: a, ModSeq: r})
		}
		if r%10 == 0 {
			// Let batches go out so that the stuck queue really fills.
			for _, ev := range until(t, all, Event{AccountID: accounts, ModSeq: r}) {
				latest[ev.AccountID] = max(latest[ev.AccountID], ev.ModSeq)
			}
		}
	}
	t.Logf("%d publishes and their delivery took %v", accounts*rounds, time.Since(start))
	// The reading listener has everything.
	for a := int64(1); a < accounts; a++ {
		for latest[a] < rounds {
			ev := next(t, all)
			latest[ev.AccountID] = max(latest[ev.AccountID], ev.ModSeq)
		}
	}
	// The stuck one, once it reads again, catches up with the latest of
	// every account: what its full queue refused was kept and retried.
	caught := map[int64]uint64{}
	for len(caught) < accounts || func() bool {
		for _, m := range caught {
			if m < rounds {
				return true
			}
		}
		return false
	}() {
		for _, ev := range readRaw(t, stuck) {
			caught[ev.AccountID] = max(caught[ev.AccountID], ev.ModSeq)
		}
	}
}

func TestSlowSubscriberCoalesces(t *testing.T) {
	dir := t.TempDir()
	l := listen(t, ListenOptions{Dir: dir})
	slow, unsubSlow := l.Subscribe(3)
	defer unsubSlow()
	fast, unsubFast := l.Subscribe(3)
	defer unsubFast()
	p := publisher(t, dir)
	const n = 1000
	for i := uint64(1); i <= n; i++ {
		p.Publish(Event{AccountID: 3, ModSeq: i})
		if i%50 == 0 {
			until(t, fast, Event{AccountID: 3, ModSeq: i})
		}
	}
	// All n are dispatched; the slow subscriber holds at most its buffer,
	// one in the hand of its pump, and the coalesced newest.
	got := until(t, slow, Event{AccountID: 3, ModSeq: n})
	if len(got) > subscriberBuffer+2 {
		t.Errorf("slow subscriber got %d events, want at most %d", len(got), subscriberBuffer+2)
	}

	// A subscriber of every account that falls far behind gets a resync
	// instead of an unbounded queue.
	behind, unsubBehind := l.Subscribe(0)
	defer unsubBehind()
	for a := int64(10_000); a < 10_000+3*maxPending; a++ {
		p.Publish(Event{AccountID: a, ModSeq: 1})
	}
	p.Publish(Event{AccountID: 3, ModSeq: n + 1})
	until(t, fast, Event{AccountID: 3, ModSeq: n + 1})
	got = until(t, behind, Event{AccountID: 3, ModSeq: n + 1})
	resync := false
	for _, ev := range got {
		resync = resync || ev == Event{}
	}
	if !resync || len(got) > subscriberBuffer+1+maxPending {
		t.Errorf("subscriber far behind got %d events (resync %v)", len(got), resync)
	}
}

func TestBadDatagramsIgnored(t *testing.T) {
	dir := t.TempDir()
	l := listen(t, ListenOptions{Dir: dir})
	ch, unsubscribe := l.Subscribe(0)
	defer unsubscribe()
	socks, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
	fd, err := dial(dir, filepath.Base(socks[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	good := encode([]Event{{AccountID: 8, ModSeq: 8}})[0]
	bad := [][]byte{
		{},
		{wireVersion},
		good[:len(good)-1],
		append([]byte{2}, good[1:]...),
		append(append([]byte{}, good...), 0),
		append([]byte{wireVersion}, make([]byte, recordSize*(maxRecords+1))...),
		encodeRaw(-1, 5),
		encodeRaw(0, 5),
	}
	for _, b := range bad {
		if err := send(fd, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := send(fd, good); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, ch); ev != (Event{AccountID: 8, ModSeq: 8}) {
		t.Errorf("first event %+v, want the good datagram's", ev)
	}
}

// encodeRaw encodes one record without the publisher's checks.
func encodeRaw(account int64, modseq uint64) []byte {
	return encode([]Event{{AccountID: account, ModSeq: modseq}})[0]
}

func TestFallbackPoller(t *testing.T) {
	dir := t.TempDir()
	values := make(chan uint64)
	var polls atomic.Int64
	fallback := func(ctx context.Context) (uint64, error) {
		polls.Add(1)
		select {
		case v := <-values:
			return v, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	l := listen(t, ListenOptions{Dir: dir, Fallback: fallback, FallbackInterval: time.Millisecond})
	mine, unsubMine := l.Subscribe(7)
	defer unsubMine()
	all, unsubAll := l.Subscribe(0)
	defer unsubAll()
	p := publisher(t, dir)
	// poll hands the poller one value; by the time the next is taken, the
	// previous poll has been acted upon.
	poll := func(v uint64) {
		select {
		case values <- v:
		case <-time.After(deadline):
			t.Fatal("fallback not polled")
		}
	}

	poll(1) // the baseline
	poll(1)
	poll(1)
	// Nothing changed, so the first event is this announced one.
	p.Publish(Event{AccountID: 7, ModSeq: 1})
	for _, ch := range []<-chan Event{mine, all} {
		if ev := next(t, ch); ev != (Event{AccountID: 7, ModSeq: 1}) {
			t.Fatalf("got %+v, want the announced event", ev)
		}
	}
	poll(1) // clears "a datagram was heard"
	// The database changed with no announcement: a resync for everyone.
	poll(2)
	for _, ch := range []<-chan Event{mine, all} {
		if ev := next(t, ch); ev != (Event{}) {
			t.Fatalf("got %+v, want a resync", ev)
		}
	}
	// A change that was announced needs no resync.
	p.Publish(Event{AccountID: 7, ModSeq: 2})
	if ev := next(t, mine); ev != (Event{AccountID: 7, ModSeq: 2}) {
		t.Fatalf("got %+v, want the announced event", ev)
	}
	poll(3)
	poll(3)
	p.Publish(Event{AccountID: 7, ModSeq: 3})
	if ev := next(t, mine); ev != (Event{AccountID: 7, ModSeq: 3}) {
		t.Fatalf("got %+v, want the announced event and no resync", ev)
	}
	if polls.Load() < 7 {
		t.Errorf("fallback polled %d times", polls.Load())
	}
}

func TestFallbackErrorsAreSurvived(t *testing.T) {
	dir := t.TempDir()
	var n atomic.Int64
	fallback := func(ctx context.Context) (uint64, error) {
		switch i := n.Add(1); {
		case i == 1:
			return 1, nil
		case i < 5:
			return 0, errors.New("database is locked")
		default:
			return 2, nil
		}
	}
	l := listen(t, ListenOptions{Dir: dir, Fallback: fallback, FallbackInterval: time.Millisecond})
	ch, unsubscribe := l.Subscribe(0)
	defer unsubscribe()
	if ev := next(t, ch); ev != (Event{}) {
		t.Fatalf("got %+v, want a resync", ev)
	}
}

func TestPublisherErrors(t *testing.T) {
	if _, err := NewPublisher(""); err == nil {
		t.Error("NewPublisher(\"\") succeeded")
	}
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewPublisher(f); err == nil {
		t.Error("NewPublisher on a file succeeded")
	}
	if _, err := Listen(t.Context(), ""); err == nil {
		t.Error("Listen(\"\") succeeded")
	}
	if _, err := Listen(t.Context(), filepath.Join(f, "sub")); err == nil {
		t.Error("Listen under a file succeeded")
	}
	p, err := NewPublisher(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p.Publish(Event{AccountID: 1, ModSeq: 1}) // after Close: nothing, no panic
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
