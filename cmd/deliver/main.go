// Command deliver is the local delivery agent: it reads a message on stdin
// and files it for the recipients named as arguments, like dovecot-lda. Its
// exit statuses follow sysexits.h so an MTA can tell a temporary failure
// from a permanent one. With --mbox it imports an mbox file instead.
//
// The work is lib/deliver's; this is flags, input and exit statuses.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"gannet/lib/app"
	"gannet/lib/config"
	"gannet/lib/deliver"
	"gannet/lib/mda"
	"gannet/lib/msgauth"
	"gannet/lib/reply"
	"gannet/lib/spam"
	"gannet/lib/store"
)

// exitNoInput is EX_NOINPUT of sysexits.h: an input file cannot be read.
const exitNoInput = 66

func main() {
	a := app.NewApp("deliver", "deliver a message from stdin into local mailboxes")
	a.UsageText = "deliver [-f SENDER] [-a ADDRESS] [-m MAILBOX] [RECIPIENT...]\ndeliver [-m MAILBOX] --mbox FILE RECIPIENT..."
	a.ArgsUsage = "RECIPIENT..."
	a.Description = `deliver reads one message on standard input and delivers it to each
RECIPIENT (an address of a local account, alias, group or list), into INBOX
or the --mailbox. Without RECIPIENT it takes $RECIPIENT, as Postfix's
mailbox_command sets it. It exits 0 only once the message is durable.

Exit statuses follow sysexits.h: 64 usage, 65 malformed message, 66 mbox
file unreadable, 67 unknown recipient, 69 refused (message too large, or
over quota with quota_exceeded = "permanent"), 75 temporary failure (the
MTA should retry). With several recipients: 75 when any failed
temporarily, else the status of the first that failed.`
	a.Flags = append(a.Flags,
		&cli.StringFlag{
			Name:    "from",
			Aliases: []string{"f"},
			Usage:   "the envelope `SENDER` (Return-Path); \"\" or \"<>\" for the null sender (default: $SENDER)",
		},
		&cli.StringFlag{
			Name:    "address",
			Aliases: []string{"a"},
			Usage:   "the original envelope recipient `ADDRESS`, before the MTA rewrote it (default: $ORIGINAL_RECIPIENT)",
		},
		&cli.StringFlag{
			Name:    "mailbox",
			Aliases: []string{"m"},
			Usage:   "file into `MAILBOX` instead of INBOX (INBOX when the recipient has no such mailbox)",
		},
		&cli.StringFlag{
			Name:      "mbox",
			Usage:     "import every message of the mbox `FILE` into the --mailbox (created if missing) instead of reading stdin",
			TakesFile: true,
		},
	)
	app.SetUsageStatus(a, reply.ExitUsage)
	a.Action = run
	app.Main(a)
}

// failure ends the program with a sysexits status and a message.
func failure(status int, format string, args ...any) error {
	return cli.Exit("deliver: "+fmt.Sprintf(format, args...), status)
}

func run(c *cli.Context) error {
	rcpts := c.Args().Slice()
	if len(rcpts) == 0 && c.String("mbox") == "" {
		// Postfix's local(8) runs mailbox_command with the recipient in
		// the environment.
		if r := os.Getenv("RECIPIENT"); r != "" {
			rcpts = []string{r}
		}
	}
	if len(rcpts) == 0 {
		return failure(reply.ExitUsage, "no recipient given (as an argument or in $RECIPIENT)\nRun 'deliver --help' for usage.")
	}
	env, err := app.Load(c)
	if err != nil {
		// The mail is not lost: the MTA keeps it and retries.
		return failure(reply.ExitTempFail, "%v", err)
	}
	defer env.Close()
	ctx := c.Context
	d, err := newDeliverer(ctx, env, c.String("mbox") == "")
	if err != nil {
		return failure(reply.ExitTempFail, "%v", err)
	}
	if file := c.String("mbox"); file != "" {
		return importMbox(ctx, env, d, file, c.String("mailbox"), rcpts)
	}
	return deliverStdin(c, env, d, rcpts)
}

// newDeliverer opens the store and sets up delivery. Its log shows
// warnings only (unless log.level is debug): what the MTA needs to know is
// on stderr already, and the MTA may put stderr into a bounce.
//
// With filter set (not for an mbox import) the spam filter classifies each
// message and spam goes to Junk.
func newDeliverer(ctx context.Context, env *app.Env, filter bool) (*deliver.Deliverer, error) {
	dir, err := env.Directory(ctx)
	if err != nil {
		return nil, err
	}
	st, err := env.OpenStore(ctx)
	if err != nil {
		return nil, err
	}
	log := env.Log
	if !strings.EqualFold(env.Config.Log.Level, "debug") {
		l, err := app.NewLogger(os.Stderr, config.Log{Level: "warn", Format: env.Config.Log.Format})
		if err == nil {
			log = l.With("prog", "deliver")
		}
	}
	var o mda.Options
	if env.Config.Spam.Enabled && filter {
		// Mail from another MTA has not been through smtpd's filter.
		resolver, err := msgauth.NewResolver(env.Config.DNS, msgauth.DefaultCacheSize)
		if err != nil {
			return nil, err
		}
		if o.Classify, err = spam.New(ctx, spam.Deps{Config: env.Config, Store: st, Resolver: resolver, Log: log}); err != nil {
			return nil, err
		}
	}
	d := mda.New(env.Config, st, dir, log, o)
	return d, nil
}

// maxSize is the largest message deliver takes: smtpd's limit, so that a
// message Gannet accepted over SMTP can always be delivered.
func maxSize(cfg *config.Config) int64 {
	if n := cfg.SMTPD.MaxMessageSize; n > 0 {
		return n
	}
	return config.Default().SMTPD.MaxMessageSize
}

func deliverStdin(c *cli.Context, env *app.Env, d *deliver.Deliverer, rcpts []string) error {
	ctx := c.Context
	limit := maxSize(env.Config)
	raw, err := io.ReadAll(io.LimitReader(os.Stdin, limit+1))
	if err != nil {
		return failure(reply.ExitTempFail, "reading the message: %v", err)
	}
	if int64(len(raw)) > limit {
		// Permanent: the message will not get smaller on a retry.
		return failure(reply.ExitUnavailable, "message larger than the limit of %d bytes (smtpd.max_message_size)", limit)
	}
	if bytes.IndexByte(raw, 0) >= 0 {
		return failure(reply.ExitDataErr, "message contains NUL bytes")
	}
	// An mbox From_ line in front (Postfix's pipe F flag, procmail) is
	// not part of the message; it names the sender.
	var fromLine string
	if bytes.HasPrefix(raw, []byte("From ")) {
		line, rest, _ := bytes.Cut(raw, []byte("\n"))
		fromLine, raw = strings.TrimSpace(string(line[5:])), rest
	}
	raw = deliver.ToCRLF(raw)
	if len(bytes.TrimSpace(raw)) == 0 {
		return failure(reply.ExitDataErr, "empty message")
	}

	req := deliver.Request{Recipients: rcpts, Raw: raw, Mailbox: c.String("mailbox"),
		OriginalRecipient: c.String("address")}
	if req.OriginalRecipient == "" {
		req.OriginalRecipient = os.Getenv("ORIGINAL_RECIPIENT")
	}
	// The sender: -f, else $SENDER (Postfix), else the From_ line; only a
	// sender we were told gets a Return-Path, and never a second one.
	sender, known := c.String("from"), c.IsSet("from")
	if !known {
		sender, known = os.LookupEnv("SENDER")
	}
	if !known && fromLine != "" {
		sender, _, _ = strings.Cut(fromLine, " ")
		known = true
	}
	sender = strings.TrimSpace(sender)
	if strings.HasPrefix(sender, "<") && strings.HasSuffix(sender, ">") {
		sender = sender[1 : len(sender)-1]
	}
	if sender == "MAILER-DAEMON" && fromLine != "" && !c.IsSet("from") {
		sender = "" // the From_ line's name for the null sender
	}
	req.Sender = sender
	req.AddReturnPath = known && !hasReturnPath(raw)

	results, err := d.Deliver(ctx, req)
	if errors.Is(err, deliver.ErrInvalidSender) {
		return failure(reply.ExitUsage, "%v", err)
	}
	if err != nil {
		return failure(reply.ExitTempFail, "%v", err)
	}
	forward(ctx, env, req, results)
	return exitStatus(results)
}

// hasReturnPath reports whether the message's first header field is a
// Return-Path (the MTA added one already).
func hasReturnPath(raw []byte) bool {
	const name = "return-path:"
	return len(raw) >= len(name) && strings.EqualFold(string(raw[:len(name)]), name)
}

// forward queues the message for the remote addresses aliases and lists
// expanded to, in one queue entry for queued to send. When that fails the
// recipients that expanded to them fail temporarily.
func forward(ctx context.Context, env *app.Env, req deliver.Request, results []deliver.Result) {
	var rcpts []store.QueueRecipient
	seen := map[string]bool{}
	for _, r := range results {
		for _, a := range r.Forward {
			if !seen[a] {
				seen[a] = true
				rcpts = append(rcpts, store.QueueRecipient{Address: a, ORcpt: "rfc822;" + r.Recipient})
			}
		}
	}
	if len(rcpts) == 0 {
		return
	}
	st, err := env.OpenStore(ctx)
	if err == nil {
		_, err = st.Enqueue(ctx, []store.NewQueueEntry{{Sender: req.Sender, Recipients: rcpts, Raw: req.Raw}})
	}
	if err == nil {
		return
	}
	for i := range results {
		if len(results[i].Forward) > 0 && results[i].Err == nil {
			results[i].Err = reply.Wrap(err, 451, "4.3.0", "queue", "cannot queue for forwarding, try again later")
		}
	}
}

// exitStatus reports each failed recipient on stderr and gives the exit
// status: 0 when every recipient was reached, 75 when any failed
// temporarily (the MTA retries: recipients already reached get the message
// again), else the status of the first failure.
func exitStatus(results []deliver.Result) error {
	status := reply.ExitOK
	var msgs []string
	for _, r := range results {
		if r.Err == nil {
			continue
		}
		msgs = append(msgs, fmt.Sprintf("deliver: %s: %s (%d %s)", r.Recipient, r.Err.Message, r.Err.Code, r.Err.Enhanced))
		switch code := r.Err.ExitCode(); {
		case code == reply.ExitTempFail:
			status = code
		case status == reply.ExitOK:
			status = code
		}
	}
	if status == reply.ExitOK {
		return nil
	}
	return cli.Exit(strings.Join(msgs, "\n"), status)
}
