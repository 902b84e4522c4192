package benchutil

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestVmHWM(t *testing.T) {
	hwm, err := VmHWM(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if hwm < 1<<20 {
		t.Errorf("VmHWM of this process = %d bytes, want at least 1 MiB", hwm)
	}
	if _, err := VmHWM(-1); err == nil {
		t.Error("VmHWM(-1): no error")
	}
}

func TestCountDir(t *testing.T) {
	dir := t.TempDir()
	if n, err := CountDir(filepath.Join(dir, "missing")); n != 0 || err != nil {
		t.Errorf("CountDir(missing) = %d, %v; want 0, nil", n, err)
	}
	for _, name := range []string{"a", "b", "c"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := CountDir(dir); n != 3 || err != nil {
		t.Errorf("CountDir = %d, %v; want 3, nil", n, err)
	}
}

// The processor time of this process grows as it works.
func TestProcCPU(t *testing.T) {
	before, err := ProcCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		x := 0
		for i := range 10_000_000 {
			x += i
		}
		_ = x
		after, err := ProcCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if after.Self > before.Self {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time stayed at %v", after.Self)
		}
	}
	if _, err := ProcCPU(-1); err == nil {
		t.Error("ProcCPU(-1): no error")
	}
	if TreeCPU([]int{os.Getpid()}) <= 0 {
		t.Error("TreeCPU of this process is 0")
	}
}
