package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"gannet/lib/app"
	"gannet/lib/queue"
	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

// Exit statuses, as sysexits(3) names them; postqueue(1) uses EX_USAGE
// for a bad command line too.
const (
	exitFailure  = app.ExitFailure // an ID not in the queue, or another failure
	exitUsage    = 64              // EX_USAGE
	exitTempFail = 75              // EX_TEMPFAIL: the store is busy
	exitConfig   = 78              // EX_CONFIG
)

// session is what an action works with.
type session struct {
	c     *cli.Context
	env   *app.Env
	st    store.Store
	admin *queue.Admin
	// wait bounds each store call: a write that meets another process's
	// lock is retried until then, and then queuectl gives up with status 75.
	wait time.Duration
}

// run checks the command line with check (when not nil), loads the
// configuration, opens the store and calls fn, turning its error into the
// right message and exit status.
func run(check func(c *cli.Context) error, fn func(s *session) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if check != nil {
			if err := check(c); err != nil {
				return err
			}
		}
		env, err := app.Load(c)
		if err != nil {
			return app.ConfigFailure("queuectl", err, exitConfig)
		}
		defer env.Close()
		s := &session{c: c, env: env, wait: storeWait(env)}
		err = s.call(func(ctx context.Context) error {
			s.st, err = env.OpenStore(ctx)
			return err
		})
		if err != nil {
			return fail(err)
		}
		s.admin = &queue.Admin{Queue: s.st}
		return fail(fn(s))
	}
}

// storeWait is how long one store call may wait for a busy store: twice
// the configured busy timeout, so that a write is tried at least twice.
func storeWait(env *app.Env) time.Duration {
	d := env.Config.Store.BusyTimeout.Duration
	if d <= 0 {
		d = sqlite.DefaultBusyTimeout
	}
	return 2 * d
}

// call runs fn with a context that ends after s.wait.
func (s *session) call(fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(s.c.Context, s.wait)
	defer cancel()
	return fn(ctx)
}

// fail gives err its exit status and the "queuectl: " prefix.
func fail(err error) error {
	if err == nil {
		return nil
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return err
	}
	if busy(err) {
		return cli.Exit("queuectl: the store is busy, try again later: "+err.Error(), exitTempFail)
	}
	return cli.Exit("queuectl: "+err.Error(), exitFailure)
}

// busy recognises a store that stayed locked past the wait.
func busy(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "SQLITE_BUSY") || strings.Contains(s, "database is locked")
}

// usageError is the OnUsageError of the program and its commands.
func usageError(c *cli.Context, err error, isSubcommand bool) error {
	name := c.App.Name
	if isSubcommand && c.Command != nil && c.Command.HelpName != "" {
		name = c.Command.HelpName
	}
	return cli.Exit(fmt.Sprintf("queuectl: %v\nRun '%s --help' for usage.", err, name), exitUsage)
}

// usage is a command-line mistake (exit status 64).
func usage(c *cli.Context, format string, args ...any) error {
	return cli.Exit(fmt.Sprintf("queuectl: %s\nRun '%s --help' for usage.", fmt.Sprintf(format, args...), c.Command.HelpName), exitUsage)
}

// notFound is the message for an ID that is not in the queue, as
// postsuper's "postsuper: ID: no such file".
func notFound(id string) string {
	return fmt.Sprintf("queuectl: %s: no such queue entry", id)
}
