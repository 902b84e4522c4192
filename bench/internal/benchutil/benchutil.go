// Package benchutil holds what the benchmark programs under bench/ share:
// building Gannet's programs, starting and stopping a daemon, waiting for
// a port, and reading a process's peak resident memory from /proc.
package benchutil

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// StartTimeout bounds the wait for a daemon to answer on its port.
const StartTimeout = 60 * time.Second

// StopTimeout is how long Daemon.Stop waits after SIGTERM before it kills.
const StopTimeout = 30 * time.Second

// VmHWM returns a process's peak resident set size in bytes (VmHWM of
// /proc/PID/status).
func VmHWM(pid int) (int64, error) {
	return ProcKB(pid, "status", "VmHWM:")
}

// ProcKB returns the value of the line starting with field in
// /proc/PID/file, given there in kB, in bytes.
func ProcKB(pid int, file, field string) (int64, error) {
	path := fmt.Sprintf("/proc/%d/%s", pid, file)
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 64<<10))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field)
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %s %q: %w", path, field, rest, err)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return 0, fmt.Errorf("%s has no %s (a kernel thread or a zombie)", path, field)
}

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat: 100 on
// every Linux port.
const clockTicks = 100

// CPU is the processor time of a process.
type CPU struct {
	// Self is the process's own user and system time, all threads.
	Self time.Duration
	// Children is that of its children that it has waited for.
	Children time.Duration
}

// ProcCPU returns a process's processor time (utime, stime, cutime and
// cstime of /proc/PID/stat).
func ProcCPU(pid int) (CPU, error) {
	path := fmt.Sprintf("/proc/%d/stat", pid)
	b, err := os.ReadFile(path)
	if err != nil {
		return CPU{}, err
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses;
	// utime is the 14th field, the 12th after comm.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 15 {
		return CPU{}, fmt.Errorf("%s: cannot parse %q", path, Tail(b, 200))
	}
	var t [4]int64
	for k := range t {
		if t[k], err = strconv.ParseInt(f[11+k], 10, 64); err != nil {
			return CPU{}, fmt.Errorf("%s: field %d: %w", path, 14+k, err)
		}
	}
	tick := time.Second / clockTicks
	return CPU{Self: time.Duration(t[0]+t[1]) * tick, Children: time.Duration(t[2]+t[3]) * tick}, nil
}

// TreeCPU is the processor time of a server of several processes whose
// first process is the parent of the others (Postfix's master): the
// first's own and its waited-for children's, and the others' own.
func TreeCPU(pids []int) time.Duration {
	var sum time.Duration
	for k, pid := range pids {
		c, err := ProcCPU(pid)
		if err != nil {
			continue // gone meanwhile: its time is in its parent's
		}
		sum += c.Self
		if k == 0 {
			sum += c.Children
		}
	}
	return sum
}

// Peak is the largest sum, over the samples SamplePeak took, of the VmHWM
// of the processes alive at that sample.
type Peak struct {
	Sum   int64 // VmHWM summed, bytes
	Pss   int64 // Pss summed at the same sample, bytes
	Procs int   // processes in the sum
}

// SamplePeak samples the processes pids returns every interval until the
// returned function is called; that function takes a last sample and
// returns the largest. It suits a server of many processes that come and
// go (Postfix): shared pages count in each process's VmHWM, so Pss is
// given too.
func SamplePeak(ctx context.Context, pids func() []int, every time.Duration) (stop func() Peak) {
	ctx, cancel := context.WithCancel(ctx)
	peaks := make(chan Peak, 1)
	go func() {
		var best Peak
		sample := func() {
			var p Peak
			for _, pid := range pids() {
				if hwm, err := VmHWM(pid); err == nil {
					p.Sum += hwm
					p.Procs++
					pss, _ := ProcKB(pid, "smaps_rollup", "Pss:")
					p.Pss += pss
				}
			}
			if p.Sum > best.Sum {
				best = p
			}
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			sample()
			select {
			case <-ctx.Done():
				sample()
				peaks <- best
				return
			case <-t.C:
			}
		}
	}()
	return func() Peak {
		cancel()
		return <-peaks
	}
}

// ReadDirNames lists a directory's names without stat-ing them.
func ReadDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// CountDir counts the names in dir; a missing directory holds none.
func CountDir(dir string) (int, error) {
	names, err := ReadDirNames(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	return len(names), err
}

// WaitPort waits until addr accepts a connection, failing early when
// exited is closed (the process ended) first.
func WaitPort(ctx context.Context, addr string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before listening on %s", addr)
		case <-ctx.Done():
			return fmt.Errorf("not listening on %s: %w (last: %v)", addr, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Daemon is a program started in the background with its output going to
// a log file.
type Daemon struct {
	// Name is the program's base name, for messages.
	Name string
	// LogPath holds its stdout and stderr.
	LogPath string

	cmd     *exec.Cmd
	log     *os.File
	done    chan struct{}
	waitErr error
	stopped bool
}

// StartDaemon starts path with args, its output appended to logPath and
// its environment CleanEnv.
func StartDaemon(path, logPath string, args ...string) (*Daemon, error) {
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = CleanEnv()
	cmd.Stdout = log
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	d := &Daemon{Name: filepath.Base(path), LogPath: logPath, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		d.waitErr = cmd.Wait()
		log.Close()
		close(d.done)
	}()
	return d, nil
}

// Pid is the daemon's process id.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// Exited is closed when the process has ended.
func (d *Daemon) Exited() <-chan struct{} { return d.done }

// Stop sends SIGTERM and waits for the process to end, killing it after
// StopTimeout. It returns the process's exit error (nil for a clean
// exit). It may be called more than once.
func (d *Daemon) Stop() error {
	if d.stopped {
		return nil
	}
	d.stopped = true
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return d.waitErr
	case <-time.After(StopTimeout):
		d.cmd.Process.Kill()
		<-d.done
		return fmt.Errorf("%s did not stop within %v of SIGTERM; killed", d.Name, StopTimeout)
	}
}

// LogTail returns the last n bytes of the daemon's log.
func (d *Daemon) LogTail(n int) string {
	return string(Tail(ReadFile(d.LogPath), n))
}

// Build builds packages of this module into dir.
func Build(ctx context.Context, dir string, pkgs ...string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	gotool, err := exec.LookPath("go")
	if err != nil {
		gotool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.CommandContext(ctx, gotool, append([]string{"build", "-o", dir + "/"}, pkgs...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", strings.Join(pkgs, " "), err, out)
	}
	return nil
}

// ModuleRoot walks up from the working directory to go.mod.
func ModuleRoot() (string, error) {
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
			return "", errors.New("no go.mod above the working directory: run from the repository or pass -bin")
		}
		dir = parent
	}
}

// RunCmd runs a program with stdin, failing with its output.
func RunCmd(ctx context.Context, stdin, name string, args ...string) error {
	_, err := Output(ctx, stdin, name, args...)
	return err
}

// Output runs a program with stdin and returns its standard output,
// failing with its output.
func Output(ctx context.Context, stdin, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = CleanEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w\n%s%s", filepath.Base(name), strings.Join(args, " "), err,
			Tail(out, 1000), Tail([]byte(stderr.String()), 2000))
	}
	return out, nil
}

// CleanEnv is the environment without what would change how a Gannet
// program finds its configuration or sockets.
func CleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "LISTEN_") || strings.HasPrefix(name, "GANNET_") || name == "NOTIFY_SOCKET" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// ReadFile returns a file's contents, nil when it cannot be read.
func ReadFile(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// Tail returns the last n bytes of b.
func Tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// CheckLoad checks the smtp-source load flags the SMTP benchmarks share:
// -n messages, -size bytes, -sessions and -only (gannet or postfix).
func CheckLoad(messages, size, sessions int, only string) error {
	switch {
	case messages < 1 || messages > 1_000_000:
		return fmt.Errorf("-n %d: want 1 to 1000000", messages)
	case size < 0 || size > 10<<20:
		return fmt.Errorf("-size %d: want 0 to %d", size, 10<<20)
	case sessions < 1 || sessions > 1000:
		return fmt.Errorf("-sessions %d: want 1 to 1000", sessions)
	case only != "" && only != "gannet" && only != "postfix":
		return fmt.Errorf("-only %q: want gannet or postfix", only)
	}
	return nil
}
