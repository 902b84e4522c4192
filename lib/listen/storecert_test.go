package listen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"testing"
	"time"

	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "gannet.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// putCert stores a new self-signed certificate for host under name.
func putCert(t *testing.T, st store.Certificates, name, host string) *x509.Certificate {
	t.Helper()
	certPEM, keyPEM, err := makeSelfSigned(host, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(certPEM)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sc := &store.Certificate{Name: name, Domains: []string{host}, CertPEM: certPEM, KeyPEM: keyPEM, NotAfter: c.NotAfter}
	if err := st.PutCertificate(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStoreCertificates checks that certificates in the store are served by
// server name, that other names get the self-signed fallback (or the store's
// certificate for server.hostname), and that a renewal in the store is
// served without a new configuration.
func TestStoreCertificates(t *testing.T) {
	certCheckInterval = 0
	t.Cleanup(func() { certCheckInterval = CertCheckInterval })
	st := openStore(t)
	mail := putCert(t, st, "mail.example.test", "mail.example.test")
	cfg := testConfig(t.TempDir())
	log, _ := logBuffer()
	sc, err := TLSConfigWithStore(cfg, log, st)
	if err != nil {
		t.Fatal(err)
	}
	served := func(name string) *x509.Certificate {
		t.Helper()
		c, err := handshake(t, sc, &tls.Config{InsecureSkipVerify: true, ServerName: name})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if !served("mail.example.test").Equal(mail) {
		t.Error("store certificate not served for its name")
	}
	if got := served("other.example.test"); got.Subject.CommonName != "mx.example.test" {
		t.Errorf("unknown name got %q, want the self-signed certificate of the hostname", got.Subject.CommonName)
	}

	// A certificate for the hostname arrives; then it is renewed.
	mx := putCert(t, st, "mx.example.test", "mx.example.test")
	waitServed(t, func() bool { return served("mx.example.test").Equal(mx) }, "new certificate for the hostname")
	if !served("").Equal(mx) {
		t.Error("client without SNI does not get the store's certificate for the hostname")
	}
	renewed := putCert(t, st, "mail.example.test", "mail.example.test")
	waitServed(t, func() bool { return served("MAIL.example.test").Equal(renewed) }, "renewed certificate")
}

// waitServed polls cond until it holds, failing after a deadline.
func waitServed(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s not served", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStoreCertificatesCheckedAtMostEveryInterval checks that handshakes do
// not read the store: within the interval a renewal is not yet seen.
func TestStoreCertificatesCheckedAtMostEveryInterval(t *testing.T) {
	certCheckInterval = time.Hour
	t.Cleanup(func() { certCheckInterval = CertCheckInterval })
	st := openStore(t)
	a := putCert(t, st, "mail.example.test", "mail.example.test")
	sc, err := TLSConfigWithStore(testConfig(t.TempDir()), nil, st)
	if err != nil {
		t.Fatal(err)
	}
	putCert(t, st, "mail.example.test", "mail.example.test")
	c, err := handshake(t, sc, &tls.Config{InsecureSkipVerify: true, ServerName: "mail.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Equal(a) {
		t.Error("store read again within the check interval")
	}
}

// TestALPNChallenge checks a TLS-ALPN-01 validation (RFC 8737) gets the
// challenge certificate from the store with acme-tls/1 negotiated, and that
// one for a name without a challenge fails.
func TestALPNChallenge(t *testing.T) {
	st := openStore(t)
	ch := putCert(t, st, ALPNChallengeName("Mail.example.test"), "mail.example.test")
	sc, err := TLSConfigWithStore(testConfig(t.TempDir()), nil, st)
	if err != nil {
		t.Fatal(err)
	}
	cc := &tls.Config{InsecureSkipVerify: true, ServerName: "mail.example.test", NextProtos: []string{ACMETLS1Protocol}}
	c, err := handshake(t, sc, cc)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Equal(ch) {
		t.Error("challenge certificate not served")
	}
	// The challenge certificate is not served to ordinary clients.
	c, err = handshake(t, sc, &tls.Config{InsecureSkipVerify: true, ServerName: "mail.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Equal(ch) {
		t.Error("challenge certificate served outside a validation")
	}
	cc.ServerName = "other.example.test"
	if _, err := handshake(t, sc, cc); err == nil {
		t.Error("validation for a name without a challenge succeeded")
	}
}
