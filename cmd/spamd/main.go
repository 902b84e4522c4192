// Command spamd is the spam filter as a service: the SPAMD protocol (so
// SpamAssassin's spamc works against it) and the milter protocol.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/urfave/cli/v2"

	"gannet/lib/app"
	"gannet/lib/ban"
	"gannet/lib/listen"
	"gannet/lib/msgauth"
	"gannet/lib/spam"
	"gannet/lib/spamd"
)

func main() {
	a := app.NewApp("spamd", "classify mail as a service: SPAMD protocol and milter")
	a.UsageText = "spamd [--config FILE]"
	a.Description = `spamd offers Gannet's spam filter to other programs: the SPAMD protocol,
so SpamAssassin's spamc (and Gannet's) can ask it about a message, and the
milter protocol, so another MTA can use it. It serves the sockets systemd
passes it by name (spamd, milter) or, without socket activation, the
[[spamd.listener]] addresses of the configuration.`
	a.Action = run
	app.Main(a)
}

func run(c *cli.Context) error {
	d, err := app.StartDaemon(c)
	if err != nil {
		return err
	}
	defer d.Close()
	ctx, cfg, log, st, dir := d.Ctx, d.Config, d.Log, d.Store, d.Dir
	// The milter library logs through the standard logger: into ours.
	slog.SetDefault(log)

	resolver, err := msgauth.NewResolver(cfg.DNS, msgauth.DefaultCacheSize)
	if err != nil {
		return err
	}
	filter, err := spam.New(ctx, spam.Deps{Config: cfg, Store: st, Resolver: resolver, Log: log})
	if err != nil {
		return err
	}
	srv := &spamd.Server{
		Filter:     filter,
		Accounts:   dir,
		Thresholds: spamd.StoreThresholds(st),
		MaxSize:    cfg.Spamd.MaxMessageSize,
		Timeout:    cfg.Spamd.Timeout.Duration,
		Hostname:   cfg.Server.Hostname,
		Log:        log,
	}
	if cfg.Spamd.AllowTell {
		srv.Trainer = spamd.BayesTrainer{Store: st}
	}
	mil := &spamd.Milter{
		Filter:     filter,
		Accounts:   dir,
		Thresholds: spamd.StoreThresholds(st),
		MaxSize:    cfg.Spamd.MaxMessageSize,
		Timeout:    cfg.Spamd.Timeout.Duration,
		Quarantine: cfg.Spamd.MilterQuarantine,
		Log:        log,
	}

	// Junk training events (moves into and out of Junk, $Junk and
	// $NotJunk) reach the Bayes databases within a train_interval.
	if cfg.Spam.Enabled && cfg.Spam.Bayes.Enabled {
		go spam.RunTrainer(ctx, spam.Deps{Config: cfg, Store: st, Log: log})
	}
	// Banned addresses are dropped at accept and connections limited,
	// as in the other daemons (lib/ban).
	bans, err := ban.Start(ctx, cfg, st, nil, log)
	if err != nil {
		return err
	}
	defer bans.Close()

	ls, err := d.Listen(cfg.Spamd.Listeners)
	if err != nil {
		return err
	}
	ls = bans.Gate.Wrap(ls)
	for _, l := range ls {
		if l.Name != listen.Spamd && l.Name != listen.Milter {
			for _, l := range ls {
				l.Close()
			}
			return fmt.Errorf("listener %q: spamd serves only the spamd and milter roles", l.Name)
		}
	}
	return listen.Serve(ctx, ls, func(ctx context.Context, l listen.Listener, c net.Conn) {
		if l.Name == listen.Milter {
			mil.ServeConn(ctx, c)
			return
		}
		srv.ServeConn(ctx, c)
	})
}
