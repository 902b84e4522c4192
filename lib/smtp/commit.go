package smtp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"time"

	"gannet/lib/directory"
	"gannet/lib/message"
	"gannet/lib/reply"
	"gannet/lib/store"
)

// commit checks a received message, adds the server's header fields, runs
// the hooks, and makes it durable: local recipients through LocalDelivery,
// the others (and the remote addresses local ones forward to) into the
// queue. It returns the failures per recipient address (for LMTP) and the
// size of the message as stored; an error refuses the whole message.
//
// For SMTP, a local recipient whose delivery failed while the message went
// somewhere else is queued as well, so that queued retries it or bounces it:
// one reply cannot say "yes" to some recipients and "no" to others.
func (s *session) commit(ctx context.Context, t *txn, body []byte) (map[string]*reply.Error, int, error) {
	cfg := &s.srv.Config.SMTPD
	lmtp := s.role == RoleLMTP
	h := scanHeader(body)
	if h.received > cfg.MaxReceivedHeaders {
		// RFC 5321 section 6.3.
		return nil, len(body), reply.New(554, "5.4.6", "loop", fmt.Sprintf("Too many Received header fields (%d): mail loop?", h.received))
	}
	if s.acct != nil && cfg.SenderValidation && cfg.SenderValidationHeader {
		if err := s.checkFromHeader(ctx, h.from); err != nil {
			return nil, len(body), err
		}
	}
	env := s.envelope()

	// Header fields, newest on top: Authentication-Results over Received
	// (RFC 8601 section 5).
	var prefix strings.Builder
	if s.role == RoleSMTP && s.srv.Checker != nil && s.acct == nil {
		ar, cleaned, err := s.srv.Checker.CheckMessage(ctx, env, body)
		if err != nil {
			return nil, len(body), err
		}
		if cleaned != nil {
			body = cleaned
		}
		if ar != "" {
			prefix.WriteString(strings.TrimRight(ar, "\r\n"))
			prefix.WriteString("\r\n")
		}
	}
	var single []string
	if len(env.Recipients) == 1 {
		single = env.Recipients
	}
	prefix.WriteString(receivedField(s.helo, s.c.clientIP(), s.srv.Config.Server.Hostname,
		protocolName(lmtp, t.opts.UTF8, s.tls != nil, s.acct != nil),
		t.id, s.tls, single, time.Now()))
	// The copy for local recipients begins with Return-Path (RFC 5321
	// section 4.4, added at final delivery), the queued copy without it:
	// both are slices of one buffer unless a hook replaces the message.
	rp := returnPath(t.sender)
	buf := make([]byte, 0, len(rp)+prefix.Len()+len(body))
	buf = append(buf, rp...)
	buf = append(buf, prefix.String()...)
	buf = append(buf, body...)
	msg := buf[len(rp):]

	targets := uniqueTargets(t.rcpts)
	sender := t.sender
	if m := s.c.filter(); m != nil {
		out, err := m.Data(ctx, env, msg)
		if err != nil {
			return nil, len(msg), err
		}
		if out != nil {
			msg = out
		}
		sender, targets = s.applyEnvelope(ctx, env, sender, targets)
	}
	// The data scripts (sievestage.go) may edit the header, change the
	// recipients, discard or refuse.
	msg, targets, err := s.dataStage(ctx, env, sender, targets, msg)
	if err != nil {
		return nil, len(msg), err
	}
	if traps := t.traps(); len(traps) > 0 {
		env.Trapped = true
		if rf, ok := s.srv.Spam.(RcptFilter); ok {
			rf.Trapped(ctx, env, traps, msg, len(targets) == 0)
		}
		if len(targets) == 0 {
			return nil, len(msg), nil // accepted, and thrown away
		}
	}
	if s.srv.Spam != nil {
		out, err := s.srv.Spam.CheckSpam(ctx, env, msg)
		if err != nil {
			return nil, len(msg), err
		}
		if out != nil {
			msg = out
		}
	}
	withRP := func() []byte {
		if sender == t.sender && len(msg) > 0 && len(buf) == len(rp)+len(msg) && &buf[len(rp)] == &msg[0] {
			return buf
		}
		p := returnPath(sender)
		return append(p[:len(p):len(p)], msg...)
	}

	var local []string
	var remote []store.QueueRecipient
	byAddr := map[string]rcpt{}
	for _, r := range targets {
		byAddr[r.addr] = r
		if r.local {
			local = append(local, r.addr)
		} else {
			remote = append(remote, queueRecipient(r.addr, r))
		}
	}

	failures := map[string]*reply.Error{}
	var retry, forward []store.QueueRecipient
	delivered := 0
	if len(local) > 0 {
		localRaw := withRP()
		results, err := s.srv.Deliver.DeliverLocal(ctx, &LocalMessage{
			Sender: sender, Recipients: local, Raw: localRaw, Parsed: message.Parse(localRaw),
		})
		if err != nil {
			return nil, len(msg), reply.As(err)
		}
		done := map[string]bool{}
		for _, res := range results {
			done[res.Recipient] = true
			r := byAddr[res.Recipient]
			if res.Err != nil {
				failures[res.Recipient] = res.Err
				retry = append(retry, queueRecipient(res.Recipient, r))
				continue
			}
			delivered++
			for _, f := range res.Forward {
				if !slices.ContainsFunc(forward, func(q store.QueueRecipient) bool { return q.Address == f }) {
					q := queueRecipient(f, r)
					if q.ORcpt == "" {
						// RFC 3461 section 4.2: the address the sender used.
						q.ORcpt = "rfc822;" + res.Recipient
					}
					forward = append(forward, q)
				}
			}
		}
		for _, a := range local {
			if !done[a] {
				e := reply.New(451, "4.3.0", "internal", "Temporary local problem, try again later")
				failures[a] = e
				retry = append(retry, queueRecipient(a, byAddr[a]))
			}
		}
	}

	queue := append(remote, forward...)
	if !lmtp && len(retry) > 0 {
		if delivered == 0 && len(queue) == 0 {
			// Nothing went anywhere: the client hears why.
			return failures, len(msg), worst(failures, local)
		}
		queue = append(queue, retry...)
	}
	if len(queue) > 0 {
		_, err := s.srv.Store.Enqueue(ctx, []store.NewQueueEntry{{
			Sender:      sender,
			Recipients:  queue,
			Raw:         msg,
			DSNRet:      string(t.opts.Return),
			DSNEnvID:    t.opts.EnvelopeID,
			RequireTLS:  t.opts.RequireTLS,
			SMTPUTF8:    t.opts.UTF8,
			AuthAccount: accountID(s.acct),
		}})
		if err == nil && s.srv.OnEnqueue != nil {
			s.srv.OnEnqueue()
		}
		if err != nil {
			re := reply.Wrap(err, 451, "4.3.0", "queue", "Temporary local problem, try again later")
			if !lmtp {
				return nil, len(msg), re
			}
			// The forwards of these recipients were not queued.
			for _, f := range forward {
				failures[strings.TrimPrefix(f.ORcpt, "rfc822;")] = re
			}
		}
	}
	return failures, len(msg), nil
}

// uniqueTargets lists the recipients to deliver to, each address once.
func uniqueTargets(rcpts []rcpt) []rcpt {
	var out []rcpt
	for _, r := range rcpts {
		if r.trap {
			continue
		}
		if !slices.ContainsFunc(out, func(o rcpt) bool { return o.addr == r.addr }) {
			out = append(out, r)
		}
	}
	return out
}

// applyEnvelope makes the envelope changes a milter asked for in env: a
// new sender, recipients removed, recipients added (resolved as RCPT TO
// ones are; an unknown local one is left out and logged).
func (s *session) applyEnvelope(ctx context.Context, env *Envelope, sender string, targets []rcpt) (string, []rcpt) {
	if env.Sender != sender {
		if n, err := directory.Normalize(env.Sender); err == nil || env.Sender == "" {
			sender = n
		}
	}
	var out []rcpt
	for _, r := range targets {
		if slices.Contains(env.Recipients, r.addr) {
			out = append(out, r)
		}
	}
	for _, a := range env.Recipients {
		if slices.ContainsFunc(out, func(r rcpt) bool { return r.addr == a }) {
			continue
		}
		res, err := s.srv.Dir.Resolve(ctx, a)
		if err != nil || res.Local && !res.Exists {
			s.srv.Log.Warn("recipient added by a milter left out", "session", s.c.id, "rcpt", headerSafe(a, 320), "err", err)
			continue
		}
		if !slices.ContainsFunc(out, func(r rcpt) bool { return r.addr == res.Address }) {
			out = append(out, rcpt{addr: res.Address, local: res.Local})
		}
	}
	return sender, out
}

// returnPath is the Return-Path field for sender, with its CRLF.
func returnPath(sender string) []byte {
	return []byte("Return-Path: <" + sender + ">\r\n")
}

// worst picks the reply for a message no recipient took: a temporary
// failure if there is one (the client will try again), else the first
// permanent one.
func worst(failures map[string]*reply.Error, order []string) *reply.Error {
	var first *reply.Error
	for _, a := range order {
		e := failures[a]
		if e == nil {
			continue
		}
		if e.Temporary() {
			return e
		}
		if first == nil {
			first = e
		}
	}
	if first == nil {
		first = reply.New(451, "4.3.0", "internal", "Temporary local problem, try again later")
	}
	return first
}

func queueRecipient(addr string, r rcpt) store.QueueRecipient {
	return store.QueueRecipient{Address: addr, Notify: r.notify, ORcpt: r.orcpt, Status: store.RcptPending}
}

func accountID(a *store.Account) int64 {
	if a == nil {
		return 0
	}
	return a.ID
}

// checkFromHeader makes sure every From: address is the authenticated
// account's to use.
func (s *session) checkFromHeader(ctx context.Context, values []string) error {
	refuse := func(what string) error {
		return reply.New(550, "5.7.1", "sender", fmt.Sprintf("From: header %s is not yours (%s)", what, s.acct.Address))
	}
	if len(values) == 0 {
		return refuse("(missing)")
	}
	for _, v := range values {
		list, err := mail.ParseAddressList(v)
		if err != nil || len(list) == 0 {
			return refuse(fmt.Sprintf("%q", headerSafe(strings.TrimSpace(v), 200)))
		}
		for _, a := range list {
			ok, err := s.srv.Dir.CanSendAs(ctx, s.acct, a.Address)
			if err != nil && !errors.Is(err, directory.ErrInvalidAddress) {
				return reply.Wrap(err, 451, "4.3.0", "directory", "Temporary lookup failure, try again later")
			}
			if !ok {
				return refuse("<" + headerSafe(a.Address, 320) + ">")
			}
		}
	}
	return nil
}

// msgID names the message in Received fields and logs: the session id and
// the number of the message in the session.
func (s *session) msgID() string {
	return fmt.Sprintf("%s.%d", s.c.id, s.c.messageCount()+1)
}

// log writes the one line of a transaction. It never holds the body or a
// password.
func (s *session) log(t *txn, start time.Time, size int, err *reply.Error) {
	rcpts := make([]string, 0, len(t.rcpts))
	for _, r := range t.rcpts {
		rcpts = append(rcpts, r.addr)
	}
	attrs := []slog.Attr{
		slog.String("session", s.c.id),
		slog.String("id", t.id),
		slog.String("role", s.role),
		slog.String("client", s.c.clientIP()),
		slog.String("helo", s.helo),
		slog.String("from", t.sender),
		slog.Any("to", rcpts),
		slog.Int("size", size),
		slog.Duration("took", time.Since(start)),
	}
	if s.acct != nil {
		attrs = append(attrs, slog.String("account", s.acct.Address))
	}
	if s.tls != nil {
		attrs = append(attrs, slog.String("tls", tlsVersionName(s.tls.Version)))
	}
	level := slog.LevelInfo
	if err == nil {
		attrs = append(attrs, slog.String("result", "accepted"))
	} else {
		if err.Code >= 400 {
			level = slog.LevelWarn
		}
		attrs = append(attrs, slog.String("result", err.Error()), slog.String("check", err.Check))
		if err.Err != nil {
			attrs = append(attrs, slog.String("err", err.Err.Error()))
		}
	}
	s.srv.Log.LogAttrs(context.Background(), level, "message", attrs...)
}

// traps lists the spam-trap recipients of the transaction.
func (t *txn) traps() []string {
	var out []string
	for _, r := range t.rcpts {
		if r.trap && !slices.Contains(out, r.addr) {
			out = append(out, r.addr)
		}
	}
	return out
}
