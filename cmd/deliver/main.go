// Command deliver is the local delivery agent: it reads a message on stdin
// and files it for the recipients named as arguments, through their Sieve
// scripts and the spam filter, like dovecot-lda. Its exit statuses follow
// sysexits.h so an MTA can tell a temporary failure from a permanent one.
package main

import (
	"github.com/urfave/cli/v2"

	"gannet/lib/app"
)

func main() {
	a := app.NewApp("deliver", "deliver a message from stdin into local mailboxes")
	a.UsageText = "deliver [-f SENDER] [-a ADDRESS] [-m MAILBOX] RECIPIENT...\ndeliver [-f SENDER] --mbox FILE RECIPIENT..."
	a.ArgsUsage = "RECIPIENT..."
	a.Description = `deliver reads one message on standard input and delivers it to each
RECIPIENT (an address of a local account, alias, group or list): the
recipient's Sieve script runs first, then spam goes to Junk and the rest to
INBOX (or the --mailbox). It exits 0 only once the message is durable.

Exit statuses follow sysexits.h: 64 usage, 65 malformed message, 67 unknown
recipient, 75 temporary failure (the MTA should retry), 77 refused (over
quota with quota_exceeded = "permanent", or rejected by Sieve).`
	a.Flags = append(a.Flags,
		&cli.StringFlag{
			Name:    "from",
			Aliases: []string{"f"},
			Usage:   "the envelope `SENDER` (Return-Path); \"\" or \"<>\" for the null sender",
		},
		&cli.StringFlag{
			Name:    "address",
			Aliases: []string{"a"},
			Usage:   "the original envelope recipient `ADDRESS`, as Sieve's envelope test sees it (default: the RECIPIENT)",
		},
		&cli.StringFlag{
			Name:    "mailbox",
			Aliases: []string{"m"},
			Usage:   "file into `MAILBOX` instead of INBOX unless Sieve decides otherwise; created if missing",
		},
		&cli.StringFlag{
			Name:      "mbox",
			Usage:     "deliver every message of the mbox `FILE` instead of one message from stdin",
			TakesFile: true,
		},
	)
	app.SetUsageStatus(a, 64) // EX_USAGE
	a.Action = app.NotImplementedAction("local delivery", 3)
	app.Main(a)
}
