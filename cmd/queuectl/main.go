// Command queuectl lists, shows, retries, holds, releases, deletes and bounces the
// messages in the mail queue, as Postfix's mailq, postqueue and postsuper
// do for Postfix's.
//
// The work is done by lib/queue over the store; this program parses the
// command line and formats the output.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"gannet/lib/app"
	"gannet/lib/queue"
)

func main() {
	a := newApp()
	os.Args = app.Intersperse(a, os.Args)
	app.Main(a)
}

// newApp builds the command tree.
func newApp() *cli.App {
	a := app.NewApp("queuectl", "inspect and manage the mail queue")
	a.UsageText = "queuectl [--config FILE] COMMAND [OPTIONS] [ID...]"
	a.Description = `queuectl works on the queue queued delivers from. Messages are named by
the queue ID that list prints; an ID of "-" reads IDs from standard input,
one per line.

Exit status: 0 success, 1 an ID that is not in the queue (the others are
still worked) or another failure, 64 bad usage, 75 the store is busy or
the message is being delivered (try again), 78 configuration error.`
	a.CommandNotFound = func(c *cli.Context, cmd string) {
		fmt.Fprintf(c.App.ErrWriter, "queuectl: no command %q; see 'queuectl --help'\n", cmd)
		cli.OsExiter(exitUsage)
	}
	a.OnUsageError = usageError
	allFlag := func(what string) cli.Flag {
		return &cli.BoolFlag{Name: "all", Usage: what}
	}
	a.Commands = []*cli.Command{
		{
			Name:  "list",
			Usage: "list queued messages: ID, size, age, status, next attempt, sender, recipients and errors",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "sender", Usage: "only messages from `ADDRESS` (<> for the null sender)"},
				&cli.StringFlag{Name: "recipient", Usage: "only messages to `ADDRESS`"},
				&cli.StringFlag{Name: "domain", Usage: "only messages to recipients in `DOMAIN`"},
				&cli.StringFlag{Name: "status", Usage: "only messages in `STATUS`: active, deferred or held"},
				&cli.BoolFlag{Name: "json", Usage: "print one JSON object per message and line"},
			},
			Action: run(checkList, list),
		},
		{
			Name:      "show",
			Usage:     "show a queued message's envelope, recipients, delivery attempts and headers",
			ArgsUsage: "ID",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "body", Usage: "print the whole message, exactly as queued, instead"},
				&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			},
			Action: run(checkShow, show),
		},
		{
			Name:      "retry",
			Usage:     "attempt delivery now (a named held message is released too)",
			ArgsUsage: "ID...|-",
			Flags:     []cli.Flag{allFlag("every message not held (a queue flush)")},
			Action:    run(checkAct, announced(act(queue.Retry))),
		},
		{
			Name:      "hold",
			Usage:     "keep messages in the queue without attempting delivery",
			ArgsUsage: "ID...|-",
			Flags:     []cli.Flag{allFlag("every message")},
			Action:    run(checkAct, act(queue.Hold)),
		},
		{
			Name:      "release",
			Usage:     "release held messages for delivery",
			ArgsUsage: "ID...|-",
			Flags:     []cli.Flag{allFlag("every held message")},
			Action:    run(checkAct, announced(act(queue.Release))),
		},
		{
			Name:      "delete",
			Usage:     "delete messages from the queue without notice to the sender",
			ArgsUsage: "ID...|-",
			Flags: []cli.Flag{
				allFlag("every message (asks first on a terminal)"),
				&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask before deleting --all"},
			},
			Action: run(checkAct, act(queue.Delete)),
		},
		{
			Name:      "bounce",
			Usage:     "give up on messages and return them to their senders with a DSN",
			ArgsUsage: "ID...|-",
			Flags: []cli.Flag{
				allFlag("every message"),
				&cli.StringFlag{Name: "reason", Usage: "put `TEXT` in the DSN instead of \"" + queue.DefaultBounceReason + "\""},
			},
			Action: run(checkAct, bounce),
		},
	}
	for _, c := range a.Commands {
		c.OnUsageError = usageError
	}
	return a
}
