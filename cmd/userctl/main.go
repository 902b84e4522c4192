// Command userctl manages Gannet's directory: domains, accounts and their
// passwords and app passwords, aliases, groups, mailing lists and quotas.
// It also checks configuration files.
//
// The work is done by lib/directory and lib/auth; this program parses the
// command line, asks for passwords and formats the output.
package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"gannet/lib/app"
)

func main() {
	a := newApp()
	os.Args = app.Intersperse(a, os.Args)
	app.Main(a)
}

// newApp builds the command tree.
func newApp() *cli.App {
	a := app.NewApp("userctl", "manage domains, accounts, aliases, groups, lists and quotas")
	a.UsageText = "userctl [--config FILE] COMMAND [SUBCOMMAND] [OPTIONS] [ARGUMENTS]"
	a.Description = `userctl changes the directory in the store the configuration names: the
domains the server receives mail for, the accounts in them with their
passwords, app passwords and quotas, and the aliases, groups and mailing
lists that point at accounts. Passwords are read from standard input, a
file or a prompt, never from the command line.

Exit status: 0 success, 1 failure, 2 bad usage, 65 bad input (an invalid
address or size), 67 no such user, domain, alias, group or list, 75
temporary failure (try again), 78 configuration error.`
	a.Commands = []*cli.Command{
		domainCommand(),
		userCommand(),
		aliasCommand(),
		groupCommand("group", "shared addresses: mail goes to every member, members may send as it"),
		groupCommand("list", "mailing lists: mail goes to every member, local or remote"),
		quotaCommand(),
		spamCommand(),
		dkimCommand(),
		resolveCommand(),
		configCommand(),
	}
	return a
}
