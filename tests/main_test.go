// Package tests holds Gannet's black-box tests: they build the programs
// once, run them as a user would and look only at what a user sees (exit
// statuses, output, files, the store).
//
// Set GANNET_BIN to a directory of already built programs to test those
// instead of building. Set GANNET_REQUIRE_TOOLS=1 (make test does) to fail,
// rather than skip, when a tool a test needs (man) is missing.
package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// programs is every program of the suite.
var programs = []string{
	"smtpd", "queued", "deliver", "imapd", "jmapd", "sieved", "spamd",
	"spamc", "bayes-train", "sievectl", "banctl", "queuectl", "acmectl",
	"userctl",
}

// testVersion is linked into the programs this package builds.
const testVersion = "v0.0.0-blackbox"

var (
	// binDir holds the programs under test.
	binDir string
	// toolDir holds helper tools built for the tests (go-md2man).
	toolDir string
	// repoRoot is the module's root directory.
	repoRoot string
	// wantVersion is the version the programs print, "" when unknown
	// (GANNET_BIN).
	wantVersion string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	var err error
	repoRoot, err = findRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "gannet-tests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	toolDir = filepath.Join(tmp, "tools")

	if dir := os.Getenv("GANNET_BIN"); dir != "" {
		binDir, err = filepath.Abs(dir)
	} else {
		binDir = filepath.Join(tmp, "bin")
		wantVersion = testVersion
		err = goBuild(binDir, "-ldflags", "-X gannet/lib/app.Version="+testVersion, "./cmd/...")
	}
	if err == nil {
		err = goBuild(toolDir, "github.com/cpuguy83/go-md2man/v2")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		return 1
	}
	return m.Run()
}

// findRoot walks up from the working directory to go.mod.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// goTool is the go command that runs these tests.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// goBuild builds packages of the module into dir.
func goBuild(dir string, args ...string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cmd := exec.Command(goTool(), append([]string{"build", "-o", dir + "/"}, args...)...)
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// result is what a finished program left behind.
type result struct {
	stdout, stderr string
	status         int
}

// runOpts adjusts a run.
type runOpts struct {
	stdin string
	env   []string // added to the environment
	dir   string
}

// run runs a program of the suite with args and no configuration in the
// environment, and returns its output and exit status. It fails the test
// if the program cannot be started or runs for more than a minute.
func run(t *testing.T, prog string, args ...string) result {
	t.Helper()
	return runWith(t, runOpts{}, prog, args...)
}

func runWith(t *testing.T, o runOpts, prog string, args ...string) result {
	t.Helper()
	path := prog
	if !filepath.IsAbs(prog) {
		path = filepath.Join(binDir, prog)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(cleanEnv(), o.env...)
	cmd.Dir = o.dir
	cmd.Stdin = strings.NewReader(o.stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	status := 0
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %s: still running after a minute", prog, strings.Join(args, " "))
	case errors.As(err, &exit):
		status = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s %s: %v", prog, strings.Join(args, " "), err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), status: status}
}

// cleanEnv is the test's environment without anything that would point a
// program at a real configuration or socket-activation state.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "GANNET_CONFIG", strings.HasPrefix(name, "LISTEN_"), name == "NOTIFY_SOCKET":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// needTool returns the path of an external command, skipping the test when
// it is missing (failing under GANNET_REQUIRE_TOOLS=1).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s is not installed (scripts/test-deps.sh installs it)", name)
	if os.Getenv("GANNET_REQUIRE_TOOLS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
