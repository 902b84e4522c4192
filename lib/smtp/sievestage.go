package smtp

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"gannet/lib/config"
	"gannet/lib/directory"
	"gannet/lib/reply"
	"gannet/lib/sieve"
)

// Administrator Sieve scripts ([[smtpd.sieve]]) run at five stages of every
// session, as Stalwart's session.<stage>.script:
//
//   - connect, before the greeting: reject refuses the connection with
//     "554 5.7.1 <reason>" instead of the 220 and, as RFC 5321 section 3.1
//     requires, waits for QUIT, answering HELO and EHLO with 503 5.7.1 (and
//     go-smtp the other commands with 502 5.5.1). On the submissions role
//     (implicit TLS) the greeting goes out inside TLS, so the stage runs at
//     the first EHLO instead, and a refusal ends the session.
//   - ehlo, at HELO/EHLO/LHLO (once per connection, and again after
//     STARTTLS): reject refuses the command with 550 5.7.1.
//   - mail, at MAIL FROM, after the regular-expression rewriting, sender
//     validation and limits: reject refuses the sender with 550 5.7.1, and
//     set "envelope.from" "<address>" (vnd.gannet.envelope; "" is the null
//     sender) replaces the sender, as Stalwart's scripts do. Scripts of
//     every stage may read ${envelope.from} and ${envelope.to}; a sender
//     set at another stage is ignored with a warning.
//   - rcpt, at each RCPT TO, after the regular-expression rewriting and
//     before the directory lookup, once per recipient (envelope "to" is
//     the recipient): a redirect without :copy replaces the recipient, one
//     with :copy adds a recipient, discard drops it (the client still gets
//     250) and reject refuses it with 550 5.7.1.
//   - data, once per message, after the milters and before the spam
//     filter (envelope "to" is the first recipient): editheader's
//     addheader and deleteheader change the message stored, reject refuses
//     it with 550 5.7.1, discard accepts it and throws it away, and
//     redirects replace (without :copy) or add to (with :copy) the
//     recipients.
//
// The recipients a script adds are resolved as RCPT TO ones are (an unknown
// local one is refused, relaying needs authentication or relay_networks).
// keep, fileinto and the implicit keep keep the address as it is; vacation
// and notify are ignored. Scripts run for every session, authenticated or
// not: a script tests envelope "auth" or the environment (RFC 5183) to
// tell them apart. The environment holds "phase" ("pre": before final
// delivery), "location" ("MTA"), "host" and "domain" (this server),
// "remote-ip" (the client's address, "" over a Unix socket), "remote-host"
// ("": smtpd does not look the name up), and Gannet's "vnd.gannet.stage",
// "vnd.gannet.role", "vnd.gannet.helo", "vnd.gannet.tls" ("yes" or "no")
// and "vnd.gannet.session". Several scripts at one stage run in the order
// of the configuration, each seeing what the ones before it changed; the
// first refusal ends the run. A script that fails at run time (a limit
// exceeded, conflicting actions) makes a temporary failure (451 4.3.0), as
// every broken check does.
//
// Gannet's vnd.gannet.query (query :set "var" "SELECT ...") runs through
// StageScript.Query: cmd/smtpd gives it lib/sievequery.Admin, the [sieve]
// query_database with the mail store attached read-only (its credentials
// hidden). These are the administrator's scripts, so they may read the
// store; users' scripts never can (lib/deliver). A failed query is a
// run-time failure: 451 4.3.0.

// Stages of a session at which StageScripts run.
const (
	StageConnect = "connect"
	StageEhlo    = "ehlo"
	StageMail    = "mail"
	StageRcpt    = "rcpt"
	StageData    = "data"
)

// StageScript is an administrator's Sieve script run at one stage of every
// session (smtpd.sieve).
type StageScript struct {
	// Stage is StageConnect, StageEhlo, StageMail, StageRcpt or StageData.
	Stage string
	// Name names the script in logs (its file).
	Name string
	// Script is the compiled script.
	Script *sieve.Script
	// Query runs the script's vnd.gannet.query queries; nil: they fail.
	Query func(ctx context.Context, query string, args []string) (string, error)
}

// CompileStageScripts compiles the [[smtpd.sieve]] scripts, in order;
// configFile (the configuration's Path) is where relative paths start.
func CompileStageScripts(list []config.SMTPDSieve, configFile string) ([]StageScript, error) {
	out := make([]StageScript, 0, len(list))
	for i := range list {
		c := &list[i]
		if !slices.Contains(config.SMTPDSieveStages, c.Stage) {
			return nil, fmt.Errorf("smtpd.sieve[%d]: stage %q is not one of %s", i, c.Stage, strings.Join(config.SMTPDSieveStages, ", "))
		}
		sc, err := c.Compile(configFile)
		if err != nil {
			return nil, fmt.Errorf("smtpd.sieve[%d].script: %w", i, err)
		}
		out = append(out, StageScript{Stage: c.Stage, Name: c.Path(configFile), Script: sc})
	}
	return out, nil
}

// hasStage reports whether any script runs at stage.
func (s *Server) hasStage(stage string) bool {
	return slices.ContainsFunc(s.Sieve, func(sc StageScript) bool { return sc.Stage == stage })
}

// stageInput is what a stage's scripts see.
type stageInput struct {
	stage string
	c     *conn
	sess  *session // nil at the connect stage
	from  string
	to    []string
	msg   []byte
}

// stageResult is what the scripts of a stage decided.
type stageResult struct {
	// to are the recipients after the scripts' redirects, discards and
	// keeps (rcpt and data stages).
	to []string
	// msg is the edited message, nil when unchanged.
	msg []byte
	// from is the sender a mail-stage script set (vnd.gannet.envelope),
	// normalized; nil when none did.
	from *string
}

// runStage runs the scripts of a stage in order. A refusal is a
// *reply.Error; a script's run-time failure a temporary one.
func (s *Server) runStage(ctx context.Context, in *stageInput) (*stageResult, error) {
	res := &stageResult{to: in.to}
	for _, sc := range s.Sieve {
		if sc.Stage != in.stage {
			continue
		}
		msg := in.msg
		if res.msg != nil {
			msg = res.msg
		}
		env := s.stageEnv(in, res.to, msg)
		if res.from != nil {
			env.From = *res.from // what an earlier script set
		}
		env.Query = sc.Query
		out, err := sc.Script.Run(ctx, env)
		log := s.Log.With("session", in.c.id, "client", in.c.clientIP(), "stage", in.stage, "script", sc.Name)
		if err != nil {
			log.Warn("sieve script failed", "err", err)
			return nil, reply.Wrap(err, 451, "4.3.0", "sieve", "Temporary local problem, try again later")
		}
		for _, w := range out.Warnings {
			log.Debug("sieve script warning", "warning", w)
		}
		keep := false
		var added []string
		for _, a := range out.Actions {
			switch a := a.(type) {
			case sieve.Reject:
				code := 550
				if in.stage == StageConnect {
					code = 554 // RFC 5321 section 3.1
				}
				reason := headerSafe(strings.Join(strings.Fields(a.Reason), " "), 400)
				if reason == "" {
					reason = "Refused by policy"
				}
				log.Info("sieve script refused", "reason", reason)
				return nil, reply.New(code, "5.7.1", "sieve", reason)
			case sieve.Keep, sieve.FileInto:
				keep = true
			case sieve.Redirect:
				added = append(added, a.Address)
			case sieve.Discard:
			default:
				log.Debug("sieve action ignored at this stage", "action", fmt.Sprintf("%T", a))
			}
		}
		if f := out.EnvelopeFrom; f != nil {
			if in.stage != StageMail {
				log.Warn("sieve set envelope.from is honoured at the mail stage only")
			} else {
				from := ""
				if *f != "" {
					n, err := directory.Normalize(*f)
					if err != nil {
						log.Warn("sieve script set a bad envelope.from", "from", headerSafe(*f, 320), "err", err)
						return nil, reply.Wrap(err, 451, "4.3.0", "sieve", "Temporary local problem, try again later")
					}
					from = n
				}
				if from != env.From {
					log.Info("sieve script changed the sender", "from", env.From, "to", from)
				}
				res.from = &from
			}
		}
		if out.Message != nil {
			if in.stage == StageData {
				res.msg = out.Message
			} else {
				log.Debug("sieve header edits ignored before DATA")
			}
		}
		switch in.stage {
		case StageRcpt, StageData:
			var to []string
			if keep {
				to = append(to, res.to...)
			}
			for _, a := range added {
				if !slices.Contains(to, a) {
					to = append(to, a)
				}
			}
			if !slices.Equal(to, res.to) {
				log.Info("sieve script changed the recipients", "from", res.to, "to", to)
			}
			res.to = to
		default:
			if len(added) > 0 || !keep {
				log.Warn("sieve redirect and discard are ignored at this stage")
			}
		}
	}
	return res, nil
}

// stageEnv is the sieve.Env of one script run.
func (s *Server) stageEnv(in *stageInput, to []string, msg []byte) *sieve.Env {
	host := s.Config.Server.Hostname
	domain := host
	if _, d, ok := strings.Cut(host, "."); ok && strings.Contains(d, ".") {
		domain = d
	}
	remoteIP := ""
	if in.c.ip.IsValid() {
		remoteIP = in.c.ip.String()
	}
	items := map[string]string{
		"phase":              "pre", // RFC 5183 section 4.1: before final delivery
		"location":           "MTA",
		"host":               host,
		"domain":             domain,
		"remote-ip":          remoteIP,
		"remote-host":        "",
		"vnd.gannet.stage":   in.stage,
		"vnd.gannet.role":    in.c.role,
		"vnd.gannet.session": in.c.id,
		"vnd.gannet.tls":     "no",
	}
	env := &sieve.Env{Message: msg, From: in.from, Environment: items}
	if len(to) > 0 {
		env.To = to[0]
	}
	if ss := in.sess; ss != nil {
		items["vnd.gannet.helo"] = ss.helo
		if ss.tls != nil {
			items["vnd.gannet.tls"] = "yes"
		}
		if ss.acct != nil {
			env.AuthUser = ss.acct.Address
		}
	} else if in.c.role == RoleSubmissions {
		items["vnd.gannet.tls"] = "yes"
	}
	if env.Message == nil {
		// Before DATA there is no message: an empty header section.
		env.Message = []byte("\r\n")
	}
	return env
}

// Write writes to the socket. The first write of a connection not under
// TLS is the greeting: the connect stage runs first, and its refusal takes
// the greeting's place (RFC 5321 section 3.1). Only the goroutine serving
// the connection writes.
func (c *conn) Write(b []byte) (int, error) {
	if c.role != RoleSubmissions && !c.connectRan.Swap(true) {
		if err := c.connectStage(); err != nil {
			re := reply.As(err)
			if re.Temporary() {
				// A 4xx greeting is not one; 421 is (RFC 5321 section
				// 3.8): close.
				re = reply.Wrap(err, 421, "4.3.0", re.Check, "Temporary local problem, closing connection")
				c.closeAfter("")
			}
			c.refused = re
			if _, err := c.Conn.Write([]byte(re.Error() + "\r\n")); err != nil {
				return 0, err
			}
			return len(b), nil
		}
	}
	return c.Conn.Write(b)
}

// connectStage runs the connect scripts, once per connection.
func (c *conn) connectStage() error {
	if !c.srv.hasStage(StageConnect) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	_, err := c.srv.runStage(ctx, &stageInput{stage: StageConnect, c: c})
	if err != nil {
		c.srv.Log.Info("connection refused", "session", c.id, "client", c.clientIP(), "role", c.role, "reply", reply.As(err).Error())
	}
	return err
}

// helloStage runs at each new session (HELO, EHLO or LHLO, and again after
// STARTTLS): the connect stage if it could not run at the greeting
// (submissions), then the ehlo stage.
func (s *session) helloStage(ctx context.Context) error {
	if re := s.c.refused; re != nil {
		// RFC 5321 section 3.1: after a 554 greeting, 503 to all but QUIT.
		return reply.New(503, "5.7.1", "sieve", re.Message)
	}
	if !s.c.connectRan.Swap(true) {
		if err := s.c.connectStage(); err != nil {
			s.c.closeAfter("")
			return err
		}
	}
	if !s.srv.hasStage(StageEhlo) {
		return nil
	}
	_, err := s.srv.runStage(ctx, &stageInput{stage: StageEhlo, c: s.c, sess: s})
	return err
}

// mailStage runs the mail scripts for sender and returns the sender to
// use: sender itself, or the one a script set (set "envelope.from").
func (s *session) mailStage(ctx context.Context, sender string) (string, error) {
	if !s.srv.hasStage(StageMail) {
		return sender, nil
	}
	res, err := s.srv.runStage(ctx, &stageInput{stage: StageMail, c: s.c, sess: s, from: sender})
	if err != nil {
		return "", err
	}
	if res.from != nil {
		return *res.from, nil
	}
	return sender, nil
}

// rcptStage runs the rcpt scripts for one recipient and returns the
// addresses to accept in its place: addr itself when no script changed it,
// none when one discarded it.
func (s *session) rcptStage(ctx context.Context, addr string) ([]string, error) {
	if !s.srv.hasStage(StageRcpt) {
		return []string{addr}, nil
	}
	res, err := s.srv.runStage(ctx, &stageInput{stage: StageRcpt, c: s.c, sess: s, from: s.txn.sender, to: []string{addr}})
	if err != nil {
		return nil, err
	}
	return res.to, nil
}

// dataStage runs the data scripts on a message and applies their changes:
// it returns the message to store (msg when unchanged) and the recipients,
// or an error: ErrDiscard when a script discarded the message.
func (s *session) dataStage(ctx context.Context, env *Envelope, sender string, targets []rcpt, msg []byte) ([]byte, []rcpt, error) {
	if !s.srv.hasStage(StageData) || len(targets) == 0 {
		// No recipient but spam traps: nothing for a script to decide.
		return msg, targets, nil
	}
	to := make([]string, 0, len(targets))
	for _, r := range targets {
		to = append(to, r.addr)
	}
	res, err := s.srv.runStage(ctx, &stageInput{stage: StageData, c: s.c, sess: s, from: sender, to: to, msg: msg})
	if err != nil {
		return msg, nil, err
	}
	if res.msg != nil {
		msg = res.msg
	}
	if len(res.to) == 0 {
		return msg, nil, ErrDiscard
	}
	if !slices.Equal(res.to, to) {
		var keep []string
		for _, a := range res.to {
			n, err := directory.Normalize(a)
			if err != nil {
				s.srv.Log.Warn("sieve recipient left out", "session", s.c.id, "rcpt", headerSafe(a, 320), "err", err)
				continue
			}
			keep = append(keep, n)
		}
		env.Recipients = keep
		_, targets = s.applyEnvelope(ctx, env, sender, targets)
		if len(targets) == 0 {
			return msg, nil, reply.New(550, "5.1.1", "sieve", "No valid recipients left")
		}
	}
	return msg, targets, nil
}
