package imap

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"gannet/lib/message"
	"gannet/lib/store"
)

// BenchmarkSelect50k times SELECT of a mailbox of 50,000 messages (the
// view SELECT builds: IDs, UIDs and flags; no FETCH).
func BenchmarkSelect50k(b *testing.B) {
	const total = 50000
	h := fill50k(b, total)
	c := h.dial(nil)
	b.ResetTimer()
	for b.Loop() {
		d, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			b.Fatal(err)
		}
		if d.NumMessages != total {
			b.Fatalf("SELECT: %d messages, want %d", d.NumMessages, total)
		}
	}
}

// BenchmarkFetchAll50k times UID FETCH 1:* (FLAGS INTERNALDATE
// RFC822.SIZE ENVELOPE) of a selected mailbox of 50,000 messages, the
// client reading each response as it comes.
func BenchmarkFetchAll50k(b *testing.B) {
	const total = 50000
	h := fill50k(b, total)
	c := h.dial(nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	all := goimap.UIDSet{goimap.UIDRange{Start: 1, Stop: 0}}
	opts := &goimap.FetchOptions{Flags: true, InternalDate: true, RFC822Size: true, Envelope: true}
	peak := watchHeap(b)
	b.ResetTimer()
	for b.Loop() {
		cmd := c.Fetch(all, opts)
		n := 0
		for m := cmd.Next(); m != nil; m = cmd.Next() {
			for m.Next() != nil {
			}
			n++
		}
		if err := cmd.Close(); err != nil {
			b.Fatal(err)
		}
		if n != total {
			b.Fatalf("FETCH: %d messages, want %d", n, total)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MB")
}

// watchHeap samples the live heap every 5 ms until the benchmark
// ends; the function it returns gives the largest sample.
func watchHeap(b *testing.B) func() uint64 {
	runtime.GC()
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-stopped
		return peak.Load()
	}
}

// fill50k returns a harness whose INBOX holds total multipart messages,
// every other one \Seen.
func fill50k(b *testing.B, total int) *harness {
	h := newHarness(b)
	ctx := context.Background()
	mb, err := h.st.GetMailbox(ctx, h.acct.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	body := strings.Repeat("Some text of a message, long enough to matter.\r\n", 20)
	var batch []store.NewMessage
	for i := range total {
		raw := "From: Carol <carol@example.org>\r\nTo: demo@example.test\r\nSubject: message " + fmt.Sprint(i) +
			"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
			"Content-Type: text/plain\r\n\r\n" + body + "--b\r\nContent-Type: text/html\r\n\r\n<p>" + body + "--b--\r\n"
		var flags []string
		if i%2 == 0 {
			flags = []string{store.FlagSeen}
		}
		batch = append(batch, store.NewMessage{AccountID: h.acct.ID, MailboxID: mb.ID,
			Raw: []byte(raw), Meta: message.Parse([]byte(raw)).Meta(), Flags: flags})
		if len(batch) == 1000 || i == total-1 {
			if _, err := h.st.AddMessages(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return h
}
