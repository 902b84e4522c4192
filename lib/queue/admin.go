// Package queue works the mail queue: queued's delivery out of it and
// queuectl's administration of it, over the store's Queue interface.
package queue

// This file is the administrator's side (queuectl): listing with filters,
// the Postfix-style summary, reading queue IDs from arguments and standard
// input, and retry, hold, release and delete on one entry or on all.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"gannet/lib/store"
)

// ErrBadID is the error of text that is not a queue ID.
var ErrBadID = errors.New("not a queue ID")

// maxIDLine bounds one line of IDs read from standard input.
const maxIDLine = 4096

// ParseID reads a queue ID: a positive decimal number, as list prints it.
// One trailing status mark of list ("*" being delivered, "!" held) is
// allowed, so IDs cut from list's output work, as with Postfix's mailq.
func ParseID(s string) (int64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimRight(t, "*!")
	if t == "" || t[0] < '0' || t[0] > '9' {
		return 0, fmt.Errorf("%q: %w", s, ErrBadID)
	}
	id, err := strconv.ParseInt(t, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%q: %w", s, ErrBadID)
	}
	return id, nil
}

// EachID calls fn for every queue ID named by args, in order. An argument
// "-" stands for the IDs on stdin, one per line (blank lines skipped), as
// postsuper(1) reads them; stdin is read once, however many "-" there are,
// and line by line, so that a long list is worked as it arrives. Text that
// is not an ID reaches fn with id 0 and an error wrapping ErrBadID, so the
// caller can report it and go on. EachID stops at the first error fn
// returns, or when reading stdin fails (e.g. a line longer than 4096 bytes).
func EachID(args []string, stdin io.Reader, fn func(text string, id int64, err error) error) error {
	readStdin := false
	for _, a := range args {
		if a != "-" {
			id, err := ParseID(a)
			if err := fn(a, id, err); err != nil {
				return err
			}
			continue
		}
		if readStdin {
			continue
		}
		readStdin = true
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 0, 256), maxIDLine)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			id, err := ParseID(line)
			if err := fn(line, id, err); err != nil {
				return err
			}
		}
		if err := sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				return fmt.Errorf("queue IDs on standard input: a line longer than %d bytes", maxIDLine)
			}
			return fmt.Errorf("queue IDs on standard input: %w", err)
		}
	}
	return nil
}

// StatusDeferred selects, in a ListFilter, the active entries that were
// tried and are waiting for a retry (Postfix's deferred queue). It is not
// a status the store keeps.
const StatusDeferred store.QueueStatus = "deferred"

// ParseStatus reads a --status value: active (every entry not held,
// deferred ones included), deferred, or held ("hold" too, Postfix's name).
func ParseStatus(s string) (store.QueueStatus, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return "", nil
	case "active":
		return store.QueueActive, nil
	case "deferred":
		return StatusDeferred, nil
	case "held", "hold":
		return store.QueueHeld, nil
	case "done":
		return "", fmt.Errorf("status %q: settled entries leave the queue; want active, deferred or held", s)
	}
	return "", fmt.Errorf("status %q: want active, deferred or held", s)
}

// ListFilter narrows List; empty fields match everything.
type ListFilter struct {
	// Sender is an address, compared case-insensitively; "<>" stands for
	// the null sender. Angle brackets around an address are ignored.
	Sender string
	// Recipient matches entries with this recipient (case-insensitively).
	Recipient string
	// Domain matches entries with a recipient in this domain
	// ("example.org" or "@example.org").
	Domain string
	// Status is store.QueueActive, store.QueueHeld or StatusDeferred.
	Status store.QueueStatus
}

// unbracket removes one pair of angle brackets around an address.
func unbracket(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '<' && s[len(s)-1] == '>' {
		return s[1 : len(s)-1]
	}
	return s
}

// Admin carries out the administrator's commands on a queue.
type Admin struct {
	Queue store.Queue
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (a *Admin) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// List returns the entries f selects, oldest first, with their recipients.
func (a *Admin) List(ctx context.Context, f ListFilter) ([]store.QueueEntry, error) {
	sf := store.QueueFilter{
		Recipient: unbracket(f.Recipient),
		Domain:    strings.TrimSpace(f.Domain),
		Status:    f.Status,
	}
	// The store takes "" for "any sender", so the null sender is picked
	// out here.
	nullSender := f.Sender != "" && unbracket(f.Sender) == ""
	if !nullSender {
		sf.Sender = unbracket(f.Sender)
	}
	if f.Status == StatusDeferred {
		sf.Status = store.QueueActive
	}
	entries, err := a.Queue.ListQueue(ctx, sf)
	if err != nil {
		return nil, err
	}
	out := entries[:0]
	for _, e := range entries {
		if nullSender && e.Sender != "" {
			continue
		}
		if f.Status == StatusDeferred && !Deferred(&e) {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// Deferred reports whether e is active and was tried before: it waits for
// a retry.
func Deferred(e *store.QueueEntry) bool {
	return e.Status == store.QueueActive && e.Attempts > 0
}

// Delivering reports whether a worker holds e's lease at now: it is being
// delivered (Postfix's active queue, marked "*" by mailq).
func Delivering(e *store.QueueEntry, now time.Time) bool {
	return e.LeaseOwner != "" && e.LeaseUntil.After(now)
}

// State is the word list shows for e: held, deferred or active.
func State(e *store.QueueEntry) string {
	switch {
	case e.Status == store.QueueHeld:
		return "held"
	case Deferred(e):
		return "deferred"
	}
	return string(e.Status)
}

// Summary counts what a listing holds.
type Summary struct {
	Requests int
	Bytes    int64
}

// Summarize adds up entries.
func Summarize(entries []store.QueueEntry) Summary {
	var s Summary
	for _, e := range entries {
		s.Requests++
		s.Bytes += e.Size
	}
	return s
}

// String is the last line of list, as Postfix's mailq writes it: "Mail
// queue is empty", or "-- N Kbytes in M Requests." (N rounded down,
// "Request." for one).
func (s Summary) String() string {
	if s.Requests == 0 {
		return "Mail queue is empty"
	}
	plural := "s"
	if s.Requests == 1 {
		plural = ""
	}
	return fmt.Sprintf("-- %d Kbytes in %d Request%s.", s.Bytes/1024, s.Requests, plural)
}

// FormatAge writes a duration the way list shows ages and waits: at most
// two units, "45s", "12m5s", "3h12m", "2d4h". Negative durations count as
// zero.
func FormatAge(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return twoUnits(s/60, "m", s%60, "s")
	case s < 86400:
		return twoUnits(s/3600, "h", s%3600/60, "m")
	}
	return twoUnits(s/86400, "d", s%86400/3600, "h")
}

func twoUnits(a int64, ua string, b int64, ub string) string {
	if b == 0 {
		return fmt.Sprintf("%d%s", a, ua)
	}
	return fmt.Sprintf("%d%s%d%s", a, ua, b, ub)
}

// Action is what retry, hold, release and delete do.
type Action int

const (
	// Retry makes an entry due now. Named explicitly, a held entry is
	// released as well (as postsuper -r requeues from the hold queue); with
	// --all only active entries are retried (as postqueue -f flushes the
	// queue but leaves held mail alone).
	Retry Action = iota
	// Hold keeps an entry from delivery until it is released.
	Hold
	// Release makes a held entry active again, keeping its next attempt
	// (an entry held past it is due at once).
	Release
	// Delete takes an entry off the queue without telling its sender.
	Delete
)

// Done is how postsuper(1) reports n entries changed by the action, e.g.
// "Deleted: 2 messages".
func (act Action) Done(n int) string {
	verb := [...]string{Retry: "Requeued", Hold: "Placed on hold", Release: "Released from hold", Delete: "Deleted"}[act]
	plural := "s"
	if n == 1 {
		plural = ""
	}
	return fmt.Sprintf("%s: %d message%s", verb, n, plural)
}

// Apply does act to entry id. It reports whether the entry changed: holding
// a held entry, or releasing one that is not held, changes nothing. An
// entry that does not exist gives an error wrapping store.ErrNotFound.
func (a *Admin) Apply(ctx context.Context, act Action, id int64) (bool, error) {
	switch act {
	case Retry:
		err := a.Queue.SetQueueStatus(ctx, id, store.QueueActive, a.now())
		return err == nil, err
	case Delete:
		err := a.Queue.DeleteQueueEntry(ctx, id)
		return err == nil, err
	case Hold, Release:
		e, err := a.Queue.GetQueueEntry(ctx, id)
		if err != nil {
			return false, err
		}
		want := store.QueueHeld
		if act == Release {
			want = store.QueueActive
		}
		if e.Status == want {
			return false, nil
		}
		err = a.Queue.SetQueueStatus(ctx, id, want, time.Time{})
		return err == nil, err
	}
	return false, fmt.Errorf("unknown queue action %d", act)
}

// AllFilter selects the entries act --all works on: active entries for
// Retry and Hold, held ones for Release, every entry for Delete.
func (act Action) AllFilter() ListFilter {
	switch act {
	case Retry, Hold:
		return ListFilter{Status: store.QueueActive}
	case Release:
		return ListFilter{Status: store.QueueHeld}
	}
	return ListFilter{}
}

// ApplyAll does act to each of ids (from a listing with act.AllFilter) and
// counts the entries that changed. Entries that left the queue since the
// listing (delivered meanwhile) are skipped, and so, for Retry, are entries
// held since; any other error stops it.
func (a *Admin) ApplyAll(ctx context.Context, act Action, ids []int64) (int, error) {
	n := 0
	for _, id := range ids {
		if act == Retry {
			// Held since the listing: --all leaves held entries alone.
			e, err := a.Queue.GetQueueEntry(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return n, err
			}
			if e.Status == store.QueueHeld {
				continue
			}
		}
		changed, err := a.Apply(ctx, act, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		if changed {
			n++
		}
	}
	return n, nil
}

// IDs lists the IDs of entries.
func IDs(entries []store.QueueEntry) []int64 {
	ids := make([]int64, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	return ids
}

// ReadHeaders returns the header section of a queued message (up to and
// without the empty line that ends it) from the store's blob, reading at
// most max bytes; truncated reports a header section longer than that.
// A message without a body is all header.
func ReadHeaders(ctx context.Context, blobs store.Blobs, blobID string, max int) (hdr []byte, truncated bool, err error) {
	rc, err := blobs.OpenBlob(ctx, blobID)
	if err != nil {
		return nil, false, fmt.Errorf("read message %s: %w", blobID, err)
	}
	defer rc.Close()
	br := bufio.NewReader(rc)
	var out bytes.Buffer
	for {
		line, err := br.ReadSlice('\n')
		// The empty line that ends the header section (RFC 5322 section
		// 2.1) starts a line: it does not end a long line read in parts.
		atStart := out.Len() == 0 || out.Bytes()[out.Len()-1] == '\n'
		if atStart && (string(line) == "\n" || string(line) == "\r\n") {
			return out.Bytes(), false, nil
		}
		if out.Len()+len(line) > max {
			out.Write(line[:max-out.Len()])
			return out.Bytes(), true, nil
		}
		out.Write(line)
		switch {
		case err == io.EOF:
			return out.Bytes(), false, nil
		case err != nil && !errors.Is(err, bufio.ErrBufferFull):
			return nil, false, fmt.Errorf("read message %s: %w", blobID, err)
		}
	}
}
