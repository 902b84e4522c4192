package config

import (
	"encoding/base64"
	"net/url"
	"strings"
	"time"
)

// LetsEncrypt is the ACME directory of Let's Encrypt, the default of
// acme.directory_url.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// ACME configures acmectl, the [acme] section: the certificate authority,
// the account's contact, how challenges are answered and when certificates
// are renewed.
type ACME struct {
	// DirectoryURL is the ACME directory of the certificate authority
	// (RFC 8555 section 7.1.1); default Let's Encrypt.
	DirectoryURL string `toml:"directory_url"`
	// Email is the account's contact for expiry and policy notices; ""
	// registers without one. acmectl account create --email overrides it.
	Email string `toml:"email"`
	// Challenge is how domains are proven: "http-01" (default; acmectl
	// answers on HTTP01Address), "tls-alpn-01" (RFC 8737; the daemons' TLS
	// listeners answer) or "dns-01" (a TXT record set by RFC 2136 update).
	Challenge string `toml:"challenge"`
	// HTTP01Address is where acmectl answers http-01 challenges, host:port
	// (":80"; the certificate authority connects to port 80).
	HTTP01Address string `toml:"http01_address"`
	// DNS01Server is the primary name server that takes RFC 2136 updates,
	// host:port; required for dns-01.
	DNS01Server string `toml:"dns01_server"`
	// DNS01Zone is the zone the update goes to; "" finds it by asking
	// DNS01Server for the SOA record of each parent of the name.
	DNS01Zone string `toml:"dns01_zone"`
	// DNS01TSIGKey names the TSIG key (RFC 8945) that signs the updates;
	// "" sends them unsigned.
	DNS01TSIGKey string `toml:"dns01_tsig_key"`
	// DNS01TSIGSecret is the key's secret, base64 (as in BIND's key
	// clause); write it as ${file:...} or ${env:...}.
	DNS01TSIGSecret string `toml:"dns01_tsig_secret"`
	// DNS01TSIGAlgorithm is hmac-sha256 (default), hmac-sha384,
	// hmac-sha512 or hmac-sha1.
	DNS01TSIGAlgorithm string `toml:"dns01_tsig_algorithm"`
	// CAFile, when set, holds the PEM certificates that verify the ACME
	// server instead of the system's roots (a private or test CA).
	CAFile string `toml:"ca_file"`
	// RenewFraction is the part of a certificate's lifetime after which
	// acmectl renew renews it (default 2/3: day 60 of 90).
	RenewFraction float64 `toml:"renew_fraction"`
	// Timeout bounds getting one certificate, challenges included.
	Timeout Duration `toml:"timeout"`
}

// defaultACME returns the defaults of [acme].
func defaultACME() ACME {
	return ACME{
		DirectoryURL:       LetsEncrypt,
		Challenge:          "http-01",
		HTTP01Address:      ":80",
		DNS01TSIGAlgorithm: "hmac-sha256",
		RenewFraction:      2.0 / 3,
		Timeout:            D(5 * time.Minute),
	}
}

// validateACME checks [acme].
func (c *Config) validateACME(v *validator) {
	a := c.ACME
	if u, err := url.Parse(a.DirectoryURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		v.fail("acme.directory_url", "%q: want an https URL, as in %q", a.DirectoryURL, LetsEncrypt)
	}
	if a.Email != "" && (!strings.Contains(a.Email, "@") || strings.ContainsAny(a.Email, " \t\r\n<>,")) {
		v.fail("acme.email", "%q: want one email address", a.Email)
	}
	v.oneOf("acme.challenge", a.Challenge, "http-01", "tls-alpn-01", "dns-01")
	if _, err := checkAddress(a.HTTP01Address); err != nil || strings.HasPrefix(a.HTTP01Address, "/") {
		v.fail("acme.http01_address", "%q: want host:port, as in \":80\"", a.HTTP01Address)
	}
	if a.DNS01Server != "" {
		if _, err := checkAddress(a.DNS01Server); err != nil || strings.HasPrefix(a.DNS01Server, "/") {
			v.fail("acme.dns01_server", "%q: want host:port, as in \"192.0.2.53:53\"", a.DNS01Server)
		}
	} else if a.Challenge == "dns-01" {
		v.fail("acme.dns01_server", "required with challenge = \"dns-01\": the name server that takes RFC 2136 updates, host:port")
	}
	if a.DNS01Zone != "" {
		if err := checkDNSName(strings.TrimSuffix(a.DNS01Zone, "."), false); err != nil {
			v.fail("acme.dns01_zone", "%q: %v", a.DNS01Zone, err)
		}
	}
	switch {
	case a.DNS01TSIGKey != "" && a.DNS01TSIGSecret == "":
		v.fail("acme.dns01_tsig_secret", "required when acme.dns01_tsig_key is set")
	case a.DNS01TSIGKey == "" && a.DNS01TSIGSecret != "":
		v.fail("acme.dns01_tsig_key", "required when acme.dns01_tsig_secret is set")
	case a.DNS01TSIGSecret != "":
		if _, err := base64.StdEncoding.DecodeString(a.DNS01TSIGSecret); err != nil {
			v.fail("acme.dns01_tsig_secret", "not base64 (as in BIND's secret \"...\"): %v", err)
		}
	}
	v.oneOf("acme.dns01_tsig_algorithm", a.DNS01TSIGAlgorithm, "hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha1")
	if !(a.RenewFraction > 0 && a.RenewFraction < 1) {
		v.fail("acme.renew_fraction", "%v: want a fraction of the lifetime between 0 and 1, as in 0.6666666666666666 (2/3)", a.RenewFraction)
	}
	v.positive("acme.timeout", a.Timeout)
}
