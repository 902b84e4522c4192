package config

import "net/netip"

// validateProxy checks server.proxy_trusted_networks against the listeners
// that expect a PROXY protocol header.
func (c *Config) validateProxy(v *validator) {
	for i, n := range c.Server.ProxyTrustedNetworks {
		if _, err := parseNetwork(n); err != nil {
			v.fail(indexKey("server.proxy_trusted_networks", i), "%v", err)
		}
	}
	if len(c.Server.ProxyTrustedNetworks) > 0 {
		return
	}
	for _, sec := range sections {
		for i, l := range c.ListenersFor(sec) {
			if l.ProxyProtocol {
				v.fail(indexKey(sec+".listener", i)+".proxy_protocol", "needs server.proxy_trusted_networks: the proxies whose PROXY header to believe")
			}
		}
	}
}

// ProxyPrefixes returns ProxyTrustedNetworks parsed, bare addresses as
// single-host prefixes. Entries that do not parse (Validate reports them)
// are left out.
func (s *Server) ProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, n := range s.ProxyTrustedNetworks {
		if p, err := parseNetwork(n); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}
