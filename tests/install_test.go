package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeInstall installs into a DESTDIR with PREFIX=/usr and checks that
// programs, man pages, the example configuration and the systemd units land
// where they belong, the units pointing at the installed programs.
func TestMakeInstall(t *testing.T) {
	mk := needTool(t, "make")
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	cmd := exec.Command(mk, "-s", "install", "DESTDIR="+root, "PREFIX=/usr",
		"BIN="+filepath.Join(tmp, "bin"), "BUILD="+filepath.Join(tmp, "build"))
	cmd.Dir = repoRoot
	cmd.Env = cleanEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}

	for _, prog := range programs {
		fi, err := os.Stat(filepath.Join(root, "usr/bin", prog))
		if err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s not installed as a program: %v", prog, err)
		}
		sec := manSection(prog)
		if _, err := os.Stat(filepath.Join(root, "usr/share/man/man"+sec, prog+"."+sec)); err != nil {
			t.Errorf("no man page for %s: %v", prog, err)
		}
	}
	for _, f := range []string{
		"usr/share/man/man5/gannet.toml.5",
		"usr/share/doc/gannet/gannet.toml",
		"usr/lib/sysusers.d/gannet.conf",
	} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("%s not installed: %v", f, err)
		}
	}

	src, err := filepath.Glob(filepath.Join(repoRoot, "systemd", "*.service"))
	if err != nil || len(src) == 0 {
		t.Fatalf("no units in systemd/: %v", err)
	}
	installed, _ := filepath.Glob(filepath.Join(root, "lib/systemd/system", "*"))
	if len(installed) == 0 {
		t.Fatal("no systemd units installed")
	}
	for _, unit := range installed {
		data, err := os.ReadFile(unit)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "ExecStart=") && !strings.HasPrefix(line, "ExecStart=/usr/bin/") {
				t.Errorf("%s: %s does not run the installed program", filepath.Base(unit), line)
			}
		}
	}
}
