package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// aliasView is an alias as list and show --json give it.
type aliasView struct {
	Address string   `json:"address"`
	Targets []string `json:"targets"`
}

func aliasCommand() *cli.Command {
	return &cli.Command{
		Name:  "alias",
		Usage: "addresses that forward to accounts or elsewhere",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add an alias pointing at one or more addresses, local or remote",
				ArgsUsage: "ADDRESS TARGET...",
				Action: run(func(s *session) error {
					if err := needArgs(s.c, 2, -1); err != nil {
						return err
					}
					args := s.c.Args().Slice()
					_, err := s.dir.AddAlias(s.ctx, args[0], args[1:])
					return err
				}),
			},
			{
				Name:      "list",
				Usage:     "list aliases, of one domain or all",
				ArgsUsage: "[DOMAIN]",
				Flags:     []cli.Flag{jsonFlag},
				Action:    run(aliasList),
			},
			{
				Name:      "show",
				Usage:     "show an alias's targets",
				ArgsUsage: "ADDRESS",
				Flags:     []cli.Flag{jsonFlag},
				Action: run(func(s *session) error {
					if err := needArgs(s.c, 1, 1); err != nil {
						return err
					}
					a, err := s.dir.Alias(s.ctx, s.c.Args().First())
					if err != nil {
						return err
					}
					if s.c.Bool("json") {
						return printJSON(s.c.App.Writer, aliasView{a.Address, a.Targets})
					}
					_, err = fmt.Fprintln(s.c.App.Writer, strings.Join(a.Targets, "\n"))
					return err
				}),
			},
			{
				Name:      "remove",
				Usage:     "remove an alias",
				ArgsUsage: "ADDRESS",
				Action: run(func(s *session) error {
					if err := needArgs(s.c, 1, 1); err != nil {
						return err
					}
					return s.dir.RemoveAlias(s.ctx, s.c.Args().First())
				}),
			},
		},
	}
}

func aliasList(s *session) error {
	if err := needArgs(s.c, 0, 1); err != nil {
		return err
	}
	domain := ""
	if s.c.NArg() == 1 {
		d, err := s.dir.Domain(s.ctx, s.c.Args().First())
		if err != nil {
			return err
		}
		domain = d.Name
	}
	as, err := s.st.ListAliases(s.ctx, domain)
	if err != nil {
		return err
	}
	views := make([]aliasView, 0, len(as))
	for _, a := range as {
		views = append(views, aliasView{a.Address, a.Targets})
	}
	w := s.c.App.Writer
	if s.c.Bool("json") {
		return printJSON(w, views)
	}
	rows := make([][]string, 0, len(views))
	for _, v := range views {
		rows = append(rows, []string{v.Address, strings.Join(v.Targets, ", ")})
	}
	return table(w, []string{"ALIAS", "TARGETS"}, rows)
}
