package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"gannet/lib/store"
)

// blobChunkSize is the size of the pieces a blob is stored in. A partial
// read touches only the chunks it needs, and a stream holds one at a time.
const blobChunkSize = 128 << 10

// blobID is the content address of raw: its hex SHA-256.
func blobID(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

const (
	qBlobRef     = "UPDATE blobs SET refs = refs + 1 WHERE id = ?"
	qBlobInsert  = "INSERT INTO blobs (id, size, refs, created) VALUES (?, ?, 1, ?)"
	qChunkInsert = "INSERT INTO blob_chunks (blob_id, seq, data) VALUES (?, ?, ?)"
)

// putBlob stores raw, or takes one more reference to it when the same bytes
// are already stored, and returns its ID (hex SHA-256).
func (s *Store) putBlob(tx *sql.Tx, raw []byte) (string, error) {
	id := blobID(raw)
	if err := s.putBlobID(tx, id, raw); err != nil {
		return "", err
	}
	return id, nil
}

// putBlobID is putBlob with the ID already computed (hashing a large
// message is best done before taking the write lock).
func (s *Store) putBlobID(tx *sql.Tx, id string, raw []byte) error {
	ctx := context.Background()
	res, err := s.execP(ctx, tx, qBlobRef, id)
	if err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("put blob: %w", err)
	} else if n == 1 {
		return nil
	}
	if _, err := s.execP(ctx, tx, qBlobInsert, id, len(raw), dbTime(time.Now())); err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	for seq := 0; seq == 0 || seq*blobChunkSize < len(raw); seq++ {
		chunk := raw[seq*blobChunkSize : min(len(raw), (seq+1)*blobChunkSize)]
		if chunk == nil {
			chunk = []byte{} // NOT NULL: an empty blob is one empty chunk
		}
		if _, err := s.execP(ctx, tx, qChunkInsert, id, seq, chunk); err != nil {
			return fmt.Errorf("put blob: %w", err)
		}
	}
	return nil
}

// releaseBlob drops one reference to blob id, deleting it with the last.
func (s *Store) releaseBlob(tx *sql.Tx, id string) error {
	var refs int64
	err := tx.QueryRow("UPDATE blobs SET refs = refs - 1 WHERE id = ? RETURNING refs", id).Scan(&refs)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("release blob %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("release blob %s: %w", id, err)
	}
	if refs <= 0 {
		if _, err := tx.Exec("DELETE FROM blobs WHERE id = ?", id); err != nil {
			return fmt.Errorf("release blob %s: %w", id, err)
		}
	}
	return nil
}

// deleteMessages deletes the messages that where selects (a condition on
// the messages table aliased m, with args), dropping the blob references
// they hold and the blobs left without any.
func (s *Store) deleteMessages(ctx context.Context, tx *sql.Tx, where string, args ...any) error {
	q := `UPDATE blobs SET refs = refs - c.n
		FROM (SELECT m.blob_id AS id, count(*) AS n FROM messages m WHERE ` + where + ` GROUP BY m.blob_id) AS c
		WHERE blobs.id = c.id`
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("release blobs: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM messages AS m WHERE "+where, args...); err != nil {
		return fmt.Errorf("delete messages: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM blobs WHERE refs <= 0"); err != nil {
		return fmt.Errorf("release blobs: %w", err)
	}
	return nil
}

// blobSize returns the size of blob id, or ErrNotFound.
func (s *Store) blobSize(ctx context.Context, id string) (int64, error) {
	var size int64
	err := s.rdb.QueryRowContext(ctx, "SELECT size FROM blobs WHERE id = ?", id).Scan(&size)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("blob %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("blob %s: %w", id, err)
	}
	return size, nil
}

// ReadBlob returns length bytes of blob blobID from offset (length < 0: to
// the end). A range past the end is cut short at the end.
func (s *Store) ReadBlob(ctx context.Context, blobID string, offset, length int64) ([]byte, error) {
	if offset < 0 {
		return nil, fmt.Errorf("read blob %s: negative offset %d", blobID, offset)
	}
	size, err := s.blobSize(ctx, blobID)
	if err != nil {
		return nil, err
	}
	end := size
	if length >= 0 && length < size-offset {
		end = offset + length
	}
	if offset >= end {
		return []byte{}, nil
	}
	first, last := offset/blobChunkSize, (end-1)/blobChunkSize
	rows, err := s.rdb.QueryContext(ctx,
		"SELECT seq, data FROM blob_chunks WHERE blob_id = ? AND seq BETWEEN ? AND ? ORDER BY seq",
		blobID, first, last)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", blobID, err)
	}
	defer rows.Close()
	out := make([]byte, 0, end-offset)
	want := first
	for rows.Next() {
		var seq int64
		var data []byte
		if err := rows.Scan(&seq, &data); err != nil {
			return nil, fmt.Errorf("read blob %s: %w", blobID, err)
		}
		if seq != want {
			return nil, fmt.Errorf("read blob %s: chunk %d missing", blobID, want)
		}
		base := seq * blobChunkSize
		lo := max(offset-base, 0)
		hi := min(end-base, int64(len(data)))
		if lo < hi {
			out = append(out, data[lo:hi]...)
		}
		want++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read blob %s: %w", blobID, err)
	}
	if int64(len(out)) != end-offset {
		// Released while we read.
		return nil, fmt.Errorf("read blob %s: %w", blobID, store.ErrNotFound)
	}
	return out, nil
}

// OpenBlob streams blob blobID a chunk at a time.
func (s *Store) OpenBlob(ctx context.Context, blobID string) (io.ReadCloser, error) {
	size, err := s.blobSize(ctx, blobID)
	if err != nil {
		return nil, err
	}
	return &blobReader{s: s, ctx: ctx, id: blobID, size: size}, nil
}

// blobReader reads a blob chunk by chunk.
type blobReader struct {
	s    *Store
	ctx  context.Context
	id   string
	size int64
	seq  int64  // next chunk to load
	pos  int64  // bytes returned so far
	buf  []byte // rest of the current chunk
}

func (r *blobReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if r.pos >= r.size {
			return 0, io.EOF
		}
		var data []byte
		err := r.s.rdb.QueryRowContext(r.ctx,
			"SELECT data FROM blob_chunks WHERE blob_id = ? AND seq = ?", r.id, r.seq).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("read blob %s: %w", r.id, store.ErrNotFound)
		}
		if err != nil {
			return 0, fmt.Errorf("read blob %s: %w", r.id, err)
		}
		if len(data) == 0 {
			return 0, fmt.Errorf("read blob %s: empty chunk %d", r.id, r.seq)
		}
		r.seq++
		r.buf = data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	r.pos += int64(n)
	return n, nil
}

func (r *blobReader) Close() error {
	r.buf = nil
	r.pos = r.size
	return nil
}
