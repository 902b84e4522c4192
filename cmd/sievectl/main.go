// Command sievectl checks, compiles and tests Sieve scripts (RFC 5228), and
// lists, uploads and activates them in the store or on a ManageSieve server.
package main

import (
	"github.com/urfave/cli/v2"

	"gannet/lib/app"
)

// accountFlags are the flags of the commands that work on an account's
// stored scripts, in the store or, with --server, over ManageSieve.
func accountFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "account", Aliases: []string{"u"}, Usage: "the scripts of account `ADDRESS`", Required: true},
		&cli.StringFlag{Name: "server", Usage: "talk ManageSieve to `HOST[:PORT]` (port 4190) instead of opening the store"},
		&cli.BoolFlag{Name: "password-stdin", Usage: "with --server, read the account's password from standard input instead of prompting"},
	}
}

func main() {
	a := app.NewApp("sievectl", "check, test and manage Sieve scripts")
	a.Description = `sievectl works with Sieve filtering scripts (RFC 5228). check, compile and
test work on files; list, show, upload, activate, deactivate and delete work
on an account's stored scripts, in the store directly or, with --server, on
a ManageSieve server (RFC 5804) as the account itself would.`
	const issue = 8
	a.Commands = []*cli.Command{
		{
			Name:      "check",
			Usage:     "check the syntax of scripts; exit 1 if one has errors",
			ArgsUsage: "FILE...",
			Action:    app.NotImplementedAction("checking Sieve scripts", issue),
		},
		{
			Name:      "compile",
			Usage:     "check a script and print its compiled form",
			ArgsUsage: "FILE",
			Action:    app.NotImplementedAction("compiling Sieve scripts", issue),
		},
		{
			Name:      "test",
			Usage:     "run a script against a message and print the actions it would take",
			ArgsUsage: "SCRIPT",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "the message `FILE` (\"-\" for standard input)", Required: true, TakesFile: true},
				&cli.StringFlag{Name: "from", Usage: "the envelope `SENDER`"},
				&cli.StringFlag{Name: "to", Usage: "the envelope recipient `ADDRESS`"},
			},
			Action: app.NotImplementedAction("testing Sieve scripts", issue),
		},
		{
			Name:   "list",
			Usage:  "list an account's scripts, marking the active one",
			Flags:  append(accountFlags(), &cli.BoolFlag{Name: "json", Usage: "print JSON"}),
			Action: app.NotImplementedAction("listing Sieve scripts", issue),
		},
		{
			Name:      "show",
			Usage:     "print a stored script",
			ArgsUsage: "NAME",
			Flags:     accountFlags(),
			Action:    app.NotImplementedAction("showing Sieve scripts", issue),
		},
		{
			Name:      "upload",
			Usage:     "check a script and store it (replacing one of the same name)",
			ArgsUsage: "FILE",
			Flags: append(accountFlags(),
				&cli.StringFlag{Name: "name", Usage: "store the script as `NAME` (default: the file's name without .sieve)"},
				&cli.BoolFlag{Name: "activate", Usage: "make it the active script"},
			),
			Action: app.NotImplementedAction("uploading Sieve scripts", issue),
		},
		{
			Name:      "activate",
			Usage:     "make a stored script the active one",
			ArgsUsage: "NAME",
			Flags:     accountFlags(),
			Action:    app.NotImplementedAction("activating Sieve scripts", issue),
		},
		{
			Name:   "deactivate",
			Usage:  "leave the account with no active script",
			Flags:  accountFlags(),
			Action: app.NotImplementedAction("deactivating Sieve scripts", issue),
		},
		{
			Name:      "delete",
			Usage:     "delete a stored script (not the active one)",
			ArgsUsage: "NAME",
			Flags:     accountFlags(),
			Action:    app.NotImplementedAction("deleting Sieve scripts", issue),
		},
	}
	app.Main(a)
}
