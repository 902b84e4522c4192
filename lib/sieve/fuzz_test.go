package sieve

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzCompile checks that the parser and validator never panic and stay
// bounded, seeded from the conformance scripts.
func FuzzCompile(f *testing.F) {
	root := filepath.Join("testdata", "pigeonhole", "tests")
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && (strings.HasSuffix(p, ".sieve") || strings.HasSuffix(p, ".svtest")) {
			if b, err := os.ReadFile(p); err == nil && len(b) < 64<<10 {
				f.Add(b)
			}
		}
		return nil
	})
	f.Add([]byte(`if header :matches "subject" "*${1}*" { fileinto "x"; }`))
	f.Add([]byte(`require ["variables","vnd.gannet.eval"]; set "score" "4"; if eval "score + 2 > 5" { discard; }`))
	f.Fuzz(func(t *testing.T, src []byte) {
		opt := &Options{Limits: Limits{MaxScriptSize: 256 << 10}, Extensions: Extensions()}
		s, err := Compile(src, opt)
		if err != nil {
			if _, ok := err.(*ErrorList); !ok {
				t.Fatalf("error is %T, want *ErrorList", err)
			}
			return
		}
		// A compiled script runs without panicking, within bounds.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		msg := []byte("From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n")
		s.Run(ctx, &Env{Message: msg, From: "a@example.com", To: "b@example.org"})
	})
}
