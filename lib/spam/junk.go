package spam

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"

	"gannet/lib/deliver"
	"gannet/lib/store"
)

// JunkFilter is the delivery filter that files spam into the account's
// Junk mailbox (special use \Junk). It reads the verdict the filter wrote
// (X-Spam-Score, X-Spam-Flag) in the message's header: smtpd and deliver
// remove any such fields a message arrives with before writing their own,
// so they can be trusted here. An account's own threshold (userctl user
// spam) is compared with the score; otherwise X-Spam-Flag decides.
func JunkFilter(st store.Store) deliver.Filter {
	return func(ctx context.Context, d *deliver.Delivery) error {
		score, flagged, ok := verdictOf(d.Raw)
		if !ok {
			return nil
		}
		spam := flagged
		if th, err := st.SpamThresholds(ctx, d.Account.ID); err == nil {
			spam = score >= th.Spam
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if !spam {
			return nil
		}
		mb, err := st.GetMailboxBySpecialUse(ctx, d.Account.ID, `\Junk`)
		switch {
		case errors.Is(err, store.ErrNotFound):
			d.Mailbox = "Junk" // deliver falls back to INBOX when missing
		case err != nil:
			return err
		default:
			d.Mailbox = mb.Name
		}
		return nil
	}
}

// verdictOf reads X-Spam-Score and X-Spam-Flag from the top-level header
// of raw (after a Return-Path the delivery adds).
func verdictOf(raw []byte) (score float64, flagged, ok bool) {
	hdr := raw
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		hdr = raw[:i+2]
	}
	for len(hdr) > 0 {
		line := hdr
		if i := bytes.Index(hdr, []byte("\r\n")); i >= 0 {
			line, hdr = hdr[:i], hdr[i+2:]
		} else {
			hdr = nil
		}
		name, value, found := strings.Cut(string(line), ":")
		if !found {
			continue
		}
		switch {
		case strings.EqualFold(name, HeaderScore):
			if f, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
				score, ok = f, true
			}
		case strings.EqualFold(name, HeaderFlag):
			flagged = strings.EqualFold(strings.TrimSpace(value), "YES")
		}
	}
	return score, flagged, ok
}

// StripFields removes the header fields the filter writes (X-Spam-Status,
// X-Spam-Score, X-Spam-Result, X-Spam-Flag) from the top-level header of
// msg, so that a sender cannot forge a verdict. It returns msg itself when
// there are none.
func StripFields(msg []byte) []byte {
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(msg)
	} else {
		end += 2
	}
	var out []byte
	i := 0
	for i < end {
		j := bytes.Index(msg[i:end], []byte("\r\n"))
		next := end
		if j >= 0 {
			next = i + j + 2
		}
		// A field runs on over continuation lines (starting with WSP).
		for next < end && (msg[next] == ' ' || msg[next] == '\t') {
			k := bytes.Index(msg[next:end], []byte("\r\n"))
			if k < 0 {
				next = end
				break
			}
			next += k + 2
		}
		if isVerdictField(msg[i:next]) {
			if out == nil {
				out = append(make([]byte, 0, len(msg)), msg[:i]...)
			}
		} else if out != nil {
			out = append(out, msg[i:next]...)
		}
		i = next
	}
	if out == nil {
		return msg
	}
	return append(out, msg[end:]...)
}

func isVerdictField(field []byte) bool {
	name, _, ok := bytes.Cut(field, []byte(":"))
	if !ok {
		return false
	}
	name = bytes.TrimRight(name, " \t")
	for _, h := range []string{HeaderStatus, HeaderScore, HeaderResult, HeaderFlag} {
		if strings.EqualFold(string(name), h) {
			return true
		}
	}
	return false
}
