package managesieve

import (
	"context"
	"errors"
	"strings"
	"testing"

	"gannet/lib/sieve"
	"gannet/lib/store"
)

// TestIncludeCheck uploads scripts that include others with the real Sieve
// check: an include of an existing personal script is accepted, a missing
// one is accepted with WARNINGS (as Pigeonhole does at upload), a broken
// included script refuses the including one.
func TestIncludeCheck(t *testing.T) {
	h := newHarness(t, func(s *Server) {
		s.Check = SieveCheck(s.Scripts, sieve.Options{})
		s.TrustLoopback = true
		s.Limits.MaxScripts = 10
	})
	c := h.client("PLAIN")
	ctx := context.Background()
	var warned [][]string
	c.Warn = func(w []string) { warned = append(warned, w) }
	take := func() []string {
		defer func() { warned = nil }()
		if len(warned) == 0 {
			return nil
		}
		return warned[0]
	}

	main := []byte("require \"include\";\r\ninclude \"helper\";\r\nkeep;\r\n")
	if err := c.PutScript(ctx, "main", main); err != nil {
		t.Fatalf("PUTSCRIPT with a missing include: %v", err)
	}
	if w := take(); len(w) != 1 || !strings.Contains(w[0], "included personal script 'helper' does not exist (ignored during upload)") {
		t.Errorf("PUTSCRIPT with a missing include: warnings %q", w)
	}
	if err := c.CheckScript(ctx, main); err != nil {
		t.Fatalf("CHECKSCRIPT with a missing include: %v", err)
	}
	if w := take(); len(w) != 1 {
		t.Errorf("CHECKSCRIPT with a missing include: warnings %q", w)
	}

	if err := c.PutScript(ctx, "helper", []byte("require \"fileinto\";\r\nfileinto \"Lists\";\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.PutScript(ctx, "main", main); err != nil {
		t.Fatalf("PUTSCRIPT including an existing script: %v", err)
	}
	if w := take(); w != nil {
		t.Errorf("PUTSCRIPT including an existing script: warnings %q", w)
	}
	if err := c.CheckScript(ctx, []byte("require \"include\";\r\ninclude :optional \"nothere\";\r\n")); err != nil || take() != nil {
		t.Errorf("CHECKSCRIPT with an :optional missing include: %v", err)
	}

	// The included script is compiled with the including one.
	if err := c.PutScript(ctx, "broken", []byte("frobnicate;\r\n")); err == nil {
		t.Fatal("PUTSCRIPT of a broken script succeeded")
	}
	// Stored behind the server's back, as an older version might have.
	if err := h.st.PutSieveScript(ctx, &store.SieveScript{AccountID: h.acct.ID, Name: "broken", Content: "frobnicate;\r\n"}); err != nil {
		t.Fatal(err)
	}
	err := c.PutScript(ctx, "uses-broken", []byte("require \"include\";\r\ninclude \"broken\";\r\n"))
	var e *Error
	if !errors.As(err, &e) || e.Status != "NO" || !strings.Contains(e.Msg, "in included script 'broken'") {
		t.Errorf("PUTSCRIPT including a broken script: %v", err)
	}

	// On the wire: OK (WARNINGS) with the warning as the text.
	r := h.raw()
	wantPrefix(t, r.cmd(`AUTHENTICATE "PLAIN" "AGRlbW9AZXhhbXBsZS50ZXN0AGNvcnJlY3QgaG9yc2UgYmF0dGVyeSBzdGFwbGU="`), "OK")
	got := r.cmd("CHECKSCRIPT \"require \\\"include\\\"; include \\\"absent\\\";\"")
	wantPrefix(t, got, `OK (WARNINGS) "line 1: included personal script 'absent' does not exist (ignored during upload)"`)
}
