// Command bayes-train trains the Bayes spam classifier from mbox files,
// maildirs, message files or stdin, for one account or globally, or from
// what users filed in and out of Junk. It is made to run from cron or a
// systemd timer.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"gannet/lib/app"
	"gannet/lib/mailfile"
	"gannet/lib/spam"
	"gannet/lib/store"
)

func main() {
	a := app.NewApp("bayes-train", "train the Bayes spam classifier")
	a.UsageText = "bayes-train --spam|--ham|--forget [--account ADDRESS] [--format FORMAT] [PATH...]\nbayes-train --junk-folders\nbayes-train --expire [--account ADDRESS]"
	a.ArgsUsage = "[PATH...]"
	a.Description = `bayes-train teaches the spam filter's Bayes classifier. Each PATH is an
mbox file, a maildir or a file holding one message; without PATH (or with
"-") one message is read from standard input. A message already trained the
same way is not counted twice; one trained the other way is moved.

With --junk-folders it trains from the store instead: what users moved into
their Junk mailbox as spam, what they moved out of it as ham, since the
previous run. That is what the bayes-train timer runs.

With --expire it expires tokens now, as the trainer in imapd and spamd does
once a day: tokens seen in one message only and not for 21 days, then the
least recently seen beyond [spam.bayes] max_tokens, of every database or
of the --account's.`
	a.Flags = append(a.Flags,
		&cli.BoolFlag{Name: "spam", Usage: "train the messages as spam"},
		&cli.BoolFlag{Name: "ham", Usage: "train the messages as ham (not spam)"},
		&cli.BoolFlag{Name: "forget", Usage: "undo earlier training on the messages"},
		&cli.StringFlag{Name: "account", Usage: "train the Bayes data of account `ADDRESS` (default: the global data every account shares)"},
		&cli.StringFlag{Name: "format", Usage: "read PATH as `FORMAT`: auto, mbox, maildir or file", Value: "auto"},
		&cli.BoolFlag{Name: "junk-folders", Usage: "train from what users filed into and out of Junk since the last run"},
		&cli.BoolFlag{Name: "expire", Usage: "expire old and surplus tokens of every database (or of --account's)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print no progress bar and no summary"},
	)
	a.Action = run
	app.Main(a)
}

// summary counts what a run did.
type summary struct {
	learned, relearned, already, forgotten, unknown, failed int
	tokens                                                  int
}

func run(c *cli.Context) error {
	isSpam, isHam, forget, junk := c.Bool("spam"), c.Bool("ham"), c.Bool("forget"), c.Bool("junk-folders")
	expire := c.Bool("expire")
	switch {
	case junk && (isSpam || isHam || forget || expire || c.NArg() > 0 || c.IsSet("account")):
		return usage("--junk-folders takes no PATH and no --spam, --ham, --forget, --expire or --account")
	case expire && (isSpam || isHam || forget || c.NArg() > 0):
		return usage("--expire takes no PATH and no --spam, --ham or --forget")
	case !junk && !expire && isSpam == isHam && !forget:
		return usage("give one of --spam, --ham or --forget")
	case isSpam && isHam:
		return usage("--spam and --ham exclude each other")
	}
	env, err := app.Load(c)
	if err != nil {
		return app.ConfigFailure("bayes-train", err, app.ExitFailure)
	}
	defer env.Close()
	ctx := c.Context
	st, err := env.OpenStore(ctx)
	if err != nil {
		return cli.Exit(fmt.Sprintf("bayes-train: %v", err), app.ExitFailure)
	}
	quiet := c.Bool("quiet")
	if junk {
		n, err := spam.ApplyTrainingEvents(ctx, spam.Deps{Config: env.Config, Store: st, Log: env.Log}, spam.TrainerOwner())
		if !quiet {
			fmt.Printf("applied %d training events from Junk folders\n", n)
		}
		if err != nil {
			return cli.Exit(fmt.Sprintf("bayes-train: %v", err), app.ExitFailure)
		}
		return nil
	}

	var accountID int64
	if expire && !c.IsSet("account") {
		accountID = -1 // every database
	}
	if addr := c.String("account"); addr != "" {
		a, err := st.GetAccount(ctx, addr)
		if errors.Is(err, store.ErrNotFound) {
			return cli.Exit(fmt.Sprintf("bayes-train: no account %s", addr), app.ExitFailure)
		}
		if err != nil {
			return cli.Exit(fmt.Sprintf("bayes-train: %v", err), app.ExitFailure)
		}
		accountID = a.ID
	}
	if expire {
		n, err := spam.ExpireTokens(ctx, st, env.Config.Spam.Bayes, accountID, time.Now())
		if !quiet {
			fmt.Printf("expired %d tokens\n", n)
		}
		if err != nil {
			return cli.Exit(fmt.Sprintf("bayes-train: %v", err), app.ExitFailure)
		}
		return nil
	}
	paths := c.Args().Slice()
	if len(paths) == 0 {
		paths = []string{"-"}
	}
	format := c.String("format")

	var bar *progressbar.ProgressBar
	if !quiet && term.IsTerminal(int(os.Stderr.Fd())) {
		total := 0
		for _, p := range paths {
			total += mailfile.Count(p, format)
		}
		bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription("learning"), progressbar.OptionShowCount(),
			progressbar.OptionShowIts(), progressbar.OptionSetItsString("msg"),
			progressbar.OptionClearOnFinish())
	}
	var sum summary
	b := &batch{st: st, accountID: accountID, spam: isSpam, forget: forget, sum: &sum}
	for _, p := range paths {
		err := mailfile.Walk(p, format, os.Stdin, func(m mailfile.Message, err error) error {
			if bar != nil {
				bar.Add(1)
			}
			if err == nil {
				err = b.add(ctx, m.Source, m.Raw)
			}
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				sum.failed++
				fmt.Fprintf(os.Stderr, "bayes-train: %s: %v\n", m.Source, err)
			}
			return nil
		})
		// What was read before a failure is still learned.
		if ferr := b.flush(ctx); err == nil {
			err = ferr
		}
		if err != nil {
			if bar != nil {
				bar.Clear()
			}
			return cli.Exit(fmt.Sprintf("bayes-train: %s: %v", p, err), app.ExitFailure)
		}
	}
	if bar != nil {
		bar.Finish()
	}
	if !quiet {
		printSummary(os.Stdout, sum, forget)
	}
	if sum.failed > 0 {
		return cli.Exit("", app.ExitFailure)
	}
	return nil
}

// batchSize is how many messages bayes-train learns per transaction: one
// commit (an fsync) per message was most of the time a large mbox took.
const batchSize = 100

// batch gathers messages and learns them batchSize at a time, counting
// the outcomes as learning them one by one would.
type batch struct {
	st           store.Store
	accountID    int64
	spam, forget bool
	sum          *summary
	items        []store.LearnItem
	sources      []string
}

// add tokenizes one message and learns the batch once full. A message
// that does not parse is an error of its own; a failed batch is reported
// for each of its messages, and the error returned only when ctx ended.
func (b *batch) add(ctx context.Context, source string, raw []byte) error {
	m, err := spam.NewMessage(raw, spam.Envelope{AccountID: b.accountID})
	if err != nil {
		return err
	}
	b.items = append(b.items, spam.NewLearnItem(m))
	b.sources = append(b.sources, source)
	if len(b.items) < batchSize {
		return nil
	}
	return b.flush(ctx)
}

// flush learns the gathered messages.
func (b *batch) flush(ctx context.Context) error {
	if len(b.items) == 0 {
		return nil
	}
	defer func() {
		b.items, b.sources = b.items[:0], b.sources[:0]
	}()
	res, err := spam.LearnBatch(ctx, b.st, b.accountID, b.items, b.spam, b.forget)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for _, src := range b.sources {
			b.sum.failed++
			fmt.Fprintf(os.Stderr, "bayes-train: %s: %v\n", src, err)
		}
		return nil
	}
	for i, r := range res {
		n := len(b.items[i].Tokens)
		switch r {
		case store.Learned:
			b.sum.learned++
			b.sum.tokens += n
		case store.Relearned:
			b.sum.relearned++
			b.sum.tokens += n
		case store.AlreadyLearned:
			b.sum.already++
		case store.Forgotten:
			b.sum.forgotten++
			b.sum.tokens += n
		case store.NotLearned:
			b.sum.unknown++
		}
	}
	return nil
}

func printSummary(w io.Writer, s summary, forget bool) {
	var parts []string
	if forget {
		parts = append(parts, fmt.Sprintf("forgot %d messages", s.forgotten),
			fmt.Sprintf("%d were never learned", s.unknown))
	} else {
		parts = append(parts, fmt.Sprintf("learned %d messages", s.learned),
			fmt.Sprintf("moved %d learned the other way", s.relearned),
			fmt.Sprintf("skipped %d already learned", s.already))
	}
	parts = append(parts, fmt.Sprintf("%d tokens", s.tokens))
	if s.failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", s.failed))
	}
	fmt.Fprintln(w, strings.Join(parts, ", "))
}

func usage(msg string) error {
	return cli.Exit("bayes-train: "+msg, app.ExitUsage)
}
