package dsn

import (
	"fmt"
	"strings"
	"time"
)

// textWidth is where the explanation's lines are wrapped.
const textWidth = 76

// textPart writes the explanation for people, the first part of the report
// (RFC 3464 section 2.1, RFC 6522 section 3), in the manner of Postfix's
// bounce messages: what happened, what is attached, then each recipient and
// what its server said.
func (r *Report) textPart(now time.Time, kind Action, intl bool, ret returnedContent) string {
	var b strings.Builder
	p := func(s string) {
		wrap(&b, s, "")
		b.WriteString("\r\n")
	}
	p("This is the mail system at host " + r.ReportingMTA + ".")
	switch kind {
	case Failed:
		p("I'm sorry to have to tell you that your message could not be delivered to one or more recipients. The reasons are given below.")
		p("For further assistance, please send mail to postmaster. If you do so, please include this problem report. You can delete your own text from the attached returned message.")
	case Delayed:
		b.WriteString("####################################################################\r\n")
		b.WriteString("# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\r\n")
		b.WriteString("####################################################################\r\n\r\n")
		s := "Your message could not be delivered yet to the recipients below"
		if !r.Arrival.IsZero() && now.After(r.Arrival) {
			s += " after " + duration(now.Sub(r.Arrival))
		}
		s += ". The mail system keeps trying"
		if until := r.retryUntil(); !until.IsZero() {
			s += " until " + until.Format(time.RFC1123Z)
		}
		s += ", and will tell you if it gives up."
		p(s)
	default:
		p("Your message was successfully delivered to the destinations listed below. If it was delivered to a mailbox you will receive no further notifications. Otherwise you may still receive notifications of mail delivery errors from other systems.")
	}
	if r.Original != nil {
		switch {
		case ret.cut && ret.headersOnly:
			p(fmt.Sprintf("Only the first %d bytes of your message's header section are attached, cut at the end of a header field: a report returns at most %d bytes.", len(ret.content), ret.limit))
		case ret.cut:
			p(fmt.Sprintf("Your message was %d bytes long, more than the %d bytes a report returns: only its first %d bytes are attached, cut at the end of a line.", ret.size, ret.limit, len(ret.content)))
		case ret.headersOnly:
			p("The header section of your message is attached.")
		default:
			p("Your message is attached.")
		}
		if ret.mended {
			p("Lines of your message that did not end in CR LF, or that were longer than 998 bytes, have been mended in the attached copy.")
		}
	}
	b.WriteString("                   The mail system\r\n")

	// The recipients, grouped by action when the report mixes them.
	order := []Action{Failed, Delayed, Delivered, Relayed, Expanded}
	heading := map[Action]string{
		Failed:    "Could not be delivered:",
		Delayed:   "Delayed, still being retried:",
		Delivered: "Delivered:",
		Relayed:   "Relayed to a system that sends no further reports:",
		Expanded:  "Delivered and forwarded to further addresses:",
	}
	count := map[Action]int{}
	for i := range r.Recipients {
		count[r.Recipients[i].Action]++
	}
	for _, a := range order {
		if count[a] == 0 {
			continue
		}
		if len(count) > 1 {
			b.WriteString("\r\n" + heading[a] + "\r\n")
		}
		for i := range r.Recipients {
			rc := &r.Recipients[i]
			if rc.Action == a {
				b.WriteString("\r\n")
				wrap(&b, "<"+rc.Final+">: "+rc.explain(intl), "    ")
			}
		}
	}
	return b.String()
}

// explain says in a line what became of a recipient.
func (rc *Recipient) explain(intl bool) string {
	diag := ""
	if rc.Diagnostic != "" {
		_, diag = splitTyped(rc.Diagnostic, "")
		diag = cleanText(cutUTF8(diag, maxDiagnostic), intl)
	}
	host := ""
	if rc.RemoteMTA != "" {
		_, host = splitTyped(rc.RemoteMTA, "dns")
	}
	var s string
	switch {
	case host != "" && diag != "":
		s = "host " + host + " said: " + diag
	case diag != "":
		s = diag
	case host != "":
		s = "host " + host + ": " + statusWords(rc)
	default:
		s = statusWords(rc)
	}
	return s + " (status " + rc.Status + ")"
}

// statusWords describes a recipient's outcome when no server text is known.
func statusWords(rc *Recipient) string {
	switch rc.Action {
	case Failed:
		if rc.Status == "4.4.7" || strings.HasPrefix(rc.Status, "4.") {
			return "delivery failed and the message expired before it could be retried successfully"
		}
		return "delivery failed permanently"
	case Delayed:
		return "delivery is delayed and will be retried"
	case Relayed:
		return "relayed to a system that does not report delivery"
	case Expanded:
		return "delivered and forwarded to further addresses"
	}
	return "delivered"
}

// retryUntil is the latest Will-Retry-Until of the delayed recipients.
func (r *Report) retryUntil() time.Time {
	var t time.Time
	for i := range r.Recipients {
		rc := &r.Recipients[i]
		if rc.Action == Delayed && rc.WillRetryUntil.After(t) {
			t = rc.WillRetryUntil
		}
	}
	return t
}

// duration says how long, in the largest sensible unit.
func duration(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= 48*time.Hour:
		return plural(int64(d/(24*time.Hour)), "day")
	case d >= 2*time.Hour:
		return plural(int64(d/time.Hour), "hour")
	default:
		return plural(int64(d/time.Minute), "minute")
	}
}

// wrap writes s as lines of at most textWidth octets where the words allow,
// every line after the first indented; a word too long for any line is
// split so that no line passes 998 octets. Each line ends in CRLF.
func wrap(b *strings.Builder, s, indent string) {
	line := 0
	first := true
	for _, word := range strings.Fields(s) {
		if !first && line+1+len(word) > textWidth {
			b.WriteString("\r\n")
			b.WriteString(indent)
			line = len(indent)
		} else if !first {
			b.WriteByte(' ')
			line++
		}
		first = false
		for line+len(word) > maxLine {
			cut := cutUTF8(word, maxLine-line)
			if cut == "" {
				cut = word[:maxLine-line]
			}
			b.WriteString(cut)
			b.WriteString("\r\n")
			b.WriteString(indent)
			line = len(indent)
			word = word[len(cut):]
		}
		b.WriteString(word)
		line += len(word)
	}
	b.WriteString("\r\n")
}
