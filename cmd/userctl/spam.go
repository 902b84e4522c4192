package main

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"

	"gannet/lib/store"
)

// spamView is an account's spam thresholds as show --json gives them.
type spamView struct {
	Address string  `json:"address"`
	Own     bool    `json:"own"`
	Spam    float64 `json:"spam"`
	Reject  float64 `json:"reject"`
}

func spamCommand() *cli.Command {
	return &cli.Command{
		Name:  "spam",
		Usage: "an account's own spam thresholds (instead of [spam] threshold and reject_threshold)",
		Subcommands: []*cli.Command{
			{
				Name:      "set",
				Usage:     "set the score from which mail goes to Junk, and from which smtpd refuses it",
				ArgsUsage: "ADDRESS",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "threshold", Usage: "spam from this `SCORE` on: into Junk", Required: true},
					&cli.StringFlag{Name: "reject", Usage: "refused from this `SCORE` on (0: never)", Value: "0"},
				},
				Action: run(spamSet),
			},
			{
				Name:      "reset",
				Usage:     "go back to the configured thresholds",
				ArgsUsage: "ADDRESS",
				Action:    run(spamReset),
			},
			{
				Name:      "show",
				Usage:     "show the thresholds that apply to an account",
				ArgsUsage: "ADDRESS",
				Flags:     []cli.Flag{jsonFlag},
				Action:    run(spamShow),
			},
		},
	}
}

func parseScore(name, s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != f || f > 1e6 || f < -1e6 {
		return 0, fmt.Errorf("%s %q: want a number: %w", name, s, errData)
	}
	return f, nil
}

func spamSet(s *session) error {
	c := s.c
	if err := needArgs(c, 1, 1); err != nil {
		return err
	}
	a, err := s.dir.Account(s.ctx, c.Args().First())
	if err != nil {
		return err
	}
	th, err := parseScore("threshold", c.String("threshold"))
	if err != nil {
		return err
	}
	rej, err := parseScore("reject", c.String("reject"))
	if err != nil {
		return err
	}
	if rej != 0 && rej < th {
		return fmt.Errorf("reject %g is below the threshold %g: %w", rej, th, errData)
	}
	return s.st.SetSpamThresholds(s.ctx, a.ID, &store.SpamThreshold{Spam: th, Reject: rej})
}

func spamReset(s *session) error {
	if err := needArgs(s.c, 1, 1); err != nil {
		return err
	}
	a, err := s.dir.Account(s.ctx, s.c.Args().First())
	if err != nil {
		return err
	}
	return s.st.SetSpamThresholds(s.ctx, a.ID, nil)
}

func spamShow(s *session) error {
	if err := needArgs(s.c, 1, 1); err != nil {
		return err
	}
	a, err := s.dir.Account(s.ctx, s.c.Args().First())
	if err != nil {
		return err
	}
	cfg := s.env.Config.Spam
	v := spamView{Address: a.Address, Spam: cfg.Threshold, Reject: cfg.RejectThreshold}
	th, err := s.st.SpamThresholds(s.ctx, a.ID)
	switch {
	case err == nil:
		v.Own, v.Spam, v.Reject = true, th.Spam, th.Reject
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	if s.c.Bool("json") {
		return printJSON(s.c.App.Writer, v)
	}
	from := "configured"
	if v.Own {
		from = "the account's own"
	}
	_, err = fmt.Fprintf(s.c.App.Writer, "threshold %g, reject %g (%s)\n", v.Spam, v.Reject, from)
	return err
}
