package listen

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// unitsDir is the repository's systemd/ directory.
const unitsDir = "../../systemd"

// TestUnitsVerify runs systemd/verify.sh, which passes every unit through
// systemd-analyze verify and fails on any warning. GANNET_BINDIR, when set,
// names a directory of built programs to check the ExecStart= lines against.
func TestUnitsVerify(t *testing.T) {
	requireTool(t, "systemd-analyze", "systemd")
	var args []string
	if dir := os.Getenv("GANNET_BINDIR"); dir != "" {
		args = append(args, dir)
	}
	cmd := exec.Command(filepath.Join(unitsDir, "verify.sh"), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd/verify.sh: %v\n%s", err, out)
	}
}

// unitKeys reads a unit file into key -> values (in order), ignoring sections.
func unitKeys(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: malformed line %q", path, line)
		}
		keys[k] = append(keys[k], v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestUnitSocketNames checks that every .socket unit names its descriptor with
// a name Open knows and hands it to an existing service, that every known name
// has a socket, and that each daemon's service is hardened as promised.
func TestUnitSocketNames(t *testing.T) {
	sockets, err := filepath.Glob(filepath.Join(unitsDir, "*.socket"))
	if err != nil || len(sockets) == 0 {
		t.Fatalf("no .socket units in %s (%v)", unitsDir, err)
	}
	seen := map[string]bool{}
	for _, s := range sockets {
		k := unitKeys(t, s)
		names := k["FileDescriptorName"]
		if len(names) != 1 || !Known(names[0]) {
			t.Errorf("%s: FileDescriptorName=%v, want one of %v", s, names, knownNames)
			continue
		}
		seen[names[0]] = true
		svc := k["Service"]
		if len(svc) != 1 {
			t.Errorf("%s: want one Service=, got %v", s, svc)
			continue
		}
		if _, err := os.Stat(filepath.Join(unitsDir, svc[0])); err != nil {
			t.Errorf("%s: Service=%s: %v", s, svc[0], err)
		}
	}
	for _, n := range knownNames {
		if !seen[n] {
			t.Errorf("no .socket unit has FileDescriptorName=%s", n)
		}
	}

	want := map[string]string{
		"Type": "notify", "User": "gannet", "Group": "gannet",
		"ProtectSystem": "strict", "NoNewPrivileges": "yes", "CapabilityBoundingSet": "",
		"PrivateTmp": "yes", "ProtectHome": "yes", "StateDirectory": "gannet",
	}
	for _, d := range []string{"smtpd", "queued", "imapd", "jmapd", "sieved", "spamd"} {
		path := filepath.Join(unitsDir, "gannet-"+d+".service")
		k := unitKeys(t, path)
		for key, v := range want {
			if !slices.Contains(k[key], v) {
				t.Errorf("%s: %s=%v, want %q", path, key, k[key], v)
			}
		}
		if exec := k["ExecStart"]; len(exec) != 1 || !strings.HasPrefix(exec[0], "/usr/local/bin/"+d+" ") {
			t.Errorf("%s: ExecStart=%v, want /usr/local/bin/%s ...", path, exec, d)
		}
	}
	for _, timer := range []string{"gannet-acme-renew", "gannet-bayes-train"} {
		for _, ext := range []string{".service", ".timer"} {
			if _, err := os.Stat(filepath.Join(unitsDir, timer+ext)); err != nil {
				t.Error(err)
			}
		}
	}
}
