package acme

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRenewAt(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	na := nb.Add(90 * 24 * time.Hour)
	if got, want := RenewAt(nb, na, 2.0/3), nb.Add(60*24*time.Hour); !got.Equal(want) {
		t.Errorf("RenewAt 2/3 of 90 days = %v, want %v", got, want)
	}
}

func TestCleanDomains(t *testing.T) {
	got, err := cleanDomains([]string{"Mail.Example.ORG.", "mail.example.org", "*.example.org"})
	if err != nil || strings.Join(got, " ") != "mail.example.org *.example.org" {
		t.Errorf("cleanDomains = %v, %v", got, err)
	}
	for _, bad := range []string{"", "localhost", "exa mple.org", "-a.example.org", "bücher.example", "a..example.org", strings.Repeat("a", 64) + ".org"} {
		if _, err := cleanDomains([]string{bad}); err == nil {
			t.Errorf("cleanDomains(%q) accepted", bad)
		}
	}
	if _, err := cleanDomains(nil); err == nil {
		t.Error("no domain accepted")
	}
}

func TestDecodeMAC(t *testing.T) {
	for _, s := range []string{"c2VjcmV0LWtleQ", "c2VjcmV0LWtleQ==", " c2VjcmV0LWtleQ\n"} {
		b, err := decodeMAC(s)
		if err != nil || string(b) != "secret-key" {
			t.Errorf("decodeMAC(%q) = %q, %v", s, b, err)
		}
	}
	if _, err := decodeMAC("not base64!"); err == nil {
		t.Error("bad MAC key accepted")
	}
}

// TestHTTP01Server checks the responder answers the token it was given,
// and only that.
func TestHTTP01Server(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s, err := startHTTP01(addr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.set("/.well-known/acme-challenge/tok", "tok.thumb")
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/.well-known/acme-challenge/tok"); code != 200 || body != "tok.thumb" {
		t.Errorf("challenge: %d %q", code, body)
	}
	if code, _ := get("/.well-known/acme-challenge/other"); code != 404 {
		t.Errorf("unknown token: %d", code)
	}
	s.remove("/.well-known/acme-challenge/tok")
	if code, _ := get("/.well-known/acme-challenge/tok"); code != 404 {
		t.Errorf("removed token: %d", code)
	}
	// The address is taken while the responder runs.
	if _, err := startHTTP01(addr, slog.Default()); err == nil || !strings.Contains(err.Error(), "http01_address") {
		t.Errorf("second responder on the same address: %v", err)
	}
}
