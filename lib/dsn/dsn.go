// Package dsn builds delivery status notifications: the multipart/report
// messages (RFC 6522) of report type delivery-status (RFC 3464) that a mail
// server sends back to the envelope sender when a message fails, is delayed,
// or was delivered and the sender asked to hear of it (the DSN SMTP
// extension, RFC 3461). When an address involved is internationalised
// (SMTPUTF8, RFC 6531) the report uses the types of RFC 6533:
// message/global-delivery-status and message/global or message/global-headers
// for the returned content.
//
// The package only builds the message. The queue worker decides when to send
// one (Should, IsAutomatic), and sends it with the null reverse-path so that a
// DSN never causes another (RFC 3464 section 2, RFC 5321 section 4.5.5).
package dsn

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Action is what happened to a recipient (RFC 3464 section 2.3.3).
type Action string

// The actions of RFC 3464 section 2.3.3.
const (
	Failed    Action = "failed"    // could not be delivered, will not be retried
	Delayed   Action = "delayed"   // not delivered yet, still being retried
	Delivered Action = "delivered" // delivered to the recipient's mailbox
	Relayed   Action = "relayed"   // handed to a system that does not do DSNs
	Expanded  Action = "expanded"  // delivered and forwarded to several addresses
)

// DefaultMaxReturnSize is the most of the original message a failure report
// returns when Report.MaxReturnSize is zero: 1 MiB. It keeps the text and the
// small attachments of ordinary mail while staying well under every receiving
// system's size limit (10 MB and more are usual), and it bounds what a forged
// sender can make us send to a third party. Postfix's bounce_size_limit is
// smaller (50,000 bytes); set MaxReturnSize to that to match it.
const DefaultMaxReturnSize = 1 << 20

// Limits on the inputs. An address longer than any RFC 5321 path (256 octets)
// is bogus; these only keep every line of the report under 998 octets.
const (
	maxAddress    = 900  // an address, envelope id, Remote-MTA or Reporting-MTA
	maxAddrType   = 32   // the address type of Original-Recipient ("rfc822")
	maxDiagnostic = 4096 // a diagnostic longer than this is cut, not refused
	maxLine       = 998  // RFC 5322 section 2.1.1
	foldAt        = 78   // RFC 5322 section 2.1.1: lines SHOULD be at most 78
)

// ErrNullSender is returned by Build when the report would go to the null
// sender: a DSN is never sent about a message that had no return path (RFC
// 5321 section 4.5.5; DSNs themselves go out with MAIL FROM:<>, RFC 3464
// section 2), which is what stops bounce loops.
var ErrNullSender = errors.New("no report is sent to the null sender")

// Recipient is the fate of one envelope recipient, which becomes one
// per-recipient block of the delivery-status part (RFC 3464 section 2.3).
type Recipient struct {
	// Final is the recipient address as this server handled it; it becomes
	// Final-Recipient (RFC 3464 section 2.3.2).
	Final string
	// Original is the ORCPT parameter as smtpd recorded it, "type;address"
	// (xtext already decoded, e.g. "rfc822;user@example.org"), or "" when the
	// client gave none; it becomes Original-Recipient (RFC 3464 section
	// 2.3.1). A value without a type is taken as rfc822.
	Original string
	// Action is what happened (RFC 3464 section 2.3.3).
	Action Action
	// Status is the enhanced status code, e.g. "5.1.1" (RFC 3463); its class
	// must agree with Action: 2 for delivered, relayed and expanded, 4 for
	// delayed, 4 or 5 for failed (4.4.7 when the message expired).
	Status string
	// RemoteMTA is the server that gave the answer, "dns; mx.example.org",
	// or "" (RFC 3464 section 2.3.5). A value without a type is taken as dns.
	RemoteMTA string
	// Diagnostic is the answer, "smtp; 550 5.1.1 no such user", or "" (RFC
	// 3464 section 2.3.6). A multi-line SMTP reply must be joined with
	// spaces first: a line break is refused. A value without a type is taken
	// as a local diagnostic (X-Gannet). Text longer than 4096 octets is cut.
	Diagnostic string
	// LastAttempt is when delivery was last tried (Last-Attempt-Date); the
	// zero time leaves the field out.
	LastAttempt time.Time
	// WillRetryUntil is when a delayed recipient will be given up
	// (Will-Retry-Until, RFC 3464 section 2.3.9); used only with Delayed.
	WillRetryUntil time.Time
}

// Report is one delivery status notification about one message.
type Report struct {
	// ReportingMTA is this server's host name (Reporting-MTA, RFC 3464
	// section 2.2.2); it also names the Message-ID's domain.
	ReportingMTA string
	// From is the report's From: address; "" means MAILER-DAEMON@ReportingMTA.
	From string
	// To is the original message's envelope sender, to whom the report goes.
	// The report itself must be sent with the null reverse-path ("").
	To string
	// EnvID is the ENVID parameter (RFC 3461 section 4.4), xtext decoded, or
	// "" (Original-Envelope-Id, RFC 3464 section 2.2.1).
	EnvID string
	// Arrival is when the message was received (Arrival-Date); the zero time
	// leaves the field out.
	Arrival time.Time
	// Recipients are the recipients the report is about, at least one.
	Recipients []Recipient
	// Original is the original message; nil leaves out the returned part.
	Original []byte
	// Return is the RET parameter (RFC 3461 section 4.3): "FULL", "HDRS" or ""
	// when the client gave none. A report with a failed recipient returns
	// the whole message unless Return is HDRS (for "", RFC 3461 leaves the
	// choice to us; like Postfix we return it all); reports of delays and
	// successes return the headers only, whatever Return says, since they are
	// not the sender's only copy of a lost message (RFC 3461 section 4.3
	// ties RET=FULL to "failed" DSNs).
	Return string
	// MaxReturnSize bounds the returned content in octets; 0 means
	// DefaultMaxReturnSize. A longer message is cut at the end of a line
	// and the report says so.
	MaxReturnSize int
	// SMTPUTF8 tells that the original message was received with the
	// SMTPUTF8 parameter (RFC 6531): the report then uses the RFC 6533
	// types, as it does when any address in it is not ASCII.
	SMTPUTF8 bool
}

// International reports whether the report uses the types of RFC 6533
// (message/global-delivery-status, message/global, message/global-headers).
// Such a report may hold UTF-8 in its header fields and must be sent with the
// SMTPUTF8 parameter (RFC 6531). Any report whose Original holds 8-bit octets
// needs at least BODY=8BITMIME (RFC 6152).
func (r *Report) International() bool {
	if r.SMTPUTF8 || !isASCII(r.To) || !isASCII(r.From) {
		return true
	}
	for i := range r.Recipients {
		if !isASCII(r.Recipients[i].Final) || !isASCII(r.Recipients[i].Original) {
			return true
		}
	}
	return false
}

// Should reports whether a recipient whose NOTIFY parameter (RFC 3461
// section 4.1) was notify wants a report of action a. NEVER suppresses every
// report; SUCCESS asks for delivered, relayed and expanded; FAILURE for
// failed; DELAY for delayed. Without NOTIFY a failure is always reported and
// so is a delay (RFC 3461 section 4.1 leaves that to the implementation; the
// queue sends one delay notice, after four hours, like Postfix with
// delay_warning_time = 4h). Keywords are compared without regard to case.
func Should(notify []string, a Action) bool {
	if len(notify) == 0 {
		return a == Failed || a == Delayed
	}
	want := ""
	switch a {
	case Failed:
		want = "FAILURE"
	case Delayed:
		want = "DELAY"
	case Delivered, Relayed, Expanded:
		want = "SUCCESS"
	}
	found := false
	for _, n := range notify {
		n = strings.TrimSpace(n)
		if strings.EqualFold(n, "NEVER") {
			return false
		}
		if want != "" && strings.EqualFold(n, want) {
			found = true
		}
	}
	return found
}

// Subjects of the reports, as Postfix words them.
const (
	subjectFailed  = "Undelivered Mail Returned to Sender"
	subjectDelayed = "Delayed Mail (still being retried)"
	subjectSuccess = "Successful Mail Delivery Report"
)

// kind is the report's overall sense: the gravest action in it.
func (r *Report) kind() Action {
	k := Delivered
	for i := range r.Recipients {
		switch r.Recipients[i].Action {
		case Failed:
			return Failed
		case Delayed:
			k = Delayed
		}
	}
	return k
}

// Build returns the whole report as a message ready for the queue: CRLF line
// ends, no line over 998 octets, header fields Date, From, To, Subject,
// Message-ID and Auto-Submitted: auto-replied (RFC 3834 section 5), and a
// multipart/report body (RFC 6522 section 3) of three parts: an explanation
// for people, the delivery-status fields (RFC 3464 section 2), and the
// returned message (message/rfc822, or text/rfc822-headers when only the
// headers are returned; message/global and message/global-headers when
// International). The third part is left out when Original is nil.
//
// Any field holding a line break or another control character is refused,
// as is an address that is not one, so that nothing a remote party said can
// add a header field or a part. The original is returned byte for byte; only
// a message that was not valid on the wire (a bare CR or LF, a line longer
// than 998 octets) is mended line by line, and a message over MaxReturnSize
// is cut at a line end; the explanation says which.
func (r *Report) Build(now time.Time) ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	intl := r.International()
	kind := r.kind()

	status, err := r.statusPart(intl)
	if err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	ret := r.returned(kind)
	text := r.textPart(now, kind, intl, ret)

	boundary, err := pickBoundary(text, status, ret.content)
	if err != nil {
		return nil, err
	}
	from := r.From
	if from == "" {
		from = "MAILER-DAEMON@" + r.ReportingMTA
	}
	msgID, err := messageID(now, r.ReportingMTA)
	if err != nil {
		return nil, err
	}
	subject := subjectSuccess
	switch kind {
	case Failed:
		subject = subjectFailed
	case Delayed:
		subject = subjectDelayed
	}
	reportType := "delivery-status"
	if intl {
		reportType = "global-delivery-status" // RFC 6522 section 3: the subtype of the second part
	}
	eightBit := !isASCII(text) || !isASCII(status) || ret.eightBit

	var b bytes.Buffer
	b.Grow(len(text) + len(status) + len(ret.content) + 2048)
	hdr := func(name, value string) {
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteString("\r\n")
	}
	hdr("Date", now.Format(time.RFC1123Z)) // RFC 5322 section 3.3
	hdr("From", "Mail Delivery System <"+from+">")
	hdr("To", "<"+r.To+">")
	hdr("Subject", subject)
	hdr("Message-ID", msgID)
	hdr("Auto-Submitted", "auto-replied") // RFC 3834 section 5
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "multipart/report; report-type="+reportType+";\r\n\tboundary=\""+boundary+"\"")
	if eightBit {
		hdr("Content-Transfer-Encoding", "8bit") // RFC 2045 section 6.4
	}
	b.WriteString("\r\nThis is a MIME-encapsulated message.\r\n")

	// Part 1: the explanation (RFC 6522 section 3, RFC 3464 section 2.1).
	part := func(contentType, description string, eightBit bool, body []byte) {
		b.WriteString("\r\n--" + boundary + "\r\n")
		hdr("Content-Type", contentType)
		hdr("Content-Description", description)
		if eightBit {
			hdr("Content-Transfer-Encoding", "8bit")
		} else {
			hdr("Content-Transfer-Encoding", "7bit")
		}
		b.WriteString("\r\n")
		b.Write(body)
	}
	charset := "us-ascii"
	if !isASCII(text) {
		charset = "utf-8"
	}
	part("text/plain; charset="+charset, "Notification", !isASCII(text), []byte(text))

	// Part 2: the machine-readable fields (RFC 3464 section 2; RFC 6533
	// section 4 for the global form).
	statusType := "message/delivery-status"
	if intl {
		statusType = "message/global-delivery-status"
	}
	part(statusType, "Delivery report", !isASCII(status), []byte(status))

	// Part 3: the returned message (RFC 6522 section 3, RFC 6533 section 3).
	if r.Original != nil {
		var ct, desc string
		switch {
		case ret.headersOnly && intl:
			ct = "message/global-headers"
		case ret.headersOnly:
			ct = "text/rfc822-headers"
		case intl:
			ct = "message/global"
		default:
			ct = "message/rfc822"
		}
		switch {
		case kind == Failed && ret.headersOnly:
			desc = "Undelivered Message Headers"
		case kind == Failed:
			desc = "Undelivered Message"
		case kind == Delayed:
			desc = "Delayed Message Headers"
		default:
			desc = "Delivered Message Headers"
		}
		part(ct, desc, ret.eightBit, ret.content)
	}
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return b.Bytes(), nil
}

// validate checks every field before anything is built.
func (r *Report) validate() error {
	if r.To == "" {
		return ErrNullSender
	}
	if err := checkHost("Reporting-MTA", r.ReportingMTA); err != nil {
		return err
	}
	if err := checkAddress("To", r.To); err != nil {
		return err
	}
	if r.From != "" {
		if err := checkAddress("From", r.From); err != nil {
			return err
		}
	}
	if r.EnvID != "" {
		if err := checkLine("Original-Envelope-Id", r.EnvID); err != nil {
			return err
		}
		if !isASCII(r.EnvID) {
			return fmt.Errorf("envelope id %q is not ASCII (RFC 3461 section 4.4)", r.EnvID)
		}
		if len(r.EnvID) > maxAddress {
			return fmt.Errorf("envelope id is %d octets long (at most %d)", len(r.EnvID), maxAddress)
		}
	}
	switch strings.ToUpper(r.Return) {
	case "", "FULL", "HDRS":
	default:
		return fmt.Errorf("RET %q is neither FULL nor HDRS (RFC 3461 section 4.3)", r.Return)
	}
	if r.MaxReturnSize < 0 {
		return fmt.Errorf("MaxReturnSize %d is negative", r.MaxReturnSize)
	}
	if len(r.Recipients) == 0 {
		return errors.New("a report needs at least one recipient")
	}
	for i := range r.Recipients {
		if err := r.Recipients[i].validate(); err != nil {
			return fmt.Errorf("recipient %d: %w", i+1, err)
		}
	}
	return nil
}

func (rc *Recipient) validate() error {
	if err := checkAddress("Final-Recipient", rc.Final); err != nil {
		return err
	}
	if rc.Original != "" {
		typ, addr := splitTyped(rc.Original, "rfc822")
		if err := checkAtom("Original-Recipient type", typ); err != nil {
			return err
		}
		if err := checkLine("Original-Recipient", addr); err != nil {
			return err
		}
		if addr == "" || len(addr) > maxAddress {
			return fmt.Errorf("Original-Recipient %q: empty or longer than %d octets", rc.Original, maxAddress)
		}
	}
	switch rc.Action {
	case Failed, Delayed, Delivered, Relayed, Expanded:
	default:
		return fmt.Errorf("unknown action %q (RFC 3464 section 2.3.3)", rc.Action)
	}
	if !validStatus(rc.Status) {
		return fmt.Errorf("status %q is not an enhanced status code (RFC 3463 section 2)", rc.Status)
	}
	class := rc.Status[0]
	ok := false
	switch rc.Action {
	case Failed:
		ok = class == '4' || class == '5'
	case Delayed:
		ok = class == '4'
	default:
		ok = class == '2'
	}
	if !ok {
		return fmt.Errorf("status %s does not fit action %s (RFC 3464 section 2.3.4)", rc.Status, rc.Action)
	}
	if rc.RemoteMTA != "" {
		typ, host := splitTyped(rc.RemoteMTA, "dns")
		if err := checkAtom("Remote-MTA type", typ); err != nil {
			return err
		}
		if err := checkLine("Remote-MTA", host); err != nil {
			return err
		}
		if host == "" || len(host) > maxAddress {
			return fmt.Errorf("Remote-MTA %q: empty or longer than %d octets", rc.RemoteMTA, maxAddress)
		}
	}
	if rc.Diagnostic != "" {
		if err := checkLine("Diagnostic-Code", rc.Diagnostic); err != nil {
			return err
		}
	}
	return nil
}

// statusPart writes the message/delivery-status content: the per-message
// fields, then one block per recipient, blocks separated by an empty line
// (RFC 3464 section 2.1).
func (r *Report) statusPart(intl bool) (string, error) {
	var b strings.Builder
	field := func(name, value string, hard bool) error {
		s, err := fold(name, value, hard)
		if err != nil {
			return err
		}
		b.WriteString(s)
		return nil
	}
	// Per-message fields, RFC 3464 section 2.2.
	if r.EnvID != "" {
		if err := field("Original-Envelope-Id", r.EnvID, false); err != nil { // section 2.2.1
			return "", err
		}
	}
	if err := field("Reporting-MTA", "dns; "+r.ReportingMTA, false); err != nil { // section 2.2.2
		return "", err
	}
	if !r.Arrival.IsZero() {
		if err := field("Arrival-Date", r.Arrival.Format(time.RFC1123Z), false); err != nil { // section 2.2.5
			return "", err
		}
	}
	for i := range r.Recipients {
		rc := &r.Recipients[i]
		b.WriteString("\r\n")
		// Per-recipient fields, RFC 3464 section 2.3.
		if rc.Original != "" {
			typ, addr := splitTyped(rc.Original, "rfc822")
			if intl && strings.EqualFold(typ, "rfc822") && !isASCII(addr) {
				typ = "utf-8" // RFC 6533 section 3: rfc822 addresses are ASCII
			}
			if err := field("Original-Recipient", typ+"; "+addr, false); err != nil { // section 2.3.1
				return "", err
			}
		}
		if err := field("Final-Recipient", addrType(rc.Final)+"; "+rc.Final, false); err != nil { // section 2.3.2
			return "", err
		}
		if err := field("Action", string(rc.Action), false); err != nil { // section 2.3.3
			return "", err
		}
		if err := field("Status", rc.Status, false); err != nil { // section 2.3.4
			return "", err
		}
		if rc.RemoteMTA != "" {
			typ, host := splitTyped(rc.RemoteMTA, "dns")
			if err := field("Remote-MTA", typ+"; "+host, false); err != nil { // section 2.3.5
				return "", err
			}
		}
		if rc.Diagnostic != "" {
			if err := field("Diagnostic-Code", diagnostic(rc.Diagnostic, intl), true); err != nil { // section 2.3.6
				return "", err
			}
		}
		if !rc.LastAttempt.IsZero() {
			if err := field("Last-Attempt-Date", rc.LastAttempt.Format(time.RFC1123Z), false); err != nil { // section 2.3.7
				return "", err
			}
		}
		if rc.Action == Delayed && !rc.WillRetryUntil.IsZero() {
			if err := field("Will-Retry-Until", rc.WillRetryUntil.Format(time.RFC1123Z), false); err != nil { // section 2.3.9
				return "", err
			}
		}
	}
	return b.String(), nil
}

// addrType is the address type for a Final-Recipient: rfc822, or utf-8 for
// an internationalised address (RFC 6533 section 3, the utf-8-address form
// used in message/global-delivery-status).
func addrType(addr string) string {
	if isASCII(addr) {
		return "rfc822"
	}
	return "utf-8"
}

// diagnostic returns the Diagnostic-Code value "type; text": a value without
// a type is a local one (X-Gannet), text is cut to maxDiagnostic octets, and
// outside an international report any non-ASCII octet becomes '?' (RFC 3464
// section 2.3.6 allows only ASCII text there).
func diagnostic(d string, intl bool) string {
	typ, text, ok := strings.Cut(d, ";")
	typ = strings.TrimSpace(typ)
	if !ok || !looksLikeAtom(typ) {
		typ, text = "X-Gannet", d
	}
	text = strings.TrimSpace(text)
	if len(text) > maxDiagnostic {
		text = cutUTF8(text, maxDiagnostic) + "..."
	}
	return typ + "; " + cleanText(text, intl)
}

// cleanText makes free text fit the report: ASCII only unless intl, and
// always valid UTF-8.
func cleanText(s string, intl bool) string {
	if intl {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	if isASCII(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			b.WriteByte('?')
		} else {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// cutUTF8 returns at most n octets of s, not splitting a UTF-8 sequence.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// fold writes "Name: value" CRLF, folded at the value's spaces so that lines
// stay near 78 octets (RFC 5322 section 2.2.3); folding there is lossless.
// A word longer than a line allows is split with CRLF SP when hard is set
// (free text only) and refused otherwise.
func fold(name, value string, hard bool) (string, error) {
	var b strings.Builder
	line := len(name) + 2
	b.WriteString(name)
	b.WriteString(": ")
	first := true
	for len(value) > 0 {
		// The next word, with the spaces before it.
		i := 0
		for i < len(value) && (value[i] == ' ' || value[i] == '\t') {
			i++
		}
		j := i
		for j < len(value) && value[j] != ' ' && value[j] != '\t' {
			j++
		}
		word := value[:j]
		value = value[j:]
		if !first && i > 0 && line+len(word) > foldAt {
			b.WriteString("\r\n")
			line = 0
		}
		first = false
		for line+len(word) > maxLine {
			if !hard {
				return "", fmt.Errorf("%s: a word of %d octets does not fit a line", name, len(word))
			}
			n := maxLine - line
			if n < 1 {
				b.WriteString("\r\n ")
				line = 1
				continue
			}
			cut := cutUTF8(word, n)
			if cut == "" {
				cut = word[:n]
			}
			b.WriteString(cut)
			b.WriteString("\r\n ")
			line = 1
			word = word[len(cut):]
		}
		b.WriteString(word)
		line += len(word)
	}
	b.WriteString("\r\n")
	return b.String(), nil
}

// messageID makes a unique Message-ID at host.
func messageID(now time.Time, host string) (string, error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", fmt.Errorf("dsn: message id: %w", err)
	}
	return "<" + strconv.FormatInt(now.UnixNano(), 36) + "." + hex.EncodeToString(rnd[:]) + "@" + host + ">", nil
}

// pickBoundary returns a multipart boundary found in none of the parts (RFC
// 2046 section 5.1.1).
func pickBoundary(parts ...any) (string, error) {
	for try := 0; try < 8; try++ {
		var rnd [12]byte
		if _, err := rand.Read(rnd[:]); err != nil {
			return "", fmt.Errorf("dsn: boundary: %w", err)
		}
		bd := "=_dsn_" + hex.EncodeToString(rnd[:])
		clash := false
		for _, p := range parts {
			switch p := p.(type) {
			case string:
				clash = clash || strings.Contains(p, bd)
			case []byte:
				clash = clash || bytes.Contains(p, []byte(bd))
			}
		}
		if !clash {
			return bd, nil
		}
	}
	return "", errors.New("dsn: no boundary found that the content lacks")
}

// splitTyped splits "type;value" (RFC 3464 section 2.1.2's address-type ";"
// generic-address, and the mta-name-type and diagnostic-type alike); a value
// without a valid type gets def.
func splitTyped(s, def string) (typ, value string) {
	t, v, ok := strings.Cut(s, ";")
	t = strings.TrimSpace(t)
	if !ok || !looksLikeAtom(t) {
		return def, strings.TrimSpace(s)
	}
	return t, strings.TrimSpace(v)
}

// looksLikeAtom reports whether s can be a type name: a letter, then
// letters, digits and hyphens, as every registered address, MTA-name and
// diagnostic type is ("rfc822", "utf-8", "dns", "smtp", "X-Postfix").
func looksLikeAtom(s string) bool {
	if s == "" || len(s) > maxAddrType || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func checkAtom(what, s string) error {
	if !looksLikeAtom(s) {
		return fmt.Errorf("%s %q is not a type name", what, s)
	}
	return nil
}

// checkLine refuses what would break out of a header field: CR, LF and the
// other control characters (tab aside), and invalid UTF-8.
func checkLine(what, s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\r' || c == '\n':
			return fmt.Errorf("%s holds a line break: refused (header injection)", what)
		case c < 0x20 && c != '\t' || c == 0x7f:
			return fmt.Errorf("%s holds control character %#02x", what, c)
		}
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	return nil
}

// checkHost accepts a host name or an address literal in ASCII.
func checkHost(what, s string) error {
	if err := checkLine(what, s); err != nil {
		return err
	}
	if s == "" || len(s) > 255 {
		return fmt.Errorf("%s %q is not a host name", what, s)
	}
	if s[0] == '[' && s[len(s)-1] == ']' {
		for i := 1; i < len(s)-1; i++ {
			c := s[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '.' || c == ':' || c == 'v' || c == 'V' || c == '-') {
				return fmt.Errorf("%s %q is not an address literal", what, s)
			}
		}
		return nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return fmt.Errorf("%s %q is not an ASCII host name", what, s)
		}
	}
	return nil
}

// checkAddress accepts a mailbox as RFC 5321 section 4.1.2 and RFC 6531
// section 3.3 write it: a dot-atom or quoted local part (UTF-8 allowed),
// then optionally "@" and a domain or address literal. Nothing else may
// stand in a header field such as "To: <addr>" without changing its sense.
func checkAddress(what, s string) error {
	if err := checkLine(what, s); err != nil {
		return err
	}
	if s == "" || len(s) > maxAddress {
		return fmt.Errorf("%s: empty or longer than %d octets", what, maxAddress)
	}
	bad := func() error { return fmt.Errorf("%s %q is not a mail address", what, s) }
	i := 0
	if s[0] == '"' {
		i = 1
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' {
				i++
			}
		}
		if i >= len(s) {
			return bad()
		}
		i++ // closing quote
	} else {
		for i < len(s) && s[i] != '@' {
			if !atext(s[i]) && s[i] != '.' {
				return bad()
			}
			i++
		}
		if i == 0 {
			return bad()
		}
	}
	if i == len(s) {
		return nil // a local part alone, such as postmaster (RFC 5321 section 4.1.1.3)
	}
	if s[i] != '@' || i+1 == len(s) {
		return bad()
	}
	dom := s[i+1:]
	if dom[0] == '[' {
		if dom[len(dom)-1] != ']' || strings.ContainsAny(dom[1:len(dom)-1], "[]\\ \t") {
			return bad()
		}
		return nil
	}
	for j := 0; j < len(dom); j++ {
		c := dom[j]
		if !(c >= 0x80 || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return bad()
		}
	}
	return nil
}

// atext reports whether c may appear in a dot-atom (RFC 5322 section 3.2.3,
// with UTF-8 octets as RFC 6532 section 3.2 allows).
func atext(c byte) bool {
	if c >= 0x80 || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// validStatus checks an enhanced status code, class.subject.detail (RFC 3463
// section 2): class 2, 4 or 5; subject and detail of one to three digits.
func validStatus(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || strings.IndexByte("245", parts[0][0]) < 0 {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
