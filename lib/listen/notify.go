package listen

import (
	"context"
	"fmt"
	"os/signal"
	"strings"
	"syscall"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Ready tells systemd that the daemon has started (READY=1, for Type=notify
// services). Without NOTIFY_SOCKET in the environment it does nothing.
func Ready() error { return notify(daemon.SdNotifyReady) }

// Stopping tells systemd that the daemon has begun to shut down (STOPPING=1).
// Without NOTIFY_SOCKET in the environment it does nothing.
func Stopping() error { return notify(daemon.SdNotifyStopping) }

// Status sets the one-line status shown by systemctl status (STATUS=...).
// Line breaks in s are replaced by spaces. Without NOTIFY_SOCKET in the
// environment it does nothing.
func Status(s string) error {
	return notify("STATUS=" + strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s))
}

func notify(state string) error {
	if _, err := daemon.SdNotify(false, state); err != nil {
		return fmt.Errorf("listen: sd_notify %s: %w", state, err)
	}
	return nil
}

// SignalContext returns a copy of parent that is cancelled on the first
// SIGTERM or SIGINT, the signal to stop gracefully. After that first signal the
// default handling of both signals is restored, so a second one ends the
// process at once. The CancelFunc releases the signal handling; call it when
// done.
func SignalContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(parent, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}
