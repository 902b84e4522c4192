package main

import (
	"github.com/urfave/cli/v2"

	"gannet/lib/app"
	"gannet/lib/config"
)

func configCommand() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "configuration files",
		Subcommands: []*cli.Command{
			{
				Name:  "check",
				Usage: "check configuration files: FILE: OK, or every error as FILE:LINE: KEY: MESSAGE",
				Description: `Checks each FILE, or the file --config names, as every Gannet program
would read it: unknown keys, wrong types, bad values and ${env:...} or
${file:...} references that do not resolve are errors. Exits 0 when every
file is good and 1 otherwise.`,
				ArgsUsage: "[FILE...]",
				Action:    configCheck,
			},
		},
	}
}

func configCheck(c *cli.Context) error {
	files := c.Args().Slice()
	if len(files) == 0 {
		files = []string{config.ResolvePath(c.String(app.ConfigFlagName))}
	}
	var msgs []string
	for _, f := range files {
		if err := checkConfigFile(c.App.Writer, f); err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	if len(msgs) > 0 {
		return cli.Exit(joinLines(msgs), app.ExitFailure)
	}
	return nil
}

func joinLines(s []string) string {
	out := ""
	for i, m := range s {
		if i > 0 {
			out += "\n"
		}
		out += m
	}
	return out
}
