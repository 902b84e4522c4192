package imap

import (
	"fmt"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"gannet/lib/store"
)

// tmsg is a message for the threading tables: its Message-ID, References
// (space separated), In-Reply-To, Subject and sent date in hours.
type tmsg struct {
	id, refs, irt, subject string
	hour                   int
}

func threadInput(ms []tmsg) []*sortMsg {
	base := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	var out []*sortMsg
	for i, m := range ms {
		sm := &store.Message{UID: uint32(100 + i), InternalDate: base}
		sm.Meta.MessageID = m.id
		sm.Meta.References = strings.Fields(m.refs)
		sm.Meta.InReplyTo = strings.Fields(m.irt)
		sm.Meta.Subject = m.subject
		sm.Meta.Date = base.Add(time.Duration(m.hour) * time.Hour)
		out = append(out, &sortMsg{m: sm, seq: uint32(i + 1)})
	}
	return out
}

func TestThreadReferences(t *testing.T) {
	for _, tc := range []struct {
		name string
		msgs []tmsg
		want string
	}{
		{"chain", []tmsg{
			{"a", "", "", "x", 1},
			{"b", "a", "", "Re: x", 2},
			{"c", "a b", "", "Re: x", 3},
		}, "(1 2 3)"},
		{"branches", []tmsg{
			{"a", "", "", "x", 1},
			{"b", "a", "", "Re: x", 2},
			{"c", "a", "", "Re: x", 3},
			{"d", "a b", "", "Re: x", 4},
		}, "(1 (2 4)(3))"},
		// The missing parent m1 of 2 and 3 is pruned; the missing zz,
		// parent of 4 and 5 at the root, stays as an empty level.
		{"missing parents", []tmsg{
			{"a", "", "", "x", 1},
			{"c", "a m1", "", "Re: x", 3},
			{"d", "a m1", "", "Re: x", 4},
			{"e", "", "<zz>", "other", 2},
			{"f", "zz", "", "Re: other", 5},
		}, "(1 (2)(3))((4)(5))"},
		// In-Reply-To counts only without References.
		{"in-reply-to", []tmsg{
			{"a", "", "", "x", 1},
			{"b", "", "a", "y", 2},
			{"c", "b", "a", "z", 3},
		}, "(1 2 3)"},
		// a refers to b and b to a; c to itself: every message appears
		// once and the loop is broken.
		{"loop", []tmsg{
			{"a", "b", "", "loop", 1},
			{"b", "a", "", "loop", 2},
			{"c", "c", "", "self", 3},
			{"d", "a b a", "", "Re: loop", 4},
		}, "(2 1 4)(3)"},
		// A duplicate Message-ID gets a container of its own.
		{"duplicates", []tmsg{
			{"a", "", "", "dup", 1},
			{"a", "", "", "Re: dup", 2},
			{"b", "a", "", "Re: dup", 3},
		}, "(1 (2)(3))"},
		// Roots with the same base subject are gathered: a reply under
		// the original, two originals under a new dummy.
		{"subjects", []tmsg{
			{"a", "", "", "Hello", 1},
			{"b", "", "", "Re: Hello", 2},
			{"c", "", "", "Topic", 3},
			{"d", "", "", "topic", 4},
			{"e", "", "", "", 5},
			{"f", "", "", "", 6},
		}, "(1 2)((3)(4))(5)(6)"},
		{"empty", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := formatThreads(threadReferences(threadInput(tc.msgs)), false)
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestThreadOrderedSubject(t *testing.T) {
	msgs := threadInput([]tmsg{
		{"", "", "", "b", 2},
		{"", "", "", "Re: a", 3},
		{"", "", "", "a", 1},
		{"", "", "", "B", 4},
		{"", "", "", "[list] a", 5},
		{"", "", "", "c", 0},
	})
	if got, want := formatThreads(threadOrderedSubject(msgs), false), "(6)(3 (2)(5))(1 4)"; got != want {
		t.Errorf("ORDEREDSUBJECT: got %s, want %s", got, want)
	}
	if got, want := formatThreads(threadOrderedSubject(msgs), true), "(105)(102 (101)(104))(100 103)"; got != want {
		t.Errorf("ORDEREDSUBJECT by UID: got %s, want %s", got, want)
	}
}

// TestThread drives THREAD and UID THREAD over a real session.
func TestThread(t *testing.T) {
	h := newHarness(t)
	h.deliver("INBOX", "Subject: filler\r\n\r\nx\r\n") // UID 1, expunged below
	for _, m := range []tmsg{
		{"a@x", "", "", "Plans", 1},
		{"b@x", "<a@x>", "", "Re: Plans", 3},
		{"c@x", "<a@x> <gone@x>", "", "Re: Plans", 2},
		{"d@x", "", "", "Lunch", 4},
		{"e@x", "", "<d@x>", "Re: Lunch", 5},
	} {
		raw := fmt.Sprintf("Message-ID: <%s>\r\nSubject: %s\r\nDate: Sun, 1 Feb 2026 %02d:00:00 +0000\r\n", m.id, m.subject, m.hour)
		if m.refs != "" {
			raw += "References: " + m.refs + "\r\n"
		}
		if m.irt != "" {
			raw += "In-Reply-To: " + m.irt + "\r\n"
		}
		h.deliver("INBOX", raw+"\r\nbody\r\n")
	}
	r := h.login(t)
	r.cmd("s SELECT INBOX")
	r.cmd(`d STORE 1 +FLAGS (\Deleted)`)
	r.cmd("e EXPUNGE")
	for _, tc := range []struct{ cmd, want string }{
		{"a THREAD REFERENCES UTF-8 ALL", "* THREAD (1 (3)(2))(4 5)"},
		{"a UID THREAD REFERENCES UTF-8 ALL", "* THREAD (2 (4)(3))(5 6)"},
		{"a THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (1 (3)(2))(4 5)"},
		{"a THREAD REFERENCES US-ASCII SUBJECT lunch", "* THREAD (4 5)"},
		{"a THREAD REFERENCES UTF-8 NOT SUBJECT lunch NOT 1", "* THREAD ((3)(2))"},
		{"a THREAD ORDEREDSUBJECT UTF-8 SUBJECT nothing", "* THREAD"},
	} {
		got := r.cmd(tc.cmd)
		if got[0] != tc.want || !strings.HasPrefix(last(got), "a OK") {
			t.Errorf("%s: got %q, want %q", tc.cmd, got, tc.want)
		}
	}
	for _, cmd := range []string{"b THREAD REFERENCES ALL", "b THREAD JWZ UTF-8 ALL", "b THREAD", "b THREAD REFERENCES UTF-8"} {
		if got := last(r.cmd(cmd)); !strings.HasPrefix(got, "b BAD") && !strings.HasPrefix(got, "b NO [BADCHARSET") {
			t.Errorf("%s: %q", cmd, got)
		}
	}
}

// TestSortThreadClient checks that go-imap/v2's client reads SORT and
// THREAD answers. (Its THREAD reader wants a space between thread lists,
// which RFC 5256 section 4 does not put there, so only one thread is
// asked for.)
func TestSortThreadClient(t *testing.T) {
	h := newHarness(t)
	h.deliver("INBOX", "Message-ID: <a@x>\r\nSubject: b\r\nDate: Sun, 1 Feb 2026 02:00:00 +0000\r\n\r\nx\r\n")
	h.deliver("INBOX", "Message-ID: <b@x>\r\nReferences: <a@x>\r\nSubject: Re: b\r\nDate: Sun, 1 Feb 2026 03:00:00 +0000\r\n\r\nx\r\n")
	h.deliver("INBOX", "Message-ID: <c@x>\r\nReferences: <a@x>\r\nSubject: a\r\nDate: Sun, 1 Feb 2026 01:00:00 +0000\r\n\r\nx\r\n")
	h.deliver("INBOX", "Message-ID: <d@x>\r\nSubject: other\r\n\r\nx\r\n")
	c := h.dial(nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	nums, err := c.Sort(&imapclient.SortOptions{
		SearchCriteria: &goimap.SearchCriteria{},
		SortCriteria:   []imapclient.SortCriterion{{Key: imapclient.SortKeySubject}, {Key: imapclient.SortKeyDate, Reverse: true}},
	}).Wait()
	if err != nil || fmt.Sprint(nums) != "[3 2 1 4]" {
		t.Errorf("SORT: %v, %v", nums, err)
	}
	threads, err := c.UIDThread(&imapclient.ThreadOptions{
		Algorithm:      goimap.ThreadReferences,
		SearchCriteria: &goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: "@x"}}, NotFlag: []goimap.Flag{goimap.FlagDeleted}, Not: []goimap.SearchCriteria{{Header: []goimap.SearchCriteriaHeaderField{{Key: "Subject", Value: "other"}}}}},
	}).Wait()
	if err != nil || fmt.Sprintf("%+v", threads) != "[{Chain:[1] SubThreads:[{Chain:[3] SubThreads:[]} {Chain:[2] SubThreads:[]}]}]" {
		t.Errorf("UID THREAD: %+v, %v", threads, err)
	}
}
