package store

import (
	"context"
	"log/slog"
	"time"
)

// PruneChangeLog removes the changes older than retention at once and then
// every interval until ctx ends. Several processes may run it: pruning is
// idempotent. Failures are logged and retried at the next interval.
func PruneChangeLog(ctx context.Context, c Changes, retention, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := c.PruneChanges(ctx, time.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("pruning the change log failed", "err", err)
		case n > 0:
			log.Info("pruned the change log", "removed", n, "retention", retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
