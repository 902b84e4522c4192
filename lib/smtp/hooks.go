package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"net/netip"

	"gannet/lib/msgauth"
	"gannet/lib/store"
)

// The hooks below are where the other checks of inbound mail plug in. Each
// is optional (a nil field of Server is skipped). An error a hook returns
// that is a *reply.Error is sent to the client as it is; any other error is
// a temporary failure (451 4.3.0), so that a broken check never turns into
// a permanent rejection of mail.

// Envelope is what the hooks know of a session and its transaction.
type Envelope struct {
	// SessionID names the session in logs and Received fields.
	SessionID string
	// Role is the listener's role: smtp, submission, submissions or lmtp.
	Role string
	// ClientIP is the client's address; invalid over a Unix socket.
	ClientIP netip.Addr
	// Helo is the name the client gave in HELO, EHLO or LHLO.
	Helo string
	// TLS is the TLS state, nil without TLS.
	TLS *tls.ConnectionState
	// Account is the authenticated account, nil if none.
	Account *store.Account
	// Sender is the envelope sender after rewriting; "" is the null sender.
	Sender string
	// Recipients are the accepted recipients after rewriting (spam traps
	// left out).
	Recipients []string
	// Auth holds the SPF, DKIM, DMARC and ARC results once the
	// MessageChecker has run (nil before, or without one), for the spam
	// filter; Quarantine is set when the DMARC policy says quarantine.
	Auth       *msgauth.Results
	Quarantine bool
	// Trapped is set when the message was also sent to a spam trap.
	Trapped bool
}

// Rewriter rewrites envelope addresses before the directory looks them up
// (lib/rewrite's *Rewriter is one). It returns the address unchanged when
// no rule applies.
type Rewriter interface {
	Sender(addr string) string
	Recipient(addr string) string
}

// MessageChecker checks a message arriving on the smtp role: SPF, DKIM,
// DMARC, ARC and iprev (lib/msgauth; see NewMessageChecker). It returns
// the Authentication-Results header field to prepend (RFC 8601, without
// the final CRLF; "" for none), the message with any forged
// Authentication-Results fields of this server removed (nil: unchanged),
// and a *reply.Error when the message is to be refused (a DMARC p=reject
// policy, a check set to strict).
type MessageChecker interface {
	CheckMessage(ctx context.Context, env *Envelope, msg []byte) (header string, cleaned []byte, err error)
}

// Milter is a milter chain (lib/milter). Open is called once per
// connection, when the client first says HELO or EHLO.
type Milter interface {
	Open(ctx context.Context, env *Envelope) (MilterSession, error)
}

// MilterSession is one connection's conversation with the milter chain.
// Each method may refuse with a *reply.Error.
type MilterSession interface {
	// Helo passes the HELO/EHLO name (again after STARTTLS).
	Helo(ctx context.Context, env *Envelope) error
	// Mail passes the envelope sender.
	Mail(ctx context.Context, env *Envelope) error
	// Rcpt passes one recipient, about to be accepted.
	Rcpt(ctx context.Context, env *Envelope, rcpt string) error
	// Data passes the whole message (with the header fields smtpd added) and
	// returns it with the milters' changes applied (nil: unchanged). It may
	// change env.Sender and env.Recipients (a milter's CHGFROM, ADDRCPT,
	// DELRCPT); added recipients are resolved like RCPT TO ones. ErrDiscard
	// accepts the message and throws it away.
	Data(ctx context.Context, env *Envelope, msg []byte) ([]byte, error)
	// Abort ends the transaction in progress (RSET, a refused message).
	Abort(ctx context.Context)
	// Close ends the conversation.
	Close() error
}

// SpamFilter classifies a message at the end of DATA (issue 6). It returns
// the message to store, typically with X-Spam header fields added (nil:
// unchanged), or refuses it with a *reply.Error.
type SpamFilter interface {
	CheckSpam(ctx context.Context, env *Envelope, msg []byte) ([]byte, error)
}

// ErrDiscard, from a hook, makes the server accept the message (250) and
// throw it away, as a milter's SMFIR_DISCARD asks.
var ErrDiscard = errors.New("smtp: message discarded by a filter")
