package listen

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"

	"gannet/lib/config"
)

// helperEnv, when set in the environment, makes the test binary act as a tiny
// daemon instead of running the tests: it opens its listeners (socket
// activation) and answers every connection with the listener's name.
const helperEnv = "GANNET_LISTEN_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "serve" {
		os.Exit(helperServe())
	}
	os.Exit(m.Run())
}

func helperServe() int {
	ctx, cancel := SignalContext(context.Background())
	defer cancel()
	// A config entry whose options apply to the inherited socket of its name.
	var cfg []config.Listener
	if name := os.Getenv(helperEnv + "_PROXY"); name != "" {
		cfg = []config.Listener{{Name: name, Address: "127.0.0.1:1", ProxyProtocol: true}}
	}
	ls, err := Open(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if len(ls) == 0 {
		fmt.Fprintln(os.Stderr, "helper: no listeners")
		return 1
	}
	err = Serve(ctx, ls, func(ctx context.Context, l Listener, c net.Conn) {
		fmt.Fprintf(c, "%s\n", l.Name)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// requireTool returns the path of program, installing the Debian package pkg
// with apt-get when it is missing and we are root. It fails the test (never
// skips) when the program cannot be had.
func requireTool(t *testing.T, program, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(program); err == nil {
		return p
	}
	if os.Geteuid() != 0 {
		t.Fatalf("%s is missing and we are not root to install it: apt-get install %s", program, pkg)
	}
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", pkg}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s is missing and apt-get %v failed: %v\n%s", program, args, err, out)
		}
	}
	p, err := exec.LookPath(program)
	if err != nil {
		t.Fatalf("%s still missing after installing %s: %v", program, pkg, err)
	}
	return p
}
