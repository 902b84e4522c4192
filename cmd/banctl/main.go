// Command banctl manages bans and the allow-list: addresses and logins that
// smtpd, imapd, sieved and jmapd refuse, or never refuse.
package main

import (
	"github.com/urfave/cli/v2"

	"gannet/lib/app"
)

// loginFlag makes a command take account names instead of IP addresses.
func loginFlag() cli.Flag {
	return &cli.BoolFlag{Name: "login", Usage: "the arguments are login names, not IP addresses"}
}

func main() {
	a := app.NewApp("banctl", "list, add and remove bans and allow-list entries")
	a.Description = `banctl manages the bans the daemons apply: an IP address or network
(CIDR), or a login name, refused until the ban expires. Daemons ban on their
own after repeated authentication failures or protocol abuse; banctl shows
their counters, adds and lifts bans by hand, and keeps the allow-list of
addresses that are never banned.`
	const issue = 7
	a.Commands = []*cli.Command{
		{
			Name:  "list",
			Usage: "list the bans in force",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "allow", Usage: "list the allow-list instead"},
				&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			},
			Action: app.NotImplementedAction("listing bans", issue),
		},
		{
			Name:      "show",
			Usage:     "show the ban and the failure counters of an address or login",
			ArgsUsage: "ADDRESS|LOGIN",
			Flags:     []cli.Flag{loginFlag(), &cli.BoolFlag{Name: "json", Usage: "print JSON"}},
			Action:    app.NotImplementedAction("showing bans", issue),
		},
		{
			Name:      "ban",
			Usage:     "ban addresses, networks or logins",
			ArgsUsage: "ADDRESS|CIDR|LOGIN...",
			Flags: []cli.Flag{
				loginFlag(),
				&cli.DurationFlag{Name: "for", Usage: "lift the ban after `DURATION` (e.g. 1h)", DefaultText: "never"},
				&cli.StringFlag{Name: "reason", Usage: "record `TEXT` as the reason"},
			},
			Action: app.NotImplementedAction("banning", issue),
		},
		{
			Name:      "unban",
			Usage:     "lift bans and reset the failure counters",
			ArgsUsage: "ADDRESS|CIDR|LOGIN...",
			Flags:     []cli.Flag{loginFlag()},
			Action:    app.NotImplementedAction("unbanning", issue),
		},
		{
			Name:      "allow",
			Usage:     "put addresses or networks on the allow-list (never banned)",
			ArgsUsage: "ADDRESS|CIDR...",
			Flags:     []cli.Flag{&cli.StringFlag{Name: "reason", Usage: "record `TEXT` as the reason"}},
			Action:    app.NotImplementedAction("the allow-list", issue),
		},
		{
			Name:      "disallow",
			Usage:     "take addresses or networks off the allow-list",
			ArgsUsage: "ADDRESS|CIDR...",
			Action:    app.NotImplementedAction("the allow-list", issue),
		},
	}
	app.Main(a)
}
