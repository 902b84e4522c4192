package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"gannet/lib/queue"
	"gannet/lib/store"
)

// maxShowHeaders bounds the header section show prints.
const maxShowHeaders = 1 << 20

func checkShow(c *cli.Context) error {
	if c.NArg() != 1 {
		return usage(c, "show takes one queue ID")
	}
	if _, err := queue.ParseID(c.Args().First()); err != nil {
		return usage(c, "%v", err)
	}
	return nil
}

func show(s *session) error {
	c := s.c
	arg := c.Args().First()
	id, _ := queue.ParseID(arg)
	var e *store.QueueEntry
	err := s.call(func(ctx context.Context) error {
		var err error
		e, err = s.st.GetQueueEntry(ctx, id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return cli.Exit(notFound(arg), exitFailure)
	}
	if err != nil {
		return err
	}
	w := c.App.Writer
	ctx := c.Context
	if c.Bool("body") && !c.Bool("json") {
		// The message exactly as queued, e.g. to save it to a file.
		rc, err := s.st.OpenBlob(ctx, e.BlobID)
		if err != nil {
			return fmt.Errorf("queue entry %d: read message: %w", id, err)
		}
		defer rc.Close()
		_, err = io.Copy(w, rc)
		return err
	}
	now := time.Now()
	v := view(e, now)
	if c.Bool("json") {
		if c.Bool("body") {
			raw, err := s.st.ReadBlob(ctx, e.BlobID, 0, -1)
			if err != nil {
				return fmt.Errorf("queue entry %d: read message: %w", id, err)
			}
			msg := string(raw)
			v.Message = &msg
		} else {
			hdr, truncated, err := queue.ReadHeaders(ctx, s.st, e.BlobID, maxShowHeaders)
			if err != nil {
				return fmt.Errorf("queue entry %d: %w", id, err)
			}
			h := string(hdr)
			v.Headers, v.HeadersTruncated = &h, truncated
		}
		return newEncoder(w).Encode(v)
	}
	hdr, truncated, err := queue.ReadHeaders(ctx, s.st, e.BlobID, maxShowHeaders)
	if err != nil {
		return fmt.Errorf("queue entry %d: %w", id, err)
	}
	return writeShow(w, e, hdr, truncated, now)
}

// writeShow writes the envelope of e and its recipients, then, after a
// blank line, the message's header section hdr.
func writeShow(w io.Writer, e *store.QueueEntry, hdr []byte, truncated bool, now time.Time) error {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	field := func(name, value string) { fmt.Fprintf(tw, "%s:\t%s\n", name, value) }
	status := queue.State(e)
	if queue.Delivering(e, now) {
		status += ", being delivered"
	}
	field("id", strconv.FormatInt(e.ID, 10))
	field("status", status)
	field("sender", "<"+e.Sender+">")
	field("size", strconv.FormatInt(e.Size, 10)+" bytes")
	field("created", timeText(e.Created)+" ("+queue.FormatAge(now.Sub(e.Created))+" ago)")
	if e.Status == store.QueueHeld {
		field("next attempt", "- (held)")
	} else {
		field("next attempt", timeText(e.NextAttempt)+" ("+nextText(e, now)+")")
	}
	field("attempts", strconv.Itoa(e.Attempts))
	if e.LastError != "" {
		field("last error", oneLine(e.LastError))
	}
	dsn := []string{}
	if e.DSNRet != "" {
		dsn = append(dsn, "RET="+e.DSNRet)
	}
	if e.DSNEnvID != "" {
		dsn = append(dsn, "ENVID="+oneLine(e.DSNEnvID))
	}
	if len(dsn) == 0 {
		dsn = append(dsn, "-")
	}
	field("dsn", strings.Join(dsn, " "))
	field("requiretls", yesNo(e.RequireTLS))
	field("smtputf8", yesNo(e.SMTPUTF8))
	if e.AuthAccount != 0 {
		field("submitted by", "account "+strconv.FormatInt(e.AuthAccount, 10))
	}
	field("delay notice", map[bool]string{true: "sent", false: "not sent"}[e.DelayNotified])
	switch {
	case e.LeaseOwner == "":
		field("lease", "-")
	case e.LeaseUntil.After(now):
		field("lease", e.LeaseOwner+" until "+timeText(e.LeaseUntil))
	default:
		field("lease", e.LeaseOwner+" until "+timeText(e.LeaseUntil)+" (ran out)")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "recipients:\n")
	for _, r := range e.Recipients {
		fmt.Fprintf(&b, "  %s  %s  attempts=%d", r.Address, r.Status, r.Attempts)
		if len(r.Notify) > 0 {
			fmt.Fprintf(&b, "  NOTIFY=%s", strings.Join(r.Notify, ","))
		}
		if r.ORcpt != "" {
			fmt.Fprintf(&b, "  ORCPT=%s", oneLine(r.ORcpt))
		}
		b.WriteString("\n")
		if r.LastError != "" {
			fmt.Fprintf(&b, "    last error: %s\n", oneLine(r.LastError))
		}
	}
	b.WriteString("\n")
	b.Write(printable(hdr))
	if len(hdr) > 0 && hdr[len(hdr)-1] != '\n' {
		b.WriteString("\n")
	}
	if truncated {
		fmt.Fprintf(&b, "[header section longer than %d bytes: cut short; show --body prints it all]\n", maxShowHeaders)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// timeText formats a time for show, in local time.
func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05 -0700")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// printable readies a header section for the terminal: CRLF line ends
// become LF, and other control characters, which a sender may have put in
// to play tricks on a terminal, "?".
func printable(hdr []byte) []byte {
	out := bytes.ReplaceAll(hdr, []byte("\r\n"), []byte("\n"))
	for i, c := range out {
		if (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f {
			out[i] = '?'
		}
	}
	return out
}
