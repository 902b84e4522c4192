// Command spamc classifies one message: the message on stdin, the message
// with X-Spam headers (or a report) on stdout, and the exit status says
// spam or ham. Its options follow SpamAssassin's spamc.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"gannet/lib/app"
	"gannet/lib/msgauth"
	"gannet/lib/spam"
	"gannet/lib/spamd"
	"gannet/lib/store"
)

// maxMaxSize is the largest -s spamc accepts, as SpamAssassin's (256 MB).
const maxMaxSize = 256 << 20

func main() {
	a := app.NewApp("spamc", "classify a message from stdin as spam or ham")
	a.UsageText = "spamc [options] < message"
	a.Description = `spamc reads a message on standard input, classifies it and writes the
message with X-Spam-* headers added to standard output. By default it runs
Gannet's filter in its own process, with the configuration's store (the
Bayes data) read; with --dest, --port or --socket it asks a spamd instead
(Gannet's or SpamAssassin's) over the SPAMD protocol. Its options follow
SpamAssassin's spamc, so scripts written for it keep working.

With --check or --exit-code the exit status is 1 for spam and 0 for ham.
Without --no-safe-fallback, a message that cannot be classified is
passed through unchanged with status 0; with it, spamc exits with a
sysexits.h status (69 when spamd cannot be reached, 75 with -X).`
	// -c means --check here, as in SpamAssassin's spamc: --config has no
	// short form.
	a.Flags = []cli.Flag{
		app.ConfigFlag(),
		&cli.BoolFlag{Name: "check", Aliases: []string{"c"}, Usage: "print only the score and threshold (\"5.2/5.0\"); exit 1 if spam"},
		&cli.BoolFlag{Name: "full", Aliases: []string{"R"}, Usage: "print the full report instead of the message"},
		&cli.BoolFlag{Name: "full-spam", Aliases: []string{"r"}, Usage: "print the full report for spam, nothing for ham"},
		&cli.BoolFlag{Name: "tests", Aliases: []string{"y"}, Usage: "print only the names of the tests that matched"},
		&cli.BoolFlag{Name: "exit-code", Aliases: []string{"E"}, Usage: "exit 1 if the message is spam, 0 if not"},
		&cli.StringFlag{Name: "dest", Aliases: []string{"d"}, Usage: "ask the spamd at `HOST[,HOST2...]` instead of classifying in this process"},
		&cli.IntFlag{Name: "port", Aliases: []string{"p"}, Usage: "connect to spamd on `PORT` (with no --dest: on localhost)", Value: 783},
		&cli.StringFlag{Name: "socket", Aliases: []string{"U"}, Usage: "ask the spamd listening on the Unix socket `PATH`", TakesFile: true},
		&cli.StringFlag{Name: "username", Aliases: []string{"u"}, Usage: "classify with the Bayes data of account `ADDRESS` (default: the global data; to a remote spamd, the current user's name)"},
		&cli.Int64Flag{Name: "max-size", Aliases: []string{"s"}, Usage: "pass messages larger than `BYTES` through unchecked (at most 268435456)", Value: 512000},
		&cli.IntFlag{Name: "timeout", Aliases: []string{"t"}, Usage: "give up on spamd after `SECONDS` (0: never)", Value: 600},
		&cli.BoolFlag{Name: "no-safe-fallback", Aliases: []string{"x"}, Usage: "fail (exit 69, or 75 with -X) instead of passing the message through when spamd cannot be asked"},
		&cli.BoolFlag{Name: "unavailable-tempfail", Aliases: []string{"X"}, Usage: "with --no-safe-fallback, exit 75 (try again later) when spamd is unavailable"},
		&cli.StringFlag{Name: "learntype", Aliases: []string{"L"}, Usage: "train instead of classify: `TYPE` is spam, ham or forget"},
		&cli.BoolFlag{Name: "ping", Aliases: []string{"K"}, Usage: "only check that spamd answers"},
		&cli.BoolFlag{Name: "compress", Aliases: []string{"z"}, Usage: "send the message to spamd compressed with zlib"},
	}
	app.SetUsageStatus(a, spamd.ExUsage) // EX_USAGE, as SpamAssassin's spamc
	a.Action = run
	app.Main(a)
}

// opts are the command line.
type opts struct {
	check, full, fullSpam, tests, exitCode bool
	noFallback, tempfail                   bool
	learn                                  string
	ping                                   bool
}

func run(c *cli.Context) error {
	o := opts{
		check: c.Bool("check"), full: c.Bool("full"), fullSpam: c.Bool("full-spam"),
		tests: c.Bool("tests"), exitCode: c.Bool("exit-code"),
		noFallback: c.Bool("no-safe-fallback"), tempfail: c.Bool("unavailable-tempfail"),
		learn: c.String("learntype"), ping: c.Bool("ping"),
	}
	maxSize := c.Int64("max-size")
	if maxSize <= 0 || maxSize > maxMaxSize {
		return usage("-s %d: the size must be between 1 and %d bytes", maxSize, maxMaxSize)
	}
	if c.Int("timeout") < 0 {
		return usage("-t %d: the timeout must not be negative", c.Int("timeout"))
	}
	req := &spamd.Request{Command: spamd.Process, User: c.String("username"), Compress: c.Bool("compress")}
	switch {
	case o.ping:
		req.Command = spamd.Ping
	case o.learn != "":
		req.Command = spamd.Tell
		switch o.learn {
		case "spam", "ham":
			req.MessageClass, req.SetLocal = o.learn, true
		case "forget":
			req.RemoveLocal = true
		default:
			return usage("-L %q: the learn type is spam, ham or forget", o.learn)
		}
	case o.check:
		req.Command = spamd.Check
	case o.tests:
		req.Command = spamd.Symbols
	case o.full:
		req.Command = spamd.Report
	case o.fullSpam:
		req.Command = spamd.ReportIfSpam
	}

	remote := c.IsSet("dest") || c.IsSet("port") || c.IsSet("socket")
	ctx := c.Context
	if t := c.Int("timeout"); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(t)*time.Second)
		defer cancel()
	}

	var msg []byte
	if req.Command != spamd.Ping {
		var err error
		msg, err = io.ReadAll(io.LimitReader(os.Stdin, maxSize+1))
		if err != nil {
			return cli.Exit(fmt.Sprintf("spamc: reading the message: %v", err), spamd.ExIOErr)
		}
		if int64(len(msg)) > maxSize {
			return tooBig(o, msg)
		}
		req.Body = msg
	}

	var resp *spamd.Response
	var err error
	if remote {
		if req.User == "" {
			if u, uerr := user.Current(); uerr == nil {
				req.User = u.Username
			}
		}
		resp, err = ask(ctx, c, req, maxSize)
	} else {
		resp, err = local(ctx, c, req, maxSize)
	}
	if err == nil && resp.Code != spamd.ExOK {
		err = &spamd.Error{Code: resp.Code, Msg: resp.Message}
	}
	if err != nil {
		return failed(o, msg, err)
	}
	return answer(o, req, resp)
}

func usage(format string, args ...any) error {
	return cli.Exit("spamc: "+fmt.Sprintf(format, args...)+"\nRun 'spamc --help' for usage.", spamd.ExUsage)
}

// ask sends req to a spamd.
func ask(ctx context.Context, c *cli.Context, req *spamd.Request, maxSize int64) (*spamd.Response, error) {
	var addrs []string
	if path := c.String("socket"); path != "" {
		// spamd.Client takes a path starting with "/" for a Unix socket.
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, &spamd.Error{Code: spamd.ExUsage, Msg: err.Error()}
		}
		addrs = []string{abs}
	} else {
		dest := c.String("dest")
		if dest == "" {
			dest = "localhost"
		}
		port := strconv.Itoa(c.Int("port"))
		for h := range strings.SplitSeq(dest, ",") {
			if h = strings.TrimSpace(h); h != "" {
				addrs = append(addrs, net.JoinHostPort(h, port))
			}
		}
	}
	if c.Bool("no-safe-fallback") && len(addrs) > 1 {
		// As SpamAssassin's spamc: -x turns the fail-over off.
		addrs = addrs[:1]
	}
	cl := &spamd.Client{Addresses: addrs, MaxReply: maxSize + spamd.MaxReplyBody}
	return cl.Do(ctx, req)
}

// local answers req in this process, as spamd would.
func local(ctx context.Context, c *cli.Context, req *spamd.Request, maxSize int64) (*spamd.Response, error) {
	unavailable := func(err error) error { return &spamd.Error{Code: spamd.ExUnavailable, Msg: err.Error()} }
	env, err := app.Load(c)
	if err != nil {
		return nil, unavailable(err)
	}
	defer env.Close()
	cfg := env.Config
	srv := &spamd.Server{MaxSize: maxSize, Hostname: cfg.Server.Hostname, Log: env.Log}
	if req.Command == spamd.Ping {
		return srv.Answer(ctx, req), nil
	}
	// The Bayes data is read from the store when there is one; spamc
	// makes none (a machine with only the configuration classifies
	// without Bayes). Only -L writes to it.
	var st store.Store
	if _, err := os.Stat(cfg.DatabasePath()); err == nil {
		st, err = env.OpenStore(ctx)
		if err != nil {
			// A user who may not open the store still gets a verdict,
			// without Bayes.
			env.Log.Warn("store unavailable: classifying without Bayes", "err", err)
			st = nil
		}
	}
	if st != nil {
		dir, err := env.Directory(ctx)
		if err != nil {
			return nil, unavailable(err)
		}
		srv.Accounts = dir
		srv.Thresholds = spamd.StoreThresholds(st)
		srv.Trainer = spamd.BayesTrainer{Store: st}
	} else if req.User != "" || req.Command == spamd.Tell {
		return nil, unavailable(fmt.Errorf("no store (%s) to find the account in or to train", cfg.DatabasePath()))
	}
	resolver, err := msgauth.NewResolver(cfg.DNS, msgauth.DefaultCacheSize)
	if err != nil {
		return nil, unavailable(err)
	}
	srv.Filter, err = spam.New(ctx, spam.Deps{Config: cfg, Store: st, Resolver: resolver, Log: env.Log})
	if err != nil {
		return nil, unavailable(err)
	}
	return srv.Answer(ctx, req), nil
}

// answer prints the reply as SpamAssassin's spamc does and picks the exit
// status.
func answer(o opts, req *spamd.Request, resp *spamd.Response) error {
	status := 0
	if resp.Spam && (o.check || o.exitCode) {
		status = 1
	}
	var out []byte
	switch req.Command {
	case spamd.Ping:
		// SpamAssassin's spamc prints this for -K.
		out = []byte("SPAMD/" + spamd.Version + " 0\n")
	case spamd.Tell:
		if len(resp.DidSet) > 0 || len(resp.DidRemove) > 0 {
			out = []byte("Message successfully un/learned\n")
		} else {
			out = []byte("Message was already un/learned\n")
		}
	case spamd.Check:
		out = []byte(scoreLine(resp))
	case spamd.Report:
		out = append([]byte(scoreLine(resp)), resp.Body...)
	case spamd.Symbols, spamd.ReportIfSpam, spamd.Process:
		out = resp.Body
	}
	if _, err := os.Stdout.Write(out); err != nil {
		return cli.Exit(fmt.Sprintf("spamc: writing the output: %v", err), spamd.ExIOErr)
	}
	if status != 0 {
		return cli.Exit("", status)
	}
	return nil
}

func scoreLine(resp *spamd.Response) string {
	return fmt.Sprintf("%s/%.1f\n", spamd.FormatScore(resp.Spam, resp.Score, resp.Threshold), resp.Threshold)
}

// tooBig passes a message larger than -s through unchecked, as
// SpamAssassin's spamc: it is not spam.
func tooBig(o opts, head []byte) error {
	switch {
	case o.ping:
	case o.learn != "":
		return cli.Exit("spamc: the message is larger than -s allows; not learned", spamd.ExDataErr)
	case o.check || o.full || o.fullSpam:
		os.Stdout.WriteString("0/0\n")
	case o.tests:
		os.Stdout.WriteString("\n")
	default:
		if _, err := os.Stdout.Write(head); err != nil {
			return cli.Exit(fmt.Sprintf("spamc: writing the output: %v", err), spamd.ExIOErr)
		}
		if _, err := io.Copy(os.Stdout, os.Stdin); err != nil {
			return cli.Exit(fmt.Sprintf("spamc: passing the message through: %v", err), spamd.ExIOErr)
		}
	}
	return nil
}

// failed handles a message that could not be classified: with the safe
// fallback (the default) it passes through unchanged and the status is 0;
// with -x the status says what went wrong.
func failed(o opts, msg []byte, err error) error {
	code := spamd.ExUnavailable
	var pe *spamd.Error
	if errors.As(err, &pe) {
		code = pe.Code
	}
	switch code {
	case spamd.ExTimeout:
		code = spamd.ExTempFail
	case spamd.ExUnavailable:
		if o.tempfail {
			code = spamd.ExTempFail
		}
	}
	fmt.Fprintf(os.Stderr, "spamc: %v\n", err)
	switch {
	case o.ping, o.learn != "":
		return cli.Exit("", code)
	case o.check || o.full || o.fullSpam:
		os.Stdout.WriteString("0/0\n")
	case o.tests:
		os.Stdout.WriteString("\n")
	case !o.noFallback:
		if _, werr := io.Copy(os.Stdout, bytes.NewReader(msg)); werr != nil {
			return cli.Exit(fmt.Sprintf("spamc: passing the message through: %v", werr), spamd.ExIOErr)
		}
	}
	if o.noFallback {
		return cli.Exit("", code)
	}
	return nil
}
