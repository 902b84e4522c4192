package sieve

import (
	"strings"
)

// Core commands and tests (RFC 5228 sections 3-5), fileinto, reject,
// ereject, envelope, copy and the comparators.

func init() {
	for _, e := range []string{"fileinto", "reject", "ereject", "envelope", "copy", "encoded-character",
		"comparator-i;octet", "comparator-i;ascii-casemap", "comparator-i;ascii-numeric", "comparator-i;unicode-casemap"} {
		extensions[e] = true
	}
	register(&spec{name: "if", minTests: 1, maxTests: 1, block: 1})
	register(&spec{name: "elsif", minTests: 1, maxTests: 1, block: 1})
	register(&spec{name: "else", block: 1})
	register(&spec{name: "stop", run: func(in *interp, c *cmd) (bool, error) { return false, errStop }})
	register(&spec{name: "keep", tags: storeTags(), run: runKeep})
	register(&spec{name: "discard", run: func(in *interp, c *cmd) (bool, error) {
		return false, in.addAction(c.pos, Discard{})
	}})
	register(&spec{name: "redirect", pos: []posKind{pStr}, names: []string{"address"},
		tags: []tagSpec{{name: "copy", ext: "copy"}, {name: "notify", param: pStr, ext: "redirect-dsn"},
			{name: "ret", param: pStr, ext: "redirect-dsn"}, {name: "list", param: pStr, ext: "extlists"}},
		check: checkRedirect, run: runRedirect})
	register(&spec{name: "fileinto", ext: "fileinto", pos: []posKind{pStr}, names: []string{"folder"},
		tags: append(storeTags(), tagSpec{name: "copy", ext: "copy"}, tagSpec{name: "create", ext: "mailbox"},
			tagSpec{name: "specialuse", param: pStr, ext: "special-use"}, tagSpec{name: "mailboxid", param: pStr, ext: "mailboxid"}),
		check: checkFileinto, run: runFileinto})
	register(&spec{name: "reject", ext: "reject", pos: []posKind{pStr}, names: []string{"reason"}, run: runReject})
	register(&spec{name: "ereject", ext: "ereject", pos: []posKind{pStr}, names: []string{"reason"}, run: runReject})

	register(&spec{name: "address", test: true, groups: gComparator | gMatch | gAddrPart | gIndex | gMimeAddr,
		pos: []posKind{pList, pList}, names: []string{"header list", "key list"}, check: checkAddress, run: runAddress})
	register(&spec{name: "envelope", test: true, ext: "envelope", groups: gComparator | gMatch | gAddrPart,
		pos: []posKind{pList, pList}, names: []string{"envelope part", "key list"}, check: checkEnvelope, run: runEnvelope})
	register(&spec{name: "header", test: true, groups: gComparator | gMatch | gIndex | gMimeAddr | gMimeOpts,
		pos: []posKind{pList, pList}, names: []string{"header names", "key list"}, run: runHeader})
	register(&spec{name: "exists", test: true, groups: gMimeAddr, pos: []posKind{pList}, names: []string{"header names"}, run: runExists})
	register(&spec{name: "size", test: true, tags: []tagSpec{{name: "over", group: "size"}, {name: "under", group: "size"}},
		pos: []posKind{pNum}, names: []string{"limit"}, check: checkSize, run: runSize})
	register(&spec{name: "allof", test: true, minTests: 1, maxTests: -1, run: func(in *interp, c *cmd) (bool, error) {
		for _, t := range c.tests {
			ok, err := in.test(t)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	}})
	register(&spec{name: "anyof", test: true, minTests: 1, maxTests: -1, run: func(in *interp, c *cmd) (bool, error) {
		for _, t := range c.tests {
			ok, err := in.test(t)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	}})
	register(&spec{name: "not", test: true, minTests: 1, maxTests: 1, run: func(in *interp, c *cmd) (bool, error) {
		ok, err := in.test(c.tests[0])
		return !ok, err
	}})
	register(&spec{name: "true", test: true, run: func(*interp, *cmd) (bool, error) { return true, nil }})
	register(&spec{name: "false", test: true, run: func(*interp, *cmd) (bool, error) { return false, nil }})
}

func storeTags() []tagSpec {
	return []tagSpec{{name: "flags", param: pList, ext: "imap4flags"}}
}

func runKeep(in *interp, c *cmd) (bool, error) {
	return false, in.addAction(c.pos, Keep{Flags: in.actionFlags(c), Message: in.editedMessage()})
}

// actionFlags returns the flags for keep/fileinto (RFC 5232 section 5).
func (in *interp) actionFlags(c *cmd) []string {
	if a, ok := c.tags["flags"]; ok && a != nil {
		return normFlags(in.list(a))
	}
	return in.currentFlags()
}

func checkFileinto(v *validator, c *cmd) {
	if len(c.args) > 0 && len(c.args[0].strs) > 0 {
		name := c.args[0].strs[0]
		if !strings.Contains(name, "${") && !validMailboxName(name) {
			v.errorf(c.args[0].pos, "fileinto command: invalid folder name '%s' specified", name)
		}
	}
}

func validMailboxName(name string) bool {
	if name == "" || len(name) > 1024 {
		return false
	}
	if !utf8ValidString(name) {
		return false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func runFileinto(in *interp, c *cmd) (bool, error) {
	name := in.str(c.args[0])
	if !validMailboxName(name) {
		return false, in.errorf(c.pos, "fileinto: invalid folder name %q", name)
	}
	// INBOX is case-insensitive (RFC 3501 section 5.1).
	if len(name) >= 5 && strings.EqualFold(name[:5], "INBOX") && (len(name) == 5 || name[5] == '.' || name[5] == '/') {
		name = "INBOX" + name[5:]
	}
	f := FileInto{Mailbox: name, Flags: in.actionFlags(c), Copy: c.has("copy"), Create: c.has("create"),
		SpecialUse: in.expand(c.tagStr("specialuse")), MailboxID: in.expand(c.tagStr("mailboxid")),
		Message: in.editedMessage()}
	return false, in.addAction(c.pos, f)
}

func checkRedirect(v *validator, c *cmd) {
	if len(c.args) == 0 || len(c.args[0].strs) == 0 {
		return
	}
	addr := c.args[0].strs[0]
	if !strings.Contains(addr, "${") && !validRedirectAddress(addr) {
		v.errorf(c.args[0].pos, "specified redirect address '%s' is invalid", addr)
	}
	if n := c.tags["notify"]; n != nil && !strings.Contains(n.strs[0], "${") {
		if !validDSNNotify(n.strs[0]) {
			v.errorf(n.pos, "redirect command: invalid :notify value '%s'", n.strs[0])
		}
	}
	if r := c.tags["ret"]; r != nil && !strings.Contains(r.strs[0], "${") {
		if s := strings.ToLower(r.strs[0]); s != "full" && s != "hdrs" {
			v.errorf(r.pos, "redirect command: invalid :ret value '%s'", r.strs[0])
		}
	}
}

func validDSNNotify(s string) bool {
	parts := strings.Split(strings.ToUpper(s), ",")
	for _, p := range parts {
		p = strings.TrimSpace(p)
		switch p {
		case "NEVER":
			if len(parts) > 1 {
				return false
			}
		case "SUCCESS", "FAILURE", "DELAY":
		default:
			return false
		}
	}
	return true
}

// validRedirectAddress checks an RFC 5321 mailbox (optionally with a display
// name and angle brackets, as RFC 5228 section 4.2 allows).
func validRedirectAddress(s string) bool {
	as := parseAddressList(s)
	if len(as) != 1 || !as[0].valid || as[0].domain == "" {
		return false
	}
	for _, r := range as[0].domain {
		if r <= ' ' || strings.ContainsRune("()<>[]:;@\\,\"", r) {
			return false
		}
	}
	return plainLocalPart(s)
}

// plainLocalPart checks what the lenient address parser lets through: the
// address must be ASCII (no SMTPUTF8 for Sieve's outgoing addresses) and an
// unquoted local part may have white space only around its dots, so
// "Stephan Bosch error@example.org" and "more error @ example.com" are
// rejected while " more @ example.com " is not (RFC 5322 section 3.4.1).
func plainLocalPart(s string) bool {
	spec := s
	if i := indexTop(s, '<'); i >= 0 {
		if j := strings.LastIndexByte(s, '>'); j > i {
			spec = s[i+1 : j]
		}
	}
	for i := 0; i < len(spec); i++ {
		if spec[i] >= 0x80 {
			return false
		}
	}
	at := -1
	inq := false
	for i := 0; i < len(spec); i++ {
		switch {
		case inq && spec[i] == '\\':
			i++
		case spec[i] == '"':
			inq = !inq
		case !inq && spec[i] == '@':
			at = i
		}
	}
	if at < 0 {
		return true
	}
	local := strings.TrimSpace(spec[:at])
	if strings.HasPrefix(local, "\"") {
		return true
	}
	for _, atom := range strings.Split(local, ".") {
		if strings.ContainsAny(strings.TrimSpace(atom), " \t\r\n") {
			return false
		}
	}
	return true
}

func runRedirect(in *interp, c *cmd) (bool, error) {
	addr := in.str(c.args[0])
	if !validRedirectAddress(addr) {
		return false, in.errorf(c.pos, "specified redirect address '%s' is invalid", addr)
	}
	// Mail loop (Pigeonhole's X-Sieve-Redirected-From): the message was
	// already redirected by this recipient.
	user := in.env.User
	if user == "" {
		user = in.cfg["sieve_user_email"]
	}
	for _, v := range fieldValues(in.topFields(), "X-Sieve-Redirected-From") {
		for _, a := range parseAddressList(v) {
			if a.valid && (in.env.To != "" && sameAddr(a.String(), in.env.To) || user != "" && sameAddr(a.String(), user)) {
				in.warnings = append(in.warnings, "redirect: mail loop detected, redirect skipped")
				return false, nil
			}
		}
	}
	as := parseAddressList(addr)
	r := Redirect{Address: as[0].String(), Copy: c.has("copy"), Notify: in.expand(c.tagStr("notify")), Ret: in.expand(c.tagStr("ret")),
		Message: in.editedMessage()}
	return false, in.addAction(c.pos, r)
}

func runReject(in *interp, c *cmd) (bool, error) {
	return false, in.addAction(c.pos, Reject{Reason: in.str(c.args[0]), Extended: c.name == "ereject"})
}

func checkSize(v *validator, c *cmd) {
	if !c.has("over") && !c.has("under") {
		v.errorf(c.pos, "the size test requires either the :under or the :over tag")
	}
}

func runSize(in *interp, c *cmd) (bool, error) {
	n := uint64(len(in.message()))
	if c.has("over") {
		return n > c.args[0].num, nil
	}
	return n < c.args[0].num, nil
}

// selectIndex applies :index/:last (RFC 5260 section 6).
func selectIndex(c *cmd, vals []string) []string {
	if c.index == 0 {
		return vals
	}
	i := c.index - 1
	if c.last {
		i = len(vals) - c.index
	}
	if i < 0 || i >= len(vals) {
		return nil
	}
	return vals[i : i+1]
}

func runHeader(in *interp, c *cmd) (bool, error) {
	if c.has("mime") {
		return in.runMimeHeader(c)
	}
	var vals []string
	for _, h := range in.list(c.args[0]) {
		hv := fieldValues(in.topFields(), h)
		for i := range hv {
			hv[i] = decodeHeader(hv[i])
		}
		vals = append(vals, selectIndex(c, hv)...)
	}
	return in.match(c, vals, in.list(c.args[1]))
}

func runExists(in *interp, c *cmd) (bool, error) {
	if c.has("mime") {
		return in.runMimeExists(c)
	}
	for _, h := range in.list(c.args[0]) {
		if len(fieldValues(in.topFields(), h)) == 0 {
			return false, nil
		}
	}
	return true, nil
}

// addrPart extracts an address part (RFC 5228 section 2.7.4, RFC 5233).
func (in *interp) addrPart(c *cmd, a address) (string, bool) {
	if !a.valid {
		if c.part == "all" {
			return a.raw, true
		}
		return "", false
	}
	switch c.part {
	case "localpart":
		return a.local, true
	case "domain":
		return a.domain, true
	case "user", "detail":
		sep := in.subaddressSep()
		local := a.local
		i := -1
		for _, s := range sep {
			if j := strings.Index(local, s); j >= 0 && (i < 0 || j < i) {
				i = j
			}
		}
		if c.part == "user" {
			if i < 0 {
				return local, true
			}
			return local[:i], true
		}
		if i < 0 {
			return "", false
		}
		return local[i+1:], true
	}
	return a.String(), true
}

func (in *interp) subaddressSep() []string {
	if s := in.cfg["recipient_delimiter"]; s != "" {
		var out []string
		for _, r := range s {
			out = append(out, string(r))
		}
		return out
	}
	return []string{"+"}
}

func runAddress(in *interp, c *cmd) (bool, error) {
	if c.has("mime") {
		return in.runMimeAddress(c)
	}
	var vals []string
	for _, h := range in.list(c.args[0]) {
		hv := selectIndex(c, fieldValues(in.topFields(), h))
		for _, v := range hv {
			for _, a := range parseAddressList(decodeHeader(v)) {
				if s, ok := in.addrPart(c, a); ok {
					vals = append(vals, s)
				}
			}
		}
	}
	return in.match(c, vals, in.list(c.args[1]))
}

var envelopeParts = map[string]string{"from": "", "to": "", "auth": "", "orcpt": "envelope-dsn", "notify": "envelope-dsn", "ret": "envelope-dsn", "envid": "envelope-dsn"}

func checkEnvelope(v *validator, c *cmd) {
	for _, p := range c.args[0].strs {
		if strings.Contains(p, "${") {
			continue
		}
		ext, ok := envelopeParts[strings.ToLower(p)]
		if !ok || ext != "" && !v.has(ext) {
			v.errorf(c.args[0].pos, "envelope test: unknown envelope part '%s'", p)
		}
	}
}

func runEnvelope(in *interp, c *cmd) (bool, error) {
	var vals []string
	for _, p := range in.list(c.args[0]) {
		var v string
		addr := true
		switch strings.ToLower(p) {
		case "from":
			v = in.env.From
		case "to":
			v = in.env.To
		case "auth":
			v = in.env.AuthUser
			if v == "" {
				continue
			}
		case "orcpt":
			v = in.env.OrigTo
			if v == "" {
				continue
			}
		default:
			addr = false
			continue
		}
		if !addr {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" || v == "<>" {
			// The null reverse-path matches as "" (RFC 5228 section 5.4).
			if c.part == "all" || c.part == "localpart" || c.part == "domain" || c.part == "user" {
				vals = append(vals, "")
			}
			continue
		}
		a, ok := parsePath(v)
		if !ok {
			continue
		}
		if s, ok := in.addrPart(c, a); ok {
			vals = append(vals, s)
		}
	}
	return in.match(c, vals, in.list(c.args[1]))
}

// addressHeaders are the fields the address test accepts (RFC 5228
// section 5.1 requires the common ones; others known to hold addresses and
// any X- field are allowed too).
var addressHeaders = map[string]bool{}

func init() {
	for _, h := range strings.Fields(`from to cc bcc sender reply-to resent-from resent-to resent-cc resent-bcc
		resent-sender resent-reply-to return-path return-receipt-to return-receipt-requested
		registered-mail-reply-requested-by read-receipt-to mail-reply-to mail-followup-to errors-to
		delivered-to apparently-to abuse-reports-to for-handling for-comment for-approval
		disposition-notification-to original-recipient envelope-to list-post`) {
		addressHeaders[h] = true
	}
}

func checkAddress(v *validator, c *cmd) {
	for _, h := range c.args[0].strs {
		l := strings.ToLower(h)
		if strings.Contains(h, "${") || addressHeaders[l] || strings.HasPrefix(l, "x-") {
			continue
		}
		v.errorf(c.args[0].pos, "specified header '%s' is not allowed for the address test", h)
	}
}
