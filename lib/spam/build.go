package spam

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"

	"gannet/lib/config"
	"gannet/lib/msgauth"
	"gannet/lib/store"
)

// Deps is what the checkers are built from.
type Deps struct {
	Config *config.Config
	// Store holds the Bayes tokens, reputation and the sent-mail index; nil
	// for a filter without state (spamc on a machine without the store).
	Store store.Store
	// Resolver answers the blocklist queries; nil turns them off.
	Resolver *msgauth.Resolver
	Log      *slog.Logger
}

// A builder makes one checker from the configuration, or nil when the
// configuration turns it off. last checkers run after the others (see
// Filter.Last).
type builder struct {
	name  string
	order int
	last  bool
	build func(ctx context.Context, d Deps) (Checker, error)
}

var builders []builder

// register adds a checker to those New builds. Each checker's file
// registers itself from an init function; order sorts them.
func register(name string, order int, last bool, build func(ctx context.Context, d Deps) (Checker, error)) {
	builders = append(builders, builder{name, order, last, build})
}

// New builds the filter the configuration describes.
func New(ctx context.Context, d Deps) (*Filter, error) {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	c := d.Config.Spam
	f := &Filter{
		Thresholds: Thresholds{Spam: c.Threshold, Reject: c.RejectThreshold},
		Log:        d.Log,
	}
	bs := slices.Clone(builders)
	slices.SortStableFunc(bs, func(a, b builder) int { return cmp.Compare(a.order, b.order) })
	for _, b := range bs {
		ch, err := b.build(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("spam: %s: %w", b.name, err)
		}
		if ch == nil {
			continue
		}
		if b.last {
			f.Last = append(f.Last, ch)
		} else {
			f.Checks = append(f.Checks, ch)
		}
	}
	return f, nil
}
