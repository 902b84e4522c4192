package mta

import (
	"context"
	"strings"
	"time"
)

// maxIdleTotal bounds the idle connections kept across all destinations.
const maxIdleTotal = 256

// keyFor returns the pool key of connections to h on rt.
func keyFor(rt *route, h *host) poolKey {
	k := poolKey{host: strings.ToLower(h.name), port: h.port, sec: rt.sec}
	if h.name == "" && len(h.addrs) > 0 {
		k.host = h.addrs[0].String()
	}
	if rt.relay != nil {
		k.user = rt.relay.Username
	}
	return k
}

func (c *Client) idleTimeout() time.Duration {
	if c.IdleTimeout != 0 {
		return c.IdleTimeout
	}
	return DefaultIdleTimeout
}

// reusable reports whether cn may carry another transaction.
func (c *Client) reusable(cn *conn) bool {
	maxMsgs, maxAge := c.MaxMessagesPerConn, c.MaxConnAge
	if maxMsgs <= 0 {
		maxMsgs = DefaultMaxMessagesPerConn
	}
	if maxAge <= 0 {
		maxAge = DefaultMaxConnAge
	}
	return c.idleTimeout() > 0 && cn.msgs < maxMsgs && time.Since(cn.opened) < maxAge
}

// putIdle keeps cn for reuse, or closes it with QUIT when it has served
// enough or the pool is full.
func (c *Client) putIdle(cn *conn) {
	c.mu.Lock()
	n := 0
	for _, l := range c.idle {
		n += len(l)
	}
	perDest := max(c.DestinationConcurrency, 1)
	if c.closed || !c.reusable(cn) || n >= maxIdleTotal || len(c.idle[cn.key]) >= perDest {
		c.mu.Unlock()
		cn.quit()
		return
	}
	if c.idle == nil {
		c.idle = map[poolKey][]*conn{}
	}
	c.idle[cn.key] = append(c.idle[cn.key], cn)
	cn.timer = time.AfterFunc(c.idleTimeout(), func() {
		if c.removeIdle(cn) {
			cn.quit()
		}
	})
	c.mu.Unlock()
}

// removeIdle takes cn out of the pool; false when it was not there.
func (c *Client) removeIdle(cn *conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.idle[cn.key]
	for i, x := range list {
		if x == cn {
			list = append(list[:i], list[i+1:]...)
			if len(list) == 0 {
				delete(c.idle, cn.key)
			} else {
				c.idle[cn.key] = list
			}
			return true
		}
	}
	return false
}

// takeIdle returns a pooled connection for key that answered RSET (RFC
// 5321 section 4.1.1.5) and watches ctx, or nil.
func (c *Client) takeIdle(ctx context.Context, key poolKey) *conn {
	for {
		c.mu.Lock()
		list := c.idle[key]
		if len(list) == 0 {
			c.mu.Unlock()
			return nil
		}
		cn := list[len(list)-1] // the most recently used is the likeliest alive
		if len(list) == 1 {
			delete(c.idle, key)
		} else {
			c.idle[key] = list[:len(list)-1]
		}
		cn.stopIdle()
		c.mu.Unlock()

		if !c.reusable(cn) {
			cn.quit()
			continue
		}
		cn.watch(ctx)
		r, err := cn.cmd(ctx, "RSET")
		if err == nil && r.Code == 250 {
			return cn
		}
		cn.release()
		cn.close()
		if ctx.Err() != nil {
			return nil
		}
	}
}

// destSem limits the deliveries in progress to one destination.
type destSem struct {
	ch   chan struct{}
	refs int
}

// acquire waits for a slot for dest; release gives it back.
func (c *Client) acquire(ctx context.Context, dest string) (release func(), err error) {
	c.mu.Lock()
	if c.sems == nil {
		c.sems = map[string]*destSem{}
	}
	s := c.sems[dest]
	if s == nil {
		n := c.DestinationConcurrency
		if n <= 0 {
			n = 10
		}
		s = &destSem{ch: make(chan struct{}, n)}
		c.sems[dest] = s
	}
	s.refs++
	c.mu.Unlock()
	unref := func() {
		c.mu.Lock()
		if s.refs--; s.refs == 0 {
			delete(c.sems, dest)
		}
		c.mu.Unlock()
	}
	select {
	case s.ch <- struct{}{}:
		return func() { <-s.ch; unref() }, nil
	case <-ctx.Done():
		unref()
		return nil, context.Cause(ctx)
	}
}
