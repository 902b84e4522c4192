package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"gannet/lib/directory"
)

// quotaView is an account's quota and usage as show --json gives it.
type quotaView struct {
	Address       string `json:"address"`
	QuotaBytes    int64  `json:"quota_bytes"`
	QuotaMessages int64  `json:"quota_messages"`
	UsedBytes     int64  `json:"used_bytes"`
	UsedMessages  int64  `json:"used_messages"`
}

func quotaCommand() *cli.Command {
	return &cli.Command{
		Name:  "quota",
		Usage: "storage limits of accounts",
		Subcommands: []*cli.Command{
			{
				Name:      "set",
				Usage:     "set an account's limits (0 or unlimited: no limit)",
				ArgsUsage: "ADDRESS",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "bytes", Usage: "storage limit: bytes, or with K, M, G or T (`SIZE`, 1G = 2^30)"},
					&cli.StringFlag{Name: "messages", Usage: "limit on the number of messages (`N`)"},
				},
				Action: run(quotaSet),
			},
			{
				Name:      "show",
				Usage:     "show an account's limits and usage",
				ArgsUsage: "ADDRESS",
				Flags:     []cli.Flag{jsonFlag},
				Action:    run(quotaShow),
			},
		},
	}
}

func quotaSet(s *session) error {
	c := s.c
	if err := needArgs(c, 1, 1); err != nil {
		return err
	}
	if !c.IsSet("bytes") && !c.IsSet("messages") {
		return usage(c, "give --bytes, --messages or both")
	}
	a, err := s.dir.Account(s.ctx, c.Args().First())
	if err != nil {
		return err
	}
	if c.IsSet("bytes") {
		if a.QuotaBytes, err = parseSize(c.String("bytes")); err != nil {
			return err
		}
	}
	if c.IsSet("messages") {
		m := c.String("messages")
		if strings.EqualFold(m, "unlimited") {
			m = "0"
		}
		n, err := strconv.ParseInt(m, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("messages %q: want a number: %w", c.String("messages"), errData)
		}
		a.QuotaMessages = n
	}
	return s.dir.UpdateAccount(s.ctx, a)
}

func quotaShow(s *session) error {
	if err := needArgs(s.c, 1, 1); err != nil {
		return err
	}
	a, err := s.dir.Account(s.ctx, s.c.Args().First())
	if err != nil {
		return err
	}
	u, err := s.st.AccountUsage(s.ctx, a.ID)
	if err != nil {
		return err
	}
	v := quotaView{a.Address, a.QuotaBytes, a.QuotaMessages, u.Bytes, u.Messages}
	w := s.c.App.Writer
	if s.c.Bool("json") {
		return printJSON(w, v)
	}
	return table(w, []string{"", "USED", "LIMIT"}, [][]string{
		{"storage", sizeText(v.UsedBytes, false), sizeText(v.QuotaBytes, true)},
		{"messages", fmt.Sprint(v.UsedMessages), countText(v.QuotaMessages)},
	})
}

// resolutionView is what resolve --json prints.
type resolutionView struct {
	Address  string          `json:"address"`
	Local    bool            `json:"local"`
	Exists   bool            `json:"exists"`
	Accounts []recipientView `json:"accounts"`
	Forward  []string        `json:"forward"`
}

type recipientView struct {
	Account string `json:"account"`
	Detail  string `json:"detail,omitempty"`
	Via     string `json:"via,omitempty"`
}

func resolveCommand() *cli.Command {
	return &cli.Command{
		Name:      "resolve",
		Usage:     "show where mail to an address goes",
		ArgsUsage: "ADDRESS",
		Flags:     []cli.Flag{jsonFlag},
		Action:    run(resolve),
	}
}

func resolve(s *session) error {
	if err := needArgs(s.c, 1, 1); err != nil {
		return err
	}
	r, err := s.dir.Resolve(s.ctx, s.c.Args().First())
	if err != nil {
		return err
	}
	v := resolutionView{Address: r.Address, Local: r.Local, Exists: r.Exists,
		Accounts: []recipientView{}, Forward: nonNil(r.Forward)}
	for _, rc := range r.Accounts {
		v.Accounts = append(v.Accounts, recipientView{rc.Account.Address, rc.Detail, rc.Via})
	}
	w := s.c.App.Writer
	if s.c.Bool("json") {
		if err := printJSON(w, v); err != nil {
			return err
		}
	} else {
		var rows [][]string
		for _, a := range v.Accounts {
			how := "account"
			if a.Via != "" {
				how = "via " + a.Via
			}
			if a.Detail != "" {
				how += ", detail " + a.Detail
			}
			rows = append(rows, []string{"deliver", a.Account, how})
		}
		for _, f := range v.Forward {
			rows = append(rows, []string{"forward", f, ""})
		}
		if len(rows) > 0 {
			if err := table(w, []string{"ACTION", "ADDRESS", "HOW"}, rows); err != nil {
				return err
			}
		}
	}
	switch {
	case !r.Local:
		return cli.Exit(fmt.Sprintf("userctl: %s: %s is not a local domain", r.Address, domainOf(r.Address)), exitNoUser)
	case !r.Exists:
		return fail(&directory.NotFoundError{What: "address", Address: r.Address})
	}
	return nil
}

func domainOf(addr string) string {
	_, d := directory.Split(addr)
	return d
}
