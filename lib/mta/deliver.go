package mta

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// failure is why a host, or the whole delivery, failed.
type failure struct {
	Code      int
	Enhanced  string
	Text      string
	Permanent bool
	Host      string
	// quit: the session is still in order, say QUIT (or keep it).
	quit bool
	// retryPlain: an opportunistic TLS handshake failed; try the same
	// address once more without STARTTLS.
	retryPlain bool
	// broken: the connection broke (or the reply did not parse).
	broken bool
}

// at sets the host and whether the session can end with QUIT.
func (f *failure) at(host string, quit bool) *failure {
	f.Host, f.quit = host, quit
	return f
}

// fromReply is the failure a server's reply makes.
func fromReply(r *response, host string) *failure {
	return &failure{Code: r.Code, Enhanced: enhancedOf(r), Text: printable(r.Text(), 1000), Permanent: r.Code >= 500, Host: host, quit: r.Code != 421}
}

// enhancedOf returns the reply's enhanced status code, or "X.0.0" of its
// class when it has none (a DSN needs one, RFC 3464 section 2.3.4).
func enhancedOf(r *response) string {
	if r.Enhanced != "" {
		return r.Enhanced
	}
	return strconv.Itoa(r.Code/100) + ".0.0"
}

// delivery is one Deliver call in progress.
type delivery struct {
	c       *Client
	m       *Message
	results []Result
	done    []bool
	// fails are the host failures met so far; the recipients still
	// pending at the end get the last of them.
	fails []*failure
}

// pending returns the indexes of the recipients without a final result.
func (d *delivery) pending() []int {
	var p []int
	for i, ok := range d.done {
		if !ok {
			p = append(p, i)
		}
	}
	return p
}

// finish gives recipient i its result.
func (d *delivery) finish(i int, f *failure) {
	d.results[i] = Result{
		Recipient: d.m.Recipients[i].Address,
		Code:      f.Code, Enhanced: f.Enhanced, Text: f.Text,
		Permanent: f.Permanent, Host: f.Host,
	}
	d.done[i] = true
}

// finishAll gives every pending recipient the result f.
func (d *delivery) finishAll(f *failure) {
	for _, i := range d.pending() {
		d.finish(i, f)
	}
}

// log writes a line per recipient, as Postfix's smtp(8) does.
func (d *delivery) log(domain, dest string) {
	lg := d.c.logger()
	for _, r := range d.results {
		status := "deferred"
		switch {
		case r.Delivered():
			status = "sent"
		case r.Permanent:
			status = "bounced"
		}
		lg.Info("delivery", "domain", domain, "to", r.Recipient, "relay", r.Host, "status", status,
			"code", r.Code, "enhanced", r.Enhanced, "text", r.Text)
	}
}

// run tries the route's hosts in order until every recipient has a result.
func (d *delivery) run(ctx context.Context, rt *route) {
	tried := 0
hosts:
	for i := range rt.hosts {
		h := &rt.hosts[i]
		if len(d.pending()) == 0 {
			return
		}
		// A connection kept from an earlier delivery saves the
		// handshakes (and the address lookup). If the host fails us on
		// it, go on to the next host as after a fresh connection.
		if cn := d.c.takeIdle(ctx, keyFor(rt, h)); cn != nil {
			if d.use(ctx, rt, cn) {
				return
			}
			continue
		}
		addrs, f := d.addresses(ctx, h)
		if f != nil {
			d.fails = append(d.fails, f)
			continue
		}
		for _, ip := range addrs {
			if tried == MaxAddresses || ctx.Err() != nil {
				break hosts
			}
			tried++
			cn, f := d.dial(ctx, rt, h, ip, false)
			if f != nil && f.retryPlain {
				// Opportunistic TLS failed: once more without it, as
				// Postfix does at security level "may".
				d.c.logger().Info("TLS handshake failed, retrying in plaintext", "host", f.Host, "err", f.Text)
				cn, f = d.dial(ctx, rt, h, ip, true)
			}
			if f != nil {
				d.fails = append(d.fails, f)
				continue
			}
			if d.use(ctx, rt, cn) {
				return
			}
		}
	}
	d.finishLeft(ctx)
}

// use runs a transaction on cn, then keeps or closes it. It reports
// whether the delivery is over (no recipient left for another host).
func (d *delivery) use(ctx context.Context, rt *route, cn *conn) bool {
	if p := rt.policy; p != nil && p.Mode == "testing" && (!cn.verified || !p.Match(cn.name)) {
		// RFC 8461 section 5: in testing mode, deliver, but say what
		// enforce mode would have refused (TLSRPT is not done).
		d.c.logger().Warn("MTA-STS testing: this host would fail the policy in enforce mode",
			"domain", rt.dest, "host", cn.label, "tls", cn.tls, "verified", cn.verified, "mx_match", p.Match(cn.name))
	}
	f, healthy := d.transact(ctx, rt, cn)
	cn.msgs++
	switch ok := cn.release(); {
	case healthy && ok:
		d.c.putIdle(cn)
	case ok && f != nil && f.quit:
		cn.quit()
	default:
		cn.close()
	}
	if f != nil {
		d.fails = append(d.fails, f)
	}
	return len(d.pending()) == 0
}

// finishLeft gives the recipients no host took care of the last failure
// met: permanent only when every failure was (REQUIRETLS refused by every
// host, say), for a host that could not be reached may yet do better.
func (d *delivery) finishLeft(ctx context.Context) {
	if len(d.pending()) == 0 {
		return
	}
	if len(d.fails) == 0 {
		f := &failure{Code: 451, Enhanced: "4.4.4", Text: "no host to deliver to"}
		if err := ctx.Err(); err != nil {
			f.Enhanced, f.Text = "4.4.7", "delivery interrupted: "+err.Error()
		}
		d.finishAll(f)
		return
	}
	last := *d.fails[len(d.fails)-1]
	if last.Permanent {
		for _, f := range d.fails {
			if !f.Permanent {
				last = *f
				break
			}
		}
	}
	d.finishAll(&last)
}

// addresses returns the addresses of h, IPv4 then IPv6 as the resolver
// gives them.
func (d *delivery) addresses(ctx context.Context, h *host) ([]netip.Addr, *failure) {
	if h.addrs != nil {
		if len(h.addrs) == 0 {
			return nil, &failure{Code: 451, Enhanced: "4.4.4", Text: "no usable address for " + h.name}
		}
		return h.addrs, nil
	}
	if d.c.Resolver == nil {
		return nil, &failure{Code: 451, Enhanced: "4.3.5", Text: "no DNS resolver configured"}
	}
	addrs, err := d.c.Resolver.LookupNetIP(ctx, "ip", h.name)
	switch {
	case err == nil:
		if addrs = usable(addrs); len(addrs) == 0 {
			return nil, &failure{Code: 451, Enhanced: "4.4.4", Text: "no usable address for " + h.name}
		}
		return addrs, nil
	case isNotFound(err):
		// RFC 5321 section 5.1: an MX name without addresses is skipped.
		return nil, &failure{Code: 451, Enhanced: "4.4.4", Text: "host " + h.name + " has no address: " + errText(err)}
	}
	return nil, &failure{Code: 451, Enhanced: "4.4.3", Text: "address lookup for " + h.name + " failed: " + errText(err)}
}

// transact sends the message to the pending recipients over cn. It
// finishes the recipients the server gave a final answer for, and returns
// a failure when the rest should try the next host; healthy reports
// whether the session can carry another transaction.
func (d *delivery) transact(ctx context.Context, rt *route, cn *conn) (f *failure, healthy bool) {
	m := d.m
	pend := d.pending()
	label := cn.label

	eightBit := m.EightBit || has8Bit(m.Data)
	addrUTF8 := !isASCII(m.Sender)
	for _, i := range pend {
		addrUTF8 = addrUTF8 || !isASCII(m.Recipients[i].Address)
	}
	needUTF8 := addrUTF8 || m.SMTPUTF8 && !isASCII(string(headerSection(m.Data)))
	if needUTF8 && !cn.has("SMTPUTF8") {
		// RFC 6531 section 3.2: a message that needs SMTPUTF8 must not
		// go to a server that does not offer it (we do not downgrade);
		// the enhanced codes are the ones RFC 6531 registers: X.6.7 for
		// non-ASCII addresses, X.6.9 for UTF-8 header fields.
		enh := "5.6.9"
		if addrUTF8 {
			enh = "5.6.7"
		}
		return &failure{Code: 550, Enhanced: enh, Text: "SMTPUTF8 is required, but was not offered by host " + label, Permanent: true, Host: label, quit: true}, true
	}
	if lim, err := strconv.ParseInt(cn.ext["SIZE"], 10, 64); cn.has("SIZE") && err == nil && lim > 0 && int64(len(m.Data)) > lim {
		// RFC 1870 section 6: do not send what the server said it refuses.
		return &failure{Code: 552, Enhanced: "5.3.4", Text: fmt.Sprintf("message size %d exceeds the limit %d of host %s", len(m.Data), lim, label), Permanent: true, Host: label, quit: true}, true
	}

	mail := "MAIL FROM:<" + m.Sender + ">"
	var rcpts []string
	if cn.esmtp {
		if cn.has("SIZE") {
			mail += " SIZE=" + strconv.Itoa(len(m.Data)) // RFC 1870 section 6
		}
		if eightBit && cn.has("8BITMIME") {
			mail += " BODY=8BITMIME" // RFC 6152 section 2
		}
		// A server without 8BITMIME gets 8-bit data all the same, as from
		// Postfix with disable_mime_output_conversion: RFC 6152 would
		// have it converted to 7 bits or returned, but nearly every
		// server takes it, and converting would break DKIM signatures.
		if (m.SMTPUTF8 || needUTF8) && cn.has("SMTPUTF8") {
			mail += " SMTPUTF8" // RFC 6531 section 3.4
		}
		if m.RequireTLS && cn.has("REQUIRETLS") {
			mail += " REQUIRETLS" // RFC 8689 section 4.2.1
		}
		if cn.has("DSN") {
			// RFC 3461 section 4.3 and 4.4.
			if ret := strings.ToUpper(m.DSNRet); ret == "FULL" || ret == "HDRS" {
				mail += " RET=" + ret
			}
			if m.DSNEnvID != "" && len(m.DSNEnvID) <= 100 {
				mail += " ENVID=" + xtext(m.DSNEnvID)
			}
		}
	}
	for _, i := range pend {
		r := m.Recipients[i]
		line := "RCPT TO:<" + r.Address + ">"
		if cn.esmtp && cn.has("DSN") {
			// RFC 3461 section 4.1 and 4.2.
			if n := notifyParam(r.Notify); n != "" {
				line += " NOTIFY=" + n
			}
			if r.ORcpt != "" {
				line += " ORCPT=" + orcptParam(r.ORcpt)
			}
		}
		rcpts = append(rcpts, line)
	}

	chunking := cn.esmtp && cn.has("CHUNKING")
	pipelining := cn.esmtp && cn.has("PIPELINING")
	var accepted []int
	var rs *response
	var err error
	if pipelining {
		// RFC 2920 section 3.1: MAIL, the RCPTs and DATA go in one write
		// (BDAT waits: there is no point sending the message before
		// knowing that someone takes it); the replies come in order.
		group := append([]string{mail}, rcpts...)
		if !chunking {
			group = append(group, "DATA")
		}
		if err := cn.write(ctx, group...); err != nil {
			return cn.lost(err, "MAIL FROM"), false
		}
		mailReply, err := cn.read(ctx, cn.c.commandTimeout())
		if err != nil {
			return cn.lost(err, "MAIL FROM"), false
		}
		rcptReplies := make([]*response, len(pend))
		for k := range pend {
			if rcptReplies[k], err = cn.read(ctx, cn.c.commandTimeout()); err != nil {
				return d.rcptLost(cn, mailReply, pend, rcptReplies, err), false
			}
		}
		if !chunking {
			if rs, err = cn.read(ctx, cn.c.commandTimeout()); err != nil {
				return d.rcptLost(cn, mailReply, pend, rcptReplies, err), false
			}
		}
		if f := d.mailRefused(mailReply, label); f != nil || mailReply.Code/100 != 2 {
			return f, d.endStray(ctx, cn, rs)
		}
		for k, i := range pend {
			r := rcptReplies[k]
			switch {
			case r.Code/100 == 2:
				accepted = append(accepted, i)
			case r.Code == 421:
				return fromReply(r, label), false
			default:
				d.finish(i, fromReply(r, label))
			}
		}
		if len(accepted) == 0 {
			return nil, d.endStray(ctx, cn, rs)
		}
	} else {
		r, err := cn.cmd(ctx, mail)
		if err != nil {
			return cn.lost(err, "MAIL FROM"), false
		}
		if f := d.mailRefused(r, label); f != nil || r.Code/100 != 2 {
			return f, f == nil || f.quit
		}
		for k, i := range pend {
			r, err := cn.cmd(ctx, rcpts[k])
			if err != nil {
				return cn.lost(err, "RCPT TO"), false
			}
			switch {
			case r.Code/100 == 2:
				accepted = append(accepted, i)
			case r.Code == 421:
				return fromReply(r, label), false
			default:
				d.finish(i, fromReply(r, label))
			}
		}
		if len(accepted) == 0 {
			return nil, true
		}
		if !chunking {
			if rs, err = cn.cmd(ctx, "DATA"); err != nil {
				return cn.lost(err, "DATA"), false
			}
		}
	}

	// The message.
	if chunking {
		rs, err = d.sendBDAT(ctx, cn, pipelining)
	} else {
		if rs.Code != 354 {
			// RFC 5321 section 4.1.1.4: DATA refused; the recipients
			// get the reply, or the next host after a 421.
			if rs.Code == 421 {
				return fromReply(rs, label), false
			}
			for _, i := range accepted {
				d.finish(i, fromReply(rs, label))
			}
			return nil, true
		}
		if err = writeData(cn.bw, m.Data); err == nil {
			err = cn.ioErr(ctx, cn.bw.Flush())
		}
		if err == nil {
			// RFC 5321 section 4.5.3.2.6: the reply to the end of data
			// may take long (the config's command timeout covers it).
			rs, err = cn.read(ctx, cn.c.commandTimeout())
		}
	}
	if err != nil {
		// The message may or may not have been taken (RFC 1047): do not
		// try another host now; the queue retries later.
		f := cn.lost(err, "the message")
		f.Text += " (the message may have been delivered)"
		for _, i := range accepted {
			d.finish(i, f)
		}
		return nil, false
	}
	for _, i := range accepted {
		d.finish(i, fromReply(rs, label))
	}
	return nil, rs.Code != 421
}

// mailRefused handles a refused MAIL: a 5xx ends the delivery for every
// pending recipient (the sender is refused, another MX would do the
// same); a 4xx sends them to the next host. nil when MAIL was accepted.
func (d *delivery) mailRefused(r *response, host string) *failure {
	switch {
	case r.Code/100 == 2:
		return nil
	case r.Code >= 500:
		d.finishAll(fromReply(r, host))
		return nil
	}
	return fromReply(r, host)
}

// rcptLost handles a connection lost while reading the pipelined replies:
// the recipients already refused keep their replies (unless MAIL itself
// was), the others go to the next host.
func (d *delivery) rcptLost(cn *conn, mail *response, pend []int, replies []*response, err error) *failure {
	if mail.Code/100 == 2 {
		for k, r := range replies {
			if r != nil && r.Code/100 != 2 && r.Code != 421 {
				d.finish(pend[k], fromReply(r, cn.label))
			}
		}
	}
	return cn.lost(err, "RCPT TO")
}

// endStray ends a pipelined DATA that the server accepted although no
// recipient was (RFC 2920 section 3.1: send the lone dot), and reports
// whether the session is still in order.
func (d *delivery) endStray(ctx context.Context, cn *conn, dataReply *response) bool {
	if dataReply == nil || dataReply.Code != 354 {
		return dataReply == nil || dataReply.Code != 421
	}
	if err := cn.write(ctx, "."); err != nil {
		return false
	}
	_, err := cn.read(ctx, cn.c.commandTimeout())
	return err == nil
}

// sendBDAT sends the message in BDAT chunks of exact octet counts, the
// last with LAST (RFC 3030 section 2), bytes untouched. With PIPELINING
// the chunks go without waiting (RFC 3030 section 4.2); the result is
// the first refusal, or the reply to the last chunk.
func (d *delivery) sendBDAT(ctx context.Context, cn *conn, pipelining bool) (*response, error) {
	data := d.m.Data
	var chunks [][]byte
	for len(data) > chunkSize {
		chunks = append(chunks, data[:chunkSize])
		data = data[chunkSize:]
	}
	chunks = append(chunks, data)
	var refused, last *response
	sent := 0
	for k, ch := range chunks {
		cmd := "BDAT " + strconv.Itoa(len(ch))
		if k == len(chunks)-1 {
			cmd += " LAST"
		}
		cn.bw.WriteString(cmd + "\r\n")
		cn.bw.Write(ch)
		if err := cn.ioErr(ctx, cn.bw.Flush()); err != nil {
			return nil, err
		}
		sent++
		if pipelining && k < len(chunks)-1 {
			continue
		}
		for ; sent > 0; sent-- {
			r, err := cn.read(ctx, cn.c.commandTimeout())
			if err != nil {
				return nil, err
			}
			if r.Code/100 != 2 && refused == nil {
				refused = r
			}
			last = r
		}
		if refused != nil {
			return refused, nil
		}
	}
	return last, nil
}

// notifyParam returns the NOTIFY value (RFC 3461 section 4.1): NEVER
// alone, or some of SUCCESS, FAILURE, DELAY; "" when none is valid.
func notifyParam(list []string) string {
	var out []string
	for _, n := range list {
		n = strings.ToUpper(strings.TrimSpace(n))
		switch n {
		case "NEVER":
			return "NEVER"
		case "SUCCESS", "FAILURE", "DELAY":
			if !contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return strings.Join(out, ",")
}
