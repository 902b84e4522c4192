// Command sievectl checks, compiles and tests Sieve scripts (RFC 5228), and
// lists, uploads and activates them in the store or on a ManageSieve server.
package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"gannet/lib/app"
)

// accountFlags are the flags of the commands that work on an account's
// stored scripts, in the store or, with --server, over ManageSieve.
func accountFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "account", Aliases: []string{"a"}, Usage: "the scripts of account `ADDRESS` (in the store; with --server, the default --user)"},
		&cli.StringFlag{Name: "server", Usage: "talk ManageSieve to `HOST[:PORT]` (port 4190) instead of opening the store"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "with --server, log in as `NAME`"},
		&cli.StringFlag{Name: "password-file", Usage: "with --server, read the password from the first line of `FILE` (else $SIEVECTL_PASSWORD)", TakesFile: true},
		&cli.BoolFlag{Name: "insecure", Usage: "with --server, do not verify the server's TLS certificate"},
	}
}

func main() {
	a := newApp()
	os.Args = app.Intersperse(a, os.Args)
	app.Main(a)
}

func newApp() *cli.App {
	a := app.NewApp("sievectl", "check, test and manage Sieve scripts")
	a.UsageText = "sievectl [--config FILE] COMMAND [OPTIONS] [ARGS...]"
	a.Description = `sievectl works with Sieve filtering scripts (RFC 5228). check, compile and
test work on files; list, get, put, activate, deactivate, delete and rename
work on an account's stored scripts, in the store directly (--account) or,
with --server, on a ManageSieve server (RFC 5804) as the account itself
would (STARTTLS, then SCRAM-SHA-256 or PLAIN). Both ways apply the same
checks and the [sieve] limits.

Exit status: 0 success, 1 a script with errors or a refused request, 2 bad
usage, 67 no such script or account, 75 the server or store is unavailable
(try again), 77 authentication failed, 78 configuration error.`
	a.Commands = []*cli.Command{
		{
			Name:      "check",
			Usage:     "check the syntax of scripts; print their errors and exit 1 if one has any",
			ArgsUsage: "FILE...",
			Action:    checkFiles,
		},
		{
			Name:      "compile",
			Usage:     "compile a script as delivery would, reporting its errors (exit 1), like sievec",
			ArgsUsage: "FILE",
			Action:    compileFile,
		},
		{
			Name:      "test",
			Usage:     "run a script against a message and print the actions it would take",
			ArgsUsage: "FILE",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "the message `FILE` (\"-\" for standard input)", Required: true, TakesFile: true},
				&cli.StringFlag{Name: "envelope-from", Aliases: []string{"from"}, Usage: "the envelope `SENDER` (default: the message's Return-Path)"},
				&cli.StringFlag{Name: "envelope-to", Aliases: []string{"to"}, Usage: "the envelope recipient `ADDRESS` (default: the first address of the message's To)"},
			},
			Action: testFile,
		},
		{
			Name:   "list",
			Usage:  "list an account's scripts, marking the active one",
			Flags:  append(accountFlags(), &cli.BoolFlag{Name: "json", Usage: "print a JSON array"}),
			Action: withScripts(0, 0, list),
		},
		{
			Name:      "get",
			Usage:     "print a stored script",
			ArgsUsage: "NAME",
			Flags:     accountFlags(),
			Action:    withScripts(1, 1, get),
		},
		{
			Name:      "put",
			Usage:     "check a script and store it as NAME, replacing one of that name (\"-\" reads standard input)",
			ArgsUsage: "NAME FILE",
			Flags: append(accountFlags(),
				&cli.BoolFlag{Name: "activate", Usage: "also make it the active script"},
			),
			Action: withScripts(2, 2, put),
		},
		{
			Name:      "activate",
			Usage:     "make a stored script the active one",
			ArgsUsage: "NAME",
			Flags:     accountFlags(),
			Action:    withScripts(1, 1, activate),
		},
		{
			Name:   "deactivate",
			Usage:  "leave the account with no active script",
			Flags:  accountFlags(),
			Action: withScripts(0, 0, deactivate),
		},
		{
			Name:      "delete",
			Usage:     "delete a stored script (not the active one)",
			ArgsUsage: "NAME",
			Flags:     accountFlags(),
			Action:    withScripts(1, 1, deleteScript),
		},
		{
			Name:      "rename",
			Usage:     "rename a stored script (the active one stays active)",
			ArgsUsage: "OLD NEW",
			Flags:     accountFlags(),
			Action:    withScripts(2, 2, rename),
		},
	}
	return a
}
