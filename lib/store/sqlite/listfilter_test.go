package sqlite

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"gannet/lib/store"
)

// uidsOf lists the UIDs of msgs in order.
func uidsOf(msgs []store.Message) []uint32 {
	var out []uint32
	for _, m := range msgs {
		out = append(out, m.UID)
	}
	return out
}

// TestListMessagesUIDRange checks the MinUID/MaxUID filter: the UIDs of
// the range that exist, in order, of the mailbox and account asked for
// only, combined with the other filters.
func TestListMessagesUIDRange(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	f := newFixture(t, s, "u")
	other := newFixture(t, s, "o") // another account: never listed
	var inbox []store.Message
	for i := range 10 {
		inbox = append(inbox, f.add(t, newMsg(f.acct.ID, f.inbox.ID, fmt.Sprintf("m%d@x", i), "body")))
		other.add(t, newMsg(other.acct.ID, other.inbox.ID, fmt.Sprintf("o%d@x", i), "body"))
	}
	// UID 4 is expunged; UIDs 9 and 10 change after since.
	if err := s.ExpungeMessages(ctx, f.acct.ID, []int64{inbox[3].ID}); err != nil {
		t.Fatal(err)
	}
	since, err := s.AccountModSeq(ctx, f.acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateFlags(ctx, f.acct.ID, []int64{inbox[8].ID, inbox[9].ID}, store.FlagsAdd, []string{store.FlagSeen}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    store.MessageFilter
		want []uint32
	}{
		{"range", store.MessageFilter{MinUID: 3, MaxUID: 7}, []uint32{3, 5, 6, 7}},
		{"one UID", store.MessageFilter{MinUID: 5, MaxUID: 5}, []uint32{5}},
		{"the expunged UID alone", store.MessageFilter{MinUID: 4, MaxUID: 4}, nil},
		{"past the last UID", store.MessageFilter{MinUID: 8, MaxUID: 100}, []uint32{8, 9, 10}},
		{"beyond every UID", store.MessageFilter{MinUID: 11, MaxUID: 20}, nil},
		{"from zero", store.MessageFilter{MaxUID: 2}, []uint32{1, 2}},
		{"no MaxUID: no range", store.MessageFilter{MinUID: 5}, []uint32{1, 2, 3, 5, 6, 7, 8, 9, 10}},
		{"reversed", store.MessageFilter{MinUID: 7, MaxUID: 3}, nil},
		{"with UIDs", store.MessageFilter{MinUID: 3, MaxUID: 7, UIDs: []uint32{1, 2, 3, 7, 9}}, []uint32{3, 7}},
		{"with ChangedSince", store.MessageFilter{MinUID: 2, MaxUID: 9, ChangedSince: since}, []uint32{9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, lean := range []bool{false, true} {
				tc.f.MailboxID, tc.f.StructureOnly = f.inbox.ID, lean
				got, err := s.ListMessages(ctx, f.acct.ID, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(uidsOf(got), tc.want) {
					t.Errorf("StructureOnly %v: UIDs %v, want %v", lean, uidsOf(got), tc.want)
				}
				for _, m := range got {
					if m.AccountID != f.acct.ID || m.MailboxID != f.inbox.ID {
						t.Errorf("UID %d: account %d, mailbox %d; want %d, %d", m.UID, m.AccountID, m.MailboxID, f.acct.ID, f.inbox.ID)
					}
				}
			}
		})
	}
}

// TestListMessagesStructureOnly checks that a listing with StructureOnly
// gives the same messages as a full one, with Meta reduced to Structure.
func TestListMessagesStructureOnly(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	f := newFixture(t, s, "u")
	work := &store.Mailbox{AccountID: f.acct.ID, Name: "Work"}
	if err := s.CreateMailbox(ctx, work); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i := range 6 {
		mb := f.inbox.ID
		if i%3 == 2 {
			mb = work.ID
		}
		ids = append(ids, f.add(t, newMsg(f.acct.ID, mb, fmt.Sprintf("m%d@x", i), fmt.Sprintf("body %d", i), "parent@x")).ID)
	}
	if _, err := s.UpdateFlags(ctx, f.acct.ID, ids[:2], store.FlagsAdd, []string{store.FlagSeen, "$Label", store.FlagFlagged}); err != nil {
		t.Fatal(err)
	}
	for _, filter := range []store.MessageFilter{{}, {MailboxID: f.inbox.ID}, {MailboxID: work.ID, MaxUID: 10},
		{MailboxID: f.inbox.ID, UIDs: []uint32{1, 3}}} {
		full, err := s.ListMessages(ctx, f.acct.ID, filter)
		if err != nil {
			t.Fatal(err)
		}
		filter.StructureOnly = true
		lean, err := s.ListMessages(ctx, f.acct.ID, filter)
		if err != nil {
			t.Fatal(err)
		}
		if len(full) == 0 || len(lean) != len(full) {
			t.Fatalf("filter %+v: %d messages with StructureOnly, %d without", filter, len(lean), len(full))
		}
		for i := range full {
			want := full[i]
			if want.Meta.Subject == "" || len(want.Meta.Structure) == 0 {
				t.Fatalf("message %d: full listing without subject or structure: %+v", want.ID, want.Meta)
			}
			want.Meta = store.Meta{Structure: want.Meta.Structure}
			if !reflect.DeepEqual(lean[i], want) {
				t.Errorf("filter %+v: StructureOnly gives\n%+v\nwant\n%+v", filter, lean[i], want)
			}
		}
	}
}
