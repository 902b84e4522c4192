package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"testing"

	"gannet/lib/store"
)

func TestBlobs(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	// Three and a half chunks, every byte position recognisable.
	big := make([]byte, 3*blobChunkSize+blobChunkSize/2)
	for i := range big {
		big[i] = byte(i * 7 / 3)
	}
	var id, id2, empty string
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if id, err = s.putBlob(tx, big); err != nil {
			return err
		}
		if id2, err = s.putBlob(tx, bytes.Clone(big)); err != nil {
			return err
		}
		empty, err = s.putBlob(tx, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if id != id2 || id != blobID(big) || len(id) != 64 {
		t.Fatalf("ids %s, %s: want one content address", id, id2)
	}
	if n := countRows(t, s, "blobs"); n != 2 {
		t.Errorf("%d blob rows, want 2 (same bytes stored once)", n)
	}

	cases := []struct{ off, n int64 }{
		{0, -1}, {0, 10}, {5, 0}, {blobChunkSize - 3, 6}, {blobChunkSize, blobChunkSize},
		{100, 2*blobChunkSize + 50}, {int64(len(big)) - 5, 100}, {int64(len(big)), 5}, {int64(len(big)) + 10, -1},
	}
	for _, c := range cases {
		got, err := s.ReadBlob(ctx, id, c.off, c.n)
		if err != nil {
			t.Errorf("ReadBlob(%d, %d): %v", c.off, c.n, err)
			continue
		}
		lo := min(c.off, int64(len(big)))
		hi := int64(len(big))
		if c.n >= 0 {
			hi = min(hi, c.off+c.n)
		}
		if !bytes.Equal(got, big[lo:max(lo, hi)]) {
			t.Errorf("ReadBlob(%d, %d): %d bytes, want %d, or wrong content", c.off, c.n, len(got), max(lo, hi)-lo)
		}
	}
	if _, err := s.ReadBlob(ctx, id, -1, 5); err == nil {
		t.Error("negative offset accepted")
	}
	if _, err := s.ReadBlob(ctx, "00", 0, 5); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown blob: err = %v", err)
	}
	if b, err := s.ReadBlob(ctx, empty, 0, -1); err != nil || len(b) != 0 {
		t.Errorf("empty blob: %q, %v", b, err)
	}

	r, err := s.OpenBlob(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, big) {
		t.Errorf("OpenBlob: %d bytes, %v", len(got), err)
	}
	r, _ = s.OpenBlob(ctx, empty)
	if got, err := io.ReadAll(r); err != nil || len(got) != 0 {
		t.Errorf("OpenBlob(empty): %q, %v", got, err)
	}
	if _, err := s.OpenBlob(ctx, "00"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("OpenBlob unknown: err = %v", err)
	}

	// Two references: the first release keeps it, the second deletes it.
	for i := range 2 {
		if err := s.write(ctx, func(tx *sql.Tx) error { return s.releaseBlob(tx, id) }); err != nil {
			t.Fatal(err)
		}
		_, err := s.ReadBlob(ctx, id, 0, 1)
		if i == 0 && err != nil {
			t.Errorf("after first release: %v", err)
		}
		if i == 1 && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("after last release: err = %v", err)
		}
	}
	if n := countRows(t, s, "blob_chunks"); n != 1 {
		t.Errorf("%d chunks left, want 1 (the empty blob's)", n)
	}
	if err := s.write(ctx, func(tx *sql.Tx) error { return s.releaseBlob(tx, id) }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("release of a gone blob: err = %v", err)
	}
}

// FuzzNames feeds mailbox names and flags, which come from IMAP and JMAP
// clients, through their checks: no panic, and what is accepted is stable.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"INBOX", "inbox/a", "a//b", "/", "a\x00", "Работа/Отчёты", `\Seen`, "$Junk", "a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := mailboxName(s); err == nil {
			if n2, err := mailboxName(n); err != nil || n2 != n {
				t.Errorf("mailboxName(%q) = %q, again %q %v", s, n, n2, err)
			}
		}
		sys, kw, err := parseFlags([]string{s, s})
		if err != nil {
			return
		}
		fl := flagList(sys, encodeKeywords(kw))
		sys2, kw2, err := parseFlags(fl)
		if err != nil || sys2 != sys || encodeKeywords(kw2) != encodeKeywords(kw) || len(fl) != 1 {
			t.Errorf("flag %q: round trip %v -> %d %v %v", s, fl, sys2, kw2, err)
		}
	})
}
