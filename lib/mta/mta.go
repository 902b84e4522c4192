// Package mta is the outbound SMTP client of queued: it delivers one
// message to the recipients of one destination domain (or relay host),
// and tells for each recipient what came of it.
//
// It finds the hosts (a relay host, the MX records ordered by preference
// with equal preferences shuffled, the domain's own address when it has
// no MX, a domain literal), honours the null MX of RFC 7505, tries each
// address of each host in turn, speaks ESMTP with PIPELINING, STARTTLS
// (opportunistic, or required and verified under an MTA-STS policy in
// enforce mode, for REQUIRETLS and for relay hosts), AUTH PLAIN to relay
// hosts, SIZE, 8BITMIME, SMTPUTF8, DSN and REQUIRETLS parameters, and
// sends the message with BDAT when the server offers CHUNKING, else with
// DATA after a transparency procedure that no hidden end-of-data sequence
// can get through. Connections are kept for reuse for a while after a
// transaction, and the connections open at once to one destination are
// limited.
//
// Not done: DANE (RFC 7672) needs a resolver that reports DNSSEC-validated
// answers; REQUIRETLS is granted on a verified certificate without the
// DNSSEC or MTA-STS check of the MX name that RFC 8689 section 4.2.1 asks
// for unless the domain has an MTA-STS policy listing the host.
package mta

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"gannet/lib/config"
)

// Defaults for a Client's zero fields.
const (
	// DefaultIdleTimeout is how long an idle connection is kept for
	// reuse. Postfix keeps one 2 s (smtp_connection_cache_time_limit)
	// because its scheduler hands the next message at once; queued's
	// workers may take a little longer, and every server waits at least
	// 5 minutes for a command (RFC 5321 section 4.5.3.2.7), so 30 s is
	// still polite.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultMaxMessagesPerConn is how many transactions one connection
	// carries before it is closed (Postfix smtp_connection_reuse_count_limit
	// is unlimited, Exim's connection_max_messages 500; 100 spreads load).
	DefaultMaxMessagesPerConn = 100
	// DefaultMaxConnAge is how long after its opening a connection is
	// still reused (Postfix smtp_connection_reuse_time_limit).
	DefaultMaxConnAge = 300 * time.Second
	// MaxAddresses bounds the addresses tried for one delivery (Postfix
	// smtp_mx_address_limit is 5; a few more helps domains with many MX).
	MaxAddresses = 10
	// MaxMXHosts bounds the MX hosts considered for one domain.
	MaxMXHosts = 20
	// chunkSize is the most octets one BDAT command carries.
	chunkSize = 1 << 20
)

// Message is one message to send to one destination.
type Message struct {
	// Sender is the reverse-path; "" is the null sender.
	Sender string
	// Recipients are all of one domain (or of one relay host).
	Recipients []Recipient
	// Data is the message. CRLF line ends are expected but not relied on:
	// for DATA every line end is sent as CRLF; BDAT sends the bytes as
	// they are.
	Data []byte
	// SMTPUTF8 is the SMTPUTF8 MAIL parameter the message came with (RFC
	// 6531): passed on when the server offers it; a message that needs it
	// (non-ASCII addresses, or UTF-8 headers) fails when it does not.
	SMTPUTF8 bool
	// RequireTLS is the REQUIRETLS MAIL parameter (RFC 8689): the message
	// goes only over verified TLS to a server offering REQUIRETLS.
	RequireTLS bool
	// DSNRet and DSNEnvID are the RFC 3461 RET and ENVID parameters
	// (decoded), passed on when the server offers DSN.
	DSNRet, DSNEnvID string
	// EightBit sends BODY=8BITMIME when the server offers it; it is also
	// set when any byte of Data has its high bit set.
	EightBit bool
}

// Recipient is one forward-path with its DSN parameters (RFC 3461 section
// 4), passed on when the server offers DSN.
type Recipient struct {
	Address string
	// Notify is the NOTIFY list: NEVER, or some of SUCCESS, FAILURE, DELAY.
	Notify []string
	// ORcpt is the original recipient, "rfc822;addr" (decoded).
	ORcpt string
}

// Result is the outcome for one recipient.
type Result struct {
	Recipient string
	// Code, Enhanced and Text are the server's reply, or ours for a local
	// failure (no host reachable, null MX...). Enhanced is never empty: a
	// reply without one gets "X.0.0" of its class.
	Code     int
	Enhanced string
	Text     string
	// Permanent is true for a 5xx reply or a permanent local reason (null
	// MX, no such domain, REQUIRETLS impossible...).
	Permanent bool
	// Host is the host that answered, "mx.example.com[192.0.2.1]", or ""
	// when none was reached.
	Host string
}

// Delivered reports whether the server took the message for the recipient.
func (r *Result) Delivered() bool { return r.Code >= 200 && r.Code < 300 }

// Resolver looks up what delivery needs; *msgauth.Resolver is one (and
// net.Resolver another). A name that does not exist, or has no records of
// the type, is a *net.DNSError with IsNotFound; *msgauth.Resolver says
// "no records" for the second, which tells an empty answer from NXDOMAIN.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Policy is the MTA-STS policy of a domain (RFC 8461 section 3.2), as far
// as delivery needs it.
type Policy struct {
	// Mode is "enforce", "testing" or "none".
	Mode string
	// MX holds the policy's mx patterns: host names, or "*.example.net"
	// for any one label in front of example.net.
	MX []string
}

// Match reports whether host matches one of the policy's mx patterns (RFC
// 8461 section 4.1: a wildcard stands for exactly one leftmost label).
func (p *Policy) Match(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		pat = strings.ToLower(strings.TrimSuffix(pat, "."))
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			if _, suffix, ok := strings.Cut(host, "."); ok && suffix == rest {
				return true
			}
			continue
		}
		if host == pat {
			return true
		}
	}
	return false
}

// PolicySource gives a domain's MTA-STS policy: nil (and no error) for a
// domain without one. An error is treated as no policy (RFC 8461 section
// 5: a sender that cannot fetch one and has none cached delivers as it
// would without).
type PolicySource interface {
	Policy(ctx context.Context, domain string) (*Policy, error)
}

// PolicyFunc makes a function a PolicySource.
type PolicyFunc func(ctx context.Context, domain string) (*Policy, error)

// Policy calls f.
func (f PolicyFunc) Policy(ctx context.Context, domain string) (*Policy, error) {
	return f(ctx, domain)
}

// Client delivers messages. Set its fields before the first Deliver; it is
// safe for concurrent use after that.
type Client struct {
	// Hostname is the name sent in EHLO (required).
	Hostname string
	// Resolver looks up MX and address records (required unless every
	// domain goes to a relay host).
	Resolver Resolver
	// Port is the port of MX hosts and domain literals; default 25.
	Port int
	// ConnectTimeout bounds the TCP connect and the greeting; default 30 s.
	ConnectTimeout time.Duration
	// CommandTimeout bounds each reply, the one to the end of the message
	// included (RFC 5321 section 4.5.3.2 asks for 5 and 10 minutes);
	// default 5 minutes.
	CommandTimeout time.Duration
	// DestinationConcurrency bounds the deliveries in progress at once to
	// one domain or relay host; default 10.
	DestinationConcurrency int
	// RootCAs verify certificates where verification is required; nil
	// uses the system's roots.
	RootCAs *x509.CertPool
	// RelayHosts route some or all domains to smarthosts.
	RelayHosts []config.RelayHost
	// MTASTS gives the MTA-STS policies; nil disables MTA-STS.
	MTASTS PolicySource
	// Logger gets a line per delivery attempt; nil discards.
	Logger *slog.Logger
	// IdleTimeout, MaxMessagesPerConn and MaxConnAge govern connection
	// reuse (defaults above); a negative IdleTimeout disables reuse.
	IdleTimeout        time.Duration
	MaxMessagesPerConn int
	MaxConnAge         time.Duration

	mu     sync.Mutex
	idle   map[poolKey][]*conn
	sems   map[string]*destSem
	closed bool
}

// New returns a Client configured from cfg (timeouts, concurrency, relay
// hosts, remote port, CA file) greeting as hostname and resolving with r.
// MTA-STS is left off: set MTASTS when cfg.MTASTS is "enforce".
func New(cfg config.Queued, hostname string, r Resolver) (*Client, error) {
	c := &Client{
		Hostname:               hostname,
		Resolver:               r,
		Port:                   cfg.RemotePort,
		ConnectTimeout:         cfg.ConnectTimeout.Duration,
		CommandTimeout:         cfg.CommandTimeout.Duration,
		DestinationConcurrency: cfg.DestinationConcurrency,
		RelayHosts:             cfg.RelayHosts,
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mta: ca_file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mta: ca_file %s: no PEM certificate in it", cfg.CAFile)
		}
	}
	return c, nil
}

func (c *Client) port() int {
	if c.Port > 0 {
		return c.Port
	}
	return 25
}

func (c *Client) connectTimeout() time.Duration {
	if c.ConnectTimeout > 0 {
		return c.ConnectTimeout
	}
	return 30 * time.Second
}

func (c *Client) commandTimeout() time.Duration {
	if c.CommandTimeout > 0 {
		return c.CommandTimeout
	}
	return 5 * time.Minute
}

func (c *Client) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Deliver sends m to its recipients, all of domain (a domain name or a
// literal "[192.0.2.1]"), and returns a result for each recipient in the
// order of m.Recipients. It never fails as a whole: a failure that stops
// everything (no such domain, no host reachable, ctx done) is the result
// of every recipient.
func (c *Client) Deliver(ctx context.Context, domain string, m *Message) []Result {
	d := &delivery{c: c, m: m, results: make([]Result, len(m.Recipients)), done: make([]bool, len(m.Recipients))}
	for i, r := range m.Recipients {
		d.results[i].Recipient = r.Address
	}
	if len(m.Recipients) == 0 {
		return d.results
	}
	if !validPath(m.Sender) {
		d.finishAll(&failure{Code: 550, Enhanced: "5.1.7", Text: "sender address cannot be sent in SMTP", Permanent: true})
		return d.results
	}
	for i, r := range m.Recipients {
		if !validPath(r.Address) || r.Address == "" {
			d.finish(i, &failure{Code: 550, Enhanced: "5.1.3", Text: "recipient address cannot be sent in SMTP", Permanent: true})
		}
	}
	if len(d.pending()) == 0 {
		return d.results
	}

	rt, f := c.route(ctx, strings.ToLower(strings.TrimSuffix(domain, ".")), m)
	if f != nil {
		d.finishAll(f)
		d.log(domain, "")
		return d.results
	}
	release, err := c.acquire(ctx, rt.dest)
	if err != nil {
		d.finishAll(&failure{Code: 451, Enhanced: "4.4.5", Text: "delivery interrupted while waiting for a connection slot: " + err.Error()})
		d.log(domain, rt.dest)
		return d.results
	}
	defer release()
	d.run(ctx, rt)
	d.log(domain, rt.dest)
	return d.results
}

// Close closes the idle connections (with QUIT) and stops pooling:
// later deliveries still work, each on a connection of its own.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	var all []*conn
	for k, list := range c.idle {
		for _, cn := range list {
			cn.stopIdle()
			all = append(all, cn)
		}
		delete(c.idle, k)
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, cn := range all {
		wg.Go(cn.quit)
	}
	wg.Wait()
	return nil
}
