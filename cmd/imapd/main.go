// Command imapd serves mailboxes over IMAP4rev1 (RFC 3501) with the
// extensions lib/imap implements.
package main

import (
	"time"

	"github.com/urfave/cli/v2"

	"gannet/lib/app"
	"gannet/lib/auth"
	"gannet/lib/ban"
	"gannet/lib/fts"
	"gannet/lib/imap"
	"gannet/lib/notify"
	"gannet/lib/spam"
	"gannet/lib/store"
)

func main() {
	a := app.NewApp("imapd", "serve mailboxes over IMAP4rev1")
	a.UsageText = "imapd [--config FILE]"
	a.Description = `imapd is the IMAP server. It serves the sockets systemd passes it by name
(imap with STARTTLS, imaps with implicit TLS) or, without socket activation,
the [[imapd.listener]] addresses of the configuration. Changes made by other
processes reach selected and idling sessions through the change feed.
SIGTERM ends idle sessions at once and busy ones after their command.`
	a.Action = run
	app.Main(a)
}

func run(c *cli.Context) error {
	d, err := app.StartDaemon(c)
	if err != nil {
		return err
	}
	defer d.Close()
	// The store announces this process's own changes on the feed (see
	// app.Env.OpenStore), so sessions hear of each other's changes too.
	ctx, cfg, log, st, dir := d.Ctx, d.Config, d.Log, d.Store, d.Dir
	tlsCfg, err := d.TLS()
	if err != nil {
		return err
	}
	authn := &auth.Authenticator{Store: st, Dir: dir}
	srv := &imap.Server{
		Store:       st,
		Auth:        authn,
		SCRAM:       authn.SCRAMLookup,
		TLS:         tlsCfg,
		Hostname:    cfg.Server.Hostname,
		MaxLiteral:  cfg.IMAPD.MaxLiteralSize,
		IdleTimeout: cfg.IMAPD.IdleTimeout.Duration,
		Compress:    true,
		Log:         log,
	}
	// Without the feed, sessions read the change log after every command
	// and once a second while idling.
	var feed ban.Feed
	if l, err := notify.ListenWith(ctx, notify.ListenOptions{Dir: cfg.NotifyDir(), Logger: log}); err != nil {
		log.Warn("change feed unavailable; changes from elsewhere are seen late", "dir", cfg.NotifyDir(), "err", err)
	} else {
		defer l.Close()
		srv.Feed, feed = l, l
	}
	// Auto-ban and connection limits (lib/ban): failures count with the
	// other daemons', banned addresses are dropped at accept.
	bans, err := ban.Start(ctx, cfg, st, feed, log)
	if err != nil {
		return err
	}
	defer bans.Close()
	authn.Locked = bans.Guard.LoginLocked
	srv.OnAuthFailure = bans.Guard.AuthFailure
	srv.OnProtocolError = bans.Guard.ProtocolError

	// The full-text index for SEARCH BODY and TEXT fills in the background.
	go (&fts.Indexer{Store: st, Log: log}).Run(ctx)
	// Junk training events (moves into and out of Junk, $Junk and
	// $NotJunk) reach the Bayes databases within a train_interval.
	if cfg.Spam.Enabled && cfg.Spam.Bayes.Enabled {
		go spam.RunTrainer(ctx, spam.Deps{Config: cfg, Store: st, Log: log})
	}
	// The change log keeps store.change_log_retention of history.
	go store.PruneChangeLog(ctx, st, cfg.Store.ChangeLogRetention.Duration, time.Hour, log)

	ls, err := d.Listen(cfg.IMAPD.Listeners)
	if err != nil {
		return err
	}
	return srv.Serve(ctx, bans.Gate.Wrap(ls))
}
