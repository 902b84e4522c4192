package sieve

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// The enotify extension (RFC 5435) with the mailto method (RFC 5436).

const defaultMaxNotifications = 10

func init() {
	extensions["enotify"] = true
	register(&spec{name: "notify", ext: "enotify", pos: []posKind{pStr}, names: []string{"method"},
		tags: []tagSpec{{name: "from", param: pStr}, {name: "importance", param: pStr}, {name: "options", param: pList},
			{name: "message", param: pStr}},
		check: checkNotify, run: runNotify})
	register(&spec{name: "valid_notify_method", test: true, ext: "enotify", pos: []posKind{pList}, names: []string{"notification-uris"},
		run: func(in *interp, c *cmd) (bool, error) {
			for _, u := range in.list(c.args[0]) {
				if _, err := parseMailto(u); err != "" {
					return false, nil
				}
			}
			return true, nil
		}})
	register(&spec{name: "notify_method_capability", test: true, ext: "enotify", groups: gComparator | gMatch,
		pos: []posKind{pStr, pStr, pList}, names: []string{"notification-uri", "notification-capability", "key list"},
		run: func(in *interp, c *cmd) (bool, error) {
			uri := in.str(c.args[0])
			if _, err := parseMailto(uri); err != "" {
				return false, nil
			}
			if !strings.EqualFold(in.str(c.args[1]), "online") {
				return false, nil
			}
			return in.match(c, []string{"maybe"}, in.list(c.args[2]))
		}})
}

// mailtoURI is a parsed mailto URI (RFC 6068).
type mailtoURI struct {
	to      []string
	toHdr   []string // the recipients as written (with display names)
	headers [][2]string
	body    string
	subject string
}

var mailtoForbidden = map[string]bool{"from": true, "received": true, "return-path": true, "auto-submitted": true,
	"sender": true, "message-id": true, "date": true, "reply-to": false, "mime-version": true, "content-type": true,
	"content-transfer-encoding": true, "x-sieve": true, "resent-from": true}

// parseMailto parses a mailto URI; the error is a message or "".
func parseMailto(uri string) (*mailtoURI, string) {
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok {
		return nil, "invalid notify method URI"
	}
	if !strings.EqualFold(scheme, "mailto") {
		return nil, "unsupported notify method '" + scheme + "'"
	}
	m := &mailtoURI{}
	toPart, query, _ := strings.Cut(rest, "?")
	// RFC 6068 section 2: outside percent-encoding only qchar may appear;
	// in the "to" part, which holds addr-specs, ';' cannot either.
	if i := strings.IndexFunc(toPart, func(r rune) bool { return r == ';' || !isQchar(r) }); i >= 0 {
		return nil, fmt.Sprintf("invalid character '%c' in 'to' part of mailto URI", toPart[i])
	}
	for _, hf := range strings.Split(query, "&") {
		name, val, _ := strings.Cut(hf, "=")
		if i := strings.IndexFunc(name, func(r rune) bool { return !isQchar(r) }); i >= 0 {
			return nil, fmt.Sprintf("invalid character '%c' in header field name of mailto URI", name[i])
		}
		if i := strings.IndexFunc(val, func(r rune) bool { return !isQchar(r) }); i >= 0 {
			return nil, fmt.Sprintf("invalid character '%c' in header field value of mailto URI", val[i])
		}
	}
	addRcpts := func(s string) string {
		dec, err := url.PathUnescape(s)
		if err != nil {
			return "invalid percent encoding in mailto URI"
		}
		for _, a := range strings.Split(dec, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			as := parseAddressList(a)
			if len(as) != 1 || !as[0].valid || as[0].domain == "" {
				return "invalid recipient '" + a + "' in mailto URI"
			}
			addr := as[0].String()
			dup := false
			for _, o := range m.to {
				if sameAddr(o, addr) {
					dup = true
				}
			}
			if !dup {
				m.to = append(m.to, addr)
				m.toHdr = append(m.toHdr, a)
			}
		}
		return ""
	}
	if e := addRcpts(toPart); e != "" {
		return nil, e
	}
	if query != "" {
		for _, hf := range strings.Split(query, "&") {
			name, val, _ := strings.Cut(hf, "=")
			name, err1 := url.PathUnescape(name)
			dval, err2 := url.PathUnescape(val)
			if err1 != nil || err2 != nil {
				return nil, "invalid percent encoding in mailto URI"
			}
			if !validFieldName(name) {
				return nil, "invalid header name '" + name + "' in mailto URI"
			}
			switch ln := strings.ToLower(name); {
			case ln == "to":
				if e := addRcpts(val); e != "" {
					return nil, e
				}
			case ln == "body":
				m.body = dval
			case ln == "subject":
				m.subject = dval
			case mailtoForbidden[ln]:
				// Ignored (RFC 5436 section 2.2).
			default:
				if ln == "cc" || ln == "bcc" {
					for _, a := range strings.Split(dval, ",") {
						as := parseAddressList(a)
						if len(as) != 1 || !as[0].valid {
							return nil, "invalid " + ln + " address '" + a + "' in mailto URI"
						}
					}
				}
				m.headers = append(m.headers, [2]string{name, dval})
			}
		}
	}
	if len(m.to) == 0 {
		hasCc := false
		for _, h := range m.headers {
			if strings.EqualFold(h[0], "cc") || strings.EqualFold(h[0], "bcc") {
				hasCc = true
			}
		}
		if !hasCc {
			return nil, "mailto URI has no recipients"
		}
	}
	return m, ""
}

func checkNotify(v *validator, c *cmd) {
	if n, err := strconv.Atoi(v.cfgVal("sieve_notify_max_notifications")); err == nil && n == 0 {
		v.errorf(c.pos, "notify action: local policy prohibits the use of a notify action")
	}
	if m := c.args[0].strs[0]; !strings.Contains(m, "${") {
		if _, e := parseMailto(m); e != "" {
			v.errorf(c.args[0].pos, "notify command: invalid method URI '%s': %s", m, e)
		}
	}
	if a := c.tags["importance"]; a != nil && !strings.Contains(a.strs[0], "${") {
		if s := a.strs[0]; s != "1" && s != "2" && s != "3" {
			v.errorf(a.pos, "notify command: invalid :importance value '%s' (must be 1, 2 or 3)", s)
		}
	}
	if a := c.tags["from"]; a != nil && !strings.Contains(a.strs[0], "${") {
		if as := parseAddressList(a.strs[0]); len(as) != 1 || !as[0].valid || as[0].domain == "" {
			v.errorf(a.pos, "notify command: invalid :from address '%s'", a.strs[0])
		}
	}
	if a := c.tags["options"]; a != nil {
		for _, o := range a.strs {
			if strings.Contains(o, "${") {
				continue
			}
			// RFC 5435 section 3.7: "optionname=value"; the name starts
			// with a letter or digit, the value is a single line.
			name, val, ok := strings.Cut(o, "=")
			switch {
			case !ok || name == "" || !validIdentDash(name) || !(isAlpha(name[0]) && name[0] != '_' || isDigit(name[0])):
				v.errorf(a.pos, "notify command: invalid option '%s' (must be name=value)", o)
			case strings.ContainsAny(val, "\r\n\x00"):
				v.errorf(a.pos, "notify command: invalid value in option '%s'", name)
			}
		}
	}
}

// isQchar reports whether r may appear unencoded in a mailto URI
// (RFC 6068 section 2: qchar = unreserved / pct-encoded / some-delims).
func isQchar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("-._~%!$'()*+,;:@", r)
}

func validIdentDash(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isAlpha(c) || isDigit(c) || c == '-' || c == '.') {
			return false
		}
	}
	return isAlpha(s[0])
}

func (v *validator) cfgVal(key string) string {
	if v.opt.cfg == nil {
		return ""
	}
	return v.opt.cfg[key]
}

func runNotify(in *interp, c *cmd) (bool, error) {
	method := in.str(c.args[0])
	if _, e := parseMailto(method); e != "" {
		return false, in.errorf(c.pos, "notify action: invalid method URI '%s': %s", method, e)
	}
	max := defaultMaxNotifications
	if n, err := strconv.Atoi(in.cfg["sieve_notify_max_notifications"]); err == nil {
		max = n
	}
	n := Notify{Method: method, From: in.expand(c.tagStr("from")), Importance: in.expand(c.tagStr("importance")),
		Options: in.list(c.tags["options"]), Message: in.expand(c.tagStr("message"))}
	if n.Importance == "" {
		n.Importance = "2"
	}
	if n.From != "" {
		if as := parseAddressList(n.From); len(as) != 1 || !as[0].valid {
			return false, in.errorf(c.pos, "notify action: invalid :from address '%s'", n.From)
		}
	}
	count := 0
	for _, a := range in.res.actions {
		if o, ok := a.(Notify); ok {
			count++
			if o.Method == n.Method {
				return false, nil // duplicate (RFC 5435 section 3.8)
			}
		}
	}
	if len(in.res.actions) >= in.lim.MaxActions {
		return false, in.errorf(c.pos, "total number of actions exceeds policy limit (%d)", in.lim.MaxActions)
	}
	if max == 0 {
		return false, in.errorf(c.pos, "notify action: local policy prohibits the use of a notify action")
	}
	if count >= max {
		return false, in.errorf(c.pos, "number of notify actions exceeds policy limit (%d)", max)
	}
	return false, in.addAction(c.pos, n)
}
