package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"
)

// domainView is a domain as list --json shows it.
type domainView struct {
	Name     string    `json:"name"`
	CatchAll string    `json:"catch_all,omitempty"`
	Accounts int       `json:"accounts"`
	Created  time.Time `json:"created"`
}

func domainCommand() *cli.Command {
	return &cli.Command{
		Name:  "domain",
		Usage: "domains the server receives mail for",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add domains (Unicode names are stored as A-labels)",
				ArgsUsage: "DOMAIN...",
				Action: run(func(s *session) error {
					if err := needArgs(s.c, 1, -1); err != nil {
						return err
					}
					for _, name := range s.c.Args().Slice() {
						if _, err := s.dir.AddDomain(s.ctx, name); err != nil {
							return err
						}
					}
					return nil
				}),
			},
			{
				Name:   "list",
				Usage:  "list domains",
				Flags:  []cli.Flag{jsonFlag},
				Action: run(domainList),
			},
			{
				Name:      "remove",
				Usage:     "remove a domain that has no accounts, aliases, groups or lists",
				ArgsUsage: "DOMAIN",
				Action: run(func(s *session) error {
					if err := needArgs(s.c, 1, 1); err != nil {
						return err
					}
					return s.dir.RemoveDomain(s.ctx, s.c.Args().First())
				}),
			},
			{
				Name:      "catch-all",
				Usage:     "show or set the account that gets mail for unknown addresses of a domain",
				ArgsUsage: "DOMAIN [ACCOUNT]",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "clear", Usage: "turn the catch-all off"}},
				Action:    run(domainCatchAll),
			},
		},
	}
}

func domainList(s *session) error {
	if err := needArgs(s.c, 0, 0); err != nil {
		return err
	}
	doms, err := s.st.ListDomains(s.ctx)
	if err != nil {
		return err
	}
	views := make([]domainView, 0, len(doms))
	for _, d := range doms {
		accts, err := s.st.ListAccounts(s.ctx, d.Name)
		if err != nil {
			return err
		}
		views = append(views, domainView{Name: d.Name, CatchAll: d.CatchAll, Accounts: len(accts), Created: d.Created.UTC()})
	}
	w := s.c.App.Writer
	if s.c.Bool("json") {
		return printJSON(w, views)
	}
	rows := make([][]string, 0, len(views))
	for _, v := range views {
		ca := v.CatchAll
		if ca == "" {
			ca = "-"
		}
		rows = append(rows, []string{v.Name, strconv.Itoa(v.Accounts), ca, timeText(v.Created)})
	}
	return table(w, []string{"DOMAIN", "ACCOUNTS", "CATCH-ALL", "CREATED"}, rows)
}

func domainCatchAll(s *session) error {
	c := s.c
	if c.Bool("clear") {
		if err := needArgs(c, 1, 1); err != nil {
			return err
		}
		return s.dir.SetCatchAll(s.ctx, c.Args().First(), "")
	}
	if err := needArgs(c, 1, 2); err != nil {
		return err
	}
	if c.NArg() == 2 {
		return s.dir.SetCatchAll(s.ctx, c.Args().Get(0), c.Args().Get(1))
	}
	d, err := s.dir.Domain(s.ctx, c.Args().First())
	if err != nil {
		return err
	}
	ca := d.CatchAll
	if ca == "" {
		ca = "none"
	}
	_, err = fmt.Fprintln(c.App.Writer, ca)
	return err
}
