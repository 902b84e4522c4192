package tests

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnits runs systemd-analyze verify (through systemd/verify.sh)
// on every unit, pointing ExecStart= at the programs under test, and fails
// on any error or warning.
func TestSystemdUnits(t *testing.T) {
	needTool(t, "systemd-analyze")
	cmd := exec.Command("sh", filepath.Join(repoRoot, "systemd", "verify.sh"), binDir)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("verify.sh: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "units verified") {
		t.Errorf("verify.sh said:\n%s", out)
	}
}
