// Command spamc classifies one message: the message on stdin, the message
// with X-Spam headers (or a report) on stdout, and the exit status says
// spam or ham. Its options follow SpamAssassin's spamc.
package main

import (
	"github.com/urfave/cli/v2"

	"gannet/lib/app"
)

func main() {
	a := app.NewApp("spamc", "classify a message from stdin as spam or ham")
	a.UsageText = "spamc [options] < message"
	a.Description = `spamc reads a message on standard input, asks spamd about it and writes
the message with X-Spam-* headers added to standard output. Its options
follow SpamAssassin's spamc, so scripts written for it keep working.

With --check or --exit-code the exit status is 1 for spam and 0 for ham.
Without --no-safe-fallback, a message spamd cannot be asked about is
passed through unchanged with status 0.`
	// -c means --check here, as in SpamAssassin's spamc: --config has no
	// short form.
	a.Flags = []cli.Flag{
		app.ConfigFlag(),
		&cli.BoolFlag{Name: "check", Aliases: []string{"c"}, Usage: "print only the score and threshold (\"5.2/5.0\"); exit 1 if spam"},
		&cli.BoolFlag{Name: "full", Aliases: []string{"R"}, Usage: "print the full report instead of the message"},
		&cli.BoolFlag{Name: "full-spam", Aliases: []string{"r"}, Usage: "print the full report for spam, nothing for ham"},
		&cli.BoolFlag{Name: "tests", Aliases: []string{"y"}, Usage: "print only the names of the tests that matched"},
		&cli.BoolFlag{Name: "exit-code", Aliases: []string{"E"}, Usage: "exit 1 if the message is spam, 0 if not"},
		&cli.StringFlag{Name: "dest", Aliases: []string{"d"}, Usage: "connect to spamd at `HOST` (default: the first spamd listener of the configuration)"},
		&cli.IntFlag{Name: "port", Aliases: []string{"p"}, Usage: "connect to spamd on `PORT`", Value: 783},
		&cli.StringFlag{Name: "socket", Aliases: []string{"U"}, Usage: "connect to spamd through the Unix socket `PATH`", TakesFile: true},
		&cli.StringFlag{Name: "username", Aliases: []string{"u"}, Usage: "classify with the Bayes data of account `ADDRESS` (default: the global data)"},
		&cli.Int64Flag{Name: "max-size", Aliases: []string{"s"}, Usage: "pass messages larger than `BYTES` through unchecked", Value: 512000},
		&cli.IntFlag{Name: "timeout", Aliases: []string{"t"}, Usage: "give up on spamd after `SECONDS`", Value: 600},
		&cli.BoolFlag{Name: "no-safe-fallback", Aliases: []string{"x"}, Usage: "fail (exit 69, or 75 with -X) instead of passing the message through when spamd cannot be asked"},
		&cli.BoolFlag{Name: "unavailable-tempfail", Aliases: []string{"X"}, Usage: "with --no-safe-fallback, exit 75 (try again later) when spamd is unavailable"},
		&cli.StringFlag{Name: "learntype", Aliases: []string{"L"}, Usage: "train instead of classify: `TYPE` is spam, ham or forget"},
		&cli.BoolFlag{Name: "ping", Aliases: []string{"K"}, Usage: "only check that spamd answers"},
	}
	app.SetUsageStatus(a, 64) // EX_USAGE, as SpamAssassin's spamc
	a.Action = app.NotImplementedAction("classifying messages", 6)
	app.Main(a)
}
