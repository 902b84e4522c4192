package app

import (
	"context"
	"crypto/tls"

	"github.com/urfave/cli/v2"

	"gannet/lib/config"
	"gannet/lib/directory"
	"gannet/lib/listen"
	"gannet/lib/store"
)

// Daemon is what every daemon opens before it serves: its Env (the
// configuration and the log), a context that ends on SIGTERM or SIGINT
// (listen.SignalContext), the store and the directory.
type Daemon struct {
	*Env
	// Ctx ends when the daemon is told to stop.
	Ctx   context.Context
	Store store.Store
	Dir   *directory.Directory
	stop  context.CancelFunc
}

// StartDaemon loads the configuration and opens the store and the
// directory; Close releases them.
func StartDaemon(c *cli.Context) (*Daemon, error) {
	env, err := Load(c)
	if err != nil {
		return nil, err
	}
	ctx, stop := listen.SignalContext(c.Context)
	d := &Daemon{Env: env, Ctx: ctx, stop: stop}
	if d.Store, err = env.OpenStore(ctx); err != nil {
		d.Close()
		return nil, err
	}
	if d.Dir, err = env.Directory(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Close stops listening for signals and closes the store.
func (d *Daemon) Close() error {
	d.stop()
	return d.Env.Close()
}

// TLS returns the TLS configuration of the daemon's listeners: the
// configured certificate, and those in the store chosen by name (SNI).
func (d *Daemon) TLS() (*tls.Config, error) {
	return listen.TLSConfigWithStore(d.Config, d.Log, d.Store)
}

// Listen opens the listeners of a daemon's section, with the server's
// trusted proxies (PROXY protocol) and log.
func (d *Daemon) Listen(ls []config.Listener) ([]listen.Listener, error) {
	return listen.Open(d.Ctx, ls, listen.TrustedProxies(d.Config.Server.ProxyPrefixes()), listen.WithLog(d.Log))
}
