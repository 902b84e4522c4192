package smtp

import (
	"fmt"
	"net"
	"strings"

	"gannet/lib/reply"
)

// Guard is the auto-ban and the message rate limits (lib/ban: a
// ban.SMTPGuard is one). smtpd tells it of failed authentications and of
// abuse, and asks it before accepting a sender or a recipient.
type Guard interface {
	// AuthFailure is told of every failed AUTH.
	AuthFailure(remote net.Addr, username string)
	// Abuse is told of an unknown recipient or a relay attempt ("rcpt")
	// and of a command refused before authentication ("protocol").
	Abuse(remote net.Addr, event string)
	// AllowSender counts a message from sender, sent by the client at
	// remote, and reports whether it is within its limit.
	AllowSender(remote net.Addr, sender string) bool
	// AllowDomain counts a message to a recipient domain, sent by the
	// client at remote, and reports whether it is within its limit.
	AllowDomain(remote net.Addr, domain string) bool
}

// reportAuthFailure tells the guard of a failed AUTH.
func (s *session) reportAuthFailure(username string) {
	if s.srv.Guard != nil {
		s.srv.Guard.AuthFailure(s.c.Conn.RemoteAddr(), username)
	}
}

// reportRefusal tells the guard of a refusal that counts as abuse: an
// unknown recipient or a relay attempt, or a syntax or protocol error from
// a client that has not authenticated.
func (s *session) reportRefusal(re *reply.Error) {
	if s.srv.Guard == nil || s.role == RoleLMTP {
		return
	}
	switch {
	case re.Check == "relay", re.Check == "directory" && re.Enhanced == "5.1.1":
		s.srv.Guard.Abuse(s.c.Conn.RemoteAddr(), "rcpt")
	case (re.Check == "syntax" || re.Check == "protocol") && s.acct == nil:
		s.srv.Guard.Abuse(s.c.Conn.RemoteAddr(), "protocol")
	}
}

// limitSender refuses a sender past its message limit (451 4.7.1, RFC 3463:
// delivery not authorized, a temporary failure).
func (s *session) limitSender(sender string) error {
	if s.srv.Guard == nil || s.role == RoleLMTP || s.srv.Guard.AllowSender(s.c.Conn.RemoteAddr(), sender) {
		return nil
	}
	return reply.New(451, "4.7.1", "limit", fmt.Sprintf("Too many messages from <%s>, try again later", headerSafe(sender, 320)))
}

// limitDomain refuses a recipient whose domain is past its message limit
// (451 4.7.1). A domain is counted once per transaction.
func (s *session) limitDomain(addr string) error {
	if s.srv.Guard == nil || s.role == RoleLMTP {
		return nil
	}
	domain := domainOf(addr)
	for _, r := range s.txn.rcpts {
		if domainOf(r.addr) == domain {
			return nil
		}
	}
	if s.srv.Guard.AllowDomain(s.c.Conn.RemoteAddr(), domain) {
		return nil
	}
	return reply.New(451, "4.7.1", "limit", fmt.Sprintf("Too many messages to %s, try again later", headerSafe(domain, 255)))
}

// domainOf returns the domain of an address, in lower case.
func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return strings.ToLower(addr)
}
