package dsn

import (
	"bytes"
	"mime"
	"strings"
)

// maxHeaderScan bounds how much of a message IsAutomatic reads.
const maxHeaderScan = 64 << 10

// IsAutomatic reports whether msg (a whole message, or just its header
// section) must get no report back because it was itself sent by a machine:
//
//   - it has an Auto-Submitted field other than "no" (RFC 3834 section 5:
//     auto-generated, auto-replied, or any other keyword), which every report
//     this package builds carries;
//   - it is itself a delivery status notification: a multipart/report of
//     report type delivery-status or global-delivery-status (RFC 6522, RFC
//     6533), or a bare message/delivery-status, which arrived with a return
//     path it should not have had (RFC 3464 section 2).
//
// The null sender is the caller's test (RFC 5321 section 4.5.5); this one
// catches the loops that a sender address rewritten along the way lets
// through. Only the first 64 KiB of the header section are read; fields past
// that are not seen.
func IsAutomatic(msg []byte) bool {
	if len(msg) > maxHeaderScan {
		msg = msg[:maxHeaderScan]
	}
	var name string
	var value []byte
	check := func() bool {
		switch {
		case strings.EqualFold(name, "Auto-Submitted"):
			return autoSubmitted(string(value))
		case strings.EqualFold(name, "Content-Type"):
			return isReport(string(value))
		}
		return false
	}
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break // end of the header section
		}
		if line[0] == ' ' || line[0] == '\t' {
			if name != "" {
				value = append(value, ' ')
				value = append(value, bytes.TrimSpace(line)...)
			}
			continue
		}
		if check() {
			return true
		}
		name, value = "", value[:0]
		if i := bytes.IndexByte(line, ':'); i > 0 {
			name = string(bytes.TrimSpace(line[:i]))
			value = append(value, bytes.TrimSpace(line[i+1:])...)
		}
	}
	return check()
}

// autoSubmitted reads an Auto-Submitted value: a keyword, maybe comments and
// parameters (RFC 3834 section 5.1). Anything but "no" is automatic.
func autoSubmitted(v string) bool {
	v = stripComments(v)
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	v = strings.TrimSpace(v)
	return v != "" && !strings.EqualFold(v, "no")
}

// isReport tells a delivery status notification by its Content-Type.
func isReport(v string) bool {
	t, params, err := mime.ParseMediaType(stripComments(v))
	if err != nil {
		// Parameters the standard library cannot read: judge the type alone
		// and look for the report type by hand.
		t = strings.ToLower(strings.TrimSpace(strings.SplitN(v, ";", 2)[0]))
		lv := strings.ToLower(v)
		params = map[string]string{}
		for _, rt := range []string{"global-delivery-status", "delivery-status"} {
			if strings.Contains(lv, "report-type="+rt) || strings.Contains(lv, `report-type="`+rt+`"`) {
				params["report-type"] = rt
				break
			}
		}
	}
	switch t {
	case "message/delivery-status", "message/global-delivery-status":
		return true
	case "multipart/report":
		rt := strings.ToLower(params["report-type"])
		return rt == "delivery-status" || rt == "global-delivery-status"
	}
	return false
}

// stripComments removes RFC 5322 comments, "(...)", nested or not, outside
// quoted strings.
func stripComments(s string) string {
	if !strings.ContainsRune(s, '(') {
		return s
	}
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (depth > 0 || quoted):
			if depth == 0 && i+1 < len(s) {
				b.WriteByte(c)
				b.WriteByte(s[i+1])
			}
			i++
		case quoted:
			b.WriteByte(c)
			if c == '"' {
				quoted = false
			}
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		default:
			if c == '"' {
				quoted = true
			}
			b.WriteByte(c)
		}
	}
	return b.String()
}
