package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"gannet/lib/app"
	"gannet/lib/config"
	"gannet/lib/directory"
	"gannet/lib/managesieve"
	"gannet/lib/store"
)

// Exit statuses beyond app's 0, 1 and 2, as sysexits(3) and userctl use
// them.
const (
	exitNoUser   = 67 // EX_NOUSER: no such script or account
	exitTempFail = 75 // EX_TEMPFAIL: server or store unavailable
	exitNoPerm   = 77 // EX_NOPERM: authentication failed
	exitConfig   = 78 // EX_CONFIG: the configuration file is wrong
)

// opTimeout bounds one command's work against the store or a server.
const opTimeout = 2 * time.Minute

// maxPasswordFile bounds what --password-file reads.
const maxPasswordFile = 4096

// usage is a command-line mistake (exit status 2).
func usage(c *cli.Context, format string, args ...any) error {
	return cli.Exit(fmt.Sprintf("sievectl: %s\nRun '%s --help' for usage.", fmt.Sprintf(format, args...), c.Command.HelpName), app.ExitUsage)
}

// needArgs checks the number of arguments.
func needArgs(c *cli.Context, min, max int) error {
	n := c.NArg()
	switch {
	case n < min:
		return usage(c, "missing arguments (%s)", c.Command.ArgsUsage)
	case max >= 0 && n > max:
		return usage(c, "too many arguments")
	}
	return nil
}

// errAuth marks a failed login to a server.
var errAuth = errors.New("authentication failed")

// fail gives err its exit status and the "sievectl: " prefix.
func fail(err error) error {
	if err == nil {
		return nil
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return err
	}
	status := app.ExitFailure
	var ne net.Error
	switch {
	case errors.Is(err, errAuth):
		status = exitNoPerm
	case managesieve.HasCode(err, managesieve.CodeNonexistent), errors.Is(err, store.ErrNotFound):
		status = exitNoUser
	case managesieve.HasCode(err, managesieve.CodeTryLater), errors.As(err, &ne),
		errors.Is(err, context.DeadlineExceeded), isBusy(err):
		status = exitTempFail
	}
	return cli.Exit("sievectl: "+err.Error(), status)
}

// isBusy recognises a database that stayed locked past the busy timeout.
func isBusy(err error) bool {
	s := err.Error()
	return strings.Contains(s, "SQLITE_BUSY") || strings.Contains(s, "database is locked")
}

// withScripts checks the arguments, opens the account's scripts (in the
// store, or on the --server) and runs fn with them.
func withScripts(min, max int, fn func(c *cli.Context, ctx context.Context, sc managesieve.Scripts) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if err := needArgs(c, min, max); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(c.Context, opTimeout)
		defer cancel()
		if c.IsSet("server") {
			return fail(remote(c, ctx, fn))
		}
		if c.String("account") == "" {
			return usage(c, "--account or --server is required")
		}
		for _, f := range []string{"user", "password-file", "insecure"} {
			if c.IsSet(f) {
				return usage(c, "--%s goes with --server", f)
			}
		}
		env, err := app.Load(c)
		if err != nil {
			return app.ConfigFailure("sievectl", err, exitConfig)
		}
		defer env.Close()
		st, err := env.OpenStore(ctx)
		if err != nil {
			return fail(err)
		}
		addr, err := directory.Normalize(c.String("account"))
		if err != nil {
			return fail(err)
		}
		acct, err := st.GetAccount(ctx, addr)
		if errors.Is(err, store.ErrNotFound) {
			return fail(fmt.Errorf("no account %s: %w", addr, store.ErrNotFound))
		}
		if err != nil {
			return fail(err)
		}
		sc := &managesieve.Account{
			Store:     st,
			AccountID: acct.ID,
			Limits:    managesieve.Limits{MaxScripts: env.Config.Sieve.MaxScripts, MaxScriptSize: env.Config.Sieve.MaxScriptSize},
			// The check of sieved: includes read the account's scripts.
			Check: managesieve.SieveCheck(st, *options(env.Config)),
			Warn:  warner(c, c.Args().Get(1)),
		}
		return fail(fn(c, ctx, sc))
	}
}

// remote runs fn against the --server, logged in over TLS.
func remote(c *cli.Context, ctx context.Context, fn func(c *cli.Context, ctx context.Context, sc managesieve.Scripts) error) error {
	user := c.String("user")
	if user == "" {
		user = c.String("account")
	}
	if user == "" {
		return usage(c, "--server needs --user (or --account)")
	}
	password, err := serverPassword(c)
	if err != nil {
		return err
	}
	server := c.String("server")
	cl, err := managesieve.Dial(ctx, server)
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, ok := cl.Capabilities()["STARTTLS"]; ok {
		host, _, err := net.SplitHostPort(server)
		if err != nil {
			host = server
		}
		cfg := &tls.Config{ServerName: strings.Trim(host, "[]"), InsecureSkipVerify: c.Bool("insecure")}
		if err := cl.StartTLS(ctx, cfg); err != nil {
			return err
		}
	}
	cl.Warn = warner(c, c.Args().Get(1))
	if err := cl.Login(ctx, user, password); err != nil {
		var e *managesieve.Error
		if errors.As(err, &e) && e.Code != managesieve.CodeTryLater {
			return fmt.Errorf("%w as %s: %v", errAuth, user, err)
		}
		return err
	}
	if err := fn(c, ctx, cl); err != nil {
		return err
	}
	return cl.Logout(ctx)
}

// serverPassword reads --password-file, else $SIEVECTL_PASSWORD.
func serverPassword(c *cli.Context) (string, error) {
	if name := c.String("password-file"); name != "" {
		f, err := os.Open(name)
		if err != nil {
			return "", err
		}
		defer f.Close()
		line, err := bufio.NewReader(io.LimitReader(f, maxPasswordFile)).ReadString('\n')
		if err != nil && err != io.EOF {
			return "", fmt.Errorf("password from %s: %w", name, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return "", fmt.Errorf("password from %s: the first line is empty", name)
		}
		return line, nil
	}
	if p := os.Getenv("SIEVECTL_PASSWORD"); p != "" {
		return p, nil
	}
	return "", usage(c, "--server needs a password: --password-file FILE or $SIEVECTL_PASSWORD")
}

func list(c *cli.Context, ctx context.Context, sc managesieve.Scripts) error {
	scripts, err := sc.ListScripts(ctx)
	if err != nil {
		return err
	}
	w := c.App.Writer
	if c.Bool("json") {
		if scripts == nil {
			scripts = []managesieve.ScriptInfo{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(scripts)
	}
	for _, s := range scripts {
		if s.Active {
			fmt.Fprintf(w, "%s (active)\n", s.Name)
		} else {
			fmt.Fprintln(w, s.Name)
		}
	}
	return nil
}

func get(c *cli.Context, ctx context.Context, sc managesieve.Scripts) error {
	content, err := sc.GetScript(ctx, c.Args().First())
	if err != nil {
		return err
	}
	_, err = c.App.Writer.Write(content)
	return err
}

func put(c *cli.Context, ctx context.Context, sc managesieve.Scripts) error {
	name, file := c.Args().Get(0), c.Args().Get(1)
	content, err := readScript(c, file)
	if err != nil {
		return err
	}
	if err := sc.PutScript(ctx, name, content); err != nil {
		return scriptError(file, err)
	}
	if c.Bool("activate") {
		return sc.SetActive(ctx, name)
	}
	return nil
}

// warner prints the warnings of an accepted script (ManageSieve's
// WARNINGS) as "FILE: warning: TEXT" on standard error.
func warner(c *cli.Context, file string) func([]string) {
	return func(warnings []string) {
		for _, w := range warnings {
			fmt.Fprintf(c.App.ErrWriter, "%s: warning: %s\n", file, w)
		}
	}
}

// scriptError names the file in a refusal of its content.
func scriptError(file string, err error) error {
	var e *managesieve.Error
	if errors.As(err, &e) && e.Code == "" {
		return fmt.Errorf("%s: %s", file, e.Msg)
	}
	return err
}

func activate(c *cli.Context, ctx context.Context, sc managesieve.Scripts) error {
	return sc.SetActive(ctx, c.Args().First())
}

func deactivate(c *cli.Context, ctx context.Context, sc managesieve.Scripts) error {
	return sc.SetActive(ctx, "")
}

func deleteScript(c *cli.Context, ctx context.Context, sc managesieve.Scripts) error {
	return sc.DeleteScript(ctx, c.Args().First())
}

func rename(c *cli.Context, ctx context.Context, sc managesieve.Scripts) error {
	return sc.RenameScript(ctx, c.Args().Get(0), c.Args().Get(1))
}

// readScript reads a script file ("-": standard input), at most
// config.MaxSieveScriptSize octets.
func readScript(c *cli.Context, name string) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = c.App.Reader
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, config.MaxSieveScriptSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > config.MaxSieveScriptSize {
		return nil, fmt.Errorf("%s: larger than %d octets", name, config.MaxSieveScriptSize)
	}
	return b, nil
}
