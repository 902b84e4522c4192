package sqlite

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"gannet/lib/store"
)

func TestDKIMKeys(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	for _, d := range []string{"example.org", "example.net"} {
		if err := s.CreateDomain(ctx, &store.Domain{Name: d}); err != nil {
			t.Fatal(err)
		}
	}
	created := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	keys := []store.DKIMKey{
		{Domain: "example.org", Selector: "r1", Algorithm: "rsa-sha256", PrivateKey: []byte{0x30, 1, 2}, Created: created, Active: true},
		{Domain: "example.org", Selector: "e1", Algorithm: "ed25519-sha256", PrivateKey: []byte{0x30, 3, 4}, Active: true},
		{Domain: "example.net", Selector: "old", Algorithm: "rsa-sha256", PrivateKey: []byte{0x30, 5}, Active: false},
	}
	for i := range keys {
		id, err := s.AddDKIMKey(ctx, &keys[i])
		if err != nil {
			t.Fatal(err)
		}
		if id == 0 || keys[i].ID != id || keys[i].Created.IsZero() {
			t.Errorf("AddDKIMKey: id %d, key %+v", id, keys[i])
		}
	}
	if !keys[0].Created.Equal(created) {
		t.Errorf("Created = %v, want the one given, %v", keys[0].Created, created)
	}

	// Round trip, ordered by domain and selector.
	all, err := s.ListDKIMKeys(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []store.DKIMKey{keys[2], keys[1], keys[0]}
	if len(all) != len(want) {
		t.Fatalf("ListDKIMKeys = %d keys, want %d", len(all), len(want))
	}
	for i, k := range all {
		w := want[i]
		if k.ID != w.ID || k.Domain != w.Domain || k.Selector != w.Selector || k.Algorithm != w.Algorithm ||
			!bytes.Equal(k.PrivateKey, w.PrivateKey) || !k.Created.Equal(w.Created) || k.Active != w.Active {
			t.Errorf("key %d = %+v, want %+v", i, k, w)
		}
	}
	org, err := s.ListDKIMKeys(ctx, "EXAMPLE.org")
	if err != nil {
		t.Fatal(err)
	}
	if len(org) != 2 || org[0].Selector != "e1" || org[1].Selector != "r1" {
		t.Errorf("ListDKIMKeys(example.org) = %+v", org)
	}
	if none, err := s.ListDKIMKeys(ctx, "unknown.example"); err != nil || len(none) != 0 {
		t.Errorf("ListDKIMKeys(unknown) = %v, %v; want nothing", none, err)
	}

	// Same domain and selector (in any case): ErrExists. Unknown domain:
	// ErrNotFound. Bad input: an error of its own.
	dup := store.DKIMKey{Domain: "example.org", Selector: "R1", Algorithm: "ed25519-sha256", PrivateKey: []byte{1}}
	if _, err := s.AddDKIMKey(ctx, &dup); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate selector: %v, want ErrExists", err)
	}
	other := store.DKIMKey{Domain: "example.net", Selector: "r1", Algorithm: "rsa-sha256", PrivateKey: []byte{1}}
	if _, err := s.AddDKIMKey(ctx, &other); err != nil {
		t.Errorf("the same selector in another domain: %v", err)
	}
	nodom := store.DKIMKey{Domain: "remote.example", Selector: "s", Algorithm: "rsa-sha256", PrivateKey: []byte{1}}
	if _, err := s.AddDKIMKey(ctx, &nodom); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown domain: %v, want ErrNotFound", err)
	}
	for _, bad := range []store.DKIMKey{
		{Domain: "example.org", Selector: "", Algorithm: "rsa-sha256", PrivateKey: []byte{1}},
		{Domain: "example.org", Selector: "a b", Algorithm: "rsa-sha256", PrivateKey: []byte{1}},
		{Domain: "example.org", Selector: "x", Algorithm: "rsa-sha1", PrivateKey: []byte{1}},
		{Domain: "example.org", Selector: "x", Algorithm: "rsa-sha256"},
	} {
		if _, err := s.AddDKIMKey(ctx, &bad); err == nil || errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrNotFound) {
			t.Errorf("AddDKIMKey(%+v) = %v, want an error of its own", bad, err)
		}
	}

	// Disable, enable.
	if err := s.SetDKIMKeyActive(ctx, "example.org", "R1", false); err != nil {
		t.Fatal(err)
	}
	org, _ = s.ListDKIMKeys(ctx, "example.org")
	if org[0].Active != true || org[1].Active != false {
		t.Errorf("after disabling r1: %+v", org)
	}
	if err := s.SetDKIMKeyActive(ctx, "example.org", "r1", true); err != nil {
		t.Fatal(err)
	}
	org, _ = s.ListDKIMKeys(ctx, "example.org")
	if !org[1].Active {
		t.Errorf("after enabling r1: %+v", org[1])
	}
	for _, c := range [][2]string{{"example.org", "nope"}, {"remote.example", "r1"}} {
		if err := s.SetDKIMKeyActive(ctx, c[0], c[1], true); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetDKIMKeyActive(%s, %s) = %v, want ErrNotFound", c[0], c[1], err)
		}
		if err := s.DeleteDKIMKey(ctx, c[0], c[1]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteDKIMKey(%s, %s) = %v, want ErrNotFound", c[0], c[1], err)
		}
	}

	// Delete one key; the other domain's key of the same selector stays.
	if err := s.DeleteDKIMKey(ctx, "example.org", "r1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDKIMKey(ctx, "example.org", "r1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if net, _ := s.ListDKIMKeys(ctx, "example.net"); len(net) != 2 {
		t.Errorf("example.net keys after deleting example.org's r1: %+v", net)
	}

	// Deleting a domain deletes its keys.
	if err := s.DeleteDomain(ctx, "example.net"); err != nil {
		t.Fatal(err)
	}
	all, err = s.ListDKIMKeys(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].Domain != "example.org" || all[0].Selector != "e1" {
		t.Errorf("after deleting example.net: %+v", all)
	}
}
