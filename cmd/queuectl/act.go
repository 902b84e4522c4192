package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"gannet/lib/queue"
	"gannet/lib/store"
)

func checkAct(c *cli.Context) error {
	all := c.Bool("all")
	switch {
	case all && c.NArg() > 0:
		return usage(c, "give queue IDs or --all, not both")
	case !all && c.NArg() == 0:
		return usage(c, "give queue IDs, - to read them from standard input, or --all")
	}
	return nil
}

// act returns the action of retry, hold, release or delete: on the IDs
// named (continuing past those not in the queue, status 1 at the end), or
// on --all, and then says on stderr, as postsuper does, how many messages
// changed.
func act(a queue.Action) func(s *session) error {
	return func(s *session) error {
		c := s.c
		var n int
		if c.Bool("all") {
			var entries []store.QueueEntry
			err := s.call(func(ctx context.Context) error {
				var err error
				entries, err = s.admin.List(ctx, a.AllFilter())
				return err
			})
			if err != nil {
				return err
			}
			if len(entries) == 0 {
				return nil
			}
			if a == queue.Delete && !c.Bool("yes") && isTerminal(os.Stdin) {
				ok, err := confirm(c, fmt.Sprintf("queuectl: delete all %d messages in the queue, telling no sender? [y/N] ", len(entries)))
				if err != nil {
					return err
				}
				if !ok {
					return cli.Exit("queuectl: nothing deleted", exitFailure)
				}
			}
			// Each entry is one store call with its own wait.
			for _, id := range queue.IDs(entries) {
				var k int
				err := s.call(func(ctx context.Context) error {
					var err error
					k, err = s.admin.ApplyAll(ctx, a, []int64{id})
					return err
				})
				n += k
				if err != nil {
					report(c, a, n)
					return err
				}
			}
			report(c, a, n)
			return nil
		}

		missed := 0
		err := queue.EachID(c.Args().Slice(), c.App.Reader, func(text string, id int64, err error) error {
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "queuectl: %v\n", err)
				missed++
				return nil
			}
			var changed bool
			err = s.call(func(ctx context.Context) error {
				var err error
				changed, err = s.admin.Apply(ctx, a, id)
				return err
			})
			switch {
			case errors.Is(err, store.ErrNotFound):
				fmt.Fprintln(c.App.ErrWriter, notFound(text))
				missed++
			case err != nil:
				return err
			case changed:
				n++
			}
			return nil
		})
		report(c, a, n)
		if err != nil {
			return err
		}
		if missed > 0 {
			return cli.Exit("", exitFailure)
		}
		return nil
	}
}

// report says how many messages changed, when any did.
func report(c *cli.Context, a queue.Action, n int) {
	if n > 0 {
		fmt.Fprintf(c.App.ErrWriter, "queuectl: %s\n", a.Done(n))
	}
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	return term.IsTerminal(int(f.Fd()))
}

// confirm asks question on stderr and reads the answer from stdin: y or
// yes (any case) is yes.
func confirm(c *cli.Context, question string) (bool, error) {
	fmt.Fprint(c.App.ErrWriter, question)
	line, err := bufio.NewReader(c.App.Reader).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(c.App.ErrWriter)
		return false, nil
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}
