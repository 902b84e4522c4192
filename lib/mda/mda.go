// Package mda assembles the local delivery agent every program that
// delivers uses (smtpd for local recipients, queued, deliver): lib/deliver
// with the filters the configuration asks for, in this order:
//
//  1. the spam filter classifies the message for each account (only when
//     Options.Classify is set: the deliver program, for mail from another
//     MTA; smtpd has already classified what it received);
//  2. spam goes to the account's Junk mailbox (lib/spam.JunkFilter);
//  3. the account's active Sieve script runs (lib/deliver.SieveFilter): its
//     implicit keep files where step 2 said, its fileinto overrides it.
//     include :global loads [sieve] global_dir/NAME.sieve, and
//     vnd.gannet.query reads [sieve] query_database only, never the store
//     (lib/sievequery.Personal): users write these scripts.
package mda

import (
	"log/slog"

	"gannet/lib/config"
	"gannet/lib/deliver"
	"gannet/lib/directory"
	"gannet/lib/sieve"
	"gannet/lib/sievequery"
	"gannet/lib/spam"
	"gannet/lib/store"
)

// Options are what differs between the programs.
type Options struct {
	// Classify, when set, runs the spam filter on each message first.
	Classify *spam.Filter
	// OnEnqueue is told when Sieve queued a redirect, a vacation reply or
	// a notification.
	OnEnqueue func()
}

// New returns the delivery agent.
func New(cfg *config.Config, st store.Store, dir *directory.Directory, log *slog.Logger, o Options) *deliver.Deliverer {
	d := deliver.New(st, dir, cfg.Deliver, log)
	if cfg.Spam.Enabled {
		if o.Classify != nil {
			d.AddFilter(spam.DeliveryFilter(o.Classify, st))
		}
		d.AddFilter(spam.JunkFilter(st))
	}
	so := deliver.SieveOptions{
		Store:         st,
		Hostname:      cfg.Server.Hostname,
		Limits:        sieve.Limits{MaxScriptSize: int(cfg.Sieve.MaxScriptSize)},
		SpamThreshold: cfg.Spam.Threshold,
		OnEnqueue:     o.OnEnqueue,
		Log:           log,
	}
	if cfg.Sieve.GlobalDir != "" {
		so.Global = deliver.GlobalDir(cfg.Sieve.GlobalDir, cfg.Sieve.MaxScriptSize)
	}
	// The database is opened at the first query and stays open as long as
	// the program runs.
	if q, err := sievequery.Personal(cfg); err != nil && log != nil {
		log.Warn("sieve: query database unusable; users' queries will fail", "path", cfg.Sieve.QueryDatabase, "err", err)
	} else if q != nil {
		so.Query = q.Query
	}
	d.AddFilter(deliver.SieveFilter(so))
	return d
}
