package smtp

import (
	"context"
	"fmt"
	"time"

	"gannet/lib/milter"
	"gannet/lib/msgauth"
	"gannet/lib/reply"
)

// NewMessageChecker returns the MessageChecker that runs lib/msgauth's
// checks and applies its policy's verdict; authservID (the host name)
// names this server in Authentication-Results.
func NewMessageChecker(c *msgauth.Checker, authservID string) MessageChecker {
	return &checker{c: c, authservID: authservID}
}

type checker struct {
	c          *msgauth.Checker
	authservID string
}

// CheckMessage implements MessageChecker.
func (k *checker) CheckMessage(ctx context.Context, env *Envelope, msg []byte) (string, []byte, error) {
	res := k.c.Check(ctx, msgauth.Input{ClientIP: env.ClientIP, HELO: env.Helo, MailFrom: env.Sender, Message: msg})
	header := res.AuthenticationResults(k.authservID)
	// RFC 8601 section 5: fields claiming to be ours are forgeries.
	cleaned := msgauth.RemoveAuthenticationResults(msg, k.authservID)
	v := res.Verdict(k.c.Policy())
	if v.Code >= 400 {
		return header, cleaned, reply.New(v.Code, fmt.Sprintf("%d.%d.%d", v.Enhanced[0], v.Enhanced[1], v.Enhanced[2]), v.Check, v.Message)
	}
	// The spam filter reuses the results, and files a message whose
	// DMARC policy says quarantine as junk.
	env.Auth, env.Quarantine = res, v.Quarantine
	return header, cleaned, nil
}

// NewMilter returns the Milter that runs lib/milter's chain; hostname is
// this server's name (the j macro).
func NewMilter(c *milter.Chain, hostname string) Milter {
	return &milterChain{c: c, hostname: hostname}
}

type milterChain struct {
	c        *milter.Chain
	hostname string
}

// Open implements Milter. The milters are connected at the first Helo.
func (m *milterChain) Open(ctx context.Context, env *Envelope) (MilterSession, error) {
	return &milterSession{chain: m}, nil
}

type milterSession struct {
	chain *milterChain
	s     *milter.Session
	// sticky is the milters' verdict on the connection, repeated for every
	// command when it refuses (as Postfix does).
	sticky  error
	discard bool
}

// actionError turns a milter verdict into the server's error.
func actionError(a milter.Action) error {
	switch a.Kind {
	case milter.Reject, milter.TempFail:
		return a.Reply()
	case milter.Discard:
		return ErrDiscard
	}
	return nil
}

func (m *milterSession) Helo(ctx context.Context, env *Envelope) error {
	if m.s == nil {
		info := milter.ConnInfo{ServerName: m.chain.hostname, Addr: env.ClientIP, HELO: env.Helo, TLS: env.TLS}
		var act milter.Action
		m.s, act = m.chain.c.Session(ctx, info)
		if act.Kind == milter.Reject || act.Kind == milter.TempFail {
			m.sticky = act.Reply()
		}
	}
	return m.sticky
}

func (m *milterSession) Mail(ctx context.Context, env *Envelope) error {
	if m.sticky != nil {
		return m.sticky
	}
	m.discard = false
	err := actionError(m.s.Mail(ctx, env.Sender, nil))
	if err == ErrDiscard {
		m.discard = true
		return nil
	}
	return err
}

func (m *milterSession) Rcpt(ctx context.Context, env *Envelope, rcpt string) error {
	if m.sticky != nil {
		return m.sticky
	}
	err := actionError(m.s.Rcpt(ctx, rcpt, nil))
	if err == ErrDiscard {
		m.discard = true
		return nil
	}
	return err
}

func (m *milterSession) Data(ctx context.Context, env *Envelope, msg []byte) ([]byte, error) {
	if m.sticky != nil {
		return nil, m.sticky
	}
	if m.discard {
		m.s.Reset(ctx)
		return nil, ErrDiscard
	}
	res, err := m.s.Data(ctx, msg, nil)
	if err != nil {
		return nil, reply.Wrap(err, 451, "4.3.0", "milter", "Temporary local problem, try again later")
	}
	if err := actionError(res.Action); err != nil {
		return nil, err
	}
	if res.Action.Kind == milter.Quarantine {
		// Filed as junk by the spam filter (DMARC_QUARANTINE).
		env.Quarantine = true
	}
	out, err := res.Apply(msg)
	if err != nil {
		return nil, reply.Wrap(err, 451, "4.3.0", "milter", "Temporary local problem, try again later")
	}
	env.Sender, env.Recipients = res.Envelope(env.Sender, env.Recipients)
	return out, nil
}

func (m *milterSession) Abort(ctx context.Context) {
	m.discard = false
	if m.s != nil {
		m.s.Reset(ctx)
	}
}

func (m *milterSession) Close() error {
	if m.s == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return m.s.Close(ctx)
}
