package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"gannet/lib/store"
)

// groupView is a group or list as list and show --json give it.
type groupView struct {
	Address string   `json:"address"`
	Members []string `json:"members"`
}

// groupCommand makes "group" or "list", which differ only in kind.
func groupCommand(name, usageText string) *cli.Command {
	kind := store.GroupKind(name)
	noun := name
	if kind == store.KindList {
		noun = "mailing list"
	}
	return &cli.Command{
		Name:  name,
		Usage: usageText,
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add a " + noun + ", with members if given",
				ArgsUsage: "ADDRESS [MEMBER...]",
				Action: run(func(s *session) error {
					if err := needArgs(s.c, 1, -1); err != nil {
						return err
					}
					args := s.c.Args().Slice()
					_, err := s.dir.AddGroup(s.ctx, kind, args[0], args[1:])
					return err
				}),
			},
			{
				Name:      "list",
				Usage:     "list " + noun + "s, of one domain or all",
				ArgsUsage: "[DOMAIN]",
				Flags:     []cli.Flag{jsonFlag},
				Action:    run(func(s *session) error { return groupList(s, kind) }),
			},
			{
				Name:      "show",
				Usage:     "show a " + noun + "'s members",
				ArgsUsage: "ADDRESS",
				Flags:     []cli.Flag{jsonFlag},
				Action: run(func(s *session) error {
					if err := needArgs(s.c, 1, 1); err != nil {
						return err
					}
					g, err := s.dir.Group(s.ctx, kind, s.c.Args().First())
					if err != nil {
						return err
					}
					if s.c.Bool("json") {
						return printJSON(s.c.App.Writer, groupView{g.Address, nonNil(g.Members)})
					}
					if len(g.Members) == 0 {
						return nil
					}
					_, err = fmt.Fprintln(s.c.App.Writer, strings.Join(g.Members, "\n"))
					return err
				}),
			},
			{
				Name:      "remove",
				Usage:     "remove a " + noun,
				ArgsUsage: "ADDRESS",
				Action: run(func(s *session) error {
					if err := needArgs(s.c, 1, 1); err != nil {
						return err
					}
					return s.dir.RemoveGroup(s.ctx, kind, s.c.Args().First())
				}),
			},
			{
				Name:  "member",
				Usage: "add or remove members of a " + noun,
				Subcommands: []*cli.Command{
					{
						Name:      "add",
						Usage:     "add members",
						ArgsUsage: "ADDRESS MEMBER...",
						Action: run(func(s *session) error {
							if err := needArgs(s.c, 2, -1); err != nil {
								return err
							}
							args := s.c.Args().Slice()
							return s.dir.AddGroupMembers(s.ctx, kind, args[0], args[1:])
						}),
					},
					{
						Name:      "remove",
						Usage:     "remove members",
						ArgsUsage: "ADDRESS MEMBER...",
						Action: run(func(s *session) error {
							if err := needArgs(s.c, 2, -1); err != nil {
								return err
							}
							args := s.c.Args().Slice()
							return s.dir.RemoveGroupMembers(s.ctx, kind, args[0], args[1:])
						}),
					},
				},
			},
		},
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func groupList(s *session, kind store.GroupKind) error {
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
	gs, err := s.st.ListGroups(s.ctx, kind, domain)
	if err != nil {
		return err
	}
	views := make([]groupView, 0, len(gs))
	for _, g := range gs {
		views = append(views, groupView{g.Address, nonNil(g.Members)})
	}
	w := s.c.App.Writer
	if s.c.Bool("json") {
		return printJSON(w, views)
	}
	rows := make([][]string, 0, len(views))
	for _, v := range views {
		rows = append(rows, []string{v.Address, strings.Join(v.Members, ", ")})
	}
	return table(w, []string{strings.ToUpper(string(kind)), "MEMBERS"}, rows)
}
