package ban

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// HTTP wraps an HTTP handler (jmapd's, once it exists) with the auto-ban:
// a request from a banned address gets its connection closed without an
// answer, and a request for one of ban.scanner_paths is answered 404 and
// counted (EventScanner) against its address, so that a scanner is banned
// after ban.scanner_requests of them. The client address is the request's
// RemoteAddr (what listen's PROXY protocol support reports).
func (g *Guard) HTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := requestIP(r)
		if !g.AllowIP(ip) {
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			http.Error(w, "Forbidden", http.StatusForbidden)
			return
		}
		if g.ScannerPath(r.URL.Path) {
			g.Abuse(&net.TCPAddr{IP: ip.AsSlice()}, EventScanner)
			http.NotFound(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ScannerPath reports whether path begins with one of ban.scanner_paths,
// without regard to case.
func (g *Guard) ScannerPath(path string) bool {
	p := strings.ToLower(path)
	for _, s := range g.cfg.ScannerPaths {
		if strings.HasPrefix(p, strings.ToLower(s)) {
			return true
		}
	}
	return false
}

func requestIP(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
