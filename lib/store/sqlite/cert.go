package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"gannet/lib/store"
)

// Certificates, keyed by primary name (case-insensitive). The key PEM is
// stored as given; protecting it at rest is the caller's concern.

// Compile-time check that *Store is a store.Certificates.
var _ store.Certificates = (*Store)(nil)

// certColumns are the certificates columns in the order scanCert reads them.
const certColumns = `name, domains, cert_pem, key_pem, not_after, updated`

func scanCert(sc rowScanner) (store.Certificate, error) {
	var c store.Certificate
	var domains string
	var notAfter, updated int64
	if err := sc.Scan(&c.Name, &domains, &c.CertPEM, &c.KeyPEM, &notAfter, &updated); err != nil {
		return c, err
	}
	if domains != "" {
		c.Domains = strings.Split(domains, "\n")
	}
	c.NotAfter, c.Updated = goTime(notAfter), goTime(updated)
	return c, nil
}

// PutCertificate creates or replaces the certificate named c.Name and sets
// c.Updated to the time stored. Domain names may not contain newlines.
func (s *Store) PutCertificate(ctx context.Context, c *store.Certificate) error {
	if c.Name == "" {
		return errors.New("put certificate: empty name")
	}
	for _, d := range c.Domains {
		if d == "" || strings.ContainsAny(d, "\r\n") {
			return fmt.Errorf("put certificate %s: bad domain %q", c.Name, d)
		}
	}
	if len(c.CertPEM) == 0 || len(c.KeyPEM) == 0 {
		return fmt.Errorf("put certificate %s: empty certificate or key", c.Name)
	}
	now := dbTime(time.Now())
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO certificates (name, domains, cert_pem, key_pem, not_after, updated)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET name = excluded.name, domains = excluded.domains,
				cert_pem = excluded.cert_pem, key_pem = excluded.key_pem,
				not_after = excluded.not_after, updated = excluded.updated`,
			c.Name, strings.Join(c.Domains, "\n"), c.CertPEM, c.KeyPEM, dbTime(c.NotAfter), now)
		return err
	})
	if err != nil {
		return fmt.Errorf("put certificate %s: %w", c.Name, err)
	}
	c.Updated = goTime(now)
	return nil
}

// GetCertificate returns the certificate named name, or ErrNotFound.
func (s *Store) GetCertificate(ctx context.Context, name string) (*store.Certificate, error) {
	c, err := scanCert(s.rdb.QueryRowContext(ctx, `SELECT `+certColumns+` FROM certificates WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("certificate %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get certificate %s: %w", name, err)
	}
	return &c, nil
}

// ListCertificates lists every certificate by name.
func (s *Store) ListCertificates(ctx context.Context) ([]store.Certificate, error) {
	out, err := queryAll(ctx, s.rdb, scanCert, `SELECT `+certColumns+` FROM certificates ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list certificates: %w", err)
	}
	return out, nil
}

// DeleteCertificate deletes the certificate named name; ErrNotFound when
// there is none.
func (s *Store) DeleteCertificate(ctx context.Context, name string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM certificates WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete certificate %s: %w", name, err)
	}
	return nil
}
