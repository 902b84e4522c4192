package smtp

import (
	"context"
	"errors"

	"gannet/lib/deliver"
	"gannet/lib/reply"
)

// NewLocalDelivery returns the LocalDelivery that files messages through
// lib/deliver (resolution, filters, one group commit for concurrent
// sessions). The messages smtpd gives it already carry their Return-Path
// field and are parsed with it, so lib/deliver does not parse them again.
func NewLocalDelivery(d *deliver.Deliverer) LocalDelivery {
	return DeliverFunc(func(ctx context.Context, m *LocalMessage) ([]LocalResult, error) {
		results, err := d.Deliver(ctx, deliver.Request{
			Sender:     m.Sender,
			Recipients: m.Recipients,
			Raw:        m.Raw,
			Parsed:     m.Parsed,
		})
		switch {
		case errors.Is(err, deliver.ErrInvalidSender):
			// RFC 3463: X.1.7 bad sender's mailbox address syntax.
			return nil, reply.Wrap(err, 553, "5.1.7", "deliver", "Sender address cannot be delivered locally")
		case err != nil:
			return nil, reply.Wrap(err, 451, "4.3.0", "deliver", "Temporary local problem, try again later")
		}
		out := make([]LocalResult, len(results))
		for i, r := range results {
			out[i] = LocalResult{Recipient: r.Recipient, Forward: r.Forward, Err: r.Err}
		}
		return out, nil
	})
}
