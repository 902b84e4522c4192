package sqlite

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"gannet/lib/store"
)

func TestCertificates(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	notAfter := time.Date(2030, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	c := store.Certificate{
		Name:     "mx.example.org",
		Domains:  []string{"mx.example.org", "mail.example.org", "*.example.net"},
		CertPEM:  []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
		KeyPEM:   []byte("-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----\n"),
		NotAfter: notAfter,
	}
	if err := s.PutCertificate(ctx, &c); err != nil {
		t.Fatal(err)
	}
	if c.Updated.IsZero() {
		t.Error("Updated not set")
	}
	got, err := s.GetCertificate(ctx, "MX.example.org")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != c.Name || !slices.Equal(got.Domains, c.Domains) || string(got.CertPEM) != string(c.CertPEM) ||
		string(got.KeyPEM) != string(c.KeyPEM) || !got.NotAfter.Equal(notAfter) || !got.Updated.Equal(c.Updated) {
		t.Errorf("GetCertificate = %+v, want %+v", got, c)
	}

	// Replace: new chain, one domain fewer.
	c2 := c
	c2.Domains = c.Domains[:2]
	c2.CertPEM = []byte("-----BEGIN CERTIFICATE-----\nCCCC\n-----END CERTIFICATE-----\n")
	c2.NotAfter = notAfter.AddDate(0, 3, 0)
	if err := s.PutCertificate(ctx, &c2); err != nil {
		t.Fatal(err)
	}
	other := store.Certificate{Name: "imap.example.org", CertPEM: []byte("c"), KeyPEM: []byte("k")}
	if err := s.PutCertificate(ctx, &other); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListCertificates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "imap.example.org" || list[1].Name != "mx.example.org" {
		t.Fatalf("ListCertificates = %+v", list)
	}
	if l := list[1]; !slices.Equal(l.Domains, c2.Domains) || string(l.CertPEM) != string(c2.CertPEM) || !l.NotAfter.Equal(c2.NotAfter) {
		t.Errorf("replaced certificate = %+v", l)
	}
	if list[0].Domains != nil || !list[0].NotAfter.IsZero() {
		t.Errorf("certificate without domains = %+v", list[0])
	}

	if err := s.DeleteCertificate(ctx, "mx.example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetCertificate(ctx, "mx.example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetCertificate after delete: %v", err)
	}
	if err := s.DeleteCertificate(ctx, "mx.example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteCertificate: %v", err)
	}
	for _, bad := range []store.Certificate{
		{CertPEM: []byte("c"), KeyPEM: []byte("k")},
		{Name: "a", CertPEM: []byte("c")},
		{Name: "a", CertPEM: []byte("c"), KeyPEM: []byte("k"), Domains: []string{"a\nb"}},
	} {
		if err := s.PutCertificate(ctx, &bad); err == nil {
			t.Errorf("PutCertificate(%+v) accepted", bad)
		}
	}
}
