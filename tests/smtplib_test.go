package tests

import (
	"context"
	"encoding/json"
	"mime"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// smtplibScript runs one scenario against smtpd with Python's smtplib and
// prints what happened as one JSON object: python3 script SCENARIO ARGS,
// ARGS being a JSON object (host, port, user, password, ...). Replies are
// [code, text]; a refused transaction is {"error": class, ...}.
const smtplibScript = `
import json, smtplib, ssl, sys
from email.message import EmailMessage

scenario, a = sys.argv[1], json.loads(sys.argv[2])

def reply(r):
    code, text = r
    return [code, text.decode('utf-8', 'replace')]

def refused(d):
    return {k: reply(v) for k, v in d.items()}

def tls_context():
    # smtpd's certificate is self-signed.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx

def submission():
    s = smtplib.SMTP(a['host'], a['port'], local_hostname='python.test', timeout=20)
    s.ehlo()
    out = {'starttls_offered': s.has_extn('starttls')}
    out['starttls'] = reply(s.starttls(context=tls_context()))
    s.ehlo()
    out['auth_offered'] = s.esmtp_features.get('auth', '')
    out['smtputf8_offered'] = s.has_extn('smtputf8')
    return s, out

def authenticate(s, how, password):
    s.user, s.password = a['user'], password
    if how == 'plain':
        return reply(s.auth('PLAIN', s.auth_plain))
    if how == 'login':
        return reply(s.auth('LOGIN', s.auth_login))
    if how == 'login-no-initial':
        return reply(s.auth('LOGIN', s.auth_login, initial_response_ok=False))
    return reply(s.login(a['user'], password))

out = {}
if scenario == 'submission':
    # One connection per way of authenticating: AUTH comes once a session.
    for how in a['auths']:
        s, o = submission()
        o['auth'] = authenticate(s, how, a['password'])
        m = EmailMessage()
        m['From'] = a['user']
        m['To'] = a['user']
        m['Subject'] = a['subject'] + ' ' + how
        m.set_content('Hallo aus Python, Grüße!\n')
        o['refused'] = refused(s.send_message(m))
        o['quit'] = reply(s.quit())
        out[how] = o
elif scenario == 'bad-password':
    s, out = submission()
    try:
        authenticate(s, 'plain', a['password'] + 'x')
        out['error'] = None
    except smtplib.SMTPAuthenticationError as e:
        out['error'] = type(e).__name__
        out['reply'] = [e.smtp_code, e.smtp_error.decode()]
    s.quit()
elif scenario == 'smtputf8':
    s, out = submission()
    out['auth'] = authenticate(s, 'login', a['password'])
    msg = a['message'].encode('utf-8')
    out['refused'] = refused(s.sendmail(a['from'], a['to'], msg, mail_options=['SMTPUTF8']))
    s.quit()
elif scenario == 'mx':
    s = smtplib.SMTP(a['host'], a['port'], local_hostname='python.test', timeout=20)
    try:
        out['refused'] = refused(s.sendmail(a['from'], a['to'], a['message']))
    except smtplib.SMTPRecipientsRefused as e:
        out['error'] = type(e).__name__
        out['recipients'] = refused(e.recipients)
    s.quit()
elif scenario == 'lmtp':
    s = smtplib.LMTP(a['host'], a['port'], local_hostname='python.test', timeout=20)
    out['lhlo'] = reply(s.ehlo())
    # sendmail: the unknown recipient is refused, the message delivered
    # to the other.
    out['refused'] = refused(s.sendmail(a['from'], a['to'], a['message']))
    # By hand, with two accepted recipients: LMTP answers the end of data
    # once for each of them, in RCPT order (RFC 2033 section 4.2), which
    # smtplib.LMTP leaves to its caller.
    s.mail(a['from'])
    out['rcpt'] = {r: reply(s.rcpt(r)) for r in a['to2']}
    accepted = [r for r in a['to2'] if out['rcpt'][r][0] == 250]
    out['data'] = [reply(s.data(a['message2']))]
    for _ in accepted[1:]:
        out['data'].append(reply(s.getreply()))
    s.quit()
print(json.dumps(out))
`

// smtplib runs a scenario of smtplibScript and decodes what it printed into
// out.
func smtplib(t *testing.T, scenario string, args map[string]any, out any) {
	t.Helper()
	python := needTool(t, "python3")
	script := filepath.Join(t.TempDir(), "smtplib_client.py")
	if err := os.WriteFile(script, []byte(smtplibScript), 0o644); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, script, scenario, string(js))
	cmd.Env = append(cleanEnv(), "PYTHONIOENCODING=utf-8")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3 smtplib %s: %v\n%s%s", scenario, err, stdout, stderr.String())
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		t.Fatalf("python3 smtplib %s printed %q: %v\n%s", scenario, stdout, err, stderr.String())
	}
	t.Logf("smtplib %s: %s", scenario, strings.TrimSpace(string(stdout)))
}

// smtpReply is a reply as the script prints it: [code, text].
type smtpReply []any

func (r smtpReply) code() int {
	if len(r) != 2 {
		return 0
	}
	f, _ := r[0].(float64)
	return int(f)
}

func (r smtpReply) text() string {
	if len(r) != 2 {
		return ""
	}
	s, _ := r[1].(string)
	return s
}

// wantReply fails unless r has the code and its text begins with the
// enhanced status code enh.
func wantReply(t *testing.T, what string, r smtpReply, code int, enh string) {
	t.Helper()
	if r.code() != code || !strings.HasPrefix(r.text(), enh) {
		t.Errorf("%s: %v, want %d %s", what, []any(r), code, enh)
	}
}

// Python's smtplib against smtpd: submission with STARTTLS and each AUTH
// mechanism, SMTPUTF8 with UTF-8 addresses and header fields, the refusals
// of port 25, and LMTP's replies per recipient.
func TestSmtplib(t *testing.T) {
	e := newSmtpdEnv(t, "")
	// UTF-8 local parts (RFC 6531): an account, and an alias of demo's
	// that demo may send as.
	const utf8User, utf8Alias = "jörg@example.test", "dému@example.test"
	e.addAccount(utf8User)
	e.addAccount("second@example.test")
	e.userctl("alias", "add", utf8Alias, smtpdUser)
	files, addr := e.listeners()
	e.start(files, addr)
	st := e.openStore()
	server := func(role string) map[string]any {
		host, port, _ := net.SplitHostPort(addr[role])
		return map[string]any{"host": host, "port": port, "user": smtpdUser, "password": smtpdPassword}
	}

	t.Run("submission-auth", func(t *testing.T) {
		args := server("submission")
		const subject = "Grüße aus Python ✓"
		args["subject"] = subject
		args["auths"] = []string{"plain", "login", "login-no-initial", "login()"}
		var out map[string]struct {
			StarttlsOffered bool                 `json:"starttls_offered"`
			Starttls        smtpReply            `json:"starttls"`
			AuthOffered     string               `json:"auth_offered"`
			Auth            smtpReply            `json:"auth"`
			Refused         map[string]smtpReply `json:"refused"`
		}
		smtplib(t, "submission", args, &out)
		msgs := e.inbox(st)
		for _, how := range args["auths"].([]string) {
			o, ok := out[how]
			if !ok {
				t.Errorf("%s: no result", how)
				continue
			}
			if !o.StarttlsOffered {
				t.Errorf("%s: STARTTLS not offered", how)
			}
			wantReply(t, how+": STARTTLS", o.Starttls, 220, "2.0.0")
			if !strings.Contains(o.AuthOffered, "PLAIN") || !strings.Contains(o.AuthOffered, "LOGIN") {
				t.Errorf("%s: AUTH offered after STARTTLS: %q", how, o.AuthOffered)
			}
			wantReply(t, how+": AUTH", o.Auth, 235, "2.")
			if len(o.Refused) != 0 {
				t.Errorf("%s: refused %v", how, o.Refused)
			}
			// send_message encodes the subject as RFC 2047 words.
			var found []string
			dec := new(mime.WordDecoder)
			for _, m := range msgs {
				header, _, _ := strings.Cut(m, "\r\n\r\n")
				for line := range strings.SplitSeq(strings.ReplaceAll(header, "\r\n ", " "), "\r\n") {
					if v, ok := strings.CutPrefix(line, "Subject: "); ok {
						if s, err := dec.DecodeHeader(v); err == nil && s == subject+" "+how {
							found = append(found, m)
						}
					}
				}
			}
			if len(found) != 1 {
				t.Errorf("%s: %d messages with the subject %q in the INBOX, want 1", how, len(found), subject+" "+how)
			} else if !strings.Contains(found[0], " with ESMTPSA id ") {
				t.Errorf("%s: Received field does not say ESMTPSA:\n%.600s", how, found[0])
			}
		}
	})

	t.Run("bad-password", func(t *testing.T) {
		var out struct {
			Error string    `json:"error"`
			Reply smtpReply `json:"reply"`
		}
		smtplib(t, "bad-password", server("submission"), &out)
		if out.Error != "SMTPAuthenticationError" {
			t.Errorf("a wrong password gave %q, want SMTPAuthenticationError", out.Error)
		}
		wantReply(t, "AUTH with a wrong password", out.Reply, 535, "5.7.8")
	})

	t.Run("smtputf8", func(t *testing.T) {
		args := server("submission")
		const subject = "Grüße in UTF-8 header fields, ✓"
		args["from"] = utf8Alias
		args["to"] = []string{utf8User}
		args["message"] = "From: Dému <" + utf8Alias + ">\r\nTo: Jörg <" + utf8User + ">\r\nSubject: " + subject +
			"\r\nMessage-ID: <utf8.1@example.test>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n" +
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nHallo Jörg!\r\n"
		var out struct {
			SMTPUTF8Offered bool                 `json:"smtputf8_offered"`
			Auth            smtpReply            `json:"auth"`
			Refused         map[string]smtpReply `json:"refused"`
		}
		smtplib(t, "smtputf8", args, &out)
		if !out.SMTPUTF8Offered {
			t.Error("SMTPUTF8 not offered")
		}
		wantReply(t, "AUTH LOGIN", out.Auth, 235, "2.")
		if len(out.Refused) != 0 {
			t.Errorf("refused %v", out.Refused)
		}
		got := withSubject(e.accountInbox(st, utf8User), subject)
		if len(got) != 1 {
			t.Fatalf("%s's INBOX holds %d copies, want 1", utf8User, len(got))
		}
		for _, want := range []string{
			"Return-Path: <" + utf8Alias + ">\r\n",
			" with UTF8SMTPSA id ",
			"\r\nFrom: Dému <" + utf8Alias + ">\r\n",
			"\r\n\r\nHallo Jörg!\r\n",
		} {
			if !strings.Contains(got[0], want) {
				t.Errorf("stored message lacks %q:\n%s", want, got[0])
			}
		}
	})

	t.Run("mx-unknown-user", func(t *testing.T) {
		args := server("smtp")
		args["from"] = "someone@remote.example"
		args["to"] = []string{"nobody@example.test"}
		args["message"] = "Subject: to nobody\r\n\r\nhello\r\n"
		var out struct {
			Error      string               `json:"error"`
			Recipients map[string]smtpReply `json:"recipients"`
		}
		smtplib(t, "mx", args, &out)
		if out.Error != "SMTPRecipientsRefused" {
			t.Fatalf("error %q, want SMTPRecipientsRefused", out.Error)
		}
		wantReply(t, "RCPT nobody", out.Recipients["nobody@example.test"], 550, "5.1.1")
	})

	t.Run("mx-relay-denied", func(t *testing.T) {
		args := server("smtp")
		args["from"] = "someone@remote.example"
		args["to"] = []string{"friend@elsewhere.example"}
		args["message"] = "Subject: relay me\r\n\r\nhello\r\n"
		var out struct {
			Error      string               `json:"error"`
			Recipients map[string]smtpReply `json:"recipients"`
		}
		smtplib(t, "mx", args, &out)
		if out.Error != "SMTPRecipientsRefused" {
			t.Fatalf("error %q, want SMTPRecipientsRefused", out.Error)
		}
		wantReply(t, "RCPT to a foreign domain", out.Recipients["friend@elsewhere.example"], 554, "5.7.1")
	})

	t.Run("lmtp", func(t *testing.T) {
		args := server("lmtp")
		args["from"] = "someone@remote.example"
		args["to"] = []string{smtpdUser, "nobody@example.test"}
		args["message"] = "Subject: lmtp from python\r\n\r\nhello\r\n"
		args["to2"] = []string{smtpdUser, "nobody@example.test", "second@example.test"}
		args["message2"] = "Subject: lmtp from python, by hand\r\n\r\nhello\r\n"
		var out struct {
			LHLO    smtpReply            `json:"lhlo"`
			Refused map[string]smtpReply `json:"refused"`
			RCPT    map[string]smtpReply `json:"rcpt"`
			Data    []smtpReply          `json:"data"`
		}
		smtplib(t, "lmtp", args, &out)
		if out.LHLO.code() != 250 {
			t.Errorf("LHLO: %v", out.LHLO)
		}
		if len(out.Refused) != 1 {
			t.Errorf("sendmail refused %v, want only nobody", out.Refused)
		}
		wantReply(t, "sendmail: nobody", out.Refused["nobody@example.test"], 550, "5.1.1")
		wantReply(t, "RCPT demo", out.RCPT[smtpdUser], 250, "2.")
		wantReply(t, "RCPT nobody", out.RCPT["nobody@example.test"], 550, "5.1.1")
		wantReply(t, "RCPT second", out.RCPT["second@example.test"], 250, "2.")
		if len(out.Data) != 2 {
			t.Fatalf("%d replies to the end of data, want one per accepted recipient (2): %v", len(out.Data), out.Data)
		}
		for i, r := range []string{smtpdUser, "second@example.test"} {
			wantReply(t, "end of data for "+r, out.Data[i], 250, "2.")
			if !strings.Contains(out.Data[i].text(), r) {
				t.Errorf("reply %d %q does not name %s", i, out.Data[i].text(), r)
			}
		}
		if n := len(withSubject(e.inbox(st), "lmtp from python")); n != 1 {
			t.Errorf("demo's INBOX holds %d copies of the sendmail message, want 1", n)
		}
		for _, r := range []string{smtpdUser, "second@example.test"} {
			if n := len(withSubject(e.accountInbox(st, r), "lmtp from python, by hand")); n != 1 {
				t.Errorf("%s's INBOX holds %d copies of the message sent by hand, want 1", r, n)
			}
		}
	})
}
