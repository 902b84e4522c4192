package sieve

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The vacation (RFC 5230) and vacation-seconds (RFC 6131) extensions.

func init() {
	extensions["vacation"] = true
	extensions["vacation-seconds"] = true
	extImplies["vacation-seconds"] = []string{"vacation"}
	register(&spec{name: "vacation", ext: "vacation", pos: []posKind{pStr}, names: []string{"reason"},
		tags: []tagSpec{{name: "days", param: pNum, group: "period"}, {name: "seconds", param: pNum, group: "period", ext: "vacation-seconds"},
			{name: "subject", param: pStr}, {name: "from", param: pStr}, {name: "addresses", param: pList},
			{name: "mime"}, {name: "handle", param: pStr}},
		check: checkVacation, run: runVacation})
}

func checkVacation(v *validator, c *cmd) {
	if a := c.tags["from"]; a != nil && !strings.Contains(a.strs[0], "${") {
		if as := parseAddressList(a.strs[0]); len(as) != 1 || !as[0].valid || as[0].domain == "" {
			v.errorf(a.pos, "specified :from address '%s' is invalid for the vacation action", a.strs[0])
		}
	}
	if a := c.tags["addresses"]; a != nil {
		for _, s := range a.strs {
			if strings.Contains(s, "${") {
				continue
			}
			if as := parseAddressList(s); len(as) != 1 || !as[0].valid || as[0].domain == "" {
				v.errorf(a.pos, "specified :addresses item '%s' is invalid for the vacation action", s)
			}
		}
	}
}

// systemSender reports senders that never get auto-replies (RFC 5230 4.6,
// RFC 3834).
func systemSender(local string) bool {
	l := strings.ToLower(local)
	for _, s := range []string{"mailer-daemon", "listserv", "majordomo", "owner-", "-request", "-owner", "postmaster", "mailer"} {
		switch {
		case strings.HasPrefix(s, "-"):
			if strings.HasSuffix(l, s) {
				return true
			}
		case strings.HasSuffix(s, "-"):
			if strings.HasPrefix(l, s) {
				return true
			}
		default:
			if l == s {
				return true
			}
		}
	}
	return false
}

func sameAddr(a, b string) bool {
	pa, pb := parseAddrSpec(strings.Trim(a, "<> "), a), parseAddrSpec(strings.Trim(b, "<> "), b)
	if !pa.valid || !pb.valid {
		return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
	}
	return strings.EqualFold(pa.local, pb.local) && strings.EqualFold(pa.domain, pb.domain)
}

// vacationSkip returns why no reply must be sent, or "".
func (in *interp) vacationSkip(c *cmd, sender string, mine []string) string {
	if sender == "" || sender == "<>" {
		return "null sender"
	}
	sa := parseAddrSpec(strings.Trim(sender, "<>"), sender)
	if !sa.valid {
		return "invalid sender"
	}
	if systemSender(sa.local) {
		return "system sender"
	}
	fields := in.topFields()
	for _, v := range fieldValues(fields, "Auto-Submitted") {
		if !strings.EqualFold(strings.TrimSpace(strings.SplitN(v, ";", 2)[0]), "no") {
			return "auto-submitted"
		}
	}
	for _, v := range fieldValues(fields, "Precedence") {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "bulk", "list", "junk":
			return "bulk"
		}
	}
	for _, h := range []string{"List-Id", "List-Post", "List-Help", "List-Subscribe", "List-Unsubscribe", "List-Owner", "List-Archive"} {
		if len(fieldValues(fields, h)) > 0 {
			return "mailing list"
		}
	}
	for _, v := range fieldValues(fields, "X-Auto-Response-Suppress") {
		for _, p := range strings.Split(v, ",") {
			switch strings.ToLower(strings.TrimSpace(p)) {
			case "all", "oof":
				return "auto-response suppressed"
			}
		}
	}
	for _, m := range mine {
		if sameAddr(m, sender) {
			return "own address"
		}
	}
	if len(mine) == 0 || in.cfg["sieve_vacation_dont_check_recipient"] == "yes" || in.cfg["sieve_vacation_check_recipient"] == "no" {
		return ""
	}
	for _, h := range []string{"To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"} {
		for _, v := range fieldValues(fields, h) {
			for _, a := range parseAddressList(decodeHeader(v)) {
				for _, m := range mine {
					if a.valid && sameAddr(a.String(), m) {
						return ""
					}
				}
			}
		}
	}
	return "implicitly delivered"
}

func runVacation(in *interp, c *cmd) (bool, error) {
	reason := in.str(c.args[0])
	period := 7 * 24 * time.Hour
	if n, ok := c.tagNum("days"); ok {
		period = time.Duration(max(1, min(n, 365*10))) * 24 * time.Hour
	}
	if n, ok := c.tagNum("seconds"); ok {
		period = time.Duration(min(n, 1<<31)) * time.Second
	}
	from := in.expand(c.tagStr("from"))
	subject := in.expand(c.tagStr("subject"))
	handle := in.expand(c.tagStr("handle"))
	addresses := in.list(c.tags["addresses"])
	if c.tags["addresses"] == nil {
		addresses = nil
	}
	if from != "" {
		if as := parseAddressList(from); len(as) != 1 || !as[0].valid || as[0].domain == "" {
			return false, in.errorf(c.pos, "specified :from address '%s' is invalid for the vacation action", from)
		}
	}
	if handle == "" {
		sum := sha256.Sum256([]byte(reason + "\x00" + subject + "\x00" + from + "\x00" + strconv.FormatBool(c.has("mime"))))
		handle = hex.EncodeToString(sum[:8])
	}
	recipient := in.env.To
	user := in.env.User
	if user == "" {
		user = in.cfg["sieve_user_email"]
	}
	mine := []string{}
	if recipient != "" {
		mine = append(mine, recipient)
	}
	if in.cfg["sieve_vacation_use_original_recipient"] == "yes" && in.env.OrigTo != "" {
		mine = append(mine, in.env.OrigTo)
	}
	if user != "" {
		mine = append(mine, user)
	}
	mine = append(mine, addresses...)

	sender := in.env.From
	if in.cfg["sieve_vacation_to_header_ignore_envelope"] == "yes" {
		for _, h := range []string{"Sender", "From"} {
			if vs := fieldValues(in.topFields(), h); len(vs) > 0 {
				if as := parseAddressList(decodeHeader(vs[0])); len(as) > 0 && as[0].valid {
					sender = as[0].String()
					break
				}
			}
		}
	}
	v := Vacation{To: strings.Trim(sender, "<>"), Reason: reason, Mime: c.has("mime"), Handle: handle, Period: period}
	if skip := in.vacationSkip(c, sender, mine); skip != "" {
		v.skip = skip
		return false, in.addAction(c.pos, v)
	}
	key := "vacation\x00" + handle + "\x00" + strings.ToLower(v.To)
	if in.env.Tracker != nil {
		seen, err := in.env.Tracker.Seen(in.ctx, key, period)
		if err != nil {
			return false, in.errorf(c.pos, "vacation: %v", err)
		}
		if seen {
			v.skip = "already replied"
			return false, in.addAction(c.pos, v)
		}
	}
	// From: explicit, else the address the message was sent to.
	if from == "" {
		from = recipient
		if user != "" {
			from = user
		}
		if in.cfg["sieve_vacation_use_original_recipient"] == "yes" && in.env.OrigTo != "" {
			from = in.env.OrigTo
		}
		// Prefer the address as it appears in the message's recipients.
		for _, h := range []string{"To", "Cc", "Bcc", "Resent-To", "Resent-Cc"} {
			for _, hv := range fieldValues(in.topFields(), h) {
				for _, a := range parseAddressList(decodeHeader(hv)) {
					for _, m := range mine {
						if a.valid && sameAddr(a.String(), m) {
							from = a.String()
							goto found
						}
					}
				}
			}
		}
	found:
	}
	if subject == "" {
		orig := ""
		if vs := fieldValues(in.topFields(), "Subject"); len(vs) > 0 {
			orig = decodeHeader(vs[0])
		}
		def, hasDef := in.cfg["sieve_vacation_default_subject"]
		tmpl := in.cfg["sieve_vacation_default_subject_template"]
		switch {
		case tmpl != "":
			subject = strings.ReplaceAll(strings.ReplaceAll(tmpl, "%{subject}", orig), "%$", orig)
		case hasDef && def != "":
			subject = def
		case orig != "":
			subject = "Auto: " + orig
		default:
			subject = "Automated reply"
		}
		if utf8.RuneCountInString(subject) > 256 {
			subject = string([]rune(subject)[:255]) + "\u2026"
		}
	}
	v.From, v.Subject = from, subject
	v.Message = in.vacationMessage(v, sender)
	return false, in.addAction(c.pos, v)
}

// encodeHeaderValue applies RFC 2047 to non-ASCII text.
func encodeHeaderValue(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return mime.QEncoding.Encode("utf-8", s)
		}
	}
	return s
}

// encodeAddressHeader keeps the address and encodes the phrase only.
func encodeAddressHeader(s string) string {
	if i := strings.LastIndexByte(s, '<'); i > 0 {
		phrase := strings.TrimSpace(s[:i])
		return encodeHeaderValue(phrase) + " " + s[i:]
	}
	return s
}

func (in *interp) vacationMessage(v Vacation, sender string) []byte {
	var b bytes.Buffer
	fields := in.topFields()
	to := "<" + v.To + ">"
	for _, h := range []string{"Reply-To", "Sender", "From"} {
		found := false
		for _, hv := range fieldValues(fields, h) {
			for _, a := range parseAddressList(hv) {
				if a.valid && sameAddr(a.String(), v.To) {
					to = strings.TrimSpace(hv)
					found = true
				}
			}
		}
		if found {
			break
		}
	}
	fmt.Fprintf(&b, "X-Sieve: Gannet Sieve\r\n")
	fmt.Fprintf(&b, "Message-ID: <vacation.%d.%s@gannet>\r\n", in.now.UnixNano(), v.Handle)
	fmt.Fprintf(&b, "Date: %s\r\n", in.now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "From: %s\r\n", encodeAddressHeader(v.From))
	fmt.Fprintf(&b, "To: %s\r\n", to)
	fmt.Fprintf(&b, "Subject:%s\r\n", foldValue("Subject", v.Subject))
	if ids := fieldValues(fields, "Message-ID"); len(ids) > 0 {
		id := strings.TrimSpace(ids[0])
		fmt.Fprintf(&b, "In-Reply-To: %s\r\n", id)
		refs := ""
		if r := fieldValues(fields, "References"); len(r) > 0 {
			refs = strings.Join(strings.Fields(r[0]), " ") + " "
		} else if r := fieldValues(fields, "In-Reply-To"); len(r) > 0 {
			refs = strings.Join(strings.Fields(r[0]), " ") + " "
		}
		fmt.Fprintf(&b, "References:%s\r\n", foldIDs(refs+id))
	}
	b.WriteString("Auto-Submitted: auto-replied (vacation)\r\n")
	b.WriteString("Precedence: bulk\r\nMIME-Version: 1.0\r\n")
	if v.Mime {
		r := strings.ReplaceAll(strings.ReplaceAll(v.Reason, "\r\n", "\n"), "\n", "\r\n")
		b.WriteString(r)
		return b.Bytes()
	}
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	r := strings.ReplaceAll(strings.ReplaceAll(v.Reason, "\r\n", "\n"), "\n", "\r\n")
	b.WriteString(r)
	if !strings.HasSuffix(r, "\r\n") {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// foldIDs folds a list of message ids one per line.
func foldIDs(s string) string {
	ids := strings.Fields(s)
	return " " + strings.Join(ids, "\r\n ")
}
