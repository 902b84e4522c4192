package main

import (
	"context"
	"log/slog"

	"gannet/lib/config"
	"gannet/lib/directory"
	"gannet/lib/msgauth"
	"gannet/lib/smtp"
	"gannet/lib/spam"
	"gannet/lib/store"
)

// newSpamFilter builds the spam filter smtpd runs at the end of DATA, with
// what it learns as mail passes (reputation, trusted replies, greylisting,
// spam traps) and Bayes auto-learning in the background.
func newSpamFilter(ctx context.Context, cfg *config.Config, st store.Store, dir *directory.Directory, log *slog.Logger) (smtp.SpamFilter, error) {
	resolver, err := msgauth.NewResolver(cfg.DNS, msgauth.DefaultCacheSize)
	if err != nil {
		return nil, err
	}
	f, err := spam.New(ctx, spam.Deps{Config: cfg, Store: st, Resolver: resolver, Log: log})
	if err != nil {
		return nil, err
	}
	mem := spam.NewMemory(st, cfg.Spam, log)
	go mem.Run(ctx)
	// One auto-learning at a time; verdicts arriving meanwhile are not
	// learned (they are many, and each learning is a write).
	learning := make(chan struct{}, 1)
	return smtp.NewSpamFilter(smtp.SpamOptions{
		Filter: f,
		Memory: mem,
		Store:  st,
		Dir:    dir,
		Train: func(ctx context.Context, m *spam.Message, isSpam bool) error {
			return spam.Train(ctx, st, 0, m, isSpam, false)
		},
		Verdict: func(m *spam.Message, v *spam.Verdict) {
			select {
			case learning <- struct{}{}:
			default:
				return
			}
			go func() {
				defer func() { <-learning }()
				if _, _, err := spam.AutoLearn(context.WithoutCancel(ctx), st, cfg.Spam.Bayes, m, v); err != nil {
					log.Warn("Bayes auto-learning failed", "err", err)
				}
			}()
		},
		Log: log,
	}), nil
}
