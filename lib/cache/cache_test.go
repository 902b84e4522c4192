package cache

import (
	"container/list"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// check verifies the cache's internal bookkeeping.
func check[K comparable, V any](t *testing.T, c *Cache[K, V]) {
	t.Helper()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.entries) > c.capacity {
		t.Fatalf("%d entries in a cache of %d", len(c.entries), c.capacity)
	}
	if c.small.len+c.main.len != len(c.entries) {
		t.Fatalf("queues hold %d+%d entries, map %d", c.small.len, c.main.len, len(c.entries))
	}
	for _, q := range []*queue[K, V]{&c.small, &c.main} {
		n := 0
		for e := q.head; e != nil; e = e.next {
			if c.entries[e.key] != e {
				t.Fatalf("queued entry %v is not in the map", e.key)
			}
			if e.inMain != (q == &c.main) {
				t.Fatalf("entry %v in the wrong queue", e.key)
			}
			n++
		}
		if n != q.len {
			t.Fatalf("queue length %d, counted %d", q.len, n)
		}
	}
	if len(c.ghost.keys) > len(c.ghost.ring) {
		t.Fatalf("%d ghosts in a ring of %d", len(c.ghost.keys), len(c.ghost.ring))
	}
}

func TestBasic(t *testing.T) {
	c := New[string, int](10)
	if _, ok := c.Get("a"); ok {
		t.Fatal("empty cache has a")
	}
	c.Set("a", 1)
	c.Set("b", 2)
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Errorf("Get(a) = %v, %v", v, ok)
	}
	c.Set("a", 3)
	if v, _ := c.Get("a"); v != 3 {
		t.Errorf("after overwrite Get(a) = %v", v)
	}
	if c.Len() != 2 {
		t.Errorf("Len() = %d, want 2", c.Len())
	}
	c.Delete("a")
	c.Delete("absent")
	if _, ok := c.Get("a"); ok {
		t.Error("deleted key still cached")
	}
	if v, ok := c.Get("b"); !ok || v != 2 {
		t.Errorf("Get(b) = %v, %v", v, ok)
	}
	if c.Len() != 1 {
		t.Errorf("Len() = %d, want 1", c.Len())
	}
	c.Clear()
	if c.Len() != 0 {
		t.Errorf("after Clear Len() = %d", c.Len())
	}
	check(t, c)
}

func TestCapacity(t *testing.T) {
	for _, capacity := range []int{1, 2, 9, 10, 11, 100} {
		c := New[int, int](capacity)
		for i := range capacity * 20 {
			c.Set(i, i)
			if i%3 == 0 {
				c.Get(i)
			}
			if i%7 == 0 {
				c.Get(i / 2)
			}
			if c.Len() > capacity {
				t.Fatalf("capacity %d: Len() = %d", capacity, c.Len())
			}
		}
		if c.Len() != capacity {
			t.Errorf("capacity %d: full cache holds %d", capacity, c.Len())
		}
		// The newest key is always there.
		if v, ok := c.Get(capacity*20 - 1); !ok || v != capacity*20-1 {
			t.Errorf("capacity %d: newest key missing", capacity)
		}
		check(t, c)
	}
}

func TestZeroCapacity(t *testing.T) {
	for _, capacity := range []int{0, -5} {
		c := New[string, int](capacity)
		c.Set("a", 1)
		if _, ok := c.Get("a"); ok || c.Len() != 0 {
			t.Errorf("capacity %d cache keeps entries", capacity)
		}
		c.Delete("a")
		c.Clear()
	}
}

// lru is the naive alternative: a least-recently-used list.
type lru[K comparable] struct {
	capacity int
	order    *list.List // front: most recent
	items    map[K]*list.Element
}

func newLRU[K comparable](capacity int) *lru[K] {
	return &lru[K]{capacity: capacity, order: list.New(), items: map[K]*list.Element{}}
}

func (l *lru[K]) Get(k K) bool {
	e, ok := l.items[k]
	if ok {
		l.order.MoveToFront(e)
	}
	return ok
}

func (l *lru[K]) Set(k K) {
	if e, ok := l.items[k]; ok {
		l.order.MoveToFront(e)
		return
	}
	if l.order.Len() >= l.capacity {
		old := l.order.Back()
		l.order.Remove(old)
		delete(l.items, old.Value.(K))
	}
	l.items[k] = l.order.PushFront(k)
}

// TestScanDoesNotEvictHotSet is the test: a directory cache holds
// the addresses in use; a scan (a list expansion, a mass mailing to
// addresses seen once) must not push them out.
func TestScanDoesNotEvictHotSet(t *testing.T) {
	const capacity, hot, scan = 1000, 100, 100_000
	c := New[string, string](capacity)
	naive := newLRU[string](capacity)

	hotKey := func(i int) string { return fmt.Sprintf("user%d@example.test", i) }
	for i := range hot {
		c.Set(hotKey(i), "account")
		naive.Set(hotKey(i))
	}
	for range 3 {
		for i := range hot {
			if _, ok := c.Get(hotKey(i)); !ok {
				t.Fatalf("%s missing before the scan", hotKey(i))
			}
			naive.Get(hotKey(i))
		}
	}

	// The scan: every key once, looked up, missed and filled.
	scanKeys := 0
	for i := range scan {
		k := fmt.Sprintf("once%d@elsewhere.test", i)
		if _, ok := c.Get(k); ok {
			t.Fatalf("%s cached before it was set", k)
		}
		c.Set(k, "nobody")
		naive.Get(k)
		naive.Set(k)
	}
	check(t, c)

	var lost, naiveLost []string
	for i := range hot {
		if _, ok := c.Get(hotKey(i)); !ok {
			lost = append(lost, hotKey(i))
		}
		if !naive.Get(hotKey(i)) {
			naiveLost = append(naiveLost, hotKey(i))
		}
	}
	if len(lost) > 0 {
		t.Errorf("the scan evicted %d of %d hot keys: %v", len(lost), hot, lost)
	}
	// The same workload empties an LRU cache of its hot set: that is what
	// the test guards against.
	if len(naiveLost) != hot {
		t.Errorf("an LRU cache kept %d hot keys; the test does not test anything", hot-len(naiveLost))
	}
	// And the scan keys were evicted, the cache did not simply grow.
	for i := range scan {
		if _, ok := c.Get(fmt.Sprintf("once%d@elsewhere.test", i)); ok {
			scanKeys++
		}
	}
	if c.Len() != capacity || scanKeys != capacity-hot {
		t.Errorf("cache holds %d entries, %d of them scan keys; want %d and %d", c.Len(), scanKeys, capacity, capacity-hot)
	}
}

// TestScanWithTraffic interleaves the scan with lookups of the hot set, as a
// live server sees them: each hot key is read once per 1,000 scanned keys.
// Between two reads of one key come 1,099 other keys, more than the cache
// holds, so an LRU cache of the same size misses every time; S3-FIFO keeps
// the hot set once it has seen each key twice.
func TestScanWithTraffic(t *testing.T) {
	const capacity, hot = 1000, 100
	c := New[int, int](capacity)
	naive := newLRU[int](capacity)
	hits, naiveHits, reads := 0, 0, 0
	next := 0
	for i := range 60_000 {
		k := -1 - i // scan keys are negative, hot keys 0..hot-1
		c.Set(k, k)
		naive.Set(k)
		if i%10 == 0 {
			h := next % hot
			next++
			if i >= 20_000 { // after warm-up
				reads++
				if _, ok := c.Get(h); ok {
					hits++
				}
				if naive.Get(h) {
					naiveHits++
				}
			}
			if _, ok := c.Get(h); !ok {
				c.Set(h, h)
			}
			if !naive.Get(h) {
				naive.Set(h)
			}
		}
	}
	check(t, c)
	if hits != reads {
		t.Errorf("hot set hit ratio %d/%d, want every read a hit", hits, reads)
	}
	if naiveHits > reads/10 {
		t.Errorf("LRU hit ratio %d/%d: the workload does not stress eviction", naiveHits, reads)
	}
}

// TestGhostReadmission: a key dropped from the small queue unread and set
// again soon after is taken for useful and kept through a scan, while a key
// set once is not.
func TestGhostReadmission(t *testing.T) {
	const capacity = 100
	c := New[string, int](capacity)
	c.Set("again", 1)
	c.Set("once", 1)
	// Fill the cache and push both keys out of the small queue.
	for i := range capacity + 20 {
		c.Set(fmt.Sprint("fill", i), i)
	}
	if _, ok := c.Get("again"); ok {
		t.Fatal("unread key survived the small queue")
	}
	c.Set("again", 2) // a ghost: into the main queue
	for i := range 10 * capacity {
		c.Set(fmt.Sprint("scan", i), i)
	}
	if v, ok := c.Get("again"); !ok || v != 2 {
		t.Error("a key set again after eviction was not kept through a scan")
	}
	if _, ok := c.Get("once"); ok {
		t.Error("a key set once survived a scan")
	}
	check(t, c)
}

// TestReadInSmallQueueSurvives: one read while in the small queue is enough
// to stay, where unread neighbours go.
func TestReadInSmallQueueSurvives(t *testing.T) {
	const capacity = 50
	c := New[int, int](capacity)
	for i := range capacity {
		c.Set(i, i)
	}
	c.Get(7)
	for i := capacity; i < 3*capacity; i++ {
		c.Set(i, i)
	}
	if _, ok := c.Get(7); !ok {
		t.Error("key read once was evicted")
	}
	for _, k := range []int{0, 6, 8, capacity - 1} {
		if _, ok := c.Get(k); ok {
			t.Errorf("unread key %d survived", k)
		}
	}
	check(t, c)
}

// TestMainQueueEvictsUnreadFirst: once the hot set outgrows the main queue,
// keys read often outlive keys read once.
func TestMainQueueEvictsUnreadFirst(t *testing.T) {
	const capacity = 100
	c := New[int, int](capacity)
	// 150 keys each read once while in the small queue: all move to main,
	// which overflows.
	for i := range 150 {
		c.Set(i, i)
		c.Get(i)
		if i < 20 {
			c.Get(i)
			c.Get(i)
		}
	}
	for i := range 20 {
		c.Get(i)
		c.Get(i)
		c.Get(i)
	}
	for i := 1000; i < 1300; i++ {
		c.Set(i, i)
		c.Get(i)
		for j := range 20 {
			c.Get(j) // keep the favourites warm
		}
	}
	for i := range 20 {
		if _, ok := c.Get(i); !ok {
			t.Errorf("frequently read key %d evicted", i)
		}
	}
	check(t, c)
}

func TestConcurrent(t *testing.T) {
	c := New[int, int](256)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 20_000 {
				k := r.IntN(1000)
				switch r.IntN(10) {
				case 0:
					c.Delete(k)
				case 1, 2, 3:
					c.Set(k, k*2)
				default:
					if v, ok := c.Get(k); ok && v != k*2 {
						t.Errorf("Get(%d) = %d", k, v)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	check(t, c)
	if c.Len() > 256 {
		t.Errorf("Len() = %d", c.Len())
	}
}

func BenchmarkGet(b *testing.B) {
	c := New[int, int](10_000)
	for i := range 10_000 {
		c.Set(i, i)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c.Get(i % 10_000)
	}
}

func BenchmarkGetParallel(b *testing.B) {
	c := New[int, int](10_000)
	for i := range 10_000 {
		c.Set(i, i)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Get(i % 10_000)
			i++
		}
	})
}

// BenchmarkSet inserts new keys into a full cache: every Set evicts.
func BenchmarkSet(b *testing.B) {
	c := New[int, int](10_000)
	for i := 0; b.Loop(); i++ {
		c.Set(i, i)
	}
}

// BenchmarkMixed is a directory-like load: Zipf-distributed lookups, a miss
// filled by Set.
func BenchmarkMixed(b *testing.B) {
	c := New[uint64, uint64](1000)
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(r, 1.1, 1, 100_000)
	keys := make([]uint64, 1<<16)
	for i := range keys {
		keys[i] = z.Uint64()
	}
	hits, n := 0, 0
	b.ResetTimer()
	for ; b.Loop(); n++ {
		k := keys[n&(len(keys)-1)]
		if _, ok := c.Get(k); ok {
			hits++
		} else {
			c.Set(k, k)
		}
	}
	b.ReportMetric(float64(hits)/float64(n), "hit-ratio")
}
