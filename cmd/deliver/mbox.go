package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"gannet/lib/app"
	"gannet/lib/deliver"
	"gannet/lib/reply"
)

// Batches of an mbox import: each is one all-or-nothing store call.
const (
	batchMessages = 500
	batchBytes    = 16 << 20
)

// importMbox imports the mbox file into mailbox of each recipient, in
// batches, with a progress bar when stderr is a terminal. Messages over the
// size limit are skipped with a warning (exit 65 at the end); a failed
// batch stops the import, keeping the batches before it.
func importMbox(ctx context.Context, env *app.Env, d *deliver.Deliverer, file, mailbox string, rcpts []string) error {
	f, err := os.Open(file)
	if err != nil {
		return failure(exitNoInput, "%v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return failure(exitNoInput, "%v", err)
	}
	im, err := d.NewImporter(ctx, mailbox, rcpts...)
	if err != nil {
		return failure(reply.As(err).ExitCode(), "%v", errorText(err))
	}

	var bar *progressbar.ProgressBar
	if term.IsTerminal(int(os.Stderr.Fd())) {
		bar = progressbar.DefaultBytes(fi.Size(), "importing "+file)
	}
	limit := maxSize(env.Config)
	rd := deliver.NewMboxReader(f, limit)
	var batch []deliver.ImportMessage
	var batchSize, count, bytes int64
	skipped := 0
	flush := func() error {
		if err := im.Import(ctx, batch); err != nil {
			return err
		}
		count += int64(len(batch))
		bytes += batchSize
		batch, batchSize = batch[:0], 0
		if bar != nil {
			bar.Set64(rd.Offset())
		}
		return nil
	}
	var failed error
	for {
		m, err := rd.Next()
		var tooLarge *deliver.TooLargeError
		if errors.As(err, &tooLarge) {
			skipped++
			fmt.Fprintf(os.Stderr, "deliver: %s: %v; skipped\n", file, err)
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			failed = err
			break
		}
		if len(m.Raw) == 0 {
			continue
		}
		batch = append(batch, deliver.ImportMessage{Raw: m.Raw, InternalDate: m.Date, Flags: deliver.MboxFlags(m.Raw)})
		batchSize += int64(len(m.Raw))
		if len(batch) >= batchMessages || batchSize >= batchBytes {
			if failed = flush(); failed != nil {
				break
			}
		}
	}
	if failed == nil && len(batch) > 0 {
		failed = flush()
	}
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
	var into []string
	for _, a := range im.Accounts() {
		into = append(into, a+"/"+im.Mailbox())
	}
	summary := fmt.Sprintf("imported %d messages (%d bytes) into %s", count, bytes, strings.Join(into, ", "))
	if skipped > 0 {
		summary += fmt.Sprintf("; skipped %d over the limit of %d bytes", skipped, limit)
	}
	fmt.Println(summary)
	switch {
	case errors.Is(failed, deliver.ErrNotMbox):
		return failure(reply.ExitDataErr, "%s: %v", file, failed)
	case failed != nil:
		return failure(reply.As(failed).ExitCode(), "%s: %s", file, errorText(failed))
	case skipped > 0:
		return cli.Exit("", reply.ExitDataErr)
	}
	return nil
}

// errorText shows err with a reply's message and codes, not its cause.
func errorText(err error) string {
	var re *reply.Error
	if !errors.As(err, &re) {
		return err.Error()
	}
	text := fmt.Sprintf("%s (%d %s)", re.Message, re.Code, re.Enhanced)
	if prefix, _, ok := strings.Cut(err.Error(), ": "+re.Error()); ok && prefix != "" {
		return prefix + ": " + text
	}
	return text
}
