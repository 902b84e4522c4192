// Command queuectl lists, shows, retries, holds, releases, deletes and
// bounces the messages in the mail queue.
package main

import (
	"github.com/urfave/cli/v2"

	"gannet/lib/app"
)

func main() {
	a := app.NewApp("queuectl", "inspect and manage the mail queue")
	a.Description = `queuectl works on the queue queued delivers from. Messages are named by
the queue ID that list prints.`
	const issue = 4
	a.Commands = []*cli.Command{
		{
			Name:  "list",
			Usage: "list queued messages: ID, age, size, sender, recipients and last error",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "sender", Usage: "only messages from `ADDRESS`"},
				&cli.StringFlag{Name: "recipient", Usage: "only messages to `ADDRESS`"},
				&cli.StringFlag{Name: "domain", Usage: "only messages to recipients in `DOMAIN`"},
				&cli.StringFlag{Name: "status", Usage: "only messages in `STATUS` active or held"},
				&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			},
			Action: app.NotImplementedAction("listing the queue", issue),
		},
		{
			Name:      "show",
			Usage:     "show a queued message's envelope, recipients and delivery attempts",
			ArgsUsage: "ID",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "raw", Usage: "print the message itself"},
				&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			},
			Action: app.NotImplementedAction("showing queued messages", issue),
		},
		{
			Name:      "retry",
			Usage:     "attempt delivery now",
			ArgsUsage: "ID...",
			Flags:     []cli.Flag{&cli.BoolFlag{Name: "all", Usage: "every active message"}},
			Action:    app.NotImplementedAction("retrying queued messages", issue),
		},
		{
			Name:      "hold",
			Usage:     "keep messages in the queue without attempting delivery",
			ArgsUsage: "ID...",
			Action:    app.NotImplementedAction("holding queued messages", issue),
		},
		{
			Name:      "release",
			Usage:     "release held messages for delivery",
			ArgsUsage: "ID...",
			Action:    app.NotImplementedAction("releasing queued messages", issue),
		},
		{
			Name:      "delete",
			Usage:     "delete messages from the queue without notice to the sender",
			ArgsUsage: "ID...",
			Action:    app.NotImplementedAction("deleting queued messages", issue),
		},
		{
			Name:      "bounce",
			Usage:     "give up on messages and return them to their senders with a DSN",
			ArgsUsage: "ID...",
			Flags:     []cli.Flag{&cli.StringFlag{Name: "reason", Usage: "put `TEXT` in the DSN"}},
			Action:    app.NotImplementedAction("bouncing queued messages", issue),
		},
	}
	app.Main(a)
}
