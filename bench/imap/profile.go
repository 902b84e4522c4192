package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"gannet/bench/internal/benchutil"
	"gannet/lib/app"
	"gannet/lib/auth"
	"gannet/lib/config"
	"gannet/lib/imap"
	"gannet/lib/listen"
	"gannet/lib/notify"
)

// With -profile DIR, Gannet's IMAP server runs in this process, wired as
// cmd/imapd wires it (serveInProcess), so that runtime/pprof can see it:
// each phase writes DIR/gannet-PHASE.cpu.pprof, and DIR/gannet-PHASE.heap.pprof
// at its end (after a collection; the idle phase's with every connection
// open, with a goroutine profile next to it). The profiles include the
// client's work, which runs in the same process: look at them with
// `go tool pprof -focus 'lib/(imap|store)'`. Memory and CPU figures then
// count the client too, so they are not imapd's.

// serveInProcess runs the IMAP server on g's configuration until ctx ends,
// as cmd/imapd does, and returns Serve's error.
func serveInProcess(ctx context.Context, configPath string, ready chan<- error) error {
	cfg, err := config.Load(configPath)
	if err != nil {
		ready <- err
		return err
	}
	logFile, err := os.OpenFile(filepath.Join(cfg.Server.StateDir, "imapd.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		ready <- err
		return err
	}
	defer logFile.Close()
	log, err := app.NewLogger(logFile, cfg.Log)
	if err != nil {
		ready <- err
		return err
	}
	env := &app.Env{Config: cfg, Log: log}
	defer env.Close()
	st, err := env.OpenStore(ctx)
	if err != nil {
		ready <- err
		return err
	}
	dir, err := env.Directory(ctx)
	if err != nil {
		ready <- err
		return err
	}
	tlsCfg, err := listen.TLSConfig(cfg, log)
	if err != nil {
		ready <- err
		return err
	}
	authn := &auth.Authenticator{Store: st, Dir: dir}
	srv := &imap.Server{
		Store:       st,
		Auth:        authn,
		SCRAM:       authn.SCRAMLookup,
		TLS:         tlsCfg,
		Hostname:    cfg.Server.Hostname,
		MaxLiteral:  cfg.IMAPD.MaxLiteralSize,
		IdleTimeout: cfg.IMAPD.IdleTimeout.Duration,
		Log:         log,
	}
	if l, err := notify.ListenWith(ctx, notify.ListenOptions{Dir: cfg.NotifyDir(), Logger: log}); err == nil {
		defer l.Close()
		srv.Feed = l
	}
	ls, err := listen.Open(ctx, cfg.IMAPD.Listeners)
	if err != nil {
		ready <- err
		return err
	}
	ready <- nil
	return srv.Serve(ctx, ls)
}

// inProcess is the in-process server of a gannetServer.
type inProcess struct {
	cancel context.CancelFunc
	done   chan error
}

func (g *gannetServer) startInProcess(ctx context.Context) error {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &inProcess{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan error, 1)
	go func() { p.done <- serveInProcess(sctx, g.config, ready) }()
	if err := <-ready; err != nil {
		cancel()
		return fmt.Errorf("the in-process server: %w", err)
	}
	g.inproc = p
	exited := make(chan struct{})
	if err := benchutil.WaitPort(ctx, g.addr, exited); err != nil {
		g.stopInProcess()
		return err
	}
	return nil
}

func (g *gannetServer) stopInProcess() error {
	p := g.inproc
	if p == nil {
		return nil
	}
	g.inproc = nil
	p.cancel()
	select {
	case err := <-p.done:
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		return err
	case <-time.After(benchutil.StopTimeout):
		return errors.New("the in-process server did not stop")
	}
}

// profiler writes the profiles of one phase of the in-process server.
type profiler struct {
	dir, phase string
	cpu        *os.File
}

// startProfile starts the CPU profile of a phase; nil when not profiling.
func startProfile(dir, phase string) (*profiler, error) {
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, "gannet-"+phase+".cpu.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return &profiler{dir: dir, phase: phase, cpu: f}, nil
}

// profileMemRate is runtime.MemProfileRate under -profile: one sample
// per 4 KiB allocated, fine enough to count per-connection buffers.
const profileMemRate = 4096

// snapshot writes the heap profile, after a collection, the goroutine
// profile and the runtime's memory statistics, named after the phase and
// point.
func (p *profiler) snapshot(point string) error {
	if p == nil {
		return nil
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	stats := fmt.Sprintf("HeapInuse %d\nHeapAlloc %d\nHeapObjects %d\nStackInuse %d\nSys %d\nGoroutines %d\n",
		ms.HeapInuse, ms.HeapAlloc, ms.HeapObjects, ms.StackInuse, ms.Sys, runtime.NumGoroutine())
	errs := []error{os.WriteFile(filepath.Join(p.dir, fmt.Sprintf("gannet-%s%s.memstats.txt", p.phase, point)), []byte(stats), 0o644)}
	for _, prof := range []string{"heap", "goroutine"} {
		f, err := os.Create(filepath.Join(p.dir, fmt.Sprintf("gannet-%s%s.%s.pprof", p.phase, point, prof)))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, pprof.Lookup(prof).WriteTo(f, 0), f.Close())
	}
	return errors.Join(errs...)
}

// stop ends the CPU profile and writes the heap profile.
func (p *profiler) stop() error {
	if p == nil {
		return nil
	}
	pprof.StopCPUProfile()
	return errors.Join(p.cpu.Close(), p.snapshot(""))
}
