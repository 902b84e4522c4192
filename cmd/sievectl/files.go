package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"gannet/lib/app"
	"gannet/lib/config"
	"gannet/lib/sieve"
)

// maxMessage bounds the message test reads when the configuration does
// not (smtpd.max_message_size).
const maxMessage = 64 << 20

// fileConfig is the configuration check, compile and test use: the file
// when one is named (--config, $GANNET_CONFIG) or present at the default
// path, else the defaults, so that they work on a machine without one.
func fileConfig(c *cli.Context) (*config.Config, error) {
	path := config.ResolvePath(c.String(app.ConfigFlagName))
	if !c.IsSet(app.ConfigFlagName) && path == config.DefaultPath {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return config.Default(), nil
		}
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, app.ConfigFailure("sievectl", err, exitConfig)
	}
	return cfg, nil
}

// options are the compile options delivery uses under cfg.
func options(cfg *config.Config) *sieve.Options {
	return &sieve.Options{Limits: sieve.Limits{MaxScriptSize: int(cfg.Sieve.MaxScriptSize)}}
}

// compileErrors prints a compile error as FILE:LINE:COLUMN: MESSAGE lines.
func compileErrors(w io.Writer, file string, err error) {
	var list sieve.ErrorList
	var plist *sieve.ErrorList
	var one *sieve.Error
	if errors.As(err, &plist) && plist != nil {
		list = *plist
	}
	switch {
	case list != nil || errors.As(err, &list):
		for _, e := range list {
			fmt.Fprintf(w, "%s:%d:%d: %s\n", file, e.Line, e.Column, e.Msg)
		}
	case errors.As(err, &one):
		fmt.Fprintf(w, "%s:%d:%d: %s\n", file, one.Line, one.Column, one.Msg)
	default:
		fmt.Fprintf(w, "%s: %v\n", file, err)
	}
}

// compileFiles compiles each file, printing the errors; it fails with
// status 1 when one has any.
func compileFiles(c *cli.Context, files []string) error {
	cfg, err := fileConfig(c)
	if err != nil {
		return err
	}
	opt := options(cfg)
	bad := 0
	for _, f := range files {
		src, err := readScript(c, f)
		if err == nil {
			_, err = sieve.Compile(src, opt)
		}
		if err != nil {
			compileErrors(c.App.ErrWriter, f, err)
			bad++
		}
	}
	if bad > 0 {
		return cli.Exit("", app.ExitFailure)
	}
	return nil
}

func checkFiles(c *cli.Context) error {
	if err := needArgs(c, 1, -1); err != nil {
		return err
	}
	return compileFiles(c, c.Args().Slice())
}

func compileFile(c *cli.Context) error {
	if err := needArgs(c, 1, 1); err != nil {
		return err
	}
	return compileFiles(c, c.Args().Slice())
}

func testFile(c *cli.Context) error {
	if err := needArgs(c, 1, 1); err != nil {
		return err
	}
	cfg, err := fileConfig(c)
	if err != nil {
		return err
	}
	file := c.Args().First()
	src, err := readScript(c, file)
	if err != nil {
		return fail(err)
	}
	script, err := sieve.Compile(src, options(cfg))
	if err != nil {
		compileErrors(c.App.ErrWriter, file, err)
		return cli.Exit("", app.ExitFailure)
	}
	msg, err := readMessage(c, c.String("message"), cfg)
	if err != nil {
		return fail(err)
	}
	from, to := envelope(msg)
	if c.IsSet("envelope-from") {
		from = c.String("envelope-from")
	}
	if c.IsSet("envelope-to") {
		to = c.String("envelope-to")
	}
	env := &sieve.Env{Message: msg, From: from, To: to, User: to, Now: time.Now()}
	out, err := script.Run(c.Context, env)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", file, err))
	}
	for _, w := range out.Warnings {
		fmt.Fprintf(c.App.ErrWriter, "%s: warning: %s\n", file, w)
	}
	for _, a := range out.Actions {
		fmt.Fprintln(c.App.Writer, describe(a))
	}
	return nil
}

// readMessage reads the message ("-": standard input), bounded by
// smtpd.max_message_size, with CRLF line ends as delivery sees it.
func readMessage(c *cli.Context, name string, cfg *config.Config) ([]byte, error) {
	limit := cfg.SMTPD.MaxMessageSize
	if limit <= 0 {
		limit = maxMessage
	}
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
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d octets (smtpd.max_message_size)", name, limit)
	}
	// Bare LF line ends (a file saved on Unix) become CRLF.
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")), nil
}

// envelope guesses the envelope of a message saved to a file: the sender
// from its Return-Path, the recipient from the first address of its To.
func envelope(msg []byte) (from, to string) {
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		return "", ""
	}
	if rp := m.Header.Get("Return-Path"); rp != "" {
		from = strings.Trim(strings.TrimSpace(rp), "<>")
	}
	if list, err := m.Header.AddressList("To"); err == nil && len(list) > 0 {
		to = list[0].Address
	}
	return from, to
}

// describe prints an action in Sieve's own words.
func describe(a sieve.Action) string {
	var b strings.Builder
	flags := func(f []string) {
		if len(f) > 0 {
			b.WriteString(" :flags " + strconv.Quote(strings.Join(f, " ")))
		}
	}
	switch a := a.(type) {
	case sieve.Keep:
		b.WriteString("keep")
		flags(a.Flags)
		if a.Implicit {
			b.WriteString(" (implicit)")
		}
	case sieve.FileInto:
		b.WriteString("fileinto")
		if a.Copy {
			b.WriteString(" :copy")
		}
		if a.Create {
			b.WriteString(" :create")
		}
		if a.SpecialUse != "" {
			b.WriteString(" :specialuse " + strconv.Quote(a.SpecialUse))
		}
		if a.MailboxID != "" {
			b.WriteString(" :mailboxid " + strconv.Quote(a.MailboxID))
		}
		flags(a.Flags)
		b.WriteString(" " + strconv.Quote(a.Mailbox))
	case sieve.Redirect:
		b.WriteString("redirect")
		if a.Copy {
			b.WriteString(" :copy")
		}
		if a.Notify != "" {
			b.WriteString(" :notify " + strconv.Quote(a.Notify))
		}
		if a.Ret != "" {
			b.WriteString(" :ret " + strconv.Quote(a.Ret))
		}
		b.WriteString(" " + strconv.Quote(a.Address))
	case sieve.Reject:
		if a.Extended {
			b.WriteString("ereject ")
		} else {
			b.WriteString("reject ")
		}
		b.WriteString(strconv.Quote(a.Reason))
	case sieve.Discard:
		b.WriteString("discard")
	case sieve.Vacation:
		b.WriteString("vacation to " + strconv.Quote(a.To))
		if a.From != "" {
			b.WriteString(" :from " + strconv.Quote(a.From))
		}
		if a.Subject != "" {
			b.WriteString(" :subject " + strconv.Quote(a.Subject))
		}
		b.WriteString(" " + strconv.Quote(a.Reason))
	case sieve.Notify:
		b.WriteString("notify")
		if a.From != "" {
			b.WriteString(" :from " + strconv.Quote(a.From))
		}
		if a.Importance != "" {
			b.WriteString(" :importance " + strconv.Quote(a.Importance))
		}
		if a.Message != "" {
			b.WriteString(" :message " + strconv.Quote(a.Message))
		}
		b.WriteString(" " + strconv.Quote(a.Method))
	default:
		fmt.Fprintf(&b, "%T %+v", a, a)
	}
	return b.String()
}
