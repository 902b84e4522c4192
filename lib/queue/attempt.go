package queue

// This file is one delivery attempt of one entry: local recipients through
// lib/deliver, remote ones through lib/mta one domain at a time, and the
// saving of what came of it, with the DSNs due.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"gannet/lib/deliver"
	"gannet/lib/directory"
	"gannet/lib/dsn"
	"gannet/lib/mta"
	"gannet/lib/reply"
	"gannet/lib/store"
)

// maxDomainsAtOnce bounds the remote domains of one entry delivered to at
// the same time.
const maxDomainsAtOnce = 8

// result is what one attempt did for one recipient.
type result struct {
	tried     bool // the recipient was pending and was tried
	delivered bool
	permanent bool
	local     bool
	code      int
	enhanced  string
	text      string
	host      string // "mx.example.org[192.0.2.1]", "" when none answered
	// forward are remote addresses a local recipient expands to (alias
	// targets): they are queued as a new entry.
	forward []string
}

// reply is the result as an SMTP reply line: "250 2.0.0 ok".
func (r *result) reply() string {
	return fmt.Sprintf("%d %s %s", r.code, r.enhanced, r.text)
}

// lastError is the reply with the host that gave it, as list shows it.
func (r *result) lastError() string {
	if r.host != "" {
		return r.reply() + " (" + r.host + ")"
	}
	return r.reply()
}

// relay is the log's relay= value.
func (r *result) relay() string {
	switch {
	case r.local:
		return "local"
	case r.host != "":
		return r.host
	}
	return "none"
}

// outcome is what one attempt did for an entry.
type outcome struct {
	raw     []byte // the queued message, nil when it could not be read
	results []result
	now     time.Time // when the attempt ended
	// interrupted: a shutdown cut the attempt short.
	interrupted bool
}

// temporary is a result for a failure on our side.
func temporary(enhanced, text string) result {
	return result{tried: true, code: 451, enhanced: enhanced, text: text}
}

// deliver tries every pending recipient of e once.
func (w *Worker) deliver(ctx context.Context, e *store.QueueEntry) *outcome {
	out := &outcome{results: make([]result, len(e.Recipients))}
	var pending []int
	for i, r := range e.Recipients {
		if r.Status == store.RcptPending {
			pending = append(pending, i)
		}
	}
	if len(pending) == 0 {
		out.now = w.Now()
		return out
	}
	raw, err := w.Store.ReadBlob(ctx, e.BlobID, 0, -1)
	if err != nil {
		w.Log.Error("cannot read queued message", "id", e.ID, "blob", e.BlobID, "err", err)
		for _, i := range pending {
			out.results[i] = temporary("4.3.0", "queued message unreadable: temporary local problem")
		}
		out.now = w.Now()
		return out
	}
	out.raw = raw

	// Sort the recipients: local ones, and remote ones by domain.
	var local []int
	remote := map[string][]int{}
	var domains []string
	for _, i := range pending {
		addr := e.Recipients[i].Address
		_, dom := directory.Split(addr)
		if dom == "" {
			local = append(local, i) // <postmaster> (RFC 5321 section 4.1.1.3)
			continue
		}
		isLocal, err := w.Domains.IsLocalDomain(ctx, dom)
		switch {
		case errors.Is(err, directory.ErrInvalidAddress):
			// RFC 3463 section 3.2: X.1.2 bad destination system address.
			out.results[i] = result{tried: true, permanent: true, code: 550, enhanced: "5.1.2", text: "bad destination domain"}
		case err != nil:
			w.Log.Warn("cannot tell whether a domain is local", "domain", dom, "err", err)
			out.results[i] = temporary("4.3.0", "directory unavailable: temporary local problem")
		case isLocal:
			local = append(local, i)
		default:
			name, _ := directory.NormalizeDomain(dom)
			if _, ok := remote[name]; !ok {
				domains = append(domains, name)
			}
			remote[name] = append(remote[name], i)
		}
	}

	var wg sync.WaitGroup
	if len(local) > 0 {
		wg.Go(func() { w.deliverLocal(ctx, e, raw, local, out.results) })
	}
	if len(domains) > 0 {
		data := raw
		if sig := w.sign(ctx, e, raw); sig != nil {
			data = append(sig[:len(sig):len(sig)], raw...)
		}
		sem := make(chan struct{}, maxDomainsAtOnce)
		for _, dom := range domains {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				w.deliverRemote(ctx, e, data, dom, remote[dom], out.results)
			})
		}
	}
	wg.Wait()
	out.now = w.Now()
	return out
}

// deliverLocal delivers to the local recipients idx of e, into
// results[idx].
func (w *Worker) deliverLocal(ctx context.Context, e *store.QueueEntry, raw []byte, idx []int, results []result) {
	rcpts := make([]string, len(idx))
	for k, i := range idx {
		rcpts[k] = e.Recipients[i].Address
	}
	res, err := w.Local.Deliver(ctx, deliver.Request{
		Sender:     e.Sender,
		Recipients: rcpts,
		Raw:        raw,
		// RFC 5321 section 4.4: the final delivery adds Return-Path; the
		// queued copy has none.
		AddReturnPath: true,
		// An attempt repeated after a crash stores nothing twice.
		DeliveryKey: DeliveryKey(e.ID),
	})
	if err != nil {
		re := reply.As(err)
		if errors.Is(err, deliver.ErrInvalidSender) {
			// RFC 3463 section 3.2: X.1.7 bad sender's mailbox address syntax.
			re = reply.Wrap(err, 550, "5.1.7", "deliver", "bad sender address")
		}
		for _, i := range idx {
			results[i] = fromReply(re)
		}
		return
	}
	for k, i := range idx {
		var r result
		if k < len(res) && res[k].Err != nil {
			r = fromReply(res[k].Err)
		} else if k < len(res) {
			r = result{tried: true, delivered: true, code: 250, enhanced: "2.0.0", text: "delivered", forward: res[k].Forward}
		} else {
			r = temporary("4.3.0", "temporary local problem")
		}
		r.local = true
		results[i] = r
	}
}

// fromReply is the result of a local failure.
func fromReply(re *reply.Error) result {
	return result{tried: true, local: true, permanent: !re.Temporary(), code: re.Code, enhanced: re.Enhanced, text: re.Message}
}

// DeliveryKey is the delivery key of local deliveries out of queue entry
// id (see store.NewMessage.DeliveryKey).
func DeliveryKey(id int64) string {
	return "queue/" + strconv.FormatInt(id, 10)
}

// deliverRemote delivers to the recipients idx of e, all in domain dom,
// in one transaction.
func (w *Worker) deliverRemote(ctx context.Context, e *store.QueueEntry, data []byte, dom string, idx []int, results []result) {
	m := &mta.Message{
		Sender:     e.Sender,
		Data:       data,
		SMTPUTF8:   e.SMTPUTF8,
		RequireTLS: e.RequireTLS,
		DSNRet:     e.DSNRet,
		DSNEnvID:   e.DSNEnvID,
	}
	for _, i := range idx {
		r := e.Recipients[i]
		m.Recipients = append(m.Recipients, mta.Recipient{Address: r.Address, Notify: r.Notify, ORcpt: r.ORcpt})
	}
	res := w.Remote.Deliver(ctx, dom, m)
	for k, i := range idx {
		if k >= len(res) {
			results[i] = temporary("4.3.0", "no result from the SMTP client")
			continue
		}
		r := res[k]
		results[i] = result{tried: true, delivered: r.Delivered(), permanent: r.Permanent && !r.Delivered(),
			code: r.Code, enhanced: r.Enhanced, text: r.Text, host: r.Host}
	}
}

// sign returns the DKIM-Signature fields for e, or nil: mail is signed when
// signing is on and its sender's domain is local (and has a key).
func (w *Worker) sign(ctx context.Context, e *store.QueueEntry, raw []byte) []byte {
	if w.Signer == nil || !w.Config.DKIMSign || e.Sender == "" {
		return nil
	}
	_, dom := directory.Split(e.Sender)
	if dom == "" {
		return nil
	}
	local, err := w.Domains.IsLocalDomain(ctx, dom)
	if err != nil || !local {
		return nil
	}
	dom, err = directory.NormalizeDomain(dom) // keys are kept by A-label
	if err != nil {
		return nil
	}
	sig, err := w.Signer.Sign(ctx, dom, raw)
	if err != nil {
		w.Log.Warn("cannot sign with DKIM; sending unsigned", "id", e.ID, "domain", dom, "err", err)
		return nil
	}
	return sig
}

// retryDelay is the wait before the next attempt after the attempts-th.
func (w *Worker) retryDelay(attempts int) time.Duration {
	s := w.Config.RetrySchedule
	if len(s) == 0 {
		return 5 * time.Minute
	}
	return s[min(max(attempts-1, 0), len(s)-1)].Duration
}

// save records what attempt a did for e: recipient states, the next
// attempt, expiry, and the DSNs due (queued first, so that a crash between
// the two calls may send a DSN twice but never loses one). Saving releases
// the lease; an entry left with no pending recipient leaves the queue.
func (w *Worker) save(ctx context.Context, e *store.QueueEntry, a *outcome) {
	now := a.now
	delay := strconv.FormatFloat(now.Sub(e.Created).Seconds(), 'f', 2, 64)
	giveUp := w.Config.GiveUpAfter.Duration
	expired := giveUp > 0 && now.Sub(e.Created) >= giveUp

	var failed, delivered, delayed []dsn.Recipient
	var newFailed []int // failed in this attempt, for the revert below
	var forwards []store.QueueRecipient
	var forwardFrom []int
	lastError := ""
	for i := range e.Recipients {
		rc := &e.Recipients[i]
		r := &a.results[i]
		if !r.tried {
			continue
		}
		rc.Attempts++
		rc.LastError = r.lastError()
		status := "deferred"
		switch {
		case r.delivered:
			rc.Status = store.RcptDelivered
			rc.LastError = ""
			status = "sent"
			if dsn.Should(rc.Notify, successAction(r)) {
				delivered = append(delivered, w.dsnRecipient(rc, r, successAction(r), now, e))
			}
			for _, f := range r.forward {
				q := store.QueueRecipient{Address: f, Notify: rc.Notify, ORcpt: rc.ORcpt}
				if q.ORcpt == "" {
					// RFC 3461 section 4.2: the address the sender used.
					q.ORcpt = "rfc822;" + rc.Address
				}
				forwards = append(forwards, q)
				forwardFrom = append(forwardFrom, i)
			}
		case r.permanent:
			rc.Status = store.RcptFailed
			status = "bounced"
			newFailed = append(newFailed, i)
			if dsn.Should(rc.Notify, dsn.Failed) {
				failed = append(failed, w.dsnRecipient(rc, r, dsn.Failed, now, e))
			}
		case expired:
			// RFC 3463 section 3.5: X.4.7 delivery time expired.
			rc.Status = store.RcptFailed
			rc.LastError = "message expired after " + giveUp.String() + " in the queue: " + rc.LastError
			status = "expired"
			newFailed = append(newFailed, i)
			if dsn.Should(rc.Notify, dsn.Failed) {
				d := w.dsnRecipient(rc, r, dsn.Failed, now, e)
				d.Status = "4.4.7"
				failed = append(failed, d)
			}
		default:
			lastError = rc.LastError
		}
		w.Log.Info("queue", "id", e.ID, "to", "<"+rc.Address+">", "relay", r.relay(), "delay", delay,
			"attempt", rc.Attempts, "status", status, "reply", r.reply())
	}

	// A delay notice, once, when the entry is older than delay_warning
	// and still has recipients pending (RFC 3461 section 4.1: DELAY).
	warn := w.Config.DelayWarning.Duration
	notifyDelay := false
	if !e.DelayNotified && warn > 0 && now.Sub(e.Created) >= warn {
		for i := range e.Recipients {
			rc := &e.Recipients[i]
			if rc.Status == store.RcptPending {
				notifyDelay = true
				if dsn.Should(rc.Notify, dsn.Delayed) {
					d := w.dsnRecipient(rc, &a.results[i], dsn.Delayed, now, e)
					if giveUp > 0 {
						d.WillRetryUntil = e.Created.Add(giveUp)
					}
					delayed = append(delayed, d)
				}
			}
		}
	}

	// Reports go to the sender; none for the null sender (RFC 5321
	// section 4.5.5), and none but failures for mail sent by a machine
	// (RFC 3834: a delay or success notice to an autoresponder is noise;
	// a failure report is still owed).
	var reports []*store.NewQueueEntry
	var kinds []string
	addReport := func(kind string, rcpts []dsn.Recipient) {
		if len(rcpts) == 0 || e.Sender == "" {
			return
		}
		r, err := Report(w.Hostname, e, a.raw, rcpts, now)
		if err != nil {
			w.Log.Error("cannot build a DSN", "id", e.ID, "kind", kind, "err", err)
			return
		}
		reports = append(reports, r)
		kinds = append(kinds, kind)
	}
	addReport("failure", failed)
	automatic := a.raw != nil && dsn.IsAutomatic(a.raw)
	if !automatic {
		addReport("delay", delayed)
		addReport("success", delivered)
	}

	var extra []store.NewQueueEntry
	for _, r := range reports {
		extra = append(extra, *r)
	}
	if len(forwards) > 0 {
		extra = append(extra, store.NewQueueEntry{
			Sender: e.Sender, Recipients: forwards, Raw: a.raw,
			DSNRet: e.DSNRet, DSNEnvID: e.DSNEnvID, RequireTLS: e.RequireTLS,
			SMTPUTF8: e.SMTPUTF8, AuthAccount: e.AuthAccount,
		})
	}
	if len(extra) > 0 {
		ids, err := w.enqueue(ctx, extra)
		if err != nil {
			// Nothing new may be lost: the recipients failed in this
			// attempt, and those whose forwards were not queued, stay
			// pending (a later attempt fails them again, or delivers
			// locally again, which the delivery key makes a no-op).
			w.Log.Error("cannot queue DSNs and forwards; recipients stay pending", "id", e.ID, "err", err)
			for _, i := range append(newFailed, forwardFrom...) {
				e.Recipients[i].Status = store.RcptPending
			}
			notifyDelay = false
		} else {
			for k, id := range ids[:len(reports)] {
				w.Log.Info("queue", "id", e.ID, "dsn", id, "kind", kinds[k], "to", "<"+e.Sender+">")
			}
			if len(forwards) > 0 {
				w.Log.Info("queue", "id", e.ID, "forward", ids[len(ids)-1], "recipients", len(forwards))
			}
			w.Wake()
		}
	}

	e.Attempts++
	if lastError != "" {
		e.LastError = lastError
	}
	e.DelayNotified = e.DelayNotified || notifyDelay
	e.NextAttempt = now.Add(w.retryDelay(e.Attempts))
	if a.interrupted {
		// Stopped by a shutdown: try again as soon as a worker is up.
		e.NextAttempt = now
	}
	if err := w.update(ctx, e); err != nil {
		w.Log.Error("cannot save a delivery attempt", "id", e.ID, "err", err)
	}
}

// successAction is the DSN action of a delivered recipient (RFC 3464
// section 2.3.3): delivered into a local mailbox, expanded when it also
// forwards to remote addresses (an alias), relayed to another server
// (keeping it simple: whether the next hop sends DSNs itself is not
// tracked).
func successAction(r *result) dsn.Action {
	switch {
	case r.local && len(r.forward) > 0:
		return dsn.Expanded
	case r.local:
		return dsn.Delivered
	}
	return dsn.Relayed
}

// dsnRecipient is the per-recipient part of a DSN about rc.
func (w *Worker) dsnRecipient(rc *store.QueueRecipient, r *result, action dsn.Action, now time.Time, e *store.QueueEntry) dsn.Recipient {
	d := dsn.Recipient{
		Final:       rc.Address,
		Original:    rc.ORcpt,
		Action:      action,
		Status:      r.enhanced,
		LastAttempt: now,
	}
	if r.tried && r.code != 0 {
		// RFC 3464 section 2.3.6: the reply as received, lines joined.
		d.Diagnostic = "smtp; " + r.reply()
	}
	if name := hostName(r.host); name != "" {
		d.RemoteMTA = "dns; " + name
	}
	if !validStatusClass(d.Status, action) {
		d.Status = defaultStatus(action)
	}
	return d
}

// hostName is the name part of "mx.example.org[192.0.2.1]", or the
// address when there is no name.
func hostName(host string) string {
	name, rest, ok := strings.Cut(host, "[")
	if name != "" || !ok {
		return name
	}
	return strings.TrimSuffix(rest, "]")
}

// validStatusClass reports whether status is an enhanced status code of
// the class action needs (RFC 3464 section 2.3.4).
func validStatusClass(status string, action dsn.Action) bool {
	if len(status) < 5 || status[1] != '.' {
		return false
	}
	switch action {
	case dsn.Failed:
		return status[0] == '4' || status[0] == '5'
	case dsn.Delayed:
		return status[0] == '4'
	}
	return status[0] == '2'
}

// defaultStatus is the status of action when the reply gave none fit.
func defaultStatus(action dsn.Action) string {
	switch action {
	case dsn.Failed:
		return "5.0.0"
	case dsn.Delayed:
		return "4.0.0"
	}
	return "2.0.0"
}

// enqueue queues entries, trying a few times over a few seconds.
func (w *Worker) enqueue(ctx context.Context, entries []store.NewQueueEntry) ([]int64, error) {
	var ids []int64
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		ids, err = w.Store.Enqueue(ctx, entries)
		return err
	})
	return ids, err
}

// update saves e and releases its lease, trying a few times: an attempt
// that cannot be saved is repeated when the lease runs out.
func (w *Worker) update(ctx context.Context, e *store.QueueEntry) error {
	return retry(ctx, func(ctx context.Context) error {
		err := w.Store.UpdateQueueEntry(ctx, e, w.Owner)
		if errors.Is(err, store.ErrLeaseLost) {
			return stop{err}
		}
		return err
	})
}

// stop is an error retry gives up on at once.
type stop struct{ error }

// retry calls fn up to three times, each with saveTimeout, waiting a
// little longer each time.
func retry(ctx context.Context, fn func(ctx context.Context) error) error {
	var err error
	for try := range 3 {
		if try > 0 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(try) * 200 * time.Millisecond):
			}
		}
		cctx, cancel := context.WithTimeout(ctx, saveTimeout)
		err = fn(cctx)
		cancel()
		var s stop
		if errors.As(err, &s) {
			return s.error
		}
		if err == nil {
			return nil
		}
	}
	return err
}
