package spam

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"gannet/lib/config"
	"gannet/lib/msgauth"
)

// testMsg describes a message for the rule tests: a plain ham message with
// some header fields replaced (a "" value removes the field), another body
// or envelope.
type testMsg struct {
	hdr  map[string]string
	body string // the whole body after the header, MIME included
	// ctype replaces the Content-Type of the body ("" keeps text/plain).
	ctype string
	env   *Envelope
}

var hamHeader = [][2]string{
	{"Received", "from mail.example.org (mail.example.org [192.0.2.1]) by mx.example.net with ESMTPS; Thu, 03 Dec 2026 10:01:00 +0000"},
	{"From", "Alice Example <alice@example.org>"},
	{"To", "Bob Example <bob@example.net>"},
	{"Subject", "Lunch on Thursday"},
	{"Date", "Thu, 03 Dec 2026 10:00:00 +0000"},
	{"Message-ID", "<20261203100000.4711@mail.example.org>"},
	{"User-Agent", "Thunderbird 128"},
	{"MIME-Version", "1.0"},
	{"Content-Type", "text/plain; charset=utf-8"},
}

const hamBody = "Hi Bob,\r\n\r\nShall we meet for lunch on Thursday at noon? The place on the\r\ncorner is fine, I will book a table for two. See you there.\r\n\r\nAlice\r\n"

func hamEnvelope() Envelope {
	return Envelope{
		ClientIP:   netip.MustParseAddr("192.0.2.1"),
		HELO:       "mail.example.org",
		MailFrom:   "alice@example.org",
		Recipients: []string{"bob@example.net"},
	}
}

func (tm testMsg) build(t testing.TB) *Message {
	t.Helper()
	var b strings.Builder
	done := map[string]bool{}
	for _, f := range hamHeader {
		v := f[1]
		if o, ok := tm.hdr[f[0]]; ok {
			v = o
			done[f[0]] = true
		}
		if f[0] == "Content-Type" && tm.ctype != "" {
			v = tm.ctype
		}
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\r\n", f[0], v)
		}
	}
	var extra []string
	for k := range tm.hdr {
		if !done[k] {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	for _, k := range extra {
		if tm.hdr[k] != "" {
			fmt.Fprintf(&b, "%s: %s\r\n", k, tm.hdr[k])
		}
	}
	b.WriteString("\r\n")
	if tm.body != "" {
		b.WriteString(tm.body)
	} else {
		b.WriteString(hamBody)
	}
	env := hamEnvelope()
	if tm.env != nil {
		env = *tm.env
	}
	m, err := NewMessage([]byte(b.String()), env)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func withEnv(f func(e *Envelope)) *Envelope {
	e := hamEnvelope()
	f(&e)
	return &e
}

func authResults(spf, dkim, dmarc string) *msgauth.Results {
	r := &msgauth.Results{}
	if spf != "" {
		r.SPF = &msgauth.SPFResult{Value: authres.ResultValue(spf)}
	}
	if dkim != "" {
		r.DKIM = []msgauth.DKIMResult{{Value: authres.ResultValue(dkim), Domain: "example.org"}}
	}
	if dmarc != "" {
		r.DMARC = &msgauth.DMARCResult{Value: authres.ResultValue(dmarc)}
	}
	return r
}

func htmlMsg(s string) testMsg {
	return testMsg{ctype: "text/html; charset=utf-8", body: s}
}

func attached(name, ctype, text string) testMsg {
	return testMsg{ctype: "multipart/mixed; boundary=b1", body: "--b1\r\nContent-Type: text/plain\r\n\r\n" + text + "\r\n--b1\r\nContent-Type: " + ctype + "; name=\"" + name + "\"\r\nContent-Disposition: attachment; filename=\"" + name + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n--b1--\r\n"}
}

func hdr(kv ...string) testMsg {
	m := testMsg{hdr: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		m.hdr[kv[i]] = kv[i+1]
	}
	return m
}

func body(s string) testMsg { return testMsg{body: s} }

const filler = "We have been working on this for a long time and we are happy with how it turned out in the end.\r\n"

// ruleCases has, for every default rule, a message that makes it fire.
var ruleCases = map[string]testMsg{
	"GTUBE":                      body("XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n"),
	"MISSING_DATE":               hdr("Date", ""),
	"INVALID_DATE":               hdr("Date", "someday soon"),
	"DATE_IN_FUTURE":             hdr("Date", "Sat, 05 Dec 2026 10:00:00 +0000"),
	"DATE_IN_PAST":               hdr("Date", "Mon, 23 Nov 2026 10:00:00 +0000"),
	"DATE_NO_TZ":                 hdr("Date", "Thu, 03 Dec 2026 10:00:00"),
	"MISSING_MID":                hdr("Message-ID", ""),
	"INVALID_MSGID":              hdr("Message-ID", "<20261203100000.4711>"),
	"MSGID_SPAM_ZEROES":          hdr("Message-ID", "<000053e452bb$00005687$00003222@mindspring>"),
	"MSGID_NO_HOST":              hdr("Message-ID", "<4711@localhost>"),
	"MISSING_FROM":               hdr("From", ""),
	"MISSING_SUBJECT":            hdr("Subject", ""),
	"EMPTY_SUBJECT":              hdr("Subject", " "),
	"MISSING_TO":                 hdr("To", ""),
	"TO_UNDISCLOSED":             hdr("To", "undisclosed-recipients:;"),
	"TO_MANY":                    hdr("To", "a1@example.net, a2@example.net, a3@example.net, a4@example.net, a5@example.net, a6@example.net, a7@example.net, a8@example.net, a9@example.net, a10@example.net, a11@example.net"),
	"TO_EQ_FROM":                 hdr("To", "alice@example.org"),
	"FROM_EXCESS_BASE64":         hdr("From", "=?utf-8?B?QWxpY2UgRXhhbXBsZQ==?= <alice@example.org>"),
	"SUBJ_EXCESS_BASE64":         hdr("Subject", "=?utf-8?B?THVuY2ggb24gVGh1cnNkYXk=?="),
	"FROM_LOCAL_DIGITS":          hdr("From", "Alice <alice83472@example.org>"),
	"FROM_NO_USER":               hdr("From", "Alice"),
	"NO_REAL_NAME":               hdr("From", "alice@example.org"),
	"FREEMAIL_FORGED_REPLYTO":    hdr("Reply-To", "alice.example@gmail.com"),
	"REPLYTO_DIFF_FREEMAIL":      hdr("From", "Alice <alice@yahoo.com>", "Reply-To", "payments.dept@hotmail.com", "Received", "from web1.mail.yahoo.com by mx.example.net; Thu, 03 Dec 2026 10:01:00 +0000"),
	"FORGED_HOTMAIL_RCVD":        hdr("From", "Alice <alice@hotmail.com>"),
	"FORGED_YAHOO_RCVD":          hdr("From", "Alice <alice@yahoo.com>"),
	"FORGED_FREEMAIL_RCVD":       hdr("From", "Alice <alice@aol.com>"),
	"MSGID_OUTLOOK_INVALID":      hdr("Message-ID", "<000801c1bdf8$7fdc11ce$0100a8c0@mail.example.org>"),
	"RATWARE_MS_HASH":            hdr("Message-ID", "<000801c1bdf8$7fdc11ce$0100a8c0@mail.example.org>"),
	"RATWARE_OUTLOOK_NONAME":     hdr("Message-ID", "<000801c1bdf8$7fdc11ce$0100a8c0@mail.example.org>"),
	"MISSING_MIMEOLE":            hdr("X-MSMail-Priority", "Normal"),
	"FORGED_OUTLOOK_HTML":        {hdr: map[string]string{"X-Mailer": "Microsoft Outlook Express 6.00.2600.0000"}, ctype: "text/html; charset=utf-8", body: "<p>Lunch on Thursday?</p>\r\n"},
	"INVALID_DATE_TZ_ABSURD":     hdr("Date", "Thu, 03 Dec 2026 10:00:00 +2300"),
	"FREEMAIL_REPLYTO_END_DIGIT": hdr("Reply-To", "alice1977@yahoo.com"),
	"RDNS_NONE":                  {env: withEnv(func(e *Envelope) { e.NoRDNS = true })},
	"RDNS_DYNAMIC":               {env: withEnv(func(e *Envelope) { e.RDNS = "dsl-203-0-113-5.pool.example.net" })},
	// A relay's Received on top, the Message-ID it added, the sender's
	// Received below.
	"MSGID_FROM_MTA_HEADER": hdr("Message-ID", "", "Received", "from relay.example.net (relay.example.net [192.0.2.7]) by mx.example.net; Thu, 03 Dec 2026 10:01:00 +0000\r\n"+
		"Message-ID: <20261203100100.99@relay.example.net>\r\n"+
		"Received: from mail.example.org (mail.example.org [192.0.2.1]) by relay.example.net; Thu, 03 Dec 2026 10:00:30 +0000"),
	"FORGED_MUA_OUTLOOK":       hdr("X-Mailer", "Microsoft Outlook, Build 10.0.2616"),
	"FORGED_OUTLOOK_EXPRESS":   hdr("X-Mailer", "Microsoft Outlook Express 6.00.2600.0000"),
	"RATWARE_MAILER":           hdr("X-Mailer", "Group Mail 3.1"),
	"NO_MAILER":                hdr("User-Agent", ""),
	"X_PRIORITY_HIGH":          hdr("X-Priority", "1 (Highest)"),
	"X_MSMAIL_PRIORITY_HIGH":   hdr("X-MSMail-Priority", "High"),
	"CHARSET_FARAWAY_HEADER":   hdr("Subject", "=?ks_c_5601-1987?B?vsiz58fPvLy/5A==?="),
	"SUBJ_ALL_CAPS":            hdr("Subject", "LUNCH ON THURSDAY"),
	"SUBJ_ADVERT":              hdr("Subject", "ADV: Lunch on Thursday"),
	"SUBJ_EXCLAIM":             hdr("Subject", "Lunch on Thursday!!"),
	"SUBJ_DOLLARS":             hdr("Subject", "Lunch on Thursday for $5"),
	"SUBJ_SPAM_WORDS":          hdr("Subject", "Free lunch on Thursday"),
	"SUBJ_HAS_ID":              hdr("Subject", "Lunch on Thursday            qxzv"),
	"SUBJ_YOUR":                hdr("Subject", "Lunch on your Thursday"),
	"SUBJ_MONEY_WORDS":         hdr("Subject", "Lunch money on Thursday"),
	"BODY_SPAM_PHRASES":        body("Click here, act now: limited time, no obligation.\r\n" + filler),
	"BODY_SPAM_PHRASES_MANY":   body("Click here, act now: limited time, no obligation, risk free, order now, dear friend, money back, lose weight.\r\n" + filler),
	"TOLL_FREE_NUMBER":         body("Call us at 1-800-555-1234 today.\r\n" + filler),
	"BODY_MANY_EXCLAIM":        body("Yes! Yes! Yes! Yes! Yes! Yes! Yes! Yes!\r\n" + filler),
	"BODY_DOLLAR_AMOUNTS":      body("Was $10, then $8, now $5.\r\n" + filler),
	"MONEY_MAKING":             body("A home business opportunity: make money with no selling.\r\n" + filler),
	"BILL_1618":                body("This message is sent under Bill s.1618 Title III.\r\n" + filler),
	"ADVANCE_FEE":              body("I am a barrister. The next of kin of my late client, a beneficiary, wants the transfer of funds in strictest confidence.\r\n" + filler),
	"LOTS_OF_MONEY":            body("The sum is US$25,000,000 million.\r\n" + filler),
	"REMOVE_INSTRUCTIONS":      body(filler + "To be removed from this list reply with remove in the subject.\r\n"),
	"NOT_SPAM_CLAIM":           body(filler + "This email is not spam: you are receiving this email because you signed up.\r\n"),
	"DEAR_SOMETHING":           body("Dear Friend,\r\n" + filler),
	"BODY_ALL_CAPS":            body(strings.ToUpper(filler + filler + filler)),
	"PHARMA":                   body("Cheap viagra and cialis pills.\r\n" + filler),
	"ADULT":                    body("Hot xxx porn with nude girls.\r\n" + filler),
	"CLICK_BELOW":              body("Click below to see.\r\n" + filler),
	"BODY_URGENT":              body("Urgent: reply immediately.\r\n" + filler),
	"HTML_SOURCE_IN_TEXT":      body("<html><body><font size=5>Hello</font></body></html>\r\n" + filler),
	"MIME_HTML_ONLY":           htmlMsg("<p>" + filler + "</p>"),
	"MIME_QP_LONG":             {ctype: "text/html; charset=utf-8", hdr: map[string]string{"Content-Transfer-Encoding": "quoted-printable"}, body: "<p>" + filler + "</p>\r\n"},
	"HTML_SHORT_IMAGES":        htmlMsg("<p>See the picture.</p><img src=\"cid:x\">"),
	"HTML_IMAGE_ONLY":          htmlMsg("<img src=\"http://img.example.com/a.gif\">"),
	"HTML_LINK_CLICK_HERE":     htmlMsg("<p>" + filler + "</p><a href=\"http://example.com/x\">Click here</a>"),
	"IMAGE_ONLY_ATTACHMENT":    attached("a.png", "image/png", ""),
	"URI_NUMERIC_HOST":         body(filler + "http://192.0.2.7/login\r\n"),
	"URI_HEX_OR_ENCODED":       body(filler + "http://www.bank.example%2Eevil.example/login\r\n"),
	"URI_SHORTENER":            body(filler + "https://bit.ly/abc\r\n"),
	"URI_MANY_SHORTENERS":      body(filler + "https://bit.ly/a https://bit.ly/b https://tinyurl.com/c\r\n"),
	"URI_FREE_HOSTING":         body(filler + "https://bank-login.weebly.com/\r\n"),
	"URI_SUSPICIOUS_TLD":       body(filler + "https://bank-login.xyz/\r\n"),
	"SUSPICIOUS_ATTACHMENT":    attached("invoice.exe", "application/octet-stream", filler),
	"DOUBLE_EXTENSION":         attached("invoice.pdf.exe", "application/octet-stream", filler),
	"EXECUTABLE_TYPE":          attached("setup", "application/x-msdownload", filler),
	"ARCHIVE_TINY_TEXT":        attached("invoice.zip", "application/zip", "See attached."),
	"HTML_ONLY_SHORT":          htmlMsg("<p>" + filler + "</p>"),
	"BODY_YOU_YOU":             body(strings.Repeat("Did you see what you did? ", 5) + "\r\n" + filler),
	"META_REMOVE_CLICK":        body("Click below to see. To be removed reply.\r\n" + filler),
	"META_REMOVE_NO_NAME":      {hdr: map[string]string{"From": "alice@example.org"}, body: "To be removed reply.\r\n" + filler},
	"META_HTML_ONLY_NO_NAME":   {hdr: map[string]string{"From": "alice@example.org"}, ctype: "text/html", body: "<p>" + filler + "</p>"},
	"META_HTML_ONLY_NO_MAILER": {hdr: map[string]string{"User-Agent": ""}, ctype: "text/html", body: "<p>" + filler + "</p>"},
	"META_FORGED_OUTLOOK_BOTH": hdr("X-Mailer", "Microsoft Outlook Express 6.00.2600.0000"),
	"DMARC_FAIL":               {env: withEnv(func(e *Envelope) { e.Auth = authResults("fail", "none", "fail") })},
	"SPF_FAIL":                 {env: withEnv(func(e *Envelope) { e.Auth = authResults("fail", "", "") })},
	"SPF_SOFTFAIL":             {env: withEnv(func(e *Envelope) { e.Auth = authResults("softfail", "", "") })},
	"DKIM_INVALID":             {env: withEnv(func(e *Envelope) { e.Auth = authResults("", "fail", "") })},
	"AUTH_SPF_DKIM_PASS":       {env: withEnv(func(e *Envelope) { e.Auth = authResults("pass", "pass", "pass") })},
	"ALL_TRUSTED":              {env: withEnv(func(e *Envelope) { e.Authenticated = "alice" })},
	"HELO_NUMERIC":             {env: withEnv(func(e *Envelope) { e.HELO = "[192.0.2.1]" })},
	"HELO_NO_DOT":              {env: withEnv(func(e *Envelope) { e.HELO = "desktop" })},
}

func check(t testing.TB, rs *Rules, m *Message) *Result {
	t.Helper()
	r := &Result{}
	if err := rs.Check(context.Background(), m, r); err != nil {
		t.Fatalf("Check: %v", err)
	}
	return r
}

// TestDefaultRules checks that the default rules parse, that none fires on
// a plain ham message and that each fires on the message made for it.
func TestDefaultRules(t *testing.T) {
	defs, err := DefaultRules()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := NewRules(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.rules) != len(defs) {
		t.Errorf("%d rules compiled out of %d", len(rs.rules), len(defs))
	}
	ham := check(t, rs, testMsg{}.build(t))
	if tags := ham.Tags(); len(tags) > 0 {
		t.Errorf("rules fire on plain ham: %v", tags)
	}
	seen := map[string]bool{}
	for _, d := range defs {
		if seen[d.Name] {
			t.Errorf("rule %s defined twice", d.Name)
		}
		seen[d.Name] = true
		if d.Description == "" {
			t.Errorf("rule %s has no description", d.Name)
		}
		tm, ok := ruleCases[d.Name]
		if !ok {
			t.Errorf("rule %s has no test message", d.Name)
			continue
		}
		if !check(t, rs, tm.build(t)).Has(d.Name) {
			t.Errorf("rule %s does not fire on its test message", d.Name)
		}
	}
	for name := range ruleCases {
		if !seen[name] {
			t.Errorf("test message for %s, which is not a default rule", name)
		}
	}
}

// TestSpamSoftwareRules checks that the rules for forged senders and
// spam software stay quiet on what genuine mail does: an Outlook Express
// Message-ID written at the time of the Date, Outlook's own X-MimeOLE,
// Hotmail received through outlook.com, a free mail address that signed
// its mail or passed DMARC, a reply, time zones that exist.
func TestSpamSoftwareRules(t *testing.T) {
	rs, err := NewRules(nil)
	if err != nil {
		t.Fatal(err)
	}
	// The time stamp Outlook Express writes for the Date of hamHeader.
	date := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	stamp := int64(float64(date.Unix())*0.0023283064365387 + 27111902.8329849)
	oeID := fmt.Sprintf("<0008%08x$7fdc11ce$0100a8c0@mail.example.org>", stamp)
	signed := withEnv(func(e *Envelope) { e.Auth = authResults("", "pass", "") })
	dmarcPass := withEnv(func(e *Envelope) { e.Auth = authResults("", "", "pass") })
	quiet := []struct {
		rule string
		msg  testMsg
	}{
		{"MSGID_OUTLOOK_INVALID", hdr("Message-ID", oeID, "X-Mailer", "Microsoft Outlook Express 6.00.2600.0000", "X-MimeOLE", "Produced By Microsoft MimeOLE V6.00.2600.0000")},
		{"RATWARE_MS_HASH", hdr("Message-ID", oeID, "X-MimeOLE", "Produced By Microsoft MimeOLE V6.00.2600.0000")},
		{"RATWARE_OUTLOOK_NONAME", hdr("Message-ID", oeID, "X-Mailer", "Microsoft Outlook Express 6.00.2600.0000")},
		{"MISSING_MIMEOLE", hdr("X-MSMail-Priority", "Normal", "X-MimeOLE", "Produced By Microsoft MimeOLE V6.00.2600.0000")},
		{"FORGED_HOTMAIL_RCVD", hdr("From", "Alice <alice@hotmail.com>", "Received", "from EUR05-DB8-obe.outbound.protection.outlook.com (mail-db8eur05olkn2101.outbound.protection.outlook.com [40.92.89.101]) by mx.example.net; Thu, 03 Dec 2026 10:01:00 +0000")},
		{"FORGED_HOTMAIL_RCVD", testMsg{hdr: map[string]string{"From": "Alice <alice@hotmail.com>"}, env: signed}},
		{"FORGED_YAHOO_RCVD", hdr("From", "Alice <alice@yahoo.com>", "DKIM-Signature", "v=1; a=rsa-sha256; c=relaxed/relaxed; d=yahoo.com; s=s2048; h=from; bh=x; b=y")},
		{"FORGED_FREEMAIL_RCVD", hdr("From", "Alice <alice@gmail.com>", "DKIM-Signature", "v=1; a=rsa-sha256; c=relaxed/relaxed; d=gmail.com; s=20230601; h=from; bh=x; b=y")},
		{"FORGED_FREEMAIL_RCVD", testMsg{hdr: map[string]string{"From": "Alice <alice@aol.com>"}, env: dmarcPass}},
		{"FORGED_FREEMAIL_RCVD", hdr("From", "Alice <alice@aol.com>", "Subject", "Re: Lunch on Thursday")},
		{"FORGED_FREEMAIL_RCVD", hdr("From", "Alice <alice@aol.com>", "Received", "from omr-a018e.mx.aol.com (omr-a018e.mx.aol.com [204.29.186.67]) by mx.example.net; Thu, 03 Dec 2026 10:01:00 +0000")},
		{"INVALID_DATE_TZ_ABSURD", hdr("Date", "Thu, 03 Dec 2026 15:45:00 +0545")},
		{"INVALID_DATE_TZ_ABSURD", hdr("Date", "Thu, 03 Dec 2026 00:00:00 +1400")},
		{"INVALID_DATE_TZ_ABSURD", hdr("Date", "Thu, 03 Dec 2026 06:30:00 -0330")},
		{"FREEMAIL_REPLYTO_END_DIGIT", hdr("Reply-To", "alice1977@example.org")},
		// iprev's verdict wins over what the Received fields said.
		{"RDNS_NONE", testMsg{env: withEnv(func(e *Envelope) {
			e.NoRDNS = true
			e.Auth = &msgauth.Results{IPRev: &msgauth.IPRevResult{Value: authres.ResultPass, Names: []string{"mail.example.org"}}}
		})}},
		{"RDNS_NONE", testMsg{env: withEnv(func(e *Envelope) { e.NoRDNS, e.Authenticated = true, "alice" })}},
		// Clients on the site's own networks need no reverse name.
		{"RDNS_NONE", testMsg{env: withEnv(func(e *Envelope) {
			e.ClientIP = netip.MustParseAddr("127.0.0.1")
			e.Auth = &msgauth.Results{IPRev: &msgauth.IPRevResult{Value: authres.ResultFail}}
		})}},
		{"RDNS_NONE", testMsg{env: withEnv(func(e *Envelope) { e.ClientIP, e.NoRDNS = netip.MustParseAddr("192.168.1.5"), true })}},
		{"RDNS_DYNAMIC", testMsg{env: withEnv(func(e *Envelope) { e.RDNS = "mail.example.org" })}},
	}
	for _, q := range quiet {
		if r := check(t, rs, q.msg.build(t)); r.Has(q.rule) {
			t.Errorf("%s fires on genuine mail %+v: %v", q.rule, q.msg.hdr, r.Tags())
		}
	}
	// The same Message-ID in a message of another time is a forgery.
	if r := check(t, rs, hdr("Message-ID", oeID, "Date", "Thu, 03 Dec 2020 10:00:00 +0000",
		"Received", "from mail.example.org (mail.example.org [192.0.2.1]) by mx.example.net; Thu, 03 Dec 2020 10:01:00 +0000").build(t)); !r.Has("MSGID_OUTLOOK_INVALID") {
		t.Errorf("MSGID_OUTLOOK_INVALID does not fire on a stamp six years off: %v", r.Tags())
	}
}

func TestConfiguredRules(t *testing.T) {
	rs, err := NewRules([]config.SpamRule{
		{Name: "SUBJ_ALL_CAPS", Condition: `subject == "LUNCH"`, Score: 4, Description: "replaced"},
		{Name: "MISSING_DATE", Score: 0},
		{Name: "LOCAL_LUNCH", Condition: `lower(subject) contains "lunch" and tag("SUBJ_ALL_CAPS") and fact("bayes") > 0.5`, Score: 1.5, Description: "lunch"},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := hdr("Subject", "LUNCH", "Date", "").build(t)
	r := &Result{}
	r.SetFact("bayes", 0.9)
	if err := rs.Check(context.Background(), m, r); err != nil {
		t.Fatal(err)
	}
	want := []Tag{{"SUBJ_ALL_CAPS", 4, "replaced"}, {"LOCAL_LUNCH", 1.5, "lunch"}}
	if got := r.Tags(); !slices.Equal(got, want) {
		t.Errorf("tags %v, want %v", got, want)
	}
	if _, err := NewRules([]config.SpamRule{{Name: "X", Condition: "subjct == 1", Score: 1}}); err == nil || !strings.Contains(err.Error(), `unknown name "subjct"`) {
		t.Errorf("bad rule: %v", err)
	}
}

// TestRuleVariables checks the variables and functions against a message
// that has something for each.
func TestRuleVariables(t *testing.T) {
	raw := "Received: from a by b; Thu, 03 Dec 2026 10:01:00 +0000\r\n" +
		"Received: from c by a; Thu, 03 Dec 2026 10:00:30 +0000\r\n" +
		"From: =?utf-8?q?Ren=C3=A9?= <Rene@Example.ORG>\r\n" +
		"Reply-To: other@mail.example.co.uk\r\n" +
		"To: a@example.net, b@example.net\r\nCc: c@example.net\r\n" +
		"Subject: =?utf-8?q?Caf=C3=A9?= news\r\n" +
		"Date: Thu, 03 Dec 2026 09:00:00 +0000\r\n" +
		"Message-ID: <id1@example.org>\r\nIn-Reply-To: <id0@example.org>\r\nReferences: <r1@x> <id0@example.org>\r\n" +
		"X-Thing: =?utf-8?q?d=C3=A9cod=C3=A9?=\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n" +
		"--c\r\nContent-Type: text/plain\r\n\r\nSee www.Example.com/x and https://xn--caf-dma.example/menu.\r\n" +
		"--c\r\nContent-Type: text/html\r\n\r\n<p>See <a href=\"http://192.0.2.9/x\">the menu</a><img src=a.gif><img src=b.gif></p>\r\n--c--\r\n" +
		"--b\r\nContent-Type: application/pdf; name=\"Menu.PDF\"\r\nContent-Disposition: attachment\r\n\r\nxyz\r\n--b--\r\n"
	env := Envelope{ClientIP: netip.MustParseAddr("2001:db8::1"), HELO: "mx.example.org", MailFrom: "bounce@lists.example.org",
		Recipients: []string{"a@example.net", "b@example.net"}, Authenticated: "rene",
		Auth: &msgauth.Results{SPF: &msgauth.SPFResult{Value: "pass"}, DKIM: []msgauth.DKIMResult{{Value: "fail"}, {Value: "pass", Domain: "Example.org"}},
			DMARC: &msgauth.DMARCResult{Value: "pass"}, ARC: &msgauth.ARCResult{Value: "none"}}}
	m, err := NewMessage([]byte(raw), env)
	if err != nil {
		t.Fatal(err)
	}
	r := &Result{}
	r.Add("BAYES_99", 3.5, "")
	r.SetFact("bayes", 0.99)
	for _, cond := range []string{
		`subject == "Café news"`, `from == "rene@example.org"`, `from_name == "René"`, `from_domain == "example.org"`,
		`reply_to == "other@mail.example.co.uk"`, `reply_to_domain == "mail.example.co.uk"`, `org_domain(reply_to) == "example.co.uk"`,
		`to_count == 3`, `message_id == "id1@example.org"`, `in_reply_to == "id0@example.org"`, `references_count == 2`,
		`date_valid`, `date_age > 1 and date_age < 1.1`, `received_count == 2`, `mail_from == "bounce@lists.example.org"`,
		`mail_from_domain == "lists.example.org"`, `helo == "mx.example.org"`, `client_ip == "2001:db8::1"`, `rcpt_count == 2`,
		`authenticated`, `spf == "pass"`, `dkim == "pass"`, `dmarc == "pass"`, `arc == "none"`, `"example.org" in dkim_domains`,
		`body contains "See www.Example.com/x"`, `body contains "See the menu"`, `body_length > 20`, `html`, `not html_only`,
		`html_images == 2`, `url_count == 3`, `url_hosts == ["www.example.com", "café.example", "192.0.2.9"]`,
		`urls contains "http://192.0.2.9/x"`, `link_texts == ["the menu"]`, `has_attachment`, `attachment_types == ["application/pdf"]`,
		`attachment_names == ["menu.pdf"]`, `size == ` + fmt.Sprint(len(raw)),
		`header("x-thing") == "décodé"`, `raw_header("X-Thing") startswith "=?utf-8?q?"`, `headers("Received") == 2`,
		`header_values("received") == ["from a by b; Thu, 03 Dec 2026 10:01:00 +0000", "from c by a; Thu, 03 Dec 2026 10:00:30 +0000"]`,
		`has_header("MESSAGE-ID") and not has_header("X-None") and header("X-None") == ""`,
		`tag("BAYES_99") and not tag("BAYES_00")`, `fact("bayes") == 0.99 and has_fact("bayes") and not has_fact("x") and fact("x") == 0`,
		`any_url_host_matches("^192\\.") and not any_url_host_matches("^10\\.")`, `domain("a@B.example") == "b.example"`,
		`freemail("x@GMail.com") and not freemail(from)`, `count_in(url_hosts, ["192.0.2.9", "x"]) == 1`,
		`count_matches(lower(body), "see") == 2 and count_matches(url_hosts, "example") == 2`,
		`count_contains(lower(body), ["menu", "see", "absent"]) == 2`,
	} {
		p, err := compileRule(cond)
		if err != nil {
			t.Errorf("%s: %v", cond, err)
			continue
		}
		env := newRuleEnv(m, r)
		ok, err := p.Bool(env)
		env.release()
		if err != nil || !ok {
			t.Errorf("%s: %v, %v", cond, ok, err)
		}
	}
}

// TestRulesRegistered checks that New puts the rules last, with the
// configured rules merged in.
func TestRulesRegistered(t *testing.T) {
	cfg := config.Default()
	cfg.Spam.Rules = []config.SpamRule{{Name: "LOCAL_LUNCH", Condition: `subject == "Lunch on Thursday"`, Score: 6, Description: "lunch"}}
	f, err := New(context.Background(), Deps{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	var rs *Rules
	for _, c := range f.Last {
		if r, ok := c.(*Rules); ok {
			rs = r
		}
	}
	if rs == nil {
		t.Fatalf("no rules checker among the last: %v", f.Last)
	}
	if !check(t, rs, testMsg{}.build(t)).Has("LOCAL_LUNCH") {
		t.Error("the configured rule does not fire")
	}
}
