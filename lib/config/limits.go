package config

import "time"

// Limits configures rate limits, the [limits] section. Connection limits
// apply in every daemon, per process, at accept; message limits in smtpd.
// A value of 0 turns its limit off. The defaults are generous: they stop a
// flood, not a busy user. Clients on the ban allow-list (ban.allow and
// banctl's entries) are exempt.
type Limits struct {
	// ConnectionsPerIP bounds the connections one address (for IPv6, one
	// /64) may hold open at once to one daemon (default 50). Past it a new connection is
	// refused (SMTP: 421 4.7.0).
	ConnectionsPerIP int `toml:"connections_per_ip"`
	// ConnectionRate bounds the connections one address (IPv6: /64) may
	// open to one daemon within ConnectionWindow (default 300 per 1m).
	ConnectionRate   int      `toml:"connection_rate"`
	ConnectionWindow Duration `toml:"connection_window"`
	// MessagesPerSender bounds the messages one envelope sender may send
	// through smtpd within MessageWindow (default 2000 per 1h); past it
	// MAIL FROM gets 451 4.7.1.
	MessagesPerSender int `toml:"messages_per_sender"`
	// MessagesPerDomain bounds the messages to one recipient domain within
	// MessageWindow (default 5000 per 1h); past it RCPT TO gets 451 4.7.1.
	MessagesPerDomain int      `toml:"messages_per_domain"`
	MessageWindow     Duration `toml:"message_window"`
}

// defaultLimits returns the defaults of [limits].
func defaultLimits() Limits {
	return Limits{
		ConnectionsPerIP:  50,
		ConnectionRate:    300,
		ConnectionWindow:  D(time.Minute),
		MessagesPerSender: 2000,
		MessagesPerDomain: 5000,
		MessageWindow:     D(time.Hour),
	}
}

// validateLimits checks [limits].
func (c *Config) validateLimits(v *validator) {
	l := c.Limits
	v.atLeast("limits.connections_per_ip", int64(l.ConnectionsPerIP), 0)
	v.atLeast("limits.connection_rate", int64(l.ConnectionRate), 0)
	v.atLeast("limits.messages_per_sender", int64(l.MessagesPerSender), 0)
	v.atLeast("limits.messages_per_domain", int64(l.MessagesPerDomain), 0)
	if l.ConnectionRate > 0 {
		v.positive("limits.connection_window", l.ConnectionWindow)
	}
	if l.MessagesPerSender > 0 || l.MessagesPerDomain > 0 {
		v.positive("limits.message_window", l.MessageWindow)
	}
}
