package testca

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
)

// A certificate the CA issues verifies against its pool for its names
// only.
func TestIssueVerifies(t *testing.T) {
	ca := New(t, "test CA")
	c := ca.Issue(t, "mx.example.test", "mx2.example.test")
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for name, ok := range map[string]bool{"mx.example.test": true, "mx2.example.test": true, "other.example.test": false} {
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: ca.Pool})
		if (err == nil) != ok {
			t.Errorf("%s: verify error %v, want ok=%v", name, err, ok)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "mx.example.test", Roots: New(t, "other CA").Pool}); err == nil {
		t.Error("verified against another CA")
	}
	var _ tls.Certificate = c
}
