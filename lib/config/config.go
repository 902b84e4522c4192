// Package config reads Gannet's one TOML configuration file, shared by every
// program. A file holding only [server] hostname and state_dir is a complete
// setup: every other key has a default, set by Default.
//
// Any string value may be written as ${env:NAME} or ${file:PATH} so that
// secrets stay out of the file. Unknown keys, wrong types and bad values are
// errors naming the file, line and key.
package config

import "time"

// DefaultPath is where programs look for the configuration when neither
// --config nor GANNET_CONFIG names a file.
const DefaultPath = "/etc/gannet/gannet.toml"

// Config is the whole configuration file, a section per program or concern.
type Config struct {
	// Path is the file the configuration was read from (not a TOML key).
	Path string `toml:"-"`

	Server    Server    `toml:"server"`
	Store     Store     `toml:"store"`
	Directory Directory `toml:"directory"`
	TLS       TLS       `toml:"tls"`
	Log       Log       `toml:"log"`
	SMTPD     SMTPD     `toml:"smtpd"`
	Queued    Queued    `toml:"queued"`
	Deliver   Deliver   `toml:"deliver"`
	IMAPD     IMAPD     `toml:"imapd"`
	JMAPD     JMAPD     `toml:"jmapd"`
	Sieved    Sieved    `toml:"sieved"`
	Spamd     Spamd     `toml:"spamd"`
	DNS       DNS       `toml:"dns"`
	Spam      Spam      `toml:"spam"`   // spam.go
	Ban       Ban       `toml:"ban"`    // ban.go
	Limits    Limits    `toml:"limits"` // limits.go
	ACME      ACME      `toml:"acme"`   // acme.go
	Sieve     Sieve     `toml:"sieve"`  // sieve.go

	// lines maps each key read from the file ("smtpd.listener[1].address")
	// to its line, so that Validate can say where a bad value was written.
	lines map[string]int
	// unexpanded holds the text, as written, of the values that used
	// ${env:...} or ${file:...}, so that Encode does not print secrets.
	unexpanded map[string]string
}

// Server holds what every program needs.
type Server struct {
	// Hostname is the fully qualified name the server greets with (required).
	Hostname string `toml:"hostname"`
	// StateDir holds the database, certificates and runtime sockets (required).
	StateDir string `toml:"state_dir"`
	// RuntimeDir holds the change-feed sockets; default /run/gannet when it is
	// writable, else StateDir/run.
	RuntimeDir string `toml:"runtime_dir"`
	// ProxyTrustedNetworks are the proxies (addresses or CIDR networks)
	// whose PROXY protocol header a listener with proxy_protocol = true
	// believes; a connection from anywhere else is refused there.
	ProxyTrustedNetworks []string `toml:"proxy_trusted_networks"`
}

// Store selects and tunes the message store.
type Store struct {
	// Driver is "sqlite" (default). "postgres" is reserved for later.
	Driver string `toml:"driver"`
	// Path is the SQLite database file; default StateDir/gannet.db.
	Path string `toml:"path"`
	// BusyTimeout is how long a writer waits for another process's lock.
	BusyTimeout Duration `toml:"busy_timeout"`
	// ReadConnections is the size of the read-only pool.
	ReadConnections int `toml:"read_connections"`
	// GroupCommitWindow is how long a commit waits for company before syncing.
	GroupCommitWindow Duration `toml:"group_commit_window"`
	// GroupCommitMax is the most messages one commit carries.
	GroupCommitMax int `toml:"group_commit_max"`
	// ChangeLogRetention is how long the change log (CONDSTORE, QRESYNC,
	// JMAP changes) keeps an entry; a client resynchronising from further
	// back is told of expunges by comparing UIDs instead.
	ChangeLogRetention Duration `toml:"change_log_retention"`
}

// Directory sets how addresses resolve to accounts.
type Directory struct {
	// SubaddressSeparator splits user+tag@domain; "" turns subaddressing off.
	SubaddressSeparator string `toml:"subaddress_separator"`
	// CacheSize is the number of entries in the lookup cache.
	CacheSize int `toml:"cache_size"`
	// CacheTTL is how long a lookup stays fresh in the cache.
	CacheTTL Duration `toml:"cache_ttl"`
	// Argon2 tunes password hashing for new hashes.
	Argon2 Argon2 `toml:"argon2"`
}

// Argon2 holds the argon2id cost parameters.
type Argon2 struct {
	Time    uint32 `toml:"time"`
	Memory  uint32 `toml:"memory_kib"`
	Threads uint8  `toml:"threads"`
}

// TLS names certificate files; without them a self-signed certificate for
// Server.Hostname is made in StateDir on first start.
type TLS struct {
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `toml:"min_version"`
}

// Log sets the log level and format.
type Log struct {
	// Level is debug, info (default), warn or error.
	Level string `toml:"level"`
	// Format is text (default) or json.
	Format string `toml:"format"`
}

// Listener is one address a daemon listens on when not socket-activated.
// A section's listeners in the file replace all of its default listeners.
type Listener struct {
	// Name is the role, as in a systemd FileDescriptorName (smtp, submission...).
	Name string `toml:"name"`
	// Address is host:port, or a path for a Unix socket.
	Address string `toml:"address"`
	// ProxyProtocol expects a PROXY protocol header on every connection.
	ProxyProtocol bool `toml:"proxy_protocol"`
}

// SMTPD configures the SMTP, submission and LMTP server.
type SMTPD struct {
	Listeners []Listener `toml:"listener"`
	// MaxMessageSize in bytes.
	MaxMessageSize int64 `toml:"max_message_size"`
	// MaxRecipients per message.
	MaxRecipients int `toml:"max_recipients"`
	// MaxMessagesPerSession before the server closes the session.
	MaxMessagesPerSession int `toml:"max_messages_per_session"`
	// MaxReceivedHeaders before a message is taken for a loop (554 5.4.6).
	MaxReceivedHeaders int `toml:"max_received_headers"`
	// MaxLineLength of a command line.
	MaxLineLength int `toml:"max_line_length"`
	// MaxErrors per session before disconnect.
	MaxErrors int `toml:"max_errors"`
	// IdleTimeout between commands; SessionTimeout for the whole session.
	IdleTimeout    Duration `toml:"idle_timeout"`
	SessionTimeout Duration `toml:"session_timeout"`
	// BareLineEndings is "reject" (default) or "normalize".
	BareLineEndings string `toml:"bare_line_endings"`
	// RelayNetworks may relay without authentication (CIDR).
	RelayNetworks []string `toml:"relay_networks"`
	// RequireTLSForAuth refuses AUTH on a clear connection (default true).
	RequireTLSForAuth bool `toml:"require_tls_for_auth"`
	// SenderValidation makes authenticated senders use their own addresses.
	SenderValidation bool `toml:"sender_validation"`
	// SenderValidationHeader also checks the From: header.
	SenderValidationHeader bool `toml:"sender_validation_header"`
	// Rewrite rewrites envelope addresses before the directory looks them
	// up, rule by rule in order (none by default).
	Rewrite []RewriteRule `toml:"rewrite"`
	// Milters are asked about every message, in order, each seeing what
	// the ones before it changed (Postfix smtpd_milters; none by default).
	Milters []Milter `toml:"milter"`
	// Checks sets what the checks on inbound mail (port 25) do.
	Checks AuthChecks `toml:"checks"`
	// Sieve lists administrator Sieve scripts run at the stages of each
	// session (none by default; see smtpdsieve.go).
	Sieve []SMTPDSieve `toml:"sieve"`
}

// AuthChecks sets, for each check smtpd runs on mail arriving at port 25,
// whether it runs and what a failing result does: "relaxed" records the
// result in the Authentication-Results header and acts only on a DMARC
// reject policy, "strict" also refuses mail the check fails, "off" skips
// the check.
type AuthChecks struct {
	SPF   string `toml:"spf"`   // RFC 7208
	DKIM  string `toml:"dkim"`  // RFC 6376
	DMARC string `toml:"dmarc"` // RFC 7489
	ARC   string `toml:"arc"`   // RFC 8617
	IPRev string `toml:"iprev"` // RFC 8601 section 3
	// DMARCEnforceReject refuses mail that fails DMARC for a domain whose
	// policy is p=reject (550 5.7.1); without it such mail is treated as
	// p=quarantine.
	DMARCEnforceReject bool `toml:"dmarc_enforce_reject"`
}

// MaxRewriteRules bounds smtpd.rewrite, so that rewriting an address stays
// cheap whatever the file says.
const MaxRewriteRules = 100

// RewriteRule rewrites an envelope address that a regular expression
// matches as a whole (Go's RE2 syntax, case-insensitive unless the pattern
// says (?-i)).
type RewriteRule struct {
	// Match is the pattern; it must match the whole address.
	Match string `toml:"match"`
	// Replace is the new address; $1 or ${name} stand for what the groups
	// of Match captured.
	Replace string `toml:"replace"`
	// Apply is "sender", "recipient" or "both" ("" means both).
	Apply string `toml:"apply"`
	// Last stops rewriting after this rule when it matches.
	Last bool `toml:"last"`
}

// Milter is a mail filter smtpd asks about every message (the Sendmail
// milter protocol).
type Milter struct {
	// Name is used in logs ("" means the address).
	Name string `toml:"name"`
	// Address is "inet:host:port" or "unix:/path" (Postfix syntax);
	// "inet:port@host" (Sendmail syntax) is accepted too.
	Address string `toml:"address"`
	// Protocol is the milter protocol version, 2 or 6 (0 means 6).
	Protocol int `toml:"protocol"`
	// Timeout bounds connecting and each exchange (0 means 30s).
	Timeout Duration `toml:"timeout"`
	// DefaultAction is what happens to the message when the milter cannot be
	// reached or fails: "tempfail" ("" too), "accept" or "reject".
	DefaultAction string `toml:"default_action"`
}

// Queued configures the queue runner.
type Queued struct {
	// RetrySchedule is the delay before each retry; the last repeats.
	RetrySchedule []Duration `toml:"retry_schedule"`
	// DelayWarning sends a delay DSN after this long.
	DelayWarning Duration `toml:"delay_warning"`
	// GiveUpAfter bounces what is still undelivered after this long.
	GiveUpAfter Duration `toml:"give_up_after"`
	// Workers is the number of concurrent deliveries.
	Workers int `toml:"workers"`
	// DestinationConcurrency bounds the connections open at once to one
	// destination (Postfix default_destination_concurrency_limit).
	DestinationConcurrency int `toml:"destination_concurrency"`
	// ConnectTimeout bounds the TCP connect and greeting of a remote server
	// (Postfix smtp_connect_timeout).
	ConnectTimeout Duration `toml:"connect_timeout"`
	// CommandTimeout bounds each command's reply, and the reply to the end
	// of the message (RFC 5321 section 4.5.3.2 asks for 10 minutes there).
	CommandTimeout Duration `toml:"command_timeout"`
	// MTASTS is "enforce" (default: honour RFC 8461 policies) or "off".
	MTASTS string `toml:"mta_sts"`
	// DKIMSign signs mail from local domains with their DKIM keys (default true).
	DKIMSign bool `toml:"dkim_sign"`
	// RelayHosts route mail for some or all domains through a smarthost.
	RelayHosts []RelayHost `toml:"relay_host"`
	// LeaseTime is how long a worker holds a queue entry before another may
	// take it (it renews the lease while it works).
	LeaseTime Duration `toml:"lease_time"`
	// RemotePort is the port of remote MX hosts (25; tests point it at
	// servers of their own).
	RemotePort int `toml:"remote_port"`
	// CAFile, when set, holds the PEM certificates that verify remote
	// servers (MTA-STS, relay hosts) instead of the system's roots.
	CAFile string `toml:"ca_file"`
}

// RelayHost is a smarthost: mail for Domains (all domains when empty) goes
// to Address instead of the domain's MX hosts.
type RelayHost struct {
	// Domains this relay host is for; empty means every remote domain.
	Domains []string `toml:"domains"`
	// Address is host:port (port 587 when left out).
	Address string `toml:"address"`
	// TLS is "starttls" (default, required), "implicit" (TLS from the
	// first byte, port 465) or "none" (only on a trusted network).
	TLS string `toml:"tls"`
	// Username and Password for AUTH PLAIN; the password should come from
	// ${file:...} or ${env:...}.
	Username string `toml:"username"`
	Password string `toml:"password"`
}

// Deliver configures local delivery (the deliver program and lib/deliver).
type Deliver struct {
	// QuotaExceeded is "temporary" (default) or "permanent".
	QuotaExceeded string `toml:"quota_exceeded"`
}

// IMAPD configures the IMAP server.
type IMAPD struct {
	Listeners []Listener `toml:"listener"`
	// MaxLiteralSize in bytes.
	MaxLiteralSize int64 `toml:"max_literal_size"`
	// IdleTimeout for an authenticated session (RFC 9051 asks for 30 min).
	IdleTimeout Duration `toml:"idle_timeout"`
}

// JMAPD configures the JMAP and HTTP server.
type JMAPD struct {
	Listeners []Listener `toml:"listener"`
}

// Sieved configures the ManageSieve server.
type Sieved struct {
	Listeners []Listener `toml:"listener"`
}

// Spamd configures the spam filter service (spamd) and spamc.
type Spamd struct {
	Listeners []Listener `toml:"listener"`
	// MaxMessageSize bounds a message a client sends (SPAMD
	// Content-length) or the MTA passes (milter); a larger one is refused
	// (SPAMD, EX_DATAERR) or passes unchecked (milter).
	MaxMessageSize int64 `toml:"max_message_size"`
	// Timeout bounds one SPAMD exchange and each wait for the MTA's next
	// milter packet.
	Timeout Duration `toml:"timeout"`
	// AllowTell lets clients train the Bayes classifier with TELL (spamc
	// -L), as SpamAssassin's spamd --allow-tell.
	AllowTell bool `toml:"allow_tell"`
	// MilterQuarantine asks the MTA to hold spam (Postfix: the hold queue)
	// rather than deliver it with X-Spam-Flag: YES.
	MilterQuarantine bool `toml:"milter_quarantine"`
}

// DNS configures the resolver used for MX, SPF, DKIM, DMARC and blocklists.
type DNS struct {
	// Resolver is host:port; default the first nameserver of /etc/resolv.conf.
	Resolver string   `toml:"resolver"`
	Timeout  Duration `toml:"timeout"`
}

// Duration is a time.Duration written as a Go duration string ("30s", "4h")
// or, for days, "5d".
type Duration struct{ time.Duration }
