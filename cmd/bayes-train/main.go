// Command bayes-train trains the Bayes spam classifier from mbox files,
// maildirs, message files or stdin, for one account or globally, or from
// what users filed in and out of Junk. It is made to run from cron or a
// systemd timer.
package main

import (
	"github.com/urfave/cli/v2"

	"gannet/lib/app"
)

func main() {
	a := app.NewApp("bayes-train", "train the Bayes spam classifier")
	a.UsageText = "bayes-train --spam|--ham|--forget [--account ADDRESS] [--format FORMAT] [PATH...]\nbayes-train --junk-folders"
	a.ArgsUsage = "[PATH...]"
	a.Description = `bayes-train teaches the spam filter's Bayes classifier. Each PATH is an
mbox file, a maildir or a file holding one message; without PATH (or with
"-") one message is read from standard input. A message already trained the
same way is not counted twice; one trained the other way is moved.

With --junk-folders it trains from the store instead: what users moved into
their Junk mailbox as spam, what they moved out of it as ham, since the
previous run. That is what the bayes-train timer runs.`
	a.Flags = append(a.Flags,
		&cli.BoolFlag{Name: "spam", Usage: "train the messages as spam"},
		&cli.BoolFlag{Name: "ham", Usage: "train the messages as ham (not spam)"},
		&cli.BoolFlag{Name: "forget", Usage: "undo earlier training on the messages"},
		&cli.StringFlag{Name: "account", Usage: "train the Bayes data of account `ADDRESS` (default: the global data every account shares)"},
		&cli.StringFlag{Name: "format", Usage: "read PATH as `FORMAT`: auto, mbox, maildir or file", Value: "auto"},
		&cli.BoolFlag{Name: "junk-folders", Usage: "train from what users filed into and out of Junk since the last run"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print no progress bar and no summary"},
	)
	a.Action = app.NotImplementedAction("Bayes training", 6)
	app.Main(a)
}
