package config

import (
	"strings"
	"testing"
)

// TestACMEAndProxyErrors checks the errors of [acme] and of
// server.proxy_trusted_networks name the key and say what is wrong.
func TestACMEAndProxyErrors(t *testing.T) {
	tests := []struct {
		name, file, key, msg string
	}{
		{"challenge", "[acme]\nchallenge = \"tls-sni-01\"\n", "acme.challenge", "is not one of"},
		{"directory", "[acme]\ndirectory_url = \"ftp://x\"\n", "acme.directory_url", "want an https URL"},
		{"email", "[acme]\nemail = \"postmaster\"\n", "acme.email", "want one email address"},
		{"http01 address", "[acme]\nhttp01_address = \"80\"\n", "acme.http01_address", "want host:port"},
		{"dns-01 without server", "[acme]\nchallenge = \"dns-01\"\n", "acme.dns01_server", "required"},
		{"tsig key alone", "[acme]\ndns01_tsig_key = \"k\"\n", "acme.dns01_tsig_secret", "required"},
		{"tsig secret not base64", "[acme]\ndns01_tsig_key = \"k\"\ndns01_tsig_secret = \"!!\"\n", "acme.dns01_tsig_secret", "not base64"},
		{"tsig algorithm", "[acme]\ndns01_tsig_algorithm = \"hmac-md5\"\n", "acme.dns01_tsig_algorithm", "is not one of"},
		{"renew fraction", "[acme]\nrenew_fraction = 1.5\n", "acme.renew_fraction", "between 0 and 1"},
		{"trusted network", "proxy_trusted_networks = [\"10.0.0.0/33\"]\n", "server.proxy_trusted_networks[0]", "CIDR"},
		{"proxy without trusted networks", "proxy_trusted_networks = []\n[[imapd.listener]]\nname = \"imap\"\naddress = \":143\"\nproxy_protocol = true\n", "imapd.listener[0].proxy_protocol", "needs server.proxy_trusted_networks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := minimal + tt.file // minimal ends in [server]
			_, err := Parse("/etc/gannet/test.toml", []byte(file))
			if err == nil {
				t.Fatalf("accepted:\n%s", file)
			}
			found := false
			for _, e := range errorList(t, err) {
				if e.Key == tt.key && strings.Contains(e.Msg, tt.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("no error for %s containing %q; got\n%v\nfile:\n%s", tt.key, tt.msg, err, file)
			}
		})
	}
}
