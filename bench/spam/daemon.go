package main

import (
	"context"

	"gannet/bench/internal/benchutil"
)

func startDaemon(path, logPath string, args ...string) (*benchutil.Daemon, error) {
	return benchutil.StartDaemon(path, logPath, args...)
}

func waitPort(ctx context.Context, addr string, d *benchutil.Daemon) error {
	return benchutil.WaitPort(ctx, addr, d.Exited())
}
