package spam

import (
	"bytes"
	"context"

	"gannet/lib/deliver"
	"gannet/lib/store"
)

// DeliveryFilter is the delivery filter that classifies a message for each
// account it reaches (with the account's Bayes model and thresholds), for
// the deliver program: mail handed over by another MTA was not seen by
// smtpd's filter. It replaces the message's X-Spam-* fields with its own
// verdict; JunkFilter, added after it, then files spam into Junk.
func DeliveryFilter(f *Filter, st store.Store) deliver.Filter {
	return func(ctx context.Context, d *deliver.Delivery) error {
		clean := StripFields(d.Raw)
		env := Envelope{MailFrom: d.Sender, Recipients: []string{d.Recipient}, AccountID: d.Account.ID}
		m, err := NewMessage(clean, env)
		if err != nil {
			return err
		}
		// The MTA that passed the message on wrote who sent it to us.
		m.ClientFromReceived()
		v := f.Check(ctx, m, AccountThresholds(ctx, st, d.Account.ID))
		d.Raw, d.Parsed = withFields(clean, v.Fields()), nil
		return nil
	}
}

// AccountThresholds returns the account's own thresholds (userctl spam
// set), nil when it has none or they cannot be read: the filter's then
// apply.
func AccountThresholds(ctx context.Context, st store.SpamState, accountID int64) *Thresholds {
	if st == nil || accountID == 0 {
		return nil
	}
	t, err := st.SpamThresholds(ctx, accountID)
	if err != nil {
		return nil
	}
	return &Thresholds{Spam: t.Spam, Reject: t.Reject}
}

// withFields puts the verdict's fields on top of msg, below the
// Return-Path a final delivery added (RFC 5321 section 4.4: it comes
// first).
func withFields(msg, fields []byte) []byte {
	at := 0
	if bytes.HasPrefix(msg, []byte("Return-Path:")) {
		if i := bytes.Index(msg, []byte("\r\n")); i >= 0 {
			at = i + 2
		}
	}
	out := make([]byte, 0, len(fields)+len(msg))
	out = append(out, msg[:at]...)
	out = append(out, fields...)
	return append(out, msg[at:]...)
}
