package listen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"gannet/lib/store"
)

// ACMETLS1Protocol is the ALPN protocol of a TLS-ALPN-01 validation (RFC
// 8737 section 6.2).
const ACMETLS1Protocol = "acme-tls/1"

// ALPNChallengePrefix starts the store name of a TLS-ALPN-01 challenge
// certificate: ALPNChallengePrefix + the domain, lower-case. No certificate
// of a domain can take such a name (a colon is not allowed in one).
const ALPNChallengePrefix = "acme-tls-alpn-01:"

// ALPNChallengeName is the store name of the TLS-ALPN-01 challenge
// certificate of domain, which acmectl puts there while a validation runs.
func ALPNChallengeName(domain string) string {
	return ALPNChallengePrefix + strings.ToLower(strings.TrimSuffix(domain, "."))
}

// storeReadTimeout bounds one read of the certificates in the store.
const storeReadTimeout = 10 * time.Second

// storeCerts serves the certificates in the store by server name.
type storeCerts struct {
	certs    store.Certificates
	log      *slog.Logger
	interval time.Duration
	// fallback serves names no certificate in the store covers.
	fallback func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// hostname, when set, is the name whose store certificate serves in
	// place of fallback for clients without a matching name (no files
	// configured, so fallback is the self-signed certificate).
	hostname string
	minVer   uint16

	mu         sync.Mutex
	byName     map[string]*tls.Certificate // lower-case DNS name (or *.parent) to certificate
	loaded     map[string]storeStamp       // store name to the version loaded
	parsed     map[string]*tls.Certificate // store name to its certificate
	checked    time.Time
	refreshing bool
}

// storeStamp identifies one version of a stored certificate.
type storeStamp struct {
	updated, notAfter time.Time
	size              int
}

// refresh reads the certificates in the store and rebuilds the name index.
// Certificates that did not change are not parsed again.
func (s *storeCerts) refresh(ctx context.Context) error {
	list, err := s.certs.ListCertificates(ctx)
	if err != nil {
		return fmt.Errorf("listen: tls: certificates in the store: %w", err)
	}
	s.mu.Lock()
	old, oldParsed := s.loaded, s.parsed
	s.mu.Unlock()

	loaded := make(map[string]storeStamp, len(list))
	parsed := make(map[string]*tls.Certificate, len(list))
	byName := make(map[string]*tls.Certificate)
	var changed []string
	now := time.Now()
	for _, c := range list {
		if strings.HasPrefix(c.Name, ALPNChallengePrefix) {
			continue
		}
		st := storeStamp{updated: c.Updated, notAfter: c.NotAfter, size: len(c.CertPEM) + len(c.KeyPEM)}
		cert := oldParsed[c.Name]
		if cert == nil || old[c.Name] != st {
			kp, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
			if err != nil {
				s.log.Error("certificate in the store cannot be loaded; not serving it", "name", c.Name, "err", err)
				continue
			}
			cert = &kp
			changed = append(changed, c.Name)
		}
		loaded[c.Name], parsed[c.Name] = st, cert
		if cert.Leaf == nil || now.After(cert.Leaf.NotAfter) {
			if slices.Contains(changed, c.Name) {
				s.log.Warn("certificate in the store has expired; not serving it", "name", c.Name)
			}
			continue
		}
		names := cert.Leaf.DNSNames
		if len(names) == 0 && cert.Leaf.Subject.CommonName != "" {
			names = []string{cert.Leaf.Subject.CommonName}
		}
		for _, n := range names {
			n = strings.ToLower(n)
			// Of two certificates for one name, the one valid longest.
			if prev, ok := byName[n]; !ok || prev.Leaf.NotAfter.Before(cert.Leaf.NotAfter) {
				byName[n] = cert
			}
		}
	}
	s.mu.Lock()
	s.byName, s.loaded, s.parsed, s.checked = byName, loaded, parsed, time.Now()
	s.mu.Unlock()
	if len(changed) > 0 && old != nil {
		s.log.Info("TLS certificates reloaded from the store", "names", strings.Join(changed, " "))
	}
	return nil
}

// lookup returns the store's certificate for a server name, or nil.
func (s *storeCerts) lookup(name string) *tls.Certificate {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if c := s.byName[name]; c != nil {
		return c
	}
	// A wildcard covers exactly one label (RFC 6125 section 6.4.3).
	if i := strings.IndexByte(name, '.'); i > 0 {
		if c := s.byName["*"+name[i:]]; c != nil {
			return c
		}
	}
	return nil
}

// GetCertificate implements tls.Config.GetCertificate.
func (s *storeCerts) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	if time.Since(s.checked) >= s.interval && !s.refreshing {
		s.refreshing = true
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), storeReadTimeout)
			defer cancel()
			if err := s.refresh(ctx); err != nil {
				s.log.Error("checking the certificates in the store; serving those loaded before", "err", err)
			}
			s.mu.Lock()
			s.refreshing, s.checked = false, time.Now()
			s.mu.Unlock()
		}()
	}
	cert := s.lookup(hello.ServerName)
	if cert == nil && s.hostname != "" {
		cert = s.lookup(s.hostname)
	}
	s.mu.Unlock()
	if cert != nil {
		return cert, nil
	}
	return s.fallback(hello)
}

// GetConfigForClient implements tls.Config.GetConfigForClient: it answers a
// TLS-ALPN-01 validation (RFC 8737 section 3) with the challenge certificate
// in the store, and leaves every other handshake to the configuration.
func (s *storeCerts) GetConfigForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	if !slices.Contains(hello.SupportedProtos, ACMETLS1Protocol) {
		return nil, nil
	}
	if hello.ServerName == "" {
		return nil, errors.New("listen: tls-alpn-01 validation without a server name")
	}
	ctx := hello.Context()
	ctx, cancel := context.WithTimeout(ctx, storeReadTimeout)
	defer cancel()
	c, err := s.certs.GetCertificate(ctx, ALPNChallengeName(hello.ServerName))
	if err != nil {
		s.log.Warn("tls-alpn-01 validation for a name without a challenge certificate", "name", hello.ServerName, "err", err)
		return nil, fmt.Errorf("listen: no tls-alpn-01 challenge for %s", hello.ServerName)
	}
	kp, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("listen: tls-alpn-01 challenge certificate for %s: %w", hello.ServerName, err)
	}
	s.log.Info("answering a tls-alpn-01 validation", "name", hello.ServerName, "remote", hello.Conn.RemoteAddr().String())
	// RFC 8737 section 3: negotiate acme-tls/1 and present only the
	// challenge certificate.
	return &tls.Config{
		Certificates: []tls.Certificate{kp},
		NextProtos:   []string{ACMETLS1Protocol},
		MinVersion:   tls.VersionTLS12,
	}, nil
}
