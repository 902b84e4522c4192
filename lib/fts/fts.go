// Package fts fills the store's full-text index in the background: it
// reads the messages not indexed yet, extracts their text the way IMAP
// SEARCH sees it (RFC 9051 section 6.4.4: BODY is the decoded text parts,
// TEXT adds the header) and hands it to the store in batches.
package fts

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"gannet/lib/message"
	"gannet/lib/store"
)

// MaxPartText bounds the text taken from one part, as SEARCH's scan does.
const MaxPartText = 8 << 20

// BlobReader reads a blob through the store as an io.ReaderAt.
type BlobReader struct {
	Ctx  context.Context
	St   store.Blobs
	ID   string
	Size int64
}

// ReadAt implements io.ReaderAt.
func (b BlobReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= b.Size {
		return 0, io.EOF
	}
	data, err := b.St.ReadBlob(b.Ctx, b.ID, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	n := copy(p, data)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Extract returns the text of m for the index: its header as written
// followed by the same with RFC 2047 words decoded, and its leaf text and
// message parts decoded to UTF-8, separated by newlines.
func Extract(ctx context.Context, blobs store.Blobs, m *store.Message) (store.IndexEntry, error) {
	e := store.IndexEntry{MessageID: m.ID}
	p, err := message.Decode(m.Meta.Structure)
	if err != nil {
		return e, fmt.Errorf("message %d structure: %w", m.ID, err)
	}
	r := BlobReader{Ctx: ctx, St: blobs, ID: m.BlobID, Size: m.Size}
	hdr, err := p.ReadSection(r, message.Section{Spec: message.SpecHeader})
	if err != nil {
		return e, fmt.Errorf("message %d header: %w", m.ID, err)
	}
	e.Header = string(hdr) + "\n" + message.DecodeText(string(hdr))
	var b strings.Builder
	var walk func(pt *message.Part) error
	walk = func(pt *message.Part) error {
		for _, c := range pt.Parts {
			if err := walk(c); err != nil {
				return err
			}
		}
		if pt.Embedded != nil {
			if err := walk(pt.Embedded); err != nil {
				return err
			}
		}
		if len(pt.Parts) == 0 && pt.Embedded == nil && (pt.Type == "text" || pt.Type == "message") {
			txt, _, err := pt.Text(r, MaxPartText)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return nil // an undecodable part: the scan skips it too
			}
			b.WriteString(txt)
			b.WriteByte('\n')
		}
		return nil
	}
	if err := walk(p.Root); err != nil {
		return e, err
	}
	e.Body = b.String()
	return e, nil
}

// Indexer indexes the messages the store lists as pending.
type Indexer struct {
	Store store.Store
	// Batch is how many messages go in one transaction (default 100).
	Batch int
	// Interval is how often to look for new messages (default 1s); Wake
	// makes it look at once.
	Interval time.Duration
	Wake     <-chan struct{}
	Log      *slog.Logger
}

// IndexOnce indexes pending messages until none are left or ctx ends, and
// returns how many it indexed.
func (ix *Indexer) IndexOnce(ctx context.Context) (int, error) {
	batch := ix.Batch
	if batch <= 0 {
		batch = 100
	}
	total := 0
	for {
		msgs, err := ix.Store.IndexPending(ctx, batch)
		if err != nil || len(msgs) == 0 {
			return total, err
		}
		entries := make([]store.IndexEntry, 0, len(msgs))
		for i := range msgs {
			e, err := Extract(ctx, ix.Store, &msgs[i])
			if err != nil {
				if ctx.Err() != nil {
					return total, ctx.Err()
				}
				// Index what could be read (nothing, at worst) so a broken
				// message is not retried for ever; SEARCH then finds nothing
				// in it, as the scan would.
				ix.logger().Warn("text index: cannot read message", "message", msgs[i].ID, "err", err)
			}
			entries = append(entries, e)
		}
		if err := ix.Store.IndexMessages(ctx, entries); err != nil {
			return total, err
		}
		total += len(entries)
		if len(msgs) < batch {
			return total, nil
		}
	}
}

func (ix *Indexer) logger() *slog.Logger {
	if ix.Log != nil {
		return ix.Log
	}
	return slog.Default()
}

// Run indexes pending messages until ctx ends, looking every Interval and
// whenever Wake fires.
func (ix *Indexer) Run(ctx context.Context) error {
	iv := ix.Interval
	if iv <= 0 {
		iv = time.Second
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		if n, err := ix.IndexOnce(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			ix.logger().Warn("text index", "err", err)
		} else if n > 0 {
			ix.logger().Debug("text index", "indexed", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-ix.Wake:
		}
	}
}
