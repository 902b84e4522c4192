// Package cache is an in-memory cache with S3-FIFO eviction, for hot
// lookups such as the directory's addresses and domains.
//
// S3-FIFO (Yang et al., "FIFO queues are all you need for cache eviction",
// SOSP 2023) keeps three FIFO queues: a small one (10% of the capacity) that
// new keys enter, a main one (90%) for keys that proved useful, and a ghost
// queue remembering the keys recently dropped from the small one. A key read
// again while in the small queue moves to the main queue when it reaches the
// small queue's end; a key dropped from the small queue and then set again
// goes straight to the main queue. The main queue gives a key read since its
// last pass another round instead of evicting it. Each entry counts its reads
// up to 3. So keys seen once, as in a scan, pass through the small queue
// quickly and do not push the hot set out, as they would from an LRU cache.
package cache

import (
	"sync"
	"sync/atomic"
)

// maxFreq caps the read counter of an entry (two bits in the paper).
const maxFreq = 3

// Cache maps keys to values, holding at most a fixed number of entries. It
// is safe for concurrent use; reads share a lock.
type Cache[K comparable, V any] struct {
	mu       sync.RWMutex
	capacity int
	smallCap int
	mainCap  int
	entries  map[K]*entry[K, V]
	small    queue[K, V]
	main     queue[K, V]
	ghost    ghost[K]
}

type entry[K comparable, V any] struct {
	key        K
	value      V
	freq       atomic.Int32
	inMain     bool
	prev, next *entry[K, V]
}

// New returns a cache holding at most capacity entries. A capacity of 0 or
// less gives a cache that holds nothing (every Get misses), so a configured
// size of 0 turns caching off.
func New[K comparable, V any](capacity int) *Cache[K, V] {
	c := &Cache[K, V]{capacity: max(capacity, 0)}
	if c.capacity > 0 {
		c.smallCap = max(c.capacity/10, 1)
		c.mainCap = c.capacity - c.smallCap
		c.entries = make(map[K]*entry[K, V], c.capacity)
		c.ghost = newGhost[K](max(c.mainCap, 1))
	}
	return c
}

// Get returns the value cached for key, and whether there was one.
func (c *Cache[K, V]) Get(key K) (V, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.entries[key]
	if !ok {
		var zero V
		return zero, false
	}
	e.touch()
	return e.value, true
}

// touch counts a read, up to maxFreq.
func (e *entry[K, V]) touch() {
	for {
		f := e.freq.Load()
		if f >= maxFreq || e.freq.CompareAndSwap(f, f+1) {
			return
		}
	}
}

// Set caches value for key, replacing any value it had (which counts as a
// read of the key), and evicts an entry if the cache is full.
func (c *Cache[K, V]) Set(key K, value V) {
	if c.capacity == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		e.value = value
		e.touch()
		return
	}
	for len(c.entries) >= c.capacity {
		c.evict()
	}
	e := &entry[K, V]{key: key, value: value}
	c.entries[key] = e
	if c.ghost.remove(key) {
		e.inMain = true
		c.main.pushFront(e)
	} else {
		c.small.pushFront(e)
	}
}

// Delete removes key from the cache.
func (c *Cache[K, V]) Delete(key K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return
	}
	delete(c.entries, key)
	if e.inMain {
		c.main.remove(e)
	} else {
		c.small.remove(e)
	}
}

// Clear removes every entry, and forgets the ghosts.
func (c *Cache[K, V]) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.capacity == 0 {
		return
	}
	c.entries = make(map[K]*entry[K, V], c.capacity)
	c.small = queue[K, V]{}
	c.main = queue[K, V]{}
	c.ghost = newGhost[K](max(c.mainCap, 1))
}

// Len returns the number of entries cached.
func (c *Cache[K, V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// evict removes at least one entry. The caller holds c.mu and the cache is
// not empty.
func (c *Cache[K, V]) evict() {
	if c.small.len >= c.smallCap || c.main.len == 0 {
		c.evictSmall()
	} else {
		c.evictMain()
	}
}

// evictSmall takes entries from the end of the small queue: one read while
// there moves to the main queue, one never read is dropped and remembered
// as a ghost. It stops once an entry has left the cache.
func (c *Cache[K, V]) evictSmall() {
	for c.small.len > 0 {
		e := c.small.back()
		c.small.remove(e)
		if e.freq.Load() > 0 {
			e.inMain = true
			c.main.pushFront(e)
			if c.main.len > c.mainCap {
				c.evictMain()
				return
			}
			continue
		}
		delete(c.entries, e.key)
		c.ghost.add(e.key)
		return
	}
	// Everything in the small queue moved to the main queue.
	c.evictMain()
}

// evictMain takes entries from the end of the main queue: one read since
// its last pass goes round again with its count lowered, one not read is
// dropped. Counts only fall, so this ends.
func (c *Cache[K, V]) evictMain() {
	for c.main.len > 0 {
		e := c.main.back()
		if f := e.freq.Load(); f > 0 {
			e.freq.Store(f - 1)
			c.main.remove(e)
			c.main.pushFront(e)
			continue
		}
		c.main.remove(e)
		delete(c.entries, e.key)
		return
	}
}

// queue is a doubly linked FIFO of entries: new ones in front, the oldest at
// the back.
type queue[K comparable, V any] struct {
	head, tail *entry[K, V]
	len        int
}

func (q *queue[K, V]) pushFront(e *entry[K, V]) {
	e.prev, e.next = nil, q.head
	if q.head != nil {
		q.head.prev = e
	} else {
		q.tail = e
	}
	q.head = e
	q.len++
}

func (q *queue[K, V]) back() *entry[K, V] { return q.tail }

func (q *queue[K, V]) remove(e *entry[K, V]) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		q.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		q.tail = e.prev
	}
	e.prev, e.next = nil, nil
	q.len--
}

// ghost is a bounded FIFO of keys: a ring of the latest keys added, and a
// map from each key to the sequence number of its newest slot.
type ghost[K comparable] struct {
	ring []ghostSlot[K]
	seq  uint64
	keys map[K]uint64
}

type ghostSlot[K comparable] struct {
	key K
	seq uint64
}

func newGhost[K comparable](size int) ghost[K] {
	return ghost[K]{ring: make([]ghostSlot[K], size), keys: make(map[K]uint64, size)}
}

func (g *ghost[K]) add(key K) {
	g.seq++
	slot := &g.ring[g.seq%uint64(len(g.ring))]
	if slot.seq != 0 && g.keys[slot.key] == slot.seq {
		delete(g.keys, slot.key) // the oldest ghost fades
	}
	*slot = ghostSlot[K]{key: key, seq: g.seq}
	g.keys[key] = g.seq
}

// remove reports whether key was a ghost, and forgets it.
func (g *ghost[K]) remove(key K) bool {
	if _, ok := g.keys[key]; !ok {
		return false
	}
	delete(g.keys, key)
	return true
}
