package ban

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

	"gannet/lib/config"
	"gannet/lib/listen"
	"gannet/lib/notify"
	"gannet/lib/store"
)

// Daemon is the auto-ban and the connection limits of one daemon process:
// a Guard loaded from the store and kept fresh by the change feed, a
// Limiter, and a listen.Gate applying both at accept.
type Daemon struct {
	Guard   *Guard
	Limiter *Limiter
	// Gate refuses banned addresses and those past their connection
	// limits; wrap the daemon's listeners with it (Gate.Wrap). When an
	// address is banned, its open connections through Gate are closed.
	Gate *listen.Gate

	closers []io.Closer
	cancel  context.CancelFunc
	done    chan struct{}
}

// Start sets up the auto-ban of a daemon: the Guard publishes the bans it
// makes on the change feed and listens to it (feed, or a listener of its
// own in cfg.NotifyDir() when feed is nil) so that bans made anywhere reach
// this process at once. It runs until ctx ends or Close.
func Start(ctx context.Context, cfg *config.Config, st store.Bans, feed Feed, log *slog.Logger) (*Daemon, error) {
	if log == nil {
		log = slog.Default()
	}
	d := &Daemon{
		Guard:   New(st, cfg.Ban, log),
		Limiter: NewLimiter(cfg.Limits),
		done:    make(chan struct{}),
	}
	d.Limiter.Exempt = d.Guard.Allowlisted
	if err := d.Guard.Load(ctx); err != nil {
		return nil, err
	}
	if pub, err := notify.NewPublisher(cfg.NotifyDir()); err != nil {
		log.Warn("change feed unavailable; other processes learn of bans late", "dir", cfg.NotifyDir(), "err", err)
	} else {
		d.Guard.Publisher = pub
		d.closers = append(d.closers, pub)
	}
	if feed == nil {
		if l, err := notify.Listen(ctx, cfg.NotifyDir()); err != nil {
			log.Warn("change feed unavailable; bans made elsewhere are seen late", "dir", cfg.NotifyDir(), "err", err)
		} else {
			feed = l
			d.closers = append(d.closers, l)
		}
	}
	d.Gate = &listen.Gate{
		Allow: d.Guard.AllowAddr,
		Admit: d.Limiter.Admit,
		Busy:  BusyAnswer(cfg.Server.Hostname),
		Log:   log,
	}
	d.Guard.OnChange(func() {
		if n := d.Gate.CloseIf(func(a net.Addr) bool { return !d.Guard.AllowAddr(a) }); n > 0 {
			log.Info("closed the connections of banned addresses", "connections", n)
		}
	})
	wctx, cancel := context.WithCancel(ctx)
	d.cancel = cancel
	go func() {
		defer close(d.done)
		d.Guard.Watch(wctx, feed)
	}()
	return d, nil
}

// SMTP returns the hooks smtpd takes (lib/smtp's Guard).
func (d *Daemon) SMTP() SMTPGuard { return SMTPGuard{d.Guard, d.Limiter} }

// Close stops watching the feed and closes the feed sockets Start opened.
func (d *Daemon) Close() error {
	d.cancel()
	<-d.done
	var first error
	for _, c := range d.closers {
		if err := c.Close(); err != nil && first == nil {
			first = fmt.Errorf("ban: %w", err)
		}
	}
	return first
}

// BusyAnswer returns a listen.Gate Busy hook that tells a client refused
// for too many connections why, in its protocol, on the roles that speak
// first in clear text: SMTP's 421 4.7.0 (RFC 5321 section 3.8, RFC 3463),
// IMAP's BYE (RFC 9051 section 7.1.5), ManageSieve's BYE (RFC 5804
// section 1.3) and HTTP's 429 (RFC 6585 section 4). Roles with implicit
// TLS get the connection closed.
func BusyAnswer(hostname string) func(role string, c net.Conn) {
	return func(role string, c net.Conn) {
		var msg string
		switch role {
		case listen.SMTP, listen.Submission, listen.LMTP:
			msg = "421 4.7.0 " + hostname + " Too many connections from your address, try again later\r\n"
		case listen.IMAP:
			msg = "* BYE [UNAVAILABLE] Too many connections from your address, try again later\r\n"
		case listen.Sieve:
			msg = "BYE (TRYLATER) \"Too many connections from your address, try again later\"\r\n"
		case listen.HTTP:
			msg = "HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
		default:
			return
		}
		io.WriteString(c, msg)
	}
}
