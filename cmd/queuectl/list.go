package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/urfave/cli/v2"

	"gannet/lib/queue"
	"gannet/lib/store"
)

// entryView is a queue entry as list --json and show --json print it. The
// field names are documented in queuectl(1) and stay as they are.
type entryView struct {
	ID            int64           `json:"id"`
	Status        string          `json:"status"`
	Delivering    bool            `json:"delivering"`
	Sender        string          `json:"sender"`
	Recipients    []recipientView `json:"recipients"`
	Size          int64           `json:"size"`
	Created       time.Time       `json:"created"`
	NextAttempt   time.Time       `json:"next_attempt"`
	Attempts      int             `json:"attempts"`
	LastError     string          `json:"last_error"`
	DSNRet        string          `json:"dsn_ret"`
	DSNEnvID      string          `json:"dsn_envid"`
	RequireTLS    bool            `json:"requiretls"`
	SMTPUTF8      bool            `json:"smtputf8"`
	AuthAccount   int64           `json:"auth_account"`
	DelayNotified bool            `json:"delay_notified"`
	LeaseOwner    string          `json:"lease_owner"`
	LeaseUntil    *time.Time      `json:"lease_until"`

	// Only show fills these in.
	Headers          *string `json:"headers,omitempty"`
	HeadersTruncated bool    `json:"headers_truncated,omitempty"`
	Message          *string `json:"message,omitempty"`
}

// recipientView is one envelope recipient in an entryView.
type recipientView struct {
	Address   string   `json:"address"`
	Status    string   `json:"status"`
	Attempts  int      `json:"attempts"`
	LastError string   `json:"last_error"`
	Notify    []string `json:"notify"`
	ORcpt     string   `json:"orcpt"`
}

// view makes the JSON view of e.
func view(e *store.QueueEntry, now time.Time) entryView {
	v := entryView{
		ID:            e.ID,
		Status:        queue.State(e),
		Delivering:    queue.Delivering(e, now),
		Sender:        e.Sender,
		Recipients:    make([]recipientView, 0, len(e.Recipients)),
		Size:          e.Size,
		Created:       e.Created.UTC(),
		NextAttempt:   e.NextAttempt.UTC(),
		Attempts:      e.Attempts,
		LastError:     e.LastError,
		DSNRet:        e.DSNRet,
		DSNEnvID:      e.DSNEnvID,
		RequireTLS:    e.RequireTLS,
		SMTPUTF8:      e.SMTPUTF8,
		AuthAccount:   e.AuthAccount,
		DelayNotified: e.DelayNotified,
		LeaseOwner:    e.LeaseOwner,
	}
	if !e.LeaseUntil.IsZero() {
		u := e.LeaseUntil.UTC()
		v.LeaseUntil = &u
	}
	for _, r := range e.Recipients {
		notify := r.Notify
		if notify == nil {
			notify = []string{}
		}
		v.Recipients = append(v.Recipients, recipientView{
			Address: r.Address, Status: string(r.Status), Attempts: r.Attempts,
			LastError: r.LastError, Notify: notify, ORcpt: r.ORcpt,
		})
	}
	return v
}

// newEncoder returns a JSON encoder for w that leaves <, > and & alone.
func newEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

func checkList(c *cli.Context) error {
	if c.NArg() > 0 {
		return usage(c, "list takes no arguments (filter with --sender, --recipient, --domain and --status)")
	}
	if _, err := queue.ParseStatus(c.String("status")); err != nil {
		return usage(c, "--status: %v", err)
	}
	return nil
}

func list(s *session) error {
	c := s.c
	status, _ := queue.ParseStatus(c.String("status"))
	f := queue.ListFilter{
		Sender:    c.String("sender"),
		Recipient: c.String("recipient"),
		Domain:    c.String("domain"),
		Status:    status,
	}
	var entries []store.QueueEntry
	err := s.call(func(ctx context.Context) error {
		var err error
		entries, err = s.admin.List(ctx, f)
		return err
	})
	if err != nil {
		return err
	}
	now := time.Now()
	w := c.App.Writer
	if c.Bool("json") {
		// One object per line, as postqueue -j prints them.
		enc := newEncoder(w)
		for i := range entries {
			if err := enc.Encode(view(&entries[i], now)); err != nil {
				return err
			}
		}
		return nil
	}
	return writeList(w, entries, now)
}

// Columns of list's text output, in the manner of Postfix's mailq.
const (
	listHeader = "-Queue ID-  --Size-- --Age-- -Status- ---Next-- -Sender/Recipient-------"
	// listIndent is where the sender column starts.
	listIndent = 11 + 1 + 8 + 1 + 7 + 1 + 8 + 1 + 9 + 1
)

// writeList writes entries as mailq does: a header, then each entry (its
// line, the reason it was deferred in parentheses, its recipients below
// the sender, each marked unless pending) and a blank line, and at the
// end the summary line, or "Mail queue is empty".
func writeList(w io.Writer, entries []store.QueueEntry, now time.Time) error {
	sum := queue.Summarize(entries)
	if sum.Requests == 0 {
		_, err := fmt.Fprintln(w, sum)
		return err
	}
	var b strings.Builder
	pad := strings.Repeat(" ", listIndent)
	b.WriteString(listHeader + "\n")
	for i := range entries {
		e := &entries[i]
		id := strconv.FormatInt(e.ID, 10)
		switch {
		case e.Status == store.QueueHeld:
			id += "!"
		case queue.Delivering(e, now):
			id += "*"
		}
		fmt.Fprintf(&b, "%-11s %8d %7s %-8s %9s %s\n", id, e.Size, queue.FormatAge(now.Sub(e.Created)),
			queue.State(e), nextText(e, now), senderText(e.Sender))
		if e.LastError != "" {
			fmt.Fprintf(&b, "%s(%s)\n", pad, oneLine(e.LastError))
		}
		for _, r := range e.Recipients {
			switch r.Status {
			case store.RcptPending:
				if r.LastError != "" && r.LastError != e.LastError {
					fmt.Fprintf(&b, "%s(%s)\n", pad, oneLine(r.LastError))
				}
				fmt.Fprintf(&b, "%s%s\n", pad, r.Address)
			case store.RcptFailed:
				fmt.Fprintf(&b, "%s%s (failed: %s)\n", pad, r.Address, oneLine(r.LastError))
			default:
				fmt.Fprintf(&b, "%s%s (%s)\n", pad, r.Address, r.Status)
			}
		}
		b.WriteString("\n")
	}
	b.WriteString(sum.String() + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// nextText says when an entry is tried next: "now" when due or being
// delivered, "in 4m", or "-" when held.
func nextText(e *store.QueueEntry, now time.Time) string {
	switch {
	case e.Status == store.QueueHeld:
		return "-"
	case !e.NextAttempt.After(now) || queue.Delivering(e, now):
		return "now"
	}
	return "in " + queue.FormatAge(e.NextAttempt.Sub(now))
}

// senderText shows the null sender as "<>".
func senderText(s string) string {
	if s == "" {
		return "<>"
	}
	return s
}

// oneLine keeps a multi-line error (a multi-line SMTP reply) on one line
// and shows control characters, which a remote server may have put in its
// reply, as "?" rather than send them to the terminal.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}
