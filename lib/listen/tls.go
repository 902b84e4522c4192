package listen

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"gannet/lib/config"
	"gannet/lib/store"
)

// CertCheckInterval is how often, at most, the certificate files named in the
// configuration are checked for a change (a renewal). The check is a stat of
// both files, done during a TLS handshake.
const CertCheckInterval = 5 * time.Second

// certCheckInterval is CertCheckInterval; tests shorten it.
var certCheckInterval = CertCheckInterval

// Names of the self-signed certificate files, in StateDir/tls.
const (
	SelfSignedCertFile = "self-signed.crt"
	SelfSignedKeyFile  = "self-signed.key"
)

// selfSignedValidity is the lifetime of the self-signed certificate (as
// Debian's snakeoil certificate); it is made anew at start when expired.
const selfSignedValidity = 10 * 365 * 24 * time.Hour

// TLSConfig returns the server TLS configuration for cfg, without
// certificates from the store; see TLSConfigWithStore.
func TLSConfig(cfg *config.Config, log *slog.Logger) (*tls.Config, error) {
	return TLSConfigWithStore(cfg, log, nil)
}

// TLSConfigWithStore returns the server TLS configuration for cfg.
//
// With certs set, the certificates in the store (put there by acmectl, or
// imported) come first: the one whose names match the client's server name
// (SNI; a wildcard covers one label) is served. The store is read at start
// and checked again at most every CertCheckInterval, in the background and
// only when handshakes happen, so a renewed certificate is served without a
// restart and no handshake waits for the database. Expired certificates in
// the store are passed over.
//
// For a server name no certificate in the store covers, the configured files
// serve. With tls.cert_file and tls.key_file set, the certificate comes from
// those files and is reloaded when they change (checked at most every
// CertCheckInterval); a renewal that cannot be loaded (say, the key not yet
// written) is logged and the previous certificate kept. The files must be
// loadable at start.
//
// Without them, the store's certificate for server.hostname serves when
// there is one; else a self-signed ECDSA P-256 certificate for
// server.hostname, created in state_dir/tls on first start, with a warning
// in the log, and reused afterwards (made anew if the hostname changed or it
// expired), so that STARTTLS works out of the box.
//
// A client offering only the "acme-tls/1" protocol is validating a
// TLS-ALPN-01 challenge (RFC 8737): it gets the challenge certificate that
// acmectl stored for the server name (ALPNChallengeName), read from the
// store for that handshake, and the handshake fails when there is none.
//
// MinVersion follows tls.min_version: "1.2" (the default) or "1.3".
func TLSConfigWithStore(cfg *config.Config, log *slog.Logger, certs store.Certificates) (*tls.Config, error) {
	if log == nil {
		log = slog.Default()
	}
	minVersion, err := parseMinVersion(cfg.TLS.MinVersion)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: minVersion}
	var fallback func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	fromFiles := false
	switch {
	case cfg.TLS.CertFile != "" && cfg.TLS.KeyFile != "":
		r := &certReloader{certFile: cfg.TLS.CertFile, keyFile: cfg.TLS.KeyFile, log: log, interval: certCheckInterval}
		if err := r.load(); err != nil {
			return nil, err
		}
		fallback = r.GetCertificate
		fromFiles = true
	case cfg.TLS.CertFile != "" || cfg.TLS.KeyFile != "":
		return nil, errors.New("listen: tls: cert_file and key_file go together; set both or neither")
	default:
		cert, err := selfSigned(cfg.Server.StateDir, cfg.Server.Hostname, log)
		if err != nil {
			return nil, err
		}
		if certs == nil {
			tc.Certificates = []tls.Certificate{*cert}
			return tc, nil
		}
		fallback = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }
	}
	if certs == nil {
		tc.GetCertificate = fallback
		return tc, nil
	}
	sc := &storeCerts{
		certs:    certs,
		log:      log,
		interval: certCheckInterval,
		fallback: fallback,
		minVer:   minVersion,
	}
	if !fromFiles {
		sc.hostname = strings.ToLower(cfg.Server.Hostname)
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeReadTimeout)
	defer cancel()
	if err := sc.refresh(ctx); err != nil {
		return nil, err
	}
	tc.GetCertificate = sc.GetCertificate
	tc.GetConfigForClient = sc.GetConfigForClient
	return tc, nil
}

func parseMinVersion(s string) (uint16, error) {
	switch s {
	case "", "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("listen: tls: min_version %q: want \"1.2\" or \"1.3\"", s)
}

// fileStamp identifies one version of a file.
type fileStamp struct {
	mtime time.Time
	size  int64
	ino   uint64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path) // follows symlinks, as certbot's live/ links
	if err != nil {
		return fileStamp{}, err
	}
	st := fileStamp{mtime: fi.ModTime(), size: fi.Size()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st, nil
}

// certReloader serves the certificate in certFile/keyFile and loads it anew
// when either file changes.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	interval          time.Duration

	mu      sync.Mutex
	cert    *tls.Certificate
	loaded  [2]fileStamp // stamps of the files cert came from
	failed  [2]fileStamp // stamps of the last version that failed to load
	checked time.Time
}

// load reads the files; at start a failure is an error.
func (r *certReloader) load() error {
	stamps, cert, err := r.read()
	if err != nil {
		return err
	}
	r.cert, r.loaded, r.checked = cert, stamps, time.Now()
	r.warnExpiry(cert)
	return nil
}

func (r *certReloader) read() ([2]fileStamp, *tls.Certificate, error) {
	var stamps [2]fileStamp
	var err error
	if stamps[0], err = stampOf(r.certFile); err != nil {
		return stamps, nil, fmt.Errorf("listen: tls cert_file: %w", err)
	}
	if stamps[1], err = stampOf(r.keyFile); err != nil {
		return stamps, nil, fmt.Errorf("listen: tls key_file: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return stamps, nil, fmt.Errorf("listen: tls: loading %s and %s: %w", r.certFile, r.keyFile, err)
	}
	return stamps, &cert, nil
}

func (r *certReloader) warnExpiry(cert *tls.Certificate) {
	if cert.Leaf != nil && time.Now().After(cert.Leaf.NotAfter) {
		r.log.Warn("TLS certificate has expired", "cert_file", r.certFile, "not_after", cert.Leaf.NotAfter)
	}
}

// GetCertificate implements tls.Config.GetCertificate.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if now.Sub(r.checked) < r.interval {
		return r.cert, nil
	}
	r.checked = now
	s0, err0 := stampOf(r.certFile)
	s1, err1 := stampOf(r.keyFile)
	if err0 == nil && err1 == nil && [2]fileStamp{s0, s1} == r.loaded {
		return r.cert, nil
	}
	stamps, cert, err := r.read()
	if err != nil {
		if stamps != r.failed { // say it once per broken version, not every check
			r.failed = stamps
			r.log.Error("TLS certificate changed but cannot be loaded; still serving the previous one", "err", err)
		}
		return r.cert, nil
	}
	r.cert, r.loaded, r.failed = cert, stamps, [2]fileStamp{}
	r.log.Info("TLS certificate reloaded", "cert_file", r.certFile)
	r.warnExpiry(cert)
	return r.cert, nil
}

// selfSigned returns the self-signed certificate in stateDir/tls, making it
// first when it is missing, unreadable, for another hostname or expired. A
// lock file keeps two daemons starting at once from writing a mismatched pair.
func selfSigned(stateDir, hostname string, log *slog.Logger) (*tls.Certificate, error) {
	if hostname == "" {
		return nil, errors.New("listen: tls: no certificate configured and server.hostname is empty")
	}
	if stateDir == "" {
		return nil, errors.New("listen: tls: no certificate configured and server.state_dir is empty")
	}
	dir := filepath.Join(stateDir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("listen: tls: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("listen: tls: %w", err)
	}
	defer lock.Close() // releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("listen: tls: locking %s: %w", lock.Name(), err)
	}

	certPath := filepath.Join(dir, SelfSignedCertFile)
	keyPath := filepath.Join(dir, SelfSignedKeyFile)
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	switch {
	case err == nil && cert.Leaf != nil && cert.Leaf.VerifyHostname(hostname) == nil && time.Now().Before(cert.Leaf.NotAfter):
		return &cert, nil
	case err == nil:
		log.Warn("self-signed TLS certificate is for another hostname or has expired; making a new one", "hostname", hostname, "cert", certPath)
	case errors.Is(err, fs.ErrNotExist):
		log.Warn("no TLS certificate configured; creating a self-signed certificate (clients will not trust it: set [tls] cert_file and key_file)", "hostname", hostname, "cert", certPath)
	default:
		log.Warn("self-signed TLS certificate cannot be loaded; making a new one", "cert", certPath, "err", err)
	}

	certPEM, keyPEM, err := makeSelfSigned(hostname, time.Now())
	if err != nil {
		return nil, err
	}
	// Every reader of these files holds the lock, so it never sees the new
	// key beside the old certificate.
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return nil, err
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("listen: tls: self-signed certificate: %w", err)
	}
	return &cert, nil
}

// makeSelfSigned returns a PEM certificate and PKCS #8 key for hostname.
func makeSelfSigned(hostname string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("listen: tls: generating key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("listen: tls: serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hostname},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if ip := net.ParseIP(hostname); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{hostname}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("listen: tls: creating certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("listen: tls: encoding key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// writeFileAtomic writes data to path through a synced temporary file and a
// rename, so path holds either the old or the new content.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("listen: tls: %w", err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("listen: tls: writing %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("listen: tls: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("listen: tls: %w", err)
	}
	return nil
}
