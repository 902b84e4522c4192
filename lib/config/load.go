package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"
	"golang.org/x/sys/unix"
)

// MaxFileSize bounds the configuration file.
const MaxFileSize = 4 << 20

// ResolvePath returns the configuration file to read: flagValue when it is
// set, else $GANNET_CONFIG, else DefaultPath.
func ResolvePath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if env := os.Getenv("GANNET_CONFIG"); env != "" {
		return env
	}
	return DefaultPath
}

// Load reads, checks and returns the configuration file at path. Every
// problem is reported at once (see Parse).
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("cannot read configuration: %v", unwrapPath(err)), err: err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("cannot read configuration: %v", unwrapPath(err)), err: err}
	}
	return Parse(path, data)
}

// unwrapPath drops the path from an *fs.PathError, which Error already names.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Parse reads a configuration from data; filename is used in errors and to
// resolve relative ${file:} paths. Keys the file leaves out keep the values
// of Default. On error the result is nil and the error is an *Error or,
// when there are several problems, their errors.Join, in line order.
//
// After a successful check, Parse resolves store.path, tls.cert_file and
// tls.key_file against server.state_dir when they are relative, writes bare
// addresses in smtpd.relay_networks as prefixes (192.0.2.1/32) and gives
// a bare dns.resolver address port 53.
func Parse(filename string, data []byte) (*Config, error) {
	return parse(filename, data, osSources(filename))
}

func parse(filename string, data []byte, src sources) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{File: filename, Msg: fmt.Sprintf("larger than %d bytes", MaxFileSize)}
	}
	if line := checkDepth(string(data)); line > 0 {
		return nil, &Error{File: filename, Line: line, Msg: fmt.Sprintf("arrays and tables nested more than %d deep", maxDepth)}
	}
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{File: filename, Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message, err: err}
		}
		return nil, &Error{File: filename, Msg: err.Error(), err: err}
	}

	c := Default()
	c.Path = filename
	c.lines = scanLines(data)
	c.unexpanded = map[string]string{}
	d := &decoder{file: filename, lines: c.lines, src: src, unexpanded: c.unexpanded}
	d.table("", raw, reflect.ValueOf(c).Elem())

	errs := d.errs
	// A key that could not be read keeps its default; do not also complain
	// about that default (a missing hostname, for instance).
	bad := map[string]bool{}
	for _, e := range d.errs {
		bad[e.Key] = true
	}
	for _, e := range c.validate() {
		if !bad[e.Key] {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	c.normalize()
	return c, nil
}

// normalize writes checked values in the form programs use.
func (c *Config) normalize() {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(c.Server.StateDir, *p)
		}
	}
	abs(&c.Store.Path)
	abs(&c.TLS.CertFile)
	abs(&c.TLS.KeyFile)
	for i, n := range c.SMTPD.RelayNetworks {
		if !strings.Contains(n, "/") {
			if p, err := parseNetwork(n); err == nil {
				c.SMTPD.RelayNetworks[i] = p.String()
			}
		}
	}
	if r := c.DNS.Resolver; r != "" {
		if ap, err := parseResolver(r); err == nil {
			c.DNS.Resolver = ap.String()
		}
	}
}

// DatabasePath returns the SQLite database file: store.path, or
// state_dir/gannet.db.
func (c *Config) DatabasePath() string {
	if c.Store.Path != "" {
		if filepath.IsAbs(c.Store.Path) {
			return c.Store.Path
		}
		return filepath.Join(c.Server.StateDir, c.Store.Path)
	}
	return filepath.Join(c.Server.StateDir, "gannet.db")
}

// systemRuntimeDir is the runtime directory used when server.runtime_dir is
// not set and it is writable (systemd's RuntimeDirectory=gannet makes it).
var systemRuntimeDir = "/run/gannet"

// RuntimeDirectory returns server.runtime_dir; when that is not set,
// /run/gannet if it is a directory this process may write, else
// state_dir/run.
func (c *Config) RuntimeDirectory() string {
	if c.Server.RuntimeDir != "" {
		return c.Server.RuntimeDir
	}
	if fi, err := os.Stat(systemRuntimeDir); err == nil && fi.IsDir() && unix.Access(systemRuntimeDir, unix.W_OK) == nil {
		return systemRuntimeDir
	}
	return filepath.Join(c.Server.StateDir, "run")
}

// NotifyDir returns the directory of the change-feed sockets:
// RuntimeDirectory()/notify.
func (c *Config) NotifyDir() string {
	return filepath.Join(c.RuntimeDirectory(), "notify")
}
