// Package app is the set-up every Gannet program shares: the command-line
// frame (--config, --version, exit statuses), loading the configuration,
// the logger, and opening the store and the directory.
//
// A program's main is thin:
//
//	func main() {
//		a := app.NewApp("queuectl", "list, retry and delete queued messages")
//		a.Commands = []*cli.Command{...}
//		app.Main(a)
//	}
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"gannet/lib/config"
	"gannet/lib/directory"
	"gannet/lib/notify"
	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

// Version is the suite's version, set at link time by the Makefile:
//
//	go build -ldflags "-X gannet/lib/app.Version=$(git describe --always --dirty)"
var Version = "dev"

// Exit statuses shared by the programs. Programs with their own conventions
// (deliver and spamc follow sysexits and SpamAssassin) document theirs.
const (
	// ExitFailure is the status of a command that ran and failed.
	ExitFailure = 1
	// ExitUsage is the status of a malformed command line, and of a
	// command whose job is not implemented yet.
	ExitUsage = 2
)

// ConfigFlagName is the name of the flag naming the configuration file.
const ConfigFlagName = "config"

func init() {
	// Every program prints "NAME VERSION" for --version or -V (-v stays free
	// for programs that want it for "verbose").
	cli.VersionFlag = &cli.BoolFlag{
		Name:               "version",
		Aliases:            []string{"V"},
		Usage:              "print the program's name and version and exit",
		DisableDefaultText: true,
	}
	cli.VersionPrinter = func(c *cli.Context) {
		fmt.Fprintf(c.App.Writer, "%s %s\n", c.App.Name, c.App.Version)
	}
}

// ConfigFlag returns the --config flag, with the given short aliases
// (NewApp uses "c"; a program whose -c means something else passes none).
func ConfigFlag(aliases ...string) *cli.StringFlag {
	return &cli.StringFlag{
		Name:      ConfigFlagName,
		Aliases:   aliases,
		Usage:     "read the configuration from `FILE`",
		EnvVars:   []string{"GANNET_CONFIG"},
		Value:     config.DefaultPath,
		TakesFile: true,
	}
}

// NewApp returns a cli.App for the program name with the flags every
// program has: --config/-c FILE (or $GANNET_CONFIG, default
// /etc/gannet/gannet.toml) and --version/-V. Errors returned by an action
// end the program: a cli.ExitCoder with its own status and message, any
// other error with "NAME: error" and status 1. A malformed command line
// exits with status 2.
func NewApp(name, usage string) *cli.App {
	progName = name
	return &cli.App{
		Name:           name,
		HelpName:       name,
		Usage:          usage,
		Version:        Version,
		Flags:          []cli.Flag{ConfigFlag("c")},
		ExitErrHandler: exitErrHandler,
		OnUsageError:   usageError,
		CommandNotFound: func(c *cli.Context, cmd string) {
			fmt.Fprintf(c.App.ErrWriter, "%s: no command %q; see '%s --help'\n", c.App.Name, cmd, c.App.Name)
			cli.OsExiter(ExitUsage)
		},
	}
}

// Main runs a with the process's arguments and exits with its status.
// Cancelling on signals is the daemon's own business (lib/listen).
func Main(a *cli.App) {
	Prepare(a)
	err := a.RunContext(context.Background(), os.Args)
	if err == nil {
		return
	}
	// Errors that did not pass through the exit handler end up here: a
	// missing required flag, for one, after cli has shown the help.
	fmt.Fprintf(os.Stderr, "%s: %v\n", a.Name, err)
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		os.Exit(ec.ExitCode())
	}
	os.Exit(ExitUsage)
}

// Prepare finishes a before it runs (Main calls it): every subcommand
// gets the app's handling of malformed command lines, boolean flags do not
// print "(default: false)", and a program without subcommands does not
// list a "help" command.
func Prepare(a *cli.App) {
	if len(a.Commands) == 0 {
		a.HideHelpCommand = true
	}
	tidyFlags(a.Flags)
	prepareCommands(a.Commands)
}

func prepareCommands(cmds []*cli.Command) {
	for _, c := range cmds {
		if c.OnUsageError == nil {
			c.OnUsageError = usageError
		}
		tidyFlags(c.Flags)
		prepareCommands(c.Subcommands)
	}
}

func tidyFlags(flags []cli.Flag) {
	for _, f := range flags {
		if b, ok := f.(*cli.BoolFlag); ok && !b.Value {
			b.DisableDefaultText = true
		}
	}
}

func exitErrHandler(c *cli.Context, err error) {
	if err == nil {
		return
	}
	w := c.App.ErrWriter
	if w == nil {
		w = os.Stderr
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(w, msg)
		}
		cli.OsExiter(ec.ExitCode())
		return
	}
	fmt.Fprintf(w, "%s: %v\n", c.App.Name, err)
	cli.OsExiter(ExitFailure)
}

func usageError(c *cli.Context, err error, isSubcommand bool) error {
	return usageErrorStatus(ExitUsage)(c, err, isSubcommand)
}

// SetUsageStatus makes a malformed command line end a with status instead
// of 2: deliver and spamc, which follow sysexits.h, use 64 (EX_USAGE).
func SetUsageStatus(a *cli.App, status int) {
	a.OnUsageError = usageErrorStatus(status)
}

func usageErrorStatus(status int) cli.OnUsageErrorFunc {
	return func(c *cli.Context, err error, isSubcommand bool) error {
		name := c.App.Name
		if isSubcommand && c.Command != nil && c.Command.HelpName != "" {
			name = c.Command.HelpName
		}
		return cli.Exit(fmt.Sprintf("%s: %v\nRun '%s --help' for usage.", c.App.Name, err, name), status)
	}
}

// progName is the program's name for messages, set by NewApp.
var progName = filepath.Base(os.Args[0])

// NotImplemented is the error of a command whose job comes in a later
// issue: "NAME: WHAT is not implemented yet (issue #N)", exit status 2.
// An issue number of 0 stands for work no issue has been filed for yet.
//
//	return app.NotImplemented("receiving mail", 3)
func NotImplemented(what string, issue int) error {
	when := "no issue filed yet"
	if issue > 0 {
		when = fmt.Sprintf("issue #%d", issue)
	}
	return cli.Exit(fmt.Sprintf("%s: %s is not implemented yet (%s)", progName, what, when), ExitUsage)
}

// NotImplementedAction is a cli.ActionFunc returning NotImplemented(what, issue).
func NotImplementedAction(what string, issue int) cli.ActionFunc {
	return func(*cli.Context) error { return NotImplemented(what, issue) }
}

// Env is what a program has once its configuration is loaded: the
// configuration, a logger, and (opened on demand) the store and directory.
type Env struct {
	Config *config.Config
	Log    *slog.Logger

	mu    sync.Mutex
	store store.Store
	pub   *notify.Publisher
	dir   *directory.Directory
}

// Load reads the configuration named by --config (or $GANNET_CONFIG, or the
// default path) and sets up the logger from its [log] section, writing to
// stderr.
func Load(c *cli.Context) (*Env, error) {
	path := config.ResolvePath(c.String(ConfigFlagName))
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	log, err := NewLogger(os.Stderr, cfg.Log)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	log = log.With("prog", c.App.Name)
	return &Env{Config: cfg, Log: log}, nil
}

// NewLogger returns a slog logger writing to w at the level and in the
// format (text or json) the [log] section asks for.
func NewLogger(w io.Writer, l config.Log) (*slog.Logger, error) {
	var level slog.Level
	switch strings.ToLower(l.Level) {
	case "", "info":
		level = slog.LevelInfo
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, fmt.Errorf("log.level: unknown level %q (want debug, info, warn or error)", l.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(l.Format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("log.format: unknown format %q (want text or json)", l.Format)
	}
}

// OpenStore opens the store the configuration names (once; later calls
// return the same store). Every commit that changes an account is announced
// on the change feed in the configuration's notify directory, so daemons in
// other processes hear of it.
func (e *Env) OpenStore(ctx context.Context) (store.Store, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.store != nil {
		return e.store, nil
	}
	cfg := e.Config
	switch cfg.Store.Driver {
	case "", "sqlite":
	default:
		return nil, fmt.Errorf("store.driver %q is not supported (only sqlite is)", cfg.Store.Driver)
	}
	opts := sqlite.Options{
		Path:              cfg.DatabasePath(),
		BusyTimeout:       cfg.Store.BusyTimeout.Duration,
		ReadConnections:   cfg.Store.ReadConnections,
		GroupCommitWindow: cfg.Store.GroupCommitWindow.Duration,
		GroupCommitMax:    cfg.Store.GroupCommitMax,
		Logger:            e.Log,
	}
	// The feed is best effort: without it, other processes fall back on
	// polling, so a missing directory is a warning, not a failure.
	if pub, err := notify.NewPublisher(cfg.NotifyDir()); err != nil {
		e.Log.Warn("change feed unavailable; other processes will notice changes late", "dir", cfg.NotifyDir(), "err", err)
	} else {
		e.pub = pub
		opts.OnChange = func(accountID int64, modseq uint64) {
			pub.Publish(notify.Event{AccountID: accountID, ModSeq: modseq})
		}
	}
	st, err := sqlite.Open(ctx, opts)
	if err != nil {
		if e.pub != nil {
			e.pub.Close()
			e.pub = nil
		}
		return nil, fmt.Errorf("open store %s: %w", opts.Path, err)
	}
	e.store = st
	return st, nil
}

// Directory returns the address directory over the store (opening the
// store if need be), made once per Env.
func (e *Env) Directory(ctx context.Context) (*directory.Directory, error) {
	st, err := e.OpenStore(ctx)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.dir == nil {
		e.dir = directory.New(st, e.Config.Directory)
	}
	return e.dir, nil
}

// Close closes the store, if it was opened, and then the change feed's
// publisher (so the store's last announcements go out).
func (e *Env) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	if e.store != nil {
		errs = append(errs, e.store.Close())
	}
	if e.pub != nil {
		errs = append(errs, e.pub.Close())
	}
	e.store, e.pub, e.dir = nil, nil, nil
	return errors.Join(errs...)
}
