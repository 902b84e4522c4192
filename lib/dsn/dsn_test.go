package dsn

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"testing"
	"time"

	message "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

var (
	now     = time.Date(2025, 3, 4, 10, 20, 30, 0, time.UTC)
	arrival = now.Add(-5 * time.Hour)
)

const original = "Return-Path: <alice@example.org>\r\n" +
	"From: Alice <alice@example.org>\r\n" +
	"To: bob@example.net, carol@example.net\r\n" +
	"Subject: lunch\r\n" +
	"Message-ID: <m1@example.org>\r\n" +
	"\r\n" +
	"Shall we meet at noon?\r\n" +
	"-- \r\n" +
	"Alice\r\n"

// origHeader is original's header section as text/rfc822-headers returns it.
var origHeader = original[:strings.Index(original, "\r\n\r\n")+2]

// part is one body part of a parsed report.
type part struct {
	header message.Header
	ctype  string
	body   []byte
}

// parsed is a report as go-message reads it.
type parsed struct {
	raw        []byte
	header     message.Header
	reportType string
	parts      []part
	perMessage textproto.Header
	recipients []textproto.Header
}

// parse reads a report with go-message and the delivery-status part with its
// header reader, failing the test on anything malformed.
func parse(t *testing.T, raw []byte) *parsed {
	t.Helper()
	checkWire(t, raw)
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("go-message cannot read the report: %v\n%s", err, raw)
	}
	p := &parsed{raw: raw, header: e.Header}
	ct, params, err := e.Header.ContentType()
	if err != nil || ct != "multipart/report" {
		t.Fatalf("Content-Type = %q (%v), want multipart/report", ct, err)
	}
	p.reportType = params["report-type"]
	mr := e.MultipartReader()
	if mr == nil {
		t.Fatal("report is not multipart")
	}
	for {
		pe, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		body, err := io.ReadAll(pe.Body)
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		pct, _, _ := pe.Header.ContentType()
		p.parts = append(p.parts, part{header: pe.Header, ctype: pct, body: body})
	}
	if len(p.parts) >= 2 {
		br := bufio.NewReader(bytes.NewReader(p.parts[1].body))
		for i := 0; ; i++ {
			h, err := textproto.ReadHeader(br)
			if err != nil {
				t.Fatalf("delivery-status block %d: %v\n%s", i, err, p.parts[1].body)
			}
			if i == 0 {
				p.perMessage = h
			} else {
				p.recipients = append(p.recipients, h)
			}
			if _, err := br.Peek(1); err == io.EOF {
				break
			}
		}
	}
	return p
}

// checkWire fails on a bare CR, a bare LF or a line over 998 octets.
func checkWire(t testing.TB, raw []byte) {
	t.Helper()
	if err := wireError(raw); err != nil {
		t.Fatalf("%v\n%q", err, raw)
	}
}

func wireError(raw []byte) error {
	line, lineNo := 0, 1
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '\r':
			if i+1 >= len(raw) || raw[i+1] != '\n' {
				return fmt.Errorf("bare CR in line %d", lineNo)
			}
			i++
			line = 0
			lineNo++
		case '\n':
			return fmt.Errorf("bare LF in line %d", lineNo)
		default:
			line++
			if line > maxLine {
				return fmt.Errorf("line %d is longer than %d octets", lineNo, maxLine)
			}
		}
	}
	if !bytes.HasSuffix(raw, []byte("\r\n")) {
		return errors.New("message does not end in CRLF")
	}
	return nil
}

func baseReport() *Report {
	return &Report{
		ReportingMTA: "mx.example.org",
		To:           "alice@example.org",
		EnvID:        "QQ314159",
		Arrival:      arrival,
		Original:     []byte(original),
		Recipients: []Recipient{{
			Final:       "bob@example.net",
			Original:    "rfc822;Bob@Example.NET",
			Action:      Failed,
			Status:      "5.1.1",
			RemoteMTA:   "dns; mx.example.net",
			Diagnostic:  "smtp; 550 5.1.1 <bob@example.net>: no such user",
			LastAttempt: now.Add(-time.Minute),
		}},
	}
}

func field(h textproto.Header, k string) string { return h.Get(k) }

func TestBuild(t *testing.T) {
	delayed := Recipient{
		Final:          "carol@example.net",
		Action:         Delayed,
		Status:         "4.4.1",
		RemoteMTA:      "mx.example.net",
		Diagnostic:     "connection refused",
		LastAttempt:    now.Add(-2 * time.Minute),
		WillRetryUntil: arrival.Add(5 * 24 * time.Hour),
	}
	tests := []struct {
		name   string
		edit   func(r *Report)
		check  func(t *testing.T, p *parsed)
		nparts int
	}{{
		name: "failed returns the whole message",
		check: func(t *testing.T, p *parsed) {
			if got := p.header.Get("Subject"); got != "Undelivered Mail Returned to Sender" {
				t.Errorf("Subject = %q", got)
			}
			if p.reportType != "delivery-status" {
				t.Errorf("report-type = %q", p.reportType)
			}
			wantTypes(t, p, "text/plain", "message/delivery-status", "message/rfc822")
			if !bytes.Equal(p.parts[2].body, []byte(original)) {
				t.Errorf("returned message differs:\n%q\nwant\n%q", p.parts[2].body, original)
			}
			wantFields(t, p.perMessage, map[string]string{
				"Reporting-MTA":        "dns; mx.example.org",
				"Original-Envelope-Id": "QQ314159",
				"Arrival-Date":         arrival.Format(time.RFC1123Z),
			})
			if len(p.recipients) != 1 {
				t.Fatalf("%d recipient blocks, want 1", len(p.recipients))
			}
			wantFields(t, p.recipients[0], map[string]string{
				"Final-Recipient":    "rfc822; bob@example.net",
				"Original-Recipient": "rfc822; Bob@Example.NET",
				"Action":             "failed",
				"Status":             "5.1.1",
				"Remote-MTA":         "dns; mx.example.net",
				"Diagnostic-Code":    "smtp; 550 5.1.1 <bob@example.net>: no such user",
				"Last-Attempt-Date":  now.Add(-time.Minute).Format(time.RFC1123Z),
				"Will-Retry-Until":   "",
			})
			text := string(p.parts[0].body)
			for _, s := range []string{"<bob@example.net>", "host mx.example.net said:", "550 5.1.1", "could not be delivered", "mx.example.org", "Your message is attached"} {
				if !strings.Contains(text, s) {
					t.Errorf("text part lacks %q:\n%s", s, text)
				}
			}
		},
	}, {
		name: "RET=FULL",
		edit: func(r *Report) { r.Return = "FULL" },
		check: func(t *testing.T, p *parsed) {
			wantTypes(t, p, "text/plain", "message/delivery-status", "message/rfc822")
			if !bytes.Equal(p.parts[2].body, []byte(original)) {
				t.Errorf("returned message differs")
			}
		},
	}, {
		name: "RET=HDRS returns the header only",
		edit: func(r *Report) { r.Return = "hdrs" },
		check: func(t *testing.T, p *parsed) {
			wantTypes(t, p, "text/plain", "message/delivery-status", "text/rfc822-headers")
			if got := string(p.parts[2].body); got != origHeader {
				t.Errorf("returned headers = %q, want %q", got, origHeader)
			}
			if strings.Contains(string(p.raw), "Shall we meet") {
				t.Error("the body was returned")
			}
		},
	}, {
		name: "delayed",
		edit: func(r *Report) { r.Recipients = []Recipient{delayed} },
		check: func(t *testing.T, p *parsed) {
			if got := p.header.Get("Subject"); got != "Delayed Mail (still being retried)" {
				t.Errorf("Subject = %q", got)
			}
			wantTypes(t, p, "text/plain", "message/delivery-status", "text/rfc822-headers")
			wantFields(t, p.recipients[0], map[string]string{
				"Final-Recipient":    "rfc822; carol@example.net",
				"Original-Recipient": "",
				"Action":             "delayed",
				"Status":             "4.4.1",
				"Remote-MTA":         "dns; mx.example.net",
				"Diagnostic-Code":    "X-Gannet; connection refused",
				"Will-Retry-Until":   arrival.Add(5 * 24 * time.Hour).Format(time.RFC1123Z),
			})
			text := string(p.parts[0].body)
			for _, s := range []string{"WARNING ONLY", "after 5 hours", "keeps trying until " + arrival.Add(5*24*time.Hour).Format(time.RFC1123Z)} {
				if !strings.Contains(strings.Join(strings.Fields(text), " "), s) {
					t.Errorf("text part lacks %q:\n%s", s, text)
				}
			}
		},
	}, {
		name: "delivered",
		edit: func(r *Report) {
			r.Return = "FULL" // success reports return headers all the same
			r.Recipients = []Recipient{{Final: "bob@example.net", Action: Delivered, Status: "2.0.0"}}
		},
		check: func(t *testing.T, p *parsed) {
			if got := p.header.Get("Subject"); got != "Successful Mail Delivery Report" {
				t.Errorf("Subject = %q", got)
			}
			wantTypes(t, p, "text/plain", "message/delivery-status", "text/rfc822-headers")
			wantFields(t, p.recipients[0], map[string]string{"Action": "delivered", "Status": "2.0.0"})
		},
	}, {
		name: "mixed failed and delayed",
		edit: func(r *Report) { r.Recipients = append(r.Recipients, delayed) },
		check: func(t *testing.T, p *parsed) {
			if got := p.header.Get("Subject"); got != "Undelivered Mail Returned to Sender" {
				t.Errorf("Subject = %q", got)
			}
			if len(p.recipients) != 2 {
				t.Fatalf("%d recipient blocks, want 2", len(p.recipients))
			}
			if p.recipients[0].Has("Will-Retry-Until") || !p.recipients[1].Has("Will-Retry-Until") {
				t.Error("Will-Retry-Until must be on the delayed recipient only")
			}
			text := string(p.parts[0].body)
			if !strings.Contains(text, "Could not be delivered:") || !strings.Contains(text, "Delayed, still being retried:") {
				t.Errorf("text part does not group the recipients:\n%s", text)
			}
		},
	}, {
		name: "UTF-8 recipient selects the RFC 6533 types",
		edit: func(r *Report) {
			r.Recipients[0].Final = "用户@example.net"
			r.Recipients[0].Original = "rfc822;用户@example.net"
			r.Recipients[0].Diagnostic = "smtp; 550 5.1.1 用户不存在"
		},
		check: func(t *testing.T, p *parsed) {
			if p.reportType != "global-delivery-status" {
				t.Errorf("report-type = %q", p.reportType)
			}
			wantTypes(t, p, "text/plain", "message/global-delivery-status", "message/global")
			wantFields(t, p.recipients[0], map[string]string{
				"Final-Recipient":    "utf-8; 用户@example.net",
				"Original-Recipient": "utf-8; 用户@example.net",
				"Diagnostic-Code":    "smtp; 550 5.1.1 用户不存在",
			})
			if got := p.parts[1].header.Get("Content-Transfer-Encoding"); got != "8bit" {
				t.Errorf("delivery-status Content-Transfer-Encoding = %q", got)
			}
			if !strings.Contains(string(p.parts[0].body), "<用户@example.net>") {
				t.Errorf("text part lacks the recipient")
			}
		},
	}, {
		name: "SMTPUTF8 original with HDRS gives message/global-headers",
		edit: func(r *Report) {
			r.SMTPUTF8 = true
			r.Return = "HDRS"
			r.To = "jürgen@example.org"
			r.Original = []byte("From: jürgen@example.org\r\nSubject: Grüße\r\n\r\nHallo\r\n")
		},
		check: func(t *testing.T, p *parsed) {
			wantTypes(t, p, "text/plain", "message/global-delivery-status", "message/global-headers")
			if got := string(p.parts[2].body); got != "From: jürgen@example.org\r\nSubject: Grüße\r\n" {
				t.Errorf("returned headers = %q", got)
			}
			to, err := mail.ParseAddress(p.header.Get("To"))
			if err != nil || to.Address != "jürgen@example.org" {
				t.Errorf("To = %q (%v)", p.header.Get("To"), err)
			}
		},
	}, {
		name: "oversize original is cut at a line end",
		edit: func(r *Report) {
			r.MaxReturnSize = 1000
			r.Original = []byte(original + strings.Repeat("A line of the body, long enough.\r\n", 100))
		},
		check: func(t *testing.T, p *parsed) {
			wantTypes(t, p, "text/plain", "message/delivery-status", "message/rfc822")
			body := p.parts[2].body
			full := baseReport().Original
			full = append(full, strings.Repeat("A line of the body, long enough.\r\n", 100)...)
			if len(body) > 1000 || len(body) < 1000-40 || !bytes.HasPrefix(full, body) || !bytes.HasSuffix(body, []byte("\r\n")) {
				t.Errorf("returned %d bytes, want a prefix of at most 1000 ending in CRLF:\n%q", len(body), body)
			}
			text := strings.Join(strings.Fields(string(p.parts[0].body)), " ")
			want := fmt.Sprintf("Your message was %d bytes long, more than the 1000 bytes a report returns: only its first %d bytes are attached, cut at the end of a line.", len(full), len(body))
			if !strings.Contains(text, want) {
				t.Errorf("text part lacks %q:\n%s", want, text)
			}
		},
	}, {
		name: "oversize header is cut before a field",
		edit: func(r *Report) {
			r.MaxReturnSize = 120
			r.Original = []byte("Subject: one\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\nTo: x@example.org\r\n\r\nbody\r\n")
		},
		check: func(t *testing.T, p *parsed) {
			wantTypes(t, p, "text/plain", "message/delivery-status", "text/rfc822-headers")
			if got := string(p.parts[2].body); got != "Subject: one\r\n" {
				t.Errorf("returned headers = %q", got)
			}
			if !strings.Contains(strings.Join(strings.Fields(string(p.parts[0].body)), " "), "cut at the end of a header field") {
				t.Errorf("text part does not say the header was cut:\n%s", p.parts[0].body)
			}
		},
	}, {
		name: "original with bare LF and a long line is mended",
		edit: func(r *Report) {
			r.Original = []byte("Subject: x\n\nshort\n" + strings.Repeat("y", 1500) + "\r\nend")
		},
		check: func(t *testing.T, p *parsed) {
			want := "Subject: x\r\n\r\nshort\r\n" + strings.Repeat("y", 998) + "\r\n" + strings.Repeat("y", 502) + "\r\nend\r\n"
			if got := string(p.parts[2].body); got != want {
				t.Errorf("returned = %q", got)
			}
			if !strings.Contains(string(p.parts[0].body), "mended") {
				t.Error("text part does not say the copy was mended")
			}
		},
	}, {
		name: "original without a final CRLF stays byte-exact",
		edit: func(r *Report) { r.Original = []byte("Subject: x\r\n\r\nno newline at the end") },
		check: func(t *testing.T, p *parsed) {
			if got := string(p.parts[2].body); got != "Subject: x\r\n\r\nno newline at the end" {
				t.Errorf("returned = %q", got)
			}
		},
	}, {
		name:   "no original, two parts",
		edit:   func(r *Report) { r.Original = nil },
		nparts: 2,
	}, {
		name: "8-bit original in an ASCII report",
		edit: func(r *Report) { r.Original = []byte("Subject: x\r\n\r\ncaf\xc3\xa9\r\n") },
		check: func(t *testing.T, p *parsed) {
			wantTypes(t, p, "text/plain", "message/delivery-status", "message/rfc822")
			if got := p.parts[2].header.Get("Content-Transfer-Encoding"); got != "8bit" {
				t.Errorf("message/rfc822 Content-Transfer-Encoding = %q", got)
			}
			if got := p.header.Get("Content-Transfer-Encoding"); got != "8bit" {
				t.Errorf("top Content-Transfer-Encoding = %q", got)
			}
		},
	}, {
		name: "non-ASCII diagnostic in an ASCII report",
		edit: func(r *Report) { r.Recipients[0].Diagnostic = "smtp; 550 Benutzer unbekannt: Müller" },
		check: func(t *testing.T, p *parsed) {
			wantFields(t, p.recipients[0], map[string]string{"Diagnostic-Code": "smtp; 550 Benutzer unbekannt: M??ller"})
			if p.parts[0].header.Get("Content-Transfer-Encoding") != "7bit" || p.parts[1].header.Get("Content-Transfer-Encoding") != "7bit" {
				t.Error("the first two parts must stay 7bit")
			}
		},
	}, {
		name: "long diagnostic is folded",
		edit: func(r *Report) {
			r.Recipients[0].Diagnostic = "smtp; 550 " + strings.Repeat("word ", 400) + strings.Repeat("z", 1200)
		},
		check: func(t *testing.T, p *parsed) {
			got := p.recipients[0].Get("Diagnostic-Code")
			if !strings.HasPrefix(got, "smtp; 550 word word") || strings.Count(got, "word") != 400 {
				t.Errorf("Diagnostic-Code = %.80q...", got)
			}
			if n := strings.Count(strings.ReplaceAll(got, " ", ""), "z"); n != 1200 {
				t.Errorf("diagnostic kept %d of 1200 z", n)
			}
		},
	}, {
		name: "From defaults to MAILER-DAEMON, headers complete",
		check: func(t *testing.T, p *parsed) {
			from, err := mail.ParseAddress(p.header.Get("From"))
			if err != nil || from.Address != "MAILER-DAEMON@mx.example.org" {
				t.Errorf("From = %q (%v)", p.header.Get("From"), err)
			}
			to, err := mail.ParseAddress(p.header.Get("To"))
			if err != nil || to.Address != "alice@example.org" {
				t.Errorf("To = %q (%v)", p.header.Get("To"), err)
			}
			if got := p.header.Get("Auto-Submitted"); got != "auto-replied" {
				t.Errorf("Auto-Submitted = %q", got)
			}
			if d, err := mail.ParseDate(p.header.Get("Date")); err != nil || !d.Equal(now) {
				t.Errorf("Date = %q (%v)", p.header.Get("Date"), err)
			}
			if id := p.header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@mx.example.org>") {
				t.Errorf("Message-ID = %q", id)
			}
			if p.header.Get("MIME-Version") != "1.0" {
				t.Error("no MIME-Version")
			}
			if !IsAutomatic(p.raw) {
				t.Error("IsAutomatic does not recognise our own report")
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := baseReport()
			if tt.edit != nil {
				tt.edit(r)
			}
			raw, err := r.Build(now)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			p := parse(t, raw)
			n := tt.nparts
			if n == 0 {
				n = 3
			}
			if len(p.parts) != n {
				t.Fatalf("%d parts, want %d", len(p.parts), n)
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

func wantTypes(t *testing.T, p *parsed, types ...string) {
	t.Helper()
	for i, want := range types {
		if i >= len(p.parts) {
			t.Errorf("part %d missing, want %s", i+1, want)
			continue
		}
		if p.parts[i].ctype != want {
			t.Errorf("part %d is %s, want %s", i+1, p.parts[i].ctype, want)
		}
	}
}

// wantFields compares fields after unfolding; "" means the field is absent.
func wantFields(t *testing.T, h textproto.Header, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got := strings.Join(strings.Fields(h.Get(k)), " ")
		if v == "" && h.Has(k) {
			t.Errorf("%s present (%q), want none", k, got)
		} else if got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestBuildRefuses(t *testing.T) {
	tests := []struct {
		name string
		edit func(r *Report)
		want string
	}{
		{"null sender", func(r *Report) { r.To = "" }, "null sender"},
		{"CRLF in To", func(r *Report) { r.To = "alice@example.org\r\nBcc: eve@example.com" }, "line break"},
		{"LF in From", func(r *Report) { r.From = "postmaster@example.org\nX: y" }, "line break"},
		{"CR in Reporting-MTA", func(r *Report) { r.ReportingMTA = "mx\rexample" }, "line break"},
		{"CRLF in Final", func(r *Report) { r.Recipients[0].Final = "bob@example.net\r\nAction: delivered" }, "line break"},
		{"CRLF in Original", func(r *Report) { r.Recipients[0].Original = "rfc822;bob@example.net\r\n\r\n--x" }, "line break"},
		{"CRLF in Diagnostic", func(r *Report) { r.Recipients[0].Diagnostic = "smtp; 550 no\r\nContent-Type: text/html" }, "line break"},
		{"LF in Remote-MTA", func(r *Report) { r.Recipients[0].RemoteMTA = "dns; a\nb" }, "line break"},
		{"CRLF in EnvID", func(r *Report) { r.EnvID = "id\r\nX: y" }, "line break"},
		{"NUL in Diagnostic", func(r *Report) { r.Recipients[0].Diagnostic = "smtp; 550 \x00" }, "control character"},
		{"angle bracket in To", func(r *Report) { r.To = "alice@example.org>, <eve@example.com" }, "not a mail address"},
		{"space in Final", func(r *Report) { r.Recipients[0].Final = "bob @example.net" }, "not a mail address"},
		{"invalid UTF-8 in To", func(r *Report) { r.To = "\xffalice@example.org" }, "UTF-8"},
		{"non-ASCII Reporting-MTA", func(r *Report) { r.ReportingMTA = "bücher.example" }, "host name"},
		{"no recipients", func(r *Report) { r.Recipients = nil }, "at least one recipient"},
		{"unknown action", func(r *Report) { r.Recipients[0].Action = "bounced" }, "unknown action"},
		{"bad status", func(r *Report) { r.Recipients[0].Status = "550" }, "enhanced status"},
		{"status against action", func(r *Report) { r.Recipients[0].Status = "2.0.0" }, "does not fit"},
		{"delayed with 5.x.x", func(r *Report) { r.Recipients[0].Action = Delayed }, "does not fit"},
		{"bogus RET", func(r *Report) { r.Return = "BODY" }, "RET"},
		{"negative limit", func(r *Report) { r.MaxReturnSize = -1 }, "negative"},
		{"long address", func(r *Report) { r.To = strings.Repeat("a", 1000) + "@example.org" }, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := baseReport()
			tt.edit(r)
			raw, err := r.Build(now)
			if err == nil {
				t.Fatalf("Build succeeded:\n%s", raw)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
	r := baseReport()
	r.To = ""
	if _, err := r.Build(now); !errors.Is(err, ErrNullSender) {
		t.Errorf("null sender: error %v is not ErrNullSender", err)
	}
}

func TestBuildAcceptsAddresses(t *testing.T) {
	for _, a := range []string{
		"alice@example.org", `"john doe"@example.org`, `"a\"b"@example.org`, "postmaster",
		"user+tag@[192.0.2.1]", "user@[IPv6:2001:db8::1]", "用户@例子.测试", "o'brien@example.ie",
	} {
		r := baseReport()
		r.To = a
		r.Recipients[0].Final = a
		raw, err := r.Build(now)
		if err != nil {
			t.Errorf("%s: %v", a, err)
			continue
		}
		p := parse(t, raw)
		if got := p.recipients[0].Get("Final-Recipient"); !strings.HasSuffix(got, "; "+a) {
			t.Errorf("%s: Final-Recipient = %q", a, got)
		}
	}
}

func TestShould(t *testing.T) {
	all := []Action{Failed, Delayed, Delivered, Relayed, Expanded}
	tests := []struct {
		notify []string
		want   []Action
	}{
		{nil, []Action{Failed, Delayed}},
		{[]string{}, []Action{Failed, Delayed}},
		{[]string{"NEVER"}, nil},
		{[]string{"never"}, nil},
		{[]string{"SUCCESS", "FAILURE"}, []Action{Failed, Delivered, Relayed, Expanded}},
		{[]string{"FAILURE"}, []Action{Failed}},
		{[]string{"DELAY"}, []Action{Delayed}},
		{[]string{"delay", "failure"}, []Action{Failed, Delayed}},
		{[]string{"SUCCESS"}, []Action{Delivered, Relayed, Expanded}},
		{[]string{"SUCCESS", "FAILURE", "DELAY"}, all},
		{[]string{"FAILURE", "NEVER"}, nil},
	}
	for _, tt := range tests {
		for _, a := range all {
			want := false
			for _, w := range tt.want {
				want = want || w == a
			}
			if got := Should(tt.notify, a); got != want {
				t.Errorf("Should(%q, %s) = %v, want %v", tt.notify, a, got, want)
			}
		}
	}
	if Should(nil, "bogus") {
		t.Error("Should(nil, bogus) = true")
	}
}

func TestIsAutomatic(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want bool
	}{
		{"plain", "From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n", false},
		{"auto-replied", "Subject: away\r\nAuto-Submitted: auto-replied\r\n\r\n", true},
		{"auto-generated with comment", "auto-submitted: Auto-Generated (cron)\r\n\r\n", true},
		{"other keyword with parameter", "Auto-Submitted: auto-notified; owner-email=\"x@y\"\r\n\r\n", true},
		{"no", "Auto-Submitted: no\r\n\r\n", false},
		{"no with comment", "Auto-Submitted: (human) No\r\n\r\n", false},
		{"folded", "Subject: x\r\nAuto-Submitted:\r\n auto-replied\r\n\r\n", true},
		{"bare LF", "Subject: x\nAuto-Submitted: auto-replied\n\nbody\n", true},
		{"only in body", "Subject: x\r\n\r\nAuto-Submitted: auto-replied\r\n", false},
		{"a DSN", "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"b\"\r\n\r\n", true},
		{"a global DSN", "Content-Type: multipart/report; report-type=\"global-delivery-status\"; boundary=b\r\n\r\n", true},
		{"an MDN is not a DSN", "Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n", false},
		{"bare delivery-status", "Content-Type: message/delivery-status\r\n\r\n", true},
		{"mixed", "Content-Type: multipart/mixed; boundary=b\r\n\r\n", false},
		{"malformed params", "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\r\n\r\n", true},
		{"past the scan limit", "X-Pad: " + strings.Repeat("a", maxHeaderScan) + "\r\nAuto-Submitted: auto-replied\r\n\r\n", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsAutomatic([]byte(tt.msg)); got != tt.want {
				t.Errorf("IsAutomatic = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMend(t *testing.T) {
	long := strings.Repeat("h", 2000)
	got, mended := mend([]byte("X-Long: " + long + "\r\n\r\n" + "é" + strings.Repeat("b", 996) + "é\r\n"))
	if !mended {
		t.Fatal("not mended")
	}
	checkWire(t, got)
	lines := strings.Split(strings.TrimSuffix(string(got), "\r\n"), "\r\n")
	// The header line goes on as folded continuation lines.
	if !strings.HasPrefix(lines[1], " ") || !strings.HasPrefix(lines[2], " ") || lines[3] != "" {
		t.Errorf("header not folded: %q", lines[:4])
	}
	if joined := lines[0] + lines[1][1:] + lines[2][1:]; joined != "X-Long: "+long {
		t.Errorf("header content changed")
	}
	// The body line is broken between UTF-8 sequences.
	if lines[4] != "é"+strings.Repeat("b", 996) || lines[5] != "é" {
		t.Errorf("body lines = %q", lines[4:])
	}
	if same, mended := mend([]byte(original)); mended || string(same) != original {
		t.Error("a clean message was changed")
	}
}

// BenchmarkBuild builds a failure report returning a 1 MiB message.
func BenchmarkBuild(b *testing.B) {
	r := baseReport()
	r.Original = []byte(original + strings.Repeat(strings.Repeat("x", 76)+"\r\n", (1<<20)/78))
	b.SetBytes(int64(len(r.Original)))
	for b.Loop() {
		if _, err := r.Build(now); err != nil {
			b.Fatal(err)
		}
	}
}
