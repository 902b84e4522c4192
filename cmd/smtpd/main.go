// Command smtpd receives mail: SMTP from other servers (port 25),
// submission from users (587 with STARTTLS, 465 with implicit TLS) and LMTP.
// It answers 250 only once a message is durable in the store.
package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"gannet/lib/app"
	"gannet/lib/auth"
	"gannet/lib/ban"
	"gannet/lib/mda"
	"gannet/lib/milter"
	"gannet/lib/msgauth"
	"gannet/lib/notify"
	"gannet/lib/rewrite"
	"gannet/lib/sievequery"
	"gannet/lib/smtp"
)

func main() {
	a := app.NewApp("smtpd", "receive mail over SMTP, submission and LMTP")
	a.UsageText = "smtpd [--config FILE]"
	a.Description = `smtpd is the daemon that receives mail. It serves the sockets systemd
passes it by name (smtp, submission, submissions, lmtp) or, without socket
activation, the [[smtpd.listener]] addresses of the configuration. Mail for
local recipients goes into their mailboxes, other mail into the queue; a
message is accepted (250) only once it is durable. SIGTERM stops it after
the messages in progress.`
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

	tlsCfg, err := d.TLS()
	if err != nil {
		return err
	}
	authn := &auth.Authenticator{Store: st, Dir: dir}
	// Sieve's redirects and vacation replies wake queued as smtpd's own
	// queued mail does (set below, before serving).
	var wakeQueued func()
	srv := &smtp.Server{
		Config: cfg,
		Store:  st,
		Dir:    dir,
		Auth:   authn,
		SCRAM:  authn.SCRAMLookup, // keys stored per account, RFC 5803
		Deliver: smtp.NewLocalDelivery(mda.New(cfg, st, dir, log, mda.Options{OnEnqueue: func() {
			if wakeQueued != nil {
				wakeQueued()
			}
		}})),
		TLS: tlsCfg,
		Log: log,
	}
	if len(cfg.SMTPD.Rewrite) > 0 {
		rw, err := rewrite.New(cfg.SMTPD.Rewrite)
		if err != nil {
			return fmt.Errorf("%s: %w", cfg.Path, err)
		}
		srv.Rewriter = rw
	}
	if len(cfg.SMTPD.Sieve) > 0 {
		if srv.Sieve, err = smtp.CompileStageScripts(cfg.SMTPD.Sieve, cfg.Path); err != nil {
			return fmt.Errorf("%s: %w", cfg.Path, err)
		}
		// The administrator's scripts may query the store (read-only).
		q, err := sievequery.Admin(cfg)
		if err != nil {
			return err
		}
		defer q.Close()
		for i := range srv.Sieve {
			srv.Sieve[i].Query = q.Query
		}
	}
	if len(cfg.SMTPD.Milters) > 0 {
		srv.Milter = smtp.NewMilter(milter.New(cfg.SMTPD.Milters, log), cfg.Server.Hostname)
	}
	policy, err := msgauth.PolicyFromConfig(cfg.SMTPD.Checks)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Path, err)
	}
	if policy != (msgauth.Policy{DMARCEnforceReject: policy.DMARCEnforceReject}) {
		resolver, err := msgauth.NewResolver(cfg.DNS, msgauth.DefaultCacheSize)
		if err != nil {
			return fmt.Errorf("%s: %w", cfg.Path, err)
		}
		srv.Checker = smtp.NewMessageChecker(msgauth.NewChecker(resolver, policy), cfg.Server.Hostname)
	}
	if cfg.Spam.Enabled {
		if srv.Spam, err = newSpamFilter(ctx, cfg, st, dir, log); err != nil {
			return fmt.Errorf("%s: %w", cfg.Path, err)
		}
	}
	// queued hears of each queued message on the change feed at once
	// (without it, within its poll interval).
	if pub, err := notify.NewPublisher(cfg.NotifyDir()); err != nil {
		log.Warn("change feed unavailable; queued will notice new mail late", "dir", cfg.NotifyDir(), "err", err)
	} else {
		defer pub.Close()
		srv.OnEnqueue = func() { pub.Publish(notify.Event{AccountID: notify.QueueAccountID}) }
		wakeQueued = srv.OnEnqueue
	}

	// Auto-ban and limits (lib/ban): failures count with the other
	// daemons', banned addresses are dropped at accept.
	bans, err := ban.Start(ctx, cfg, st, nil, log)
	if err != nil {
		return err
	}
	defer bans.Close()
	authn.Locked = bans.Guard.LoginLocked
	srv.Guard = bans.SMTP()

	ls, err := d.Listen(cfg.SMTPD.Listeners)
	if err != nil {
		return err
	}
	return srv.Serve(ctx, bans.Gate.Wrap(ls))
}
