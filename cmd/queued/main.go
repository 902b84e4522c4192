// Command queued works the mail queue: local delivery into mailboxes,
// remote delivery to other servers, retries and delivery status
// notifications.
package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"gannet/lib/app"
	"gannet/lib/listen"
	"gannet/lib/mda"
	"gannet/lib/msgauth"
	"gannet/lib/mta"
	"gannet/lib/mtasts"
	"gannet/lib/notify"
	"gannet/lib/queue"
)

func main() {
	a := app.NewApp("queued", "work the mail queue: local and remote delivery, retries, DSNs")
	a.UsageText = "queued [--config FILE]"
	a.Description = `queued is the daemon that delivers what smtpd queued: into local
mailboxes (through the same path as deliver), or to other servers (MX
lookup, STARTTLS, MTA-STS, DKIM signing). It retries on the [queued]
retry_schedule, warns senders of delays and bounces what it cannot deliver.
SIGTERM stops it after the attempts in progress (30 s at most).`
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
	qc := cfg.Queued

	resolver, err := msgauth.NewResolver(cfg.DNS, msgauth.DefaultCacheSize)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Path, err)
	}
	client, err := mta.New(qc, cfg.Server.Hostname, resolver)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Path, err)
	}
	defer client.Close()
	if qc.MTASTS == "enforce" {
		// RFC 8461 section 3.3: the policy comes over HTTPS, verified
		// against ca_file's roots when it is set.
		t := http.DefaultTransport.(*http.Transport).Clone()
		if client.RootCAs != nil {
			t.TLSClientConfig = &tls.Config{RootCAs: client.RootCAs}
		}
		cache := mtasts.NewCache(resolver, &http.Client{Transport: t}, filepath.Join(cfg.Server.StateDir, "mta-sts"))
		cache.Logger = log
		client.MTASTS = queue.MTASTSPolicies(cache)
	}
	w := &queue.Worker{
		Store:    st,
		Domains:  dir,
		Local:    mda.New(cfg, st, dir, log, mda.Options{}),
		Remote:   client,
		Config:   qc,
		Hostname: cfg.Server.Hostname,
		Owner:    queue.OwnerID(),
		Log:      log,
	}
	if qc.DKIMSign {
		w.Signer = &queue.StoreSigner{Keys: st}
	}

	// smtpd and queuectl announce queue changes on the change feed; the
	// worker also looks every second, so the feed only makes it quicker.
	if l, err := notify.ListenWith(ctx, notify.ListenOptions{Dir: cfg.NotifyDir(), Logger: log}); err != nil {
		log.Warn("change feed unavailable; new mail is seen within a second", "dir", cfg.NotifyDir(), "err", err)
	} else {
		defer l.Close()
		defer w.Watch(l)()
	}

	listen.Ready()
	log.Info("working the queue", "workers", qc.Workers, "owner", w.Owner)
	err = w.Run(ctx)
	listen.Stopping()
	log.Info("stopped")
	return err
}
