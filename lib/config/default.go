package config

import "time"

// Default returns the configuration every key falls back to when the file
// leaves it out. Server.Hostname and Server.StateDir have no default: a file
// must set them.
//
// The values are the ones a Postfix and Dovecot administrator would expect;
// contrib/gannet.toml shows each of them.
func Default() *Config {
	c := &Config{
		Server: Server{
			// A PROXY protocol proxy on the same host (HAProxy, nginx).
			ProxyTrustedNetworks: []string{"127.0.0.0/8", "::1/128"},
		},
		Store: Store{
			Driver:            "sqlite",
			BusyTimeout:       D(30 * time.Second),
			ReadConnections:   4,
			GroupCommitWindow: D(2 * time.Millisecond),
			GroupCommitMax:    256,
			// Long enough for a laptop back from holidays.
			ChangeLogRetention: D(60 * 24 * time.Hour),
		},
		Directory: Directory{
			SubaddressSeparator: "+",
			CacheSize:           10000,
			CacheTTL:            D(time.Minute),
			// 64 MiB, 2 passes, 2 lanes: RFC 9106's memory hardness at 2/3
			// of its time on a 2-core machine (see lib/auth.DefaultMemory).
			Argon2: Argon2{Time: 2, Memory: 64 * 1024, Threads: 2},
		},
		TLS: TLS{MinVersion: "1.2"},
		Log: Log{Level: "info", Format: "text"},
		SMTPD: SMTPD{
			Listeners: []Listener{
				{Name: "smtp", Address: ":25"},
				{Name: "submission", Address: ":587"},
				{Name: "submissions", Address: ":465"},
				{Name: "lmtp", Address: "127.0.0.1:24"},
			},
			MaxMessageSize:        50 << 20,
			MaxRecipients:         1000, // Postfix smtpd_recipient_limit
			MaxMessagesPerSession: 100,
			MaxReceivedHeaders:    50, // Postfix hopcount_limit
			MaxLineLength:         4096,
			MaxErrors:             20,                 // Postfix smtpd_hard_error_limit
			IdleTimeout:           D(5 * time.Minute), // RFC 5321 section 4.5.3.2.7
			SessionTimeout:        D(30 * time.Minute),
			BareLineEndings:       "reject",
			// Postfix mynetworks_style = host, on loopback.
			RelayNetworks:          []string{"127.0.0.0/8", "::1/128"},
			RequireTLSForAuth:      true,
			SenderValidation:       true,
			SenderValidationHeader: false,
			Checks: AuthChecks{
				SPF: "relaxed", DKIM: "relaxed", DMARC: "relaxed", ARC: "relaxed", IPRev: "relaxed",
				DMARCEnforceReject: true,
			},
		},
		Queued: Queued{
			RetrySchedule: []Duration{
				D(2 * time.Minute), D(5 * time.Minute), D(10 * time.Minute),
				D(15 * time.Minute), D(30 * time.Minute), D(time.Hour),
				D(2 * time.Hour), D(4 * time.Hour),
			},
			DelayWarning: D(4 * time.Hour), // Postfix delay_warning_time
			GiveUpAfter:  D(5 * day),       // Postfix maximal_queue_lifetime
			Workers:      20,
			// Postfix default_destination_concurrency_limit is 20; a
			// smaller figure is kinder to small receivers.
			DestinationConcurrency: 10,
			ConnectTimeout:         D(30 * time.Second), // Postfix smtp_connect_timeout
			CommandTimeout:         D(5 * time.Minute),  // RFC 5321 section 4.5.3.2
			MTASTS:                 "enforce",
			DKIMSign:               true,
			LeaseTime:              D(5 * time.Minute),
			RemotePort:             25,
		},
		Deliver: Deliver{QuotaExceeded: "temporary"},
		IMAPD: IMAPD{
			Listeners: []Listener{
				{Name: "imap", Address: ":143"},
				{Name: "imaps", Address: ":993"},
			},
			MaxLiteralSize: 50 << 20,
			IdleTimeout:    D(30 * time.Minute), // RFC 9051 section 5.4
		},
		JMAPD: JMAPD{
			Listeners: []Listener{
				{Name: "http", Address: "127.0.0.1:8080"},
				{Name: "https", Address: ":443"},
			},
		},
		Sieved: Sieved{
			Listeners: []Listener{{Name: "sieve", Address: ":4190"}}, // RFC 5804 section 1.8
		},
		Spamd: Spamd{
			Listeners: []Listener{
				{Name: "spamd", Address: "127.0.0.1:783"},
				{Name: "milter", Address: "127.0.0.1:11332"},
			},
			MaxMessageSize: 10 << 20,
			Timeout:        D(time.Minute),
			AllowTell:      true,
		},
		DNS: DNS{Timeout: D(5 * time.Second)},
	}
	// The sections of later concerns keep their defaults beside their
	// types, one file each.
	c.Spam = defaultSpam()
	c.Ban = defaultBan()
	c.Limits = defaultLimits()
	c.ACME = defaultACME()
	c.Sieve = defaultSieve()
	return c
}
