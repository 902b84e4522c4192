// Command sieved serves ManageSieve (RFC 5804), letting users manage their
// Sieve scripts from their mail clients.
package main

import (
	"github.com/urfave/cli/v2"

	"gannet/lib/app"
	"gannet/lib/auth"
	"gannet/lib/ban"
	"gannet/lib/managesieve"
	"gannet/lib/sieve"
)

func main() {
	a := app.NewApp("sieved", "serve ManageSieve (RFC 5804)")
	a.UsageText = "sieved [--config FILE]"
	a.Description = `sieved is the ManageSieve server: users upload, check and activate their
Sieve filtering scripts with it. It serves the socket systemd passes it by
name (sieve) or, without socket activation, the [[sieved.listener]]
addresses of the configuration. PLAIN authentication needs STARTTLS first,
except from this machine; SCRAM-SHA-256 is always offered. Scripts are
checked by Gannet's Sieve interpreter and held to the [sieve] limits.
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
	ctx, cfg, log, st, dir := d.Ctx, d.Config, d.Log, d.Store, d.Dir

	tlsCfg, err := d.TLS()
	if err != nil {
		return err
	}
	authn := &auth.Authenticator{Store: st, Dir: dir}
	limits := sieve.Limits{MaxScriptSize: int(cfg.Sieve.MaxScriptSize)}
	srv := &managesieve.Server{
		Scripts:       st,
		Auth:          authn,
		SCRAM:         authn.SCRAMLookup,
		TLS:           tlsCfg,
		TrustLoopback: true,
		// Scripts may include the account's other scripts (RFC 6609).
		Check:        managesieve.SieveCheck(st, sieve.Options{Limits: limits}),
		Extensions:   sieve.Extensions(),
		MaxRedirects: sieve.DefaultLimits.MaxRedirects,
		Limits: managesieve.Limits{
			MaxScripts:    cfg.Sieve.MaxScripts,
			MaxScriptSize: cfg.Sieve.MaxScriptSize,
		},
		Log: log,
	}
	// Auto-ban and connection limits (lib/ban): failures count with the
	// other daemons', banned addresses are dropped at accept.
	bans, err := ban.Start(ctx, cfg, st, nil, log)
	if err != nil {
		return err
	}
	defer bans.Close()
	authn.Locked = bans.Guard.LoginLocked
	srv.OnAuthFailure = bans.Guard.AuthFailure

	ls, err := d.Listen(cfg.Sieved.Listeners)
	if err != nil {
		return err
	}
	return srv.Serve(ctx, bans.Gate.Wrap(ls))
}
