package sievequery

import "testing"

// FuzzCheck: any text is either refused or one statement with at most
// MaxArgs parameters; nothing panics.
func FuzzCheck(f *testing.F) {
	for _, q := range []string{"SELECT ?", "SELECT '?' || ?2 -- ?\n;", "WITH x AS (SELECT ?1) SELECT * FROM x", "SELECT :a", "SELECT [a?b]", "SELECT ?999999999999999999999"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		n, err := scan(q)
		if err == nil && (n < 0 || n > MaxArgs) {
			t.Errorf("scan(%q) = %d parameters", q, n)
		}
		if (Check(q) == nil) != (err == nil) {
			t.Errorf("Check and scan disagree on %q", q)
		}
	})
}
