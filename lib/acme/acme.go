// Package acme gets TLS certificates from an ACME certificate authority (RFC
// 8555) such as Let's Encrypt, keeps them in the store, where every daemon
// serves them by name (lib/listen), and renews them when they are due.
//
// Challenges are answered three ways: http-01 (RFC 8555 section 8.3) by an
// HTTP server of this package's own, run while a certificate is being got;
// tls-alpn-01 (RFC 8737) by the daemons' TLS listeners, which find the
// challenge certificate this package puts in the store; dns-01 (RFC 8555
// section 8.4) by a TXT record set with an RFC 2136 dynamic update, signed
// with TSIG (RFC 8945).
//
// The account key lives in state_dir/acme/DIRECTORY/account.key (mode 0600),
// one account per certificate authority.
package acme

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/acme"

	"gannet/lib/config"
	"gannet/lib/listen"
	"gannet/lib/store"
)

// Challenge types (RFC 8555 section 8, RFC 8737).
const (
	HTTP01    = "http-01"
	TLSALPN01 = "tls-alpn-01"
	DNS01     = "dns-01"
)

// maxDomains bounds the names of one certificate (Let's Encrypt allows 100).
const maxDomains = 100

// ErrNoAccount is returned when no account was created for the directory.
var ErrNoAccount = errors.New("no ACME account for this certificate authority: create one with 'acmectl account create'")

// Manager gets and renews certificates.
type Manager struct {
	// Config is the [acme] section.
	Config config.ACME
	// StateDir holds the account keys (state_dir/acme).
	StateDir string
	// Certs receives the certificates and, during tls-alpn-01 validations,
	// the challenge certificates.
	Certs store.Certificates
	// Log receives progress; nil means slog.Default().
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	httpClient *http.Client
}

// New returns a Manager for the configuration cfg over certs.
func New(cfg *config.Config, certs store.Certificates, log *slog.Logger) (*Manager, error) {
	m := &Manager{Config: cfg.ACME, StateDir: cfg.Server.StateDir, Certs: certs, Log: log}
	if m.Log == nil {
		m.Log = slog.Default()
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if f := cfg.ACME.CAFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("acme: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("acme: ca_file %s holds no PEM certificate", f)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	m.httpClient = &http.Client{Transport: tr, Timeout: time.Minute}
	return m, nil
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// accountDir is state_dir/acme/<directory URL made a file name>.
func (m *Manager) accountDir() string {
	u, err := url.Parse(m.Config.DirectoryURL)
	name := m.Config.DirectoryURL
	if err == nil {
		name = u.Host + u.Path
	}
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '_'
	}, strings.TrimSuffix(name, "/"))
	return filepath.Join(m.StateDir, "acme", name)
}

// AccountInfo is what is kept about an account beside its key.
type AccountInfo struct {
	Directory string    `json:"directory"`
	URL       string    `json:"url"`
	Contact   []string  `json:"contact,omitempty"`
	Created   time.Time `json:"created"`
}

// EAB is an External Account Binding (RFC 8555 section 7.3.4): the key ID
// and MAC key a certificate authority hands out to tie an ACME account to
// an account with it.
type EAB struct {
	KID string
	// HMAC is the MAC key, base64url as the CAs give it (padded or not;
	// standard base64 is taken too).
	HMAC string
}

// CreateAccount registers the account of this server with the certificate
// authority, or finds it again when its key is registered already. email
// ("" for none) is the contact; eab, when not nil, binds the account to one
// with the certificate authority. The terms of service are agreed to;
// their address is returned.
func (m *Manager) CreateAccount(ctx context.Context, email string, eab *EAB) (*AccountInfo, string, error) {
	dir := m.accountDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("acme: %w", err)
	}
	key, err := loadKey(filepath.Join(dir, "account.key"))
	if errors.Is(err, fs.ErrNotExist) {
		var k *ecdsa.PrivateKey
		if k, err = newKey(); err == nil {
			key, err = k, writeKey(filepath.Join(dir, "account.key"), k)
		}
	}
	if err != nil {
		return nil, "", err
	}
	client := m.client(key)
	acct := &acme.Account{}
	if email != "" {
		acct.Contact = []string{"mailto:" + email}
	}
	if eab != nil {
		mac, err := decodeMAC(eab.HMAC)
		if err != nil {
			return nil, "", err
		}
		acct.ExternalAccountBinding = &acme.ExternalAccountBinding{KID: eab.KID, Key: mac}
	}
	var tos string
	got, err := client.Register(ctx, acct, func(u string) bool { tos = u; return true })
	if errors.Is(err, acme.ErrAccountAlreadyExists) {
		got, err = client.GetReg(ctx, "")
	}
	var ae *acme.Error
	if errors.As(err, &ae) && ae.ProblemType == "urn:ietf:params:acme:error:externalAccountRequired" {
		return nil, "", fmt.Errorf("acme: %s requires an External Account Binding (RFC 8555 section 7.3.4): give the key ID and MAC key it issued with --eab-kid and --eab-hmac", m.Config.DirectoryURL)
	}
	if err != nil {
		return nil, "", fmt.Errorf("acme: registering with %s: %w", m.Config.DirectoryURL, err)
	}
	info := &AccountInfo{Directory: m.Config.DirectoryURL, URL: got.URI, Contact: got.Contact, Created: m.now().UTC()}
	b, _ := json.MarshalIndent(info, "", "  ")
	if err := writeFileAtomic(filepath.Join(dir, "account.json"), append(b, '\n'), 0o600); err != nil {
		return nil, "", err
	}
	m.Log.Info("ACME account ready", "directory", m.Config.DirectoryURL, "account", got.URI)
	return info, tos, nil
}

// decodeMAC reads an EAB MAC key in base64url (as CAs give it) or base64.
func decodeMAC(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) > 0 {
			return b, nil
		}
	}
	return nil, errors.New("acme: the EAB HMAC key is not base64url")
}

// account returns a client with the stored account key.
func (m *Manager) account() (*acme.Client, error) {
	key, err := loadKey(filepath.Join(m.accountDir(), "account.key"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoAccount
	}
	if err != nil {
		return nil, err
	}
	return m.client(key), nil
}

func (m *Manager) client(key crypto.Signer) *acme.Client {
	return &acme.Client{Key: key, DirectoryURL: m.Config.DirectoryURL, HTTPClient: m.httpClient, UserAgent: "gannet-acmectl"}
}

// Issue gets a certificate for domains (the first names it in the store)
// with challenge (HTTP01, TLSALPN01 or DNS01; "" for the configured one),
// and stores it.
func (m *Manager) Issue(ctx context.Context, domains []string, challenge string) (*store.Certificate, error) {
	if challenge == "" {
		challenge = m.Config.Challenge
	}
	if !slices.Contains([]string{HTTP01, TLSALPN01, DNS01}, challenge) {
		return nil, fmt.Errorf("acme: unknown challenge type %q (want http-01, tls-alpn-01 or dns-01)", challenge)
	}
	domains, err := cleanDomains(domains)
	if err != nil {
		return nil, err
	}
	if challenge == DNS01 && m.Config.DNS01Server == "" {
		return nil, errors.New("acme: dns-01 needs acme.dns01_server")
	}
	client, err := m.account()
	if err != nil {
		return nil, err
	}
	if m.Config.Timeout.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.Config.Timeout.Duration)
		defer cancel()
	}
	log := m.Log.With("name", domains[0], "challenge", challenge)
	log.Info("ordering a certificate", "domains", strings.Join(domains, " "))

	// RFC 8555 section 7.4: order, prove each name, finalize, download.
	order, err := client.AuthorizeOrder(ctx, acme.DomainIDs(domains...))
	if err != nil {
		return nil, fmt.Errorf("acme: new order for %s: %w", strings.Join(domains, ", "), err)
	}
	var responder *http01Server
	if challenge == HTTP01 {
		responder, err = startHTTP01(m.Config.HTTP01Address, log)
		if err != nil {
			return nil, err
		}
		defer responder.Close()
	}
	for _, u := range order.AuthzURLs {
		if err := m.authorize(ctx, client, u, challenge, responder, log); err != nil {
			return nil, err
		}
	}
	order, err = client.WaitOrder(ctx, order.URI)
	if err != nil {
		return nil, fmt.Errorf("acme: order for %s: %w", domains[0], err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("acme: certificate key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: domains[0]},
		DNSNames: domains,
	}, key)
	if err != nil {
		return nil, fmt.Errorf("acme: certificate request: %w", err)
	}
	ders, _, err := client.CreateOrderCert(ctx, order.FinalizeURL, csr, true)
	if err != nil {
		return nil, fmt.Errorf("acme: finalizing the order for %s: %w", domains[0], err)
	}
	if len(ders) == 0 {
		return nil, fmt.Errorf("acme: the certificate authority sent no certificate for %s", domains[0])
	}
	leaf, err := x509.ParseCertificate(ders[0])
	if err != nil {
		return nil, fmt.Errorf("acme: certificate for %s: %w", domains[0], err)
	}
	var chain []byte
	for _, d := range ders {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("acme: encoding the key: %w", err)
	}
	c := &store.Certificate{
		Name:     domains[0],
		Domains:  domains,
		CertPEM:  chain,
		KeyPEM:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		NotAfter: leaf.NotAfter,
	}
	if err := m.Certs.PutCertificate(context.WithoutCancel(ctx), c); err != nil {
		return nil, fmt.Errorf("acme: storing the certificate for %s: %w", domains[0], err)
	}
	log.Info("certificate stored", "not_after", leaf.NotAfter, "serial", leaf.SerialNumber.Text(16))
	return c, nil
}

// cleanDomains lower-cases the names, drops duplicates and checks them.
func cleanDomains(domains []string) ([]string, error) {
	if len(domains) == 0 {
		return nil, errors.New("acme: no domain named")
	}
	if len(domains) > maxDomains {
		return nil, fmt.Errorf("acme: %d domains: at most %d in one certificate", len(domains), maxDomains)
	}
	var out []string
	for _, d := range domains {
		d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
		if err := checkDomain(d); err != nil {
			return nil, err
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out, nil
}

// checkDomain accepts a host name in ASCII (A-labels), or a wildcard
// "*.name" (only dns-01 can prove those, RFC 8555 section 7.1.3).
func checkDomain(d string) error {
	name := strings.TrimPrefix(d, "*.")
	if len(name) == 0 || len(name) > 253 || !strings.Contains(name, ".") {
		return fmt.Errorf("acme: %q is not a fully qualified domain name", d)
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("acme: %q is not a valid domain name", d)
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("acme: %q is not a valid domain name (write an internationalised name in its xn-- form)", d)
			}
		}
	}
	return nil
}

// authorize proves control of the name of one authorization.
func (m *Manager) authorize(ctx context.Context, client *acme.Client, authzURL, typ string, responder *http01Server, log *slog.Logger) error {
	authz, err := client.GetAuthorization(ctx, authzURL)
	if err != nil {
		return fmt.Errorf("acme: authorization: %w", err)
	}
	if authz.Status == acme.StatusValid {
		return nil // proven recently, the CA reuses it
	}
	domain := authz.Identifier.Value
	var chal *acme.Challenge
	for _, c := range authz.Challenges {
		if c.Type == typ {
			chal = c
			break
		}
	}
	if chal == nil {
		var offered []string
		for _, c := range authz.Challenges {
			offered = append(offered, c.Type)
		}
		return fmt.Errorf("acme: %s: the certificate authority offers no %s challenge (offered: %s)", domain, typ, strings.Join(offered, ", "))
	}

	var cleanup func()
	switch typ {
	case HTTP01:
		resp, err := client.HTTP01ChallengeResponse(chal.Token)
		if err != nil {
			return fmt.Errorf("acme: %s: %w", domain, err)
		}
		path := client.HTTP01ChallengePath(chal.Token)
		responder.set(path, resp)
		cleanup = func() { responder.remove(path) }
	case TLSALPN01:
		cert, err := client.TLSALPN01ChallengeCert(chal.Token, domain)
		if err != nil {
			return fmt.Errorf("acme: %s: %w", domain, err)
		}
		name, err := m.putChallengeCert(ctx, domain, cert)
		if err != nil {
			return err
		}
		cleanup = func() {
			if err := m.Certs.DeleteCertificate(context.WithoutCancel(ctx), name); err != nil {
				log.Warn("removing the tls-alpn-01 challenge certificate", "err", err)
			}
		}
	case DNS01:
		value, err := client.DNS01ChallengeRecord(chal.Token)
		if err != nil {
			return fmt.Errorf("acme: %s: %w", domain, err)
		}
		u, err := newDNSUpdater(m.Config)
		if err != nil {
			return err
		}
		fqdn := "_acme-challenge." + strings.TrimPrefix(domain, "*.") + "."
		if err := u.set(ctx, fqdn, value); err != nil {
			return err
		}
		cleanup = func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := u.remove(ctx, fqdn, value); err != nil {
				log.Warn("removing the dns-01 TXT record", "name", fqdn, "err", err)
			}
		}
	}
	defer cleanup()

	log.Info("answering challenge", "domain", domain)
	if _, err := client.Accept(ctx, chal); err != nil {
		return fmt.Errorf("acme: %s: accepting the %s challenge: %w", domain, typ, err)
	}
	if _, err := client.WaitAuthorization(ctx, authz.URI); err != nil {
		return fmt.Errorf("acme: %s: %s validation failed: %w", domain, typ, err)
	}
	log.Info("domain validated", "domain", domain)
	return nil
}

// putChallengeCert stores the tls-alpn-01 challenge certificate of domain
// where the daemons' TLS listeners look for it.
func (m *Manager) putChallengeCert(ctx context.Context, domain string, cert tls.Certificate) (string, error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return "", fmt.Errorf("acme: tls-alpn-01 key: %w", err)
	}
	var certPEM []byte
	for _, d := range cert.Certificate {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	name := listen.ALPNChallengeName(domain)
	c := &store.Certificate{
		Name:     name,
		Domains:  []string{domain},
		CertPEM:  certPEM,
		KeyPEM:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		NotAfter: m.now().Add(24 * time.Hour),
	}
	if err := m.Certs.PutCertificate(ctx, c); err != nil {
		return "", fmt.Errorf("acme: storing the tls-alpn-01 challenge certificate: %w", err)
	}
	return name, nil
}

// Status is a certificate in the store as acmectl reports it.
type Status struct {
	Name      string    `json:"name"`
	Domains   []string  `json:"domains"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// RenewAt is when the certificate is due for renewal.
	RenewAt time.Time `json:"renew_at"`
	Due     bool      `json:"due"`
	Expired bool      `json:"expired"`
	Updated time.Time `json:"updated"`
}

// Describe returns the status of a stored certificate.
func (m *Manager) Describe(c *store.Certificate) (*Status, error) {
	blk, _ := pem.Decode(c.CertPEM)
	if blk == nil {
		return nil, fmt.Errorf("acme: certificate %s: no PEM certificate", c.Name)
	}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("acme: certificate %s: %w", c.Name, err)
	}
	now := m.now()
	renewAt := RenewAt(leaf.NotBefore, leaf.NotAfter, m.Config.RenewFraction)
	return &Status{
		Name: c.Name, Domains: c.Domains, Issuer: leaf.Issuer.String(),
		Serial:    leaf.SerialNumber.Text(16),
		NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter,
		RenewAt: renewAt, Due: !now.Before(renewAt), Expired: now.After(leaf.NotAfter),
		Updated: c.Updated,
	}, nil
}

// RenewAt is when a certificate valid from notBefore to notAfter is due:
// after fraction of its lifetime.
func RenewAt(notBefore, notAfter time.Time, fraction float64) time.Time {
	life := notAfter.Sub(notBefore)
	return notBefore.Add(time.Duration(float64(life) * fraction))
}

// List returns the status of every certificate in the store (challenge
// certificates left out).
func (m *Manager) List(ctx context.Context) ([]Status, error) {
	certs, err := m.Certs.ListCertificates(ctx)
	if err != nil {
		return nil, fmt.Errorf("acme: %w", err)
	}
	var out []Status
	for i := range certs {
		if strings.HasPrefix(certs[i].Name, listen.ALPNChallengePrefix) {
			continue
		}
		st, err := m.Describe(&certs[i])
		if err != nil {
			return nil, err
		}
		out = append(out, *st)
	}
	return out, nil
}

// Renewal is the outcome of renewing one certificate.
type Renewal struct {
	Name    string
	Renewed bool
	// Status is the certificate as it is now (the new one when renewed).
	Status *Status
	Err    error
}

// Renew renews the certificates that are due (all of them with force), or
// only those of names when names is not empty, each with the configured
// challenge. It goes on after a failure; the error joins every failure.
func (m *Manager) Renew(ctx context.Context, names []string, force bool) ([]Renewal, error) {
	list, err := m.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if !slices.ContainsFunc(list, func(s Status) bool { return strings.EqualFold(s.Name, n) }) {
			return nil, fmt.Errorf("acme: no certificate named %s in the store", n)
		}
	}
	var out []Renewal
	var errs []error
	for _, st := range list {
		if len(names) > 0 && !slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(st.Name, n) }) {
			continue
		}
		r := Renewal{Name: st.Name, Status: &st}
		if st.Due || force {
			c, err := m.Issue(ctx, st.Domains, "")
			if err != nil {
				r.Err = err
				errs = append(errs, fmt.Errorf("renewing %s: %w", st.Name, err))
				m.Log.Error("renewal failed", "name", st.Name, "err", err)
			} else {
				r.Renewed = true
				if ns, err := m.Describe(c); err == nil {
					r.Status = ns
				}
			}
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// newKey makes an ECDSA P-256 key (RFC 8555 section 6.2 asks for ES256
// support of every server).
func newKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("acme: generating the account key: %w", err)
	}
	return k, nil
}

func loadKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("acme: %s: no PEM key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("acme: %s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("acme: %s: not a signing key", path)
	}
	return s, nil
}

func writeKey(path string, k *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return fmt.Errorf("acme: %w", err)
	}
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// writeFileAtomic writes data to path through a temporary file and a rename.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("acme: %w", err)
	}
	tmp := f.Name()
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("acme: writing %s: %w", path, err)
	}
	return nil
}
