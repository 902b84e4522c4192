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
package mda

import (
	"log/slog"

	"gannet/lib/config"
	"gannet/lib/deliver"
	"gannet/lib/directory"
	"gannet/lib/sieve"
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
	d.AddFilter(deliver.SieveFilter(deliver.SieveOptions{
		Store:         st,
		Hostname:      cfg.Server.Hostname,
		Limits:        sieve.Limits{MaxScriptSize: int(cfg.Sieve.MaxScriptSize)},
		SpamThreshold: cfg.Spam.Threshold,
		OnEnqueue:     o.OnEnqueue,
		Log:           log,
	}))
	return d
}
