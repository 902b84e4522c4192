package tests

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestHelpAndVersion(t *testing.T) {
	for _, prog := range programs {
		t.Run(prog, func(t *testing.T) {
			t.Parallel()
			for _, flag := range []string{"--help", "-h"} {
				r := run(t, prog, flag)
				if r.status != 0 {
					t.Fatalf("%s %s: status %d, stderr %q", prog, flag, r.status, r.stderr)
				}
				if !strings.HasPrefix(r.stdout, "NAME:\n   "+prog+" - ") || !strings.Contains(r.stdout, "--config") {
					t.Errorf("%s %s does not describe the program and its --config:\n%s", prog, flag, r.stdout)
				}
			}
			for _, flag := range []string{"--version", "-V"} {
				r := run(t, prog, flag)
				if r.status != 0 {
					t.Fatalf("%s %s: status %d, stderr %q", prog, flag, r.status, r.stderr)
				}
				want := prog + " " + wantVersion + "\n"
				if wantVersion == "" && strings.HasPrefix(r.stdout, prog+" ") && len(strings.Fields(r.stdout)) == 2 {
					want = r.stdout
				}
				if r.stdout != want {
					t.Errorf("%s %s printed %q, want %q", prog, flag, r.stdout, want)
				}
			}
		})
	}
}

// notYet lists, per program, each command whose job a later issue brings,
// with the arguments it needs to get past the command line, and that issue
// (0: none filed yet). An issue that implements a command takes its line
// out and tests the real thing.
var notYet = []struct {
	args  []string
	issue int
}{
	{[]string{"jmapd"}, 0},
}

// TestNotImplementedSaysSo checks that a program asked to do what it cannot
// do yet says so and exits 2, doing nothing else (it writes nothing to
// stdout: deliver and spamc must not pass a message through as if handled).
func TestNotImplementedSaysSo(t *testing.T) {
	for _, c := range notYet {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			t.Parallel()
			r := runWith(t, runOpts{stdin: "Subject: test\r\n\r\nbody\r\n"}, c.args[0], c.args[1:]...)
			when := "(no issue filed yet)"
			if c.issue > 0 {
				when = "(issue #" + strconv.Itoa(c.issue) + ")"
			}
			re := regexp.MustCompile(`^` + regexp.QuoteMeta(c.args[0]+": ") + `.+ is not implemented yet ` + regexp.QuoteMeta(when) + "\n$")
			if r.status != 2 || !re.MatchString(r.stderr) || r.stdout != "" {
				t.Errorf("status %d, stdout %q, stderr %q; want 2, nothing, and %q", r.status, r.stdout, r.stderr, re)
			}
		})
	}
}

// TestEveryCommandCovered makes sure every command the programs offer is
// either in notYet or belongs to a program tested on its own (userctl in
// cmd/userctl, deliver in deliver_test.go, smtpd in smtpd_test.go, queuectl
// in queuectl_test.go and queued_test.go, queued in queued_test.go, imapd in
// imapd_test.go, banctl in ban_test.go, sieved in sieved_test.go,
// sievectl in sievectl_test.go, spamd and spamc in spamd_test.go,
// bayes-train in bayes_test.go, acmectl in acme_test.go), so a new
// command cannot go untested here by accident.
func TestEveryCommandCovered(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range notYet {
		key := c.args[0]
		if len(c.args) > 1 && !strings.HasPrefix(c.args[1], "-") && !strings.Contains(c.args[1], "@") {
			key += " " + c.args[1]
		}
		covered[key] = true
	}
	for _, prog := range programs {
		if prog == "userctl" || prog == "deliver" || prog == "smtpd" || prog == "queuectl" || prog == "queued" || prog == "imapd" || prog == "banctl" ||
			prog == "sieved" || prog == "sievectl" || prog == "spamd" || prog == "spamc" || prog == "bayes-train" ||
			prog == "acmectl" {
			continue
		}
		cmds := commandsOf(t, []string{prog})
		if len(cmds) == 0 {
			cmds = [][]string{{prog}}
		}
		for _, cmd := range cmds {
			if !covered[strings.Join(cmd, " ")] {
				t.Errorf("%q is not in notYet: test what it does", strings.Join(cmd, " "))
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, prog := range programs {
		t.Run(prog, func(t *testing.T) {
			t.Parallel()
			want := 2
			if prog == "deliver" || prog == "spamc" || prog == "queuectl" {
				want = 64 // EX_USAGE: they follow sysexits.h (queuectl as postqueue)
			}
			r := run(t, prog, "--no-such-flag")
			if r.status != want || !strings.Contains(r.stderr, "no-such-flag") {
				t.Errorf("status %d, stderr %q; want %d and the flag named", r.status, r.stderr, want)
			}
		})
	}
}

// commandsOf returns the leaf commands under cmd (a program and maybe
// command names), as full argument lists, from the --help output.
func commandsOf(t *testing.T, cmd []string) [][]string {
	t.Helper()
	var out [][]string
	for _, sub := range helpOf(t, cmd).commands {
		path := append(slices.Clone(cmd), sub)
		if leaves := commandsOf(t, path); len(leaves) > 0 {
			out = append(out, leaves...)
		} else {
			out = append(out, path)
		}
	}
	return out
}

// help is what a --help output lists.
type help struct {
	commands []string // subcommand names, without "help"
	flags    []string // "--long" and "-s" forms
}

// helpOf runs cmd --help and parses its COMMANDS and OPTIONS sections.
func helpOf(t *testing.T, cmd []string) help {
	t.Helper()
	r := run(t, cmd[0], append(slices.Clone(cmd[1:]), "--help")...)
	if r.status != 0 {
		t.Fatalf("%s --help: status %d, stderr %q", strings.Join(cmd, " "), r.status, r.stderr)
	}
	var h help
	section := ""
	for _, line := range strings.Split(r.stdout, "\n") {
		if line != "" && !strings.HasPrefix(line, " ") {
			section = strings.TrimSuffix(line, ":")
			continue
		}
		entry := strings.TrimSpace(line)
		if entry == "" {
			continue
		}
		// The names end where the description starts, after 2+ spaces.
		names, _, _ := strings.Cut(entry, "  ")
		switch section {
		case "COMMANDS":
			name, _, _ := strings.Cut(names, ",")
			if name != "help" {
				h.commands = append(h.commands, name)
			}
		case "OPTIONS", "GLOBAL OPTIONS":
			if !strings.HasPrefix(names, "-") {
				continue // a wrapped description line
			}
			for _, form := range strings.Split(names, ", ") {
				flag, _, _ := strings.Cut(form, " ")
				h.flags = append(h.flags, flag)
			}
		}
	}
	return h
}

// flagsOf returns every flag of a program and of its commands, sorted.
func flagsOf(t *testing.T, prog string) []string {
	t.Helper()
	seen := map[string]bool{}
	var walk func(cmd []string)
	walk = func(cmd []string) {
		h := helpOf(t, cmd)
		for _, f := range h.flags {
			seen[f] = true
		}
		for _, sub := range h.commands {
			walk(append(slices.Clone(cmd), sub))
		}
	}
	walk([]string{prog})
	var flags []string
	for f := range seen {
		flags = append(flags, f)
	}
	slices.Sort(flags)
	return flags
}
