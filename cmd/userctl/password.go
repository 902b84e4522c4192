package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"gannet/lib/auth"
)

// passwordFlags choose where a new password comes from.
func passwordFlags(random bool) []cli.Flag {
	fs := []cli.Flag{
		&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from the first line of standard input"},
		&cli.StringFlag{Name: "password-file", Usage: "read the password from the first line of `FILE`", TakesFile: true},
	}
	if random {
		fs = append(fs, &cli.BoolFlag{Name: "random-password", Usage: "make up a random password and print it on standard output"})
	}
	return fs
}

// newPassword gets the password the flags ask for: from stdin, a file, a
// random one (generated reports true), or else a prompt on the terminal.
func newPassword(c *cli.Context, who string) (password string, generated bool, err error) {
	n := 0
	for _, f := range []string{"password-stdin", "password-file", "random-password"} {
		if c.IsSet(f) && (f == "password-file" || c.Bool(f)) {
			n++
		}
	}
	if n > 1 {
		return "", false, usage(c, "give only one of --password-stdin, --password-file and --random-password")
	}
	switch {
	case c.Bool("random-password"):
		p, err := auth.RandomPassword()
		return p, true, err
	case c.Bool("password-stdin"):
		p, err := firstLine(c.App.Reader)
		if err != nil {
			return "", false, fmt.Errorf("password from standard input: %w", err)
		}
		return p, false, nil
	case c.IsSet("password-file"):
		f, err := os.Open(c.String("password-file"))
		if err != nil {
			return "", false, err
		}
		defer f.Close()
		p, err := firstLine(f)
		if err != nil {
			return "", false, fmt.Errorf("password from %s: %w", c.String("password-file"), err)
		}
		return p, false, nil
	}
	p, err := prompt(who)
	return p, false, err
}

// firstLine reads a password line, bounded by auth.MaxPasswordLen.
func firstLine(r io.Reader) (string, error) {
	if r == nil {
		r = os.Stdin
	}
	br := bufio.NewReaderSize(io.LimitReader(r, auth.MaxPasswordLen+2), auth.MaxPasswordLen+2)
	line, err := br.ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if !bytes.HasSuffix(line, []byte("\n")) && len(line) > auth.MaxPasswordLen {
		return "", fmt.Errorf("longer than %d bytes: %w", auth.MaxPasswordLen, errData)
	}
	p := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
	if p == "" {
		return "", fmt.Errorf("empty password: %w", errData)
	}
	return p, nil
}

// prompt asks for a password twice on the terminal, without echo.
func prompt(who string) (string, error) {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", cli.Exit("userctl: no terminal to ask for a password: use --password-stdin, --password-file or --random-password", 2)
	}
	fmt.Fprintf(os.Stderr, "New password for %s: ", who)
	p1, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return "", err
	}
	fmt.Fprint(os.Stderr, "Again: ")
	p2, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return "", err
	}
	if !bytes.Equal(p1, p2) {
		return "", fmt.Errorf("the passwords differ: %w", errData)
	}
	if len(p1) == 0 {
		return "", fmt.Errorf("empty password: %w", errData)
	}
	if len(p1) > auth.MaxPasswordLen {
		return "", fmt.Errorf("password longer than %d bytes: %w", auth.MaxPasswordLen, errData)
	}
	return string(p1), nil
}
