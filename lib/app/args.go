package app

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// Intersperse lets options follow arguments ("userctl quota set ADDR
// --bytes 1G", "queuectl show 12 --json"), which urfave/cli v2 does not: it reorders args so that the
// options of the command named come before its arguments, and moves the
// program's own options (--config) to the front wherever they are.
// Everything after "--" is left as arguments.
func Intersperse(a *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	var global, path, flags, pos []string
	appFlags := flagSet(a.Flags)
	var cmds = a.Commands
	var leaf map[string]bool // the current command's flags: name → takes value
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		s := rest[i]
		if s == "--" {
			pos = append(pos, rest[i:]...)
			break
		}
		if len(s) > 1 && s[0] == '-' {
			name, _, hasValue := strings.Cut(strings.TrimLeft(s, "-"), "=")
			takes, ok := leaf[name]
			dst := &flags
			if !ok {
				takes, ok = appFlags[name]
				dst = &global
			}
			if !ok {
				// Unknown: leave it where it is for cli to complain about.
				if len(path) == 0 {
					global = append(global, s)
				} else {
					flags = append(flags, s)
				}
				continue
			}
			*dst = append(*dst, s)
			if takes && !hasValue && i+1 < len(rest) {
				i++
				*dst = append(*dst, rest[i])
			}
			continue
		}
		if len(pos) == 0 {
			if c := findCommand(cmds, s); c != nil {
				path = append(path, s)
				cmds = c.Subcommands
				leaf = flagSet(c.Flags)
				continue
			}
		}
		pos = append(pos, s)
	}
	out = append(out, global...)
	out = append(out, path...)
	out = append(out, flags...)
	return append(out, pos...)
}

// flagSet maps every name of every flag (and help) to whether it takes a
// value.
func flagSet(fs []cli.Flag) map[string]bool {
	m := map[string]bool{"help": false, "h": false}
	for _, f := range fs {
		takes := true
		if dv, ok := f.(cli.DocGenerationFlag); ok {
			takes = dv.TakesValue()
		}
		for _, n := range f.Names() {
			m[n] = takes
		}
	}
	return m
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// ConfigFailure reports a configuration that does not load as prog's exit
// error with status code, every error config.Load joined on its own line.
func ConfigFailure(prog string, err error, code int) error {
	var b strings.Builder
	for i, e := range ConfigErrors(err) {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(prog)
		b.WriteString(": ")
		b.WriteString(e.Error())
	}
	return cli.Exit(b.String(), code)
}

// ConfigErrors flattens the errors config.Load joins.
func ConfigErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, ConfigErrors(e)...)
		}
		return out
	}
	return []error{err}
}
