package main

import (
	"slices"
	"testing"
)

// The checks' results are read from the Authentication-Results header,
// folded or not, and only from the header section.
func TestAuthResults(t *testing.T) {
	raw := "Return-Path: <sender@sender.test>\r\n" +
		"Authentication-Results: mx.example.test;\r\n" +
		"\tspf=pass smtp.mailfrom=sender@sender.test;\r\n" +
		" dkim=none; dmarc=pass header.from=sender.test; arc=none;\r\n" +
		"\tiprev=pass policy.iprev=127.0.0.1\r\n" +
		"Received: from mail.sender.test\r\n" +
		"From: <sender@sender.test>\r\n\r\n" +
		"body spf=fail\r\n"
	want := "spf=pass dkim=none dmarc=pass arc=none iprev=pass"
	if got := authResults([]byte(raw)); got != want {
		t.Errorf("authResults = %q, want %q", got, want)
	}
	if got := authResults([]byte("From: a@b.test\r\n\r\nspf=pass\r\n")); got != "" {
		t.Errorf("authResults without the header = %q, want empty", got)
	}
}

func TestSourceArgs(t *testing.T) {
	cfg := Config{Messages: 2000, Size: 10240, Sessions: 20, Reuse: true}
	got := sourceArgs(cfg, "127.0.0.1:2525")
	want := []string{"-s", "20", "-m", "2000", "-l", "10240", "-M", clientName,
		"-f", sender, "-t", rcpt, "-d", "127.0.0.1:2525"}
	if !slices.Equal(got, want) {
		t.Errorf("sourceArgs = %q, want %q", got, want)
	}
	if err := (Config{Messages: 1, Sessions: 1, Only: "exim"}).validate(); err == nil {
		t.Error(`validate accepted -only exim`)
	}
}
