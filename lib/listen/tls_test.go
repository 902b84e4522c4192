package listen

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gannet/lib/config"
)

func testConfig(stateDir string) *config.Config {
	return &config.Config{Server: config.Server{Hostname: "mx.example.test", StateDir: stateDir}}
}

// logBuffer is a logger whose output the test can read.
func logBuffer() (*slog.Logger, *syncBuffer) {
	var b syncBuffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// handshake runs a TLS server with sc on loopback, connects with cc and
// returns the certificate the server presented.
func handshake(t *testing.T, sc, cc *tls.Config) (*x509.Certificate, error) {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", sc)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.(*tls.Conn).Handshake()
		io.Copy(io.Discard, c)
		c.Close()
	}()
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", l.Addr().String(), cc)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

// trusting returns a client config that trusts only the PEM certificate in file.
func trusting(t *testing.T, file, serverName string) *tls.Config {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("%s holds no certificate", file)
	}
	return &tls.Config{RootCAs: pool, ServerName: serverName}
}

// TestSelfSigned checks the first start makes a self-signed certificate for
// server.hostname with a warning, that clients trusting it can verify the
// server under that name, and that later starts reuse it quietly.
func TestSelfSigned(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	log, buf := logBuffer()
	sc, err := TLSConfig(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "self-signed") {
		t.Errorf("no warning about the self-signed certificate; log:\n%s", buf)
	}
	if sc.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x, want TLS 1.2", sc.MinVersion)
	}
	certPath := filepath.Join(dir, "tls", "self-signed.crt")
	keyPath := filepath.Join(dir, "tls", "self-signed.key")
	fi, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	keyPEM, _ := os.ReadFile(keyPath)
	if blk, _ := pem.Decode(keyPEM); blk == nil {
		t.Fatal("key file is not PEM")
	} else if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err != nil {
		t.Fatal(err)
	} else if ek, ok := k.(*ecdsa.PrivateKey); !ok || ek.Curve != elliptic.P256() {
		t.Fatalf("key is %T, want ECDSA P-256", k)
	}

	first, err := handshake(t, sc, trusting(t, certPath, "mx.example.test"))
	if err != nil {
		t.Fatalf("client trusting the self-signed certificate cannot verify mx.example.test: %v", err)
	}
	if first.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("key algorithm %v, want ECDSA", first.PublicKeyAlgorithm)
	}
	if _, err := handshake(t, sc, trusting(t, certPath, "other.example.test")); err == nil {
		t.Error("certificate also verifies for other.example.test")
	}

	// Second start: same certificate, no warning.
	log2, buf2 := logBuffer()
	sc2, err := TLSConfig(cfg, log2)
	if err != nil {
		t.Fatal(err)
	}
	if buf2.String() != "" {
		t.Errorf("second start logged:\n%s", buf2)
	}
	second, err := handshake(t, sc2, trusting(t, certPath, "mx.example.test"))
	if err != nil {
		t.Fatal(err)
	}
	if !first.Equal(second) {
		t.Error("second start made a new certificate instead of reusing the first")
	}

	// The hostname changes: a new certificate for it, with a warning.
	cfg.Server.Hostname = "mail.example.test"
	log3, buf3 := logBuffer()
	sc3, err := TLSConfig(cfg, log3)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf3.String(), "another hostname") {
		t.Errorf("no warning on a hostname change; log:\n%s", buf3)
	}
	if _, err := handshake(t, sc3, trusting(t, certPath, "mail.example.test")); err != nil {
		t.Fatalf("new certificate does not verify for the new hostname: %v", err)
	}
}

// TestSelfSignedConcurrentStart starts several daemons' worth of TLSConfig
// at once on a fresh state directory: all must end with the same certificate,
// and the files must be a matching pair.
func TestSelfSignedConcurrentStart(t *testing.T) {
	dir := t.TempDir()
	const n = 6
	certs := make([]*tls.Config, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			certs[i], errs[i] = TLSConfig(testConfig(dir), slog.New(slog.NewTextHandler(io.Discard, nil)))
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !bytes.Equal(certs[i].Certificates[0].Certificate[0], certs[0].Certificates[0].Certificate[0]) {
			t.Fatalf("start %d got a different certificate", i)
		}
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls", "self-signed.crt"), filepath.Join(dir, "tls", "self-signed.key")); err != nil {
		t.Fatalf("files on disk are not a pair: %v", err)
	}
}

// writePair writes a fresh certificate for host to certFile and keyFile in
// place and returns it.
func writePair(t *testing.T, certFile, keyFile, host string) *x509.Certificate {
	t.Helper()
	certPEM, keyPEM, err := makeSelfSigned(host, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(certPEM)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// touchLater moves the modification time of the files forward, as a renewal
// days later would, whatever the clock granularity of the file system.
func touchLater(t *testing.T, files ...string) {
	t.Helper()
	later := time.Now().Add(time.Hour)
	for _, f := range files {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCertFileReload checks certificate files from the config are served and
// that a renewal (in place, or by replacing the files) is picked up without a
// restart, while a broken renewal keeps the last good certificate.
func TestCertFileReload(t *testing.T) {
	certCheckInterval = 0
	t.Cleanup(func() { certCheckInterval = CertCheckInterval })
	dir := t.TempDir()
	certFile := filepath.Join(dir, "fullchain.pem")
	keyFile := filepath.Join(dir, "privkey.pem")
	a := writePair(t, certFile, keyFile, "mx.example.test")

	cfg := testConfig(t.TempDir())
	cfg.TLS = config.TLS{CertFile: certFile, KeyFile: keyFile, MinVersion: "1.3"}
	log, buf := logBuffer()
	sc, err := TLSConfig(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if sc.MinVersion != tls.VersionTLS13 {
		t.Errorf("MinVersion %x, want TLS 1.3", sc.MinVersion)
	}
	if _, err := os.Stat(filepath.Join(cfg.Server.StateDir, "tls")); err == nil {
		t.Error("a self-signed certificate was made although files are configured")
	}
	client := &tls.Config{InsecureSkipVerify: true}
	served := func() *x509.Certificate {
		t.Helper()
		c, err := handshake(t, sc, client)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if !served().Equal(a) {
		t.Fatal("configured certificate not served")
	}
	if _, err := handshake(t, sc, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}); err == nil {
		t.Error("TLS 1.2 client accepted with min_version 1.3")
	}

	// Renewed in place.
	b := writePair(t, certFile, keyFile, "mx.example.test")
	touchLater(t, certFile, keyFile)
	if !served().Equal(b) {
		t.Fatal("certificate renewed in place not picked up")
	}

	// Renewed by replacing the files (new inodes), as most ACME clients do.
	newCert, newKey := certFile+".new", keyFile+".new"
	c := writePair(t, newCert, newKey, "mx.example.test")
	os.Rename(newKey, keyFile)
	os.Rename(newCert, certFile)
	if !served().Equal(c) {
		t.Fatal("certificate renewed by rename not picked up")
	}

	// A broken renewal: keep serving c, say so once.
	os.WriteFile(certFile, []byte("not a certificate"), 0o644)
	touchLater(t, certFile)
	for range 3 {
		if !served().Equal(c) {
			t.Fatal("broken renewal replaced the good certificate")
		}
	}
	if n := strings.Count(buf.String(), "cannot be loaded"); n != 1 {
		t.Errorf("broken renewal logged %d times, want once; log:\n%s", n, buf)
	}
}

// TestCertFileCheckedAtMostEveryInterval checks the files are not re-read on
// every handshake: within the interval a renewal is not yet seen.
func TestCertFileCheckedAtMostEveryInterval(t *testing.T) {
	dir := t.TempDir()
	certFile := filepath.Join(dir, "cert.pem")
	keyFile := filepath.Join(dir, "key.pem")
	a := writePair(t, certFile, keyFile, "mx.example.test")
	cfg := testConfig(dir)
	cfg.TLS = config.TLS{CertFile: certFile, KeyFile: keyFile}
	sc, err := TLSConfig(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	writePair(t, certFile, keyFile, "mx.example.test")
	touchLater(t, certFile, keyFile)
	got, err := handshake(t, sc, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(a) {
		t.Fatal("files re-read within CertCheckInterval of the last check")
	}
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		edit func(*config.Config)
		want string
	}{
		{"cert without key", func(c *config.Config) { c.TLS.CertFile = "/x.pem" }, "set both or neither"},
		{"missing file", func(c *config.Config) {
			c.TLS.CertFile, c.TLS.KeyFile = filepath.Join(dir, "none.pem"), filepath.Join(dir, "none.key")
		}, "none.pem"},
		{"bad min version", func(c *config.Config) { c.TLS.MinVersion = "1.1" }, `min_version "1.1"`},
		{"no hostname", func(c *config.Config) { c.Server.Hostname = "" }, "server.hostname is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(dir)
			tt.edit(cfg)
			_, err := TLSConfig(cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}
