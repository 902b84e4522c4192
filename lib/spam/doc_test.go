package spam

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gannet/lib/config"
)

// TestRulesDocumented checks that gannet-spam(5) documents every variable
// and function a condition can use and every default rule.
func TestRulesDocumented(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "man", "gannet-spam.5.md"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(data)
	for name := range config.RuleSignatures.Vars {
		if !strings.Contains(page, "| "+name+" |") && !strings.Contains(page, " "+name+",") && !strings.Contains(page, ", "+name+" |") {
			t.Errorf("variable %s is not in the table of gannet-spam(5)", name)
		}
	}
	for name := range config.RuleSignatures.Funcs {
		if !strings.Contains(page, "| "+name+"(") {
			t.Errorf("function %s is not in the table of gannet-spam(5)", name)
		}
	}
	defs, err := DefaultRules()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range defs {
		if !strings.Contains(page, r.Name) {
			t.Errorf("default rule %s is not in gannet-spam(5)", r.Name)
		}
	}
}
