package acme

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// http01Server answers http-01 challenges (RFC 8555 section 8.3) while a
// certificate is being got: GET /.well-known/acme-challenge/TOKEN gets the
// key authorization; every other request gets 404. jmapd, once it exists,
// is to answer them on its http listener instead.
type http01Server struct {
	srv *http.Server
	log *slog.Logger

	mu        sync.Mutex
	responses map[string]string // path to key authorization
}

// startHTTP01 listens on addr (host:port) and serves the challenges.
func startHTTP01(addr string, log *slog.Logger) (*http01Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("acme: http-01 needs %s (acme.http01_address; the certificate authority connects to port 80): %w", addr, err)
	}
	s := &http01Server{log: log, responses: map[string]string{}}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		MaxHeaderBytes:    8 << 10,
	}
	go func() {
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http-01 responder", "err", err)
		}
	}()
	log.Debug("http-01 responder listening", "address", l.Addr().String())
	return s, nil
}

func (s *http01Server) set(path, resp string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.responses[path] = resp
}

func (s *http01Server) remove(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.responses, path)
}

// ServeHTTP answers the challenge requests.
func (s *http01Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead || !strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	resp, ok := s.responses[r.URL.Path]
	s.mu.Unlock()
	if !ok {
		s.log.Warn("http-01 request for an unknown token", "path", r.URL.Path, "remote", r.RemoteAddr)
		http.NotFound(w, r)
		return
	}
	s.log.Info("answering an http-01 validation", "host", r.Host, "remote", r.RemoteAddr)
	// RFC 8555 section 8.3: the body is the key authorization.
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write([]byte(resp))
}

// Close stops the server.
func (s *http01Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}
