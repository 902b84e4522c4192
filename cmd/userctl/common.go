package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"gannet/lib/app"
	"gannet/lib/config"
	"gannet/lib/directory"
	"gannet/lib/store"
)

// Exit statuses beyond app's 0, 1 and 2, as sysexits(3) and doveadm(1)
// use them.
const (
	exitDataErr  = 65 // EX_DATAERR: an invalid address, size or value
	exitNoUser   = 67 // EX_NOUSER: the named object does not exist
	exitTempFail = 75 // EX_TEMPFAIL: try again later
	exitConfig   = 78 // EX_CONFIG: the configuration file is wrong
)

// session is what an action works with.
type session struct {
	c   *cli.Context
	ctx context.Context
	env *app.Env
	st  store.Store
	dir *directory.Directory
}

// run loads the configuration, opens the store and calls fn, turning its
// error into the right message and exit status.
func run(fn func(s *session) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		env, err := app.Load(c)
		if err != nil {
			return app.ConfigFailure("userctl", err, exitConfig)
		}
		defer env.Close()
		s := &session{c: c, ctx: c.Context, env: env}
		if s.dir, err = env.Directory(s.ctx); err != nil {
			return fail(err)
		}
		if s.st, err = env.OpenStore(s.ctx); err != nil {
			return fail(err)
		}
		return fail(fn(s))
	}
}

// fail gives err its exit status and the "userctl: " prefix.
func fail(err error) error {
	if err == nil {
		return nil
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return err
	}
	status := app.ExitFailure
	switch {
	case errors.Is(err, store.ErrNotFound):
		status = exitNoUser
	case errors.Is(err, directory.ErrInvalidAddress), errors.Is(err, errData):
		status = exitDataErr
	case errors.Is(err, context.DeadlineExceeded), isBusy(err):
		status = exitTempFail
	}
	return cli.Exit("userctl: "+err.Error(), status)
}

// errData marks bad input that is not an address.
var errData = errors.New("invalid value")

// isBusy recognises a database that stayed locked past the busy timeout.
func isBusy(err error) bool {
	s := err.Error()
	return strings.Contains(s, "SQLITE_BUSY") || strings.Contains(s, "database is locked")
}

// usage is a command-line mistake (exit status 2).
func usage(c *cli.Context, format string, args ...any) error {
	return cli.Exit(fmt.Sprintf("userctl: %s\nRun '%s --help' for usage.", fmt.Sprintf(format, args...), c.Command.HelpName), app.ExitUsage)
}

// needArgs checks the number of arguments.
func needArgs(c *cli.Context, min, max int) error {
	n := c.NArg()
	switch {
	case n < min:
		return usage(c, "%s: missing arguments (%s)", c.Command.HelpName, c.Command.ArgsUsage)
	case max >= 0 && n > max:
		return usage(c, "%s: too many arguments", c.Command.HelpName)
	}
	return nil
}

var jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print JSON for scripts"}

// printJSON writes v indented, with a final newline.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table writes rows aligned in columns.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// fields writes "name: value" lines aligned.
func fields(w io.Writer, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// timeText formats a time for tables, "-" when unset.
func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// optTime is a time for JSON, omitted when unset.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// parseSize reads a size in bytes: a number with an optional binary
// suffix K, M, G or T (also KiB, MB...; 1G is 2^30 bytes, as in Dovecot),
// or "unlimited" / "0" for no limit.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	if t == "UNLIMITED" || t == "NONE" {
		return 0, nil
	}
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	shift := 0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			shift = 10
		case 'M':
			shift = 20
		case 'G':
			shift = 30
		case 'T':
			shift = 40
		}
		if shift > 0 {
			t = t[:n-1]
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n < 0 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("size %q: want a number with an optional K, M, G or T suffix: %w", s, errData)
	}
	return n << shift, nil
}

// sizeText formats a byte count for people; 0 reads "unlimited" when
// limit is true.
func sizeText(n int64, limit bool) string {
	if n == 0 && limit {
		return "unlimited"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 3; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGT"[exp])
}

// countText formats a message count limit.
func countText(n int64) string {
	if n == 0 {
		return "unlimited"
	}
	return strconv.FormatInt(n, 10)
}

// checkConfigFile validates one configuration file for "config check".
func checkConfigFile(w io.Writer, path string) error {
	if _, err := config.Load(path); err != nil {
		var b strings.Builder
		for i, e := range app.ConfigErrors(err) {
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(e.Error())
		}
		return cli.Exit(b.String(), app.ExitFailure)
	}
	_, err := fmt.Fprintf(w, "%s: OK\n", path)
	return err
}
