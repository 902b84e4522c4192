// Command banctl manages bans and the allow-list: addresses and logins that
// smtpd, imapd, sieved and jmapd refuse, or never refuse.
//
// The work is done by lib/ban over the store; this program parses the
// command line and formats the output.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"gannet/lib/app"
	"gannet/lib/ban"
	"gannet/lib/config"
	"gannet/lib/notify"
	"gannet/lib/store"
)

// loginFlag makes a command take account names instead of IP addresses.
func loginFlag() cli.Flag {
	return &cli.BoolFlag{Name: "login", Usage: "the arguments are login names, even those that look like addresses"}
}

func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print JSON"}
}

func main() {
	app.Main(newApp())
}

// newApp builds the command tree.
func newApp() *cli.App {
	a := app.NewApp("banctl", "list, add and remove bans and allow-list entries")
	a.UsageText = "banctl [--config FILE] COMMAND [OPTIONS] [ARGUMENTS]"
	a.Description = `banctl manages the bans the daemons apply: an IP address or network
(CIDR), or a login name, refused until the ban expires. Daemons ban on their
own after repeated authentication failures or protocol abuse; banctl shows
their counters, adds and lifts bans by hand, and keeps the allow-list of
addresses that are never banned. Changes reach the running daemons at once
through the change feed.`
	a.Commands = []*cli.Command{
		{
			Name:   "list",
			Usage:  "list the bans in force: address or login, reason, since, until, counters",
			Flags:  []cli.Flag{jsonFlag()},
			Action: withAdmin(list),
		},
		{
			Name:      "show",
			Usage:     "show the ban and the failure counters of an address or login",
			ArgsUsage: "ADDRESS|LOGIN",
			Flags:     []cli.Flag{loginFlag(), jsonFlag()},
			Action:    withAdmin(show),
		},
		{
			Name:      "ban",
			Usage:     "ban addresses, networks or logins",
			ArgsUsage: "ADDRESS|CIDR|LOGIN...",
			Flags: []cli.Flag{
				loginFlag(),
				&cli.StringFlag{Name: "for", Usage: "lift the ban after `DURATION` (e.g. 1h, 7d)", DefaultText: "never"},
				&cli.StringFlag{Name: "reason", Usage: "record `TEXT` as the reason"},
			},
			Action: withAdmin(banCmd),
		},
		{
			Name:      "unban",
			Usage:     "lift bans and reset the failure counters",
			ArgsUsage: "ADDRESS|CIDR|LOGIN...",
			Flags:     []cli.Flag{loginFlag()},
			Action:    withAdmin(unban),
		},
		{
			Name:  "allow",
			Usage: "the allow-list: addresses and networks never banned",
			Subcommands: []*cli.Command{
				{
					Name:      "add",
					Usage:     "put addresses or networks on the allow-list",
					ArgsUsage: "ADDRESS|CIDR...",
					Flags:     []cli.Flag{&cli.StringFlag{Name: "reason", Usage: "record `TEXT` as the reason"}},
					Action:    withAdmin(allowAdd),
				},
				{
					Name:      "remove",
					Usage:     "take addresses or networks off the allow-list",
					ArgsUsage: "ADDRESS|CIDR...",
					Action:    withAdmin(allowRemove),
				},
				{
					Name:   "list",
					Usage:  "list the allow-list (the configuration's ban.allow, then banctl's)",
					Flags:  []cli.Flag{jsonFlag()},
					Action: withAdmin(allowList),
				},
			},
		},
	}
	return a
}

// usage is a command-line mistake: exit status 2.
func usage(c *cli.Context, format string, args ...any) error {
	return cli.Exit(fmt.Sprintf("banctl: %s\nRun '%s --help' for usage.", fmt.Sprintf(format, args...), c.Command.HelpName), app.ExitUsage)
}

// withAdmin opens the store and the change feed's publisher for a command.
func withAdmin(fn func(c *cli.Context, a *ban.Admin) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		env, err := app.Load(c)
		if err != nil {
			return err
		}
		defer env.Close()
		st, err := env.OpenStore(c.Context)
		if err != nil {
			return err
		}
		a := &ban.Admin{Store: st, Config: env.Config.Ban}
		if pub, err := notify.NewPublisher(env.Config.NotifyDir()); err != nil {
			env.Log.Warn("change feed unavailable; daemons apply the change within 30 seconds", "err", err)
		} else {
			defer pub.Close()
			a.Publisher = pub
		}
		return fn(c, a)
	}
}

func list(c *cli.Context, a *ban.Admin) error {
	if c.NArg() > 0 {
		return usage(c, "list takes no arguments")
	}
	entries, err := a.List(c.Context, false)
	if err != nil {
		return err
	}
	return printEntries(c, entries)
}

func allowList(c *cli.Context, a *ban.Admin) error {
	if c.NArg() > 0 {
		return usage(c, "allow list takes no arguments")
	}
	entries, err := a.List(c.Context, true)
	if err != nil {
		return err
	}
	return printEntries(c, entries)
}

// printEntries prints a table, or JSON with --json.
func printEntries(c *cli.Context, entries []ban.Entry) error {
	w := c.App.Writer
	if c.Bool("json") {
		if entries == nil {
			entries = []ban.Entry{}
		}
		return writeJSON(w, entries)
	}
	if len(entries) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tKEY\tREASON\tSINCE\tUNTIL\tCOUNTS")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Kind, e.Key, orDash(e.Reason), timeText(e.Since, "-"), timeText(e.Until, "never"), countsText(e.Counts))
	}
	return tw.Flush()
}

func show(c *cli.Context, a *ban.Admin) error {
	if c.NArg() != 1 {
		return usage(c, "show takes one address or login")
	}
	r, err := a.Show(c.Context, c.Args().First(), c.Bool("login"))
	if err != nil {
		return err
	}
	w := c.App.Writer
	if c.Bool("json") {
		return writeJSON(w, r)
	}
	fmt.Fprintf(w, "%s %s\n", r.Kind, r.Key)
	state := "not refused"
	switch {
	case r.Refused && r.Kind == store.BanLogin:
		state = "locked: its password is refused from every address (app passwords still work)"
	case r.Refused:
		state = "banned: connections are dropped"
	case r.Ban != nil || len(r.Networks) > 0:
		state = "banned, but allow-listed: not refused"
	}
	fmt.Fprintf(w, "state: %s\n", state)
	bans := r.Networks
	if r.Ban != nil {
		bans = append([]ban.Entry{*r.Ban}, bans...)
	}
	for _, b := range bans {
		fmt.Fprintf(w, "ban: %s, reason %q, since %s, until %s\n", b.Key, b.Reason, timeText(b.Since, "-"), timeText(b.Until, "never"))
	}
	for _, e := range r.Allowed {
		fmt.Fprintf(w, "allowed by: %s (%s)\n", e.Key, e.Source)
	}
	for _, k := range r.Counters {
		fmt.Fprintf(w, "counter %s: %d since %s (window ends %s, last %s)\n", k.Event, k.Count, timeText(k.Start, "-"), timeText(k.Until, "-"), timeText(k.Last, "-"))
	}
	if len(r.Counters) == 0 {
		fmt.Fprintln(w, "counters: none")
	}
	return nil
}

func banCmd(c *cli.Context, a *ban.Admin) error {
	if c.NArg() == 0 {
		return usage(c, "ban takes addresses, networks or logins")
	}
	var d time.Duration
	if s := c.String("for"); s != "" {
		var cd config.Duration
		if err := cd.UnmarshalText([]byte(s)); err != nil || cd.Duration <= 0 {
			return usage(c, "--for %q: want a positive duration such as 30m, 12h or 7d", s)
		}
		d = cd.Duration
	}
	return each(c, func(ctx context.Context, arg string) error {
		overridden, err := a.Ban(ctx, arg, c.Bool("login"), d, c.String("reason"))
		if err == nil && overridden {
			fmt.Fprintf(c.App.ErrWriter, "banctl: %s is on the allow-list: the ban has no effect while it is\n", arg)
		}
		return err
	})
}

func unban(c *cli.Context, a *ban.Admin) error {
	if c.NArg() == 0 {
		return usage(c, "unban takes addresses, networks or logins")
	}
	return each(c, func(ctx context.Context, arg string) error {
		return a.Unban(ctx, arg, c.Bool("login"))
	})
}

func allowAdd(c *cli.Context, a *ban.Admin) error {
	if c.NArg() == 0 {
		return usage(c, "allow add takes addresses or networks")
	}
	return each(c, func(ctx context.Context, arg string) error {
		return a.AllowAdd(ctx, arg, c.String("reason"))
	})
}

func allowRemove(c *cli.Context, a *ban.Admin) error {
	if c.NArg() == 0 {
		return usage(c, "allow remove takes addresses or networks")
	}
	return each(c, func(ctx context.Context, arg string) error {
		return a.AllowRemove(ctx, arg)
	})
}

// each runs fn for every argument, going on after a failure; the failures
// are printed and make the exit status 1.
func each(c *cli.Context, fn func(ctx context.Context, arg string) error) error {
	failed := 0
	for _, arg := range c.Args().Slice() {
		if err := fn(c.Context, arg); err != nil {
			if !errors.Is(err, ban.ErrNoEntry) && !strings.Contains(err.Error(), arg) {
				err = fmt.Errorf("%s: %w", arg, err)
			}
			fmt.Fprintf(c.App.ErrWriter, "banctl: %v\n", err)
			failed++
		}
	}
	if failed > 0 {
		return cli.Exit("", app.ExitFailure)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func timeText(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format(time.RFC3339)
}

func countsText(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
