package spam

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNewMessage(t *testing.T) {
	raw := "From: \"Bank\" <Service@Bank.Example>\r\n" +
		"Subject: =?iso-8859-1?q?Compte_bloqu=E9?=\r\n" +
		"Message-ID: <a@b>\r\n" +
		"Content-Type: multipart/alternative; boundary=x\r\n\r\n" +
		"--x\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Votre compte est bloqu=E9. Voir HTTPS://Login.Bank.Example:8443/a?b=1, ou www.bank.example.\r\n" +
		"--x\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		b64("<html><head><title>T</title><style>p{}</style></head><body><p>Votre&nbsp;compte<br>est <b>bloqué</b>.</p>"+
			"<a href=\"http://paypal.com@evil.example/x\">https://www.paypal.com</a> <a href='https://xn--bcher-kva.example/'>Bücher</a>"+
			"<script>var u='http://hidden.example/';</script></body></html>") + "\r\n--x--\r\n"
	m, err := NewMessage([]byte(raw), Envelope{})
	if err != nil {
		t.Fatal(err)
	}
	if m.From != "service@bank.example" || m.FromName != "Bank" || m.Subject != "Compte bloqué" || m.MessageID != "a@b" {
		t.Errorf("header: %q %q %q %q", m.From, m.FromName, m.Subject, m.MessageID)
	}
	if !m.HTML || m.HTMLOnly {
		t.Errorf("HTML %v, HTMLOnly %v", m.HTML, m.HTMLOnly)
	}
	wantText := "Votre compte est bloqué. Voir HTTPS://Login.Bank.Example:8443/a?b=1, ou www.bank.example.\nVotre compte\nest bloqué.\nhttps://www.paypal.com Bücher"
	if m.Text != wantText {
		t.Errorf("Text\n%q\nwant\n%q", m.Text, wantText)
	}
	var got []string
	for _, u := range m.URLs {
		got = append(got, fmt.Sprintf("%s|%s|%s|%v", u.Raw, u.Host, u.Text, u.FromHTML))
	}
	want := []string{
		"HTTPS://Login.Bank.Example:8443/a?b=1|login.bank.example||false",
		"www.bank.example|www.bank.example||false",
		"https://www.paypal.com|www.paypal.com||false",
		"http://paypal.com@evil.example/x|evil.example|https://www.paypal.com|true",
		"https://xn--bcher-kva.example/|bücher.example|Bücher|true",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("URLs\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if m.Size != len(raw) {
		t.Errorf("Size %d", m.Size)
	}
	if _, err := NewMessage(nil, Envelope{}); err != ErrEmpty {
		t.Errorf("empty message: %v", err)
	}
}

func b64(s string) string {
	const enc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var b strings.Builder
	for i := 0; i < len(s); i += 3 {
		var n uint32
		k := min(3, len(s)-i)
		for j := 0; j < 3; j++ {
			n <<= 8
			if j < k {
				n |= uint32(s[i+j])
			}
		}
		for j := 0; j < 4; j++ {
			if j <= k {
				b.WriteByte(enc[(n>>(18-6*j))&63])
			} else {
				b.WriteByte('=')
			}
		}
		if (i/3+1)%19 == 0 {
			b.WriteString("\r\n")
		}
	}
	return b.String()
}

// TestNewMessageBounds checks that a huge message gives bounded features.
func TestNewMessageBounds(t *testing.T) {
	var b strings.Builder
	b.WriteString("Subject: big\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n")
	for i := range 400 {
		fmt.Fprintf(&b, "--z\r\nContent-Type: text/plain\r\n\r\nhttp://h%d.example/ %s\r\n", i, strings.Repeat("word ", 400))
	}
	b.WriteString("--z--\r\n")
	m, err := NewMessage([]byte(b.String()), Envelope{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Text) > MaxText || len(m.URLs) > MaxURLs {
		t.Errorf("text %d bytes, %d URLs", len(m.Text), len(m.URLs))
	}
	if len(m.URLs) < 100 {
		t.Errorf("only %d URLs", len(m.URLs))
	}
}

// FuzzNewMessage checks that any input gives a bounded Message in valid
// UTF-8, and that the rules run on it without error.
func FuzzNewMessage(f *testing.F) {
	f.Add([]byte(benchMessage))
	f.Add([]byte("Content-Type: text/html\r\n\r\n<a href=http://[::1]:80/>x</a><a href=\"www.x\"><img></a"))
	f.Add([]byte("From: =?x?B?====?= <@>\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: text/plain; charset=euc-kr\r\n\r\n\xff\xfe http://xn--zz\r\n--a--"))
	rs, err := NewRules(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := NewMessage(raw, Envelope{})
		if err != nil {
			if len(raw) == 0 {
				return
			}
			t.Fatal(err)
		}
		if len(m.Text) > MaxText || len(m.URLs) > MaxURLs || len(m.Attachments) > maxAttachments {
			t.Fatalf("unbounded: %d %d %d", len(m.Text), len(m.URLs), len(m.Attachments))
		}
		for _, s := range []string{m.Text, m.Subject, m.FromName} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8: %q", s)
			}
		}
		for _, u := range m.URLs {
			if u.Host == "" || !utf8.ValidString(u.Host) {
				t.Fatalf("bad host %q", u.Host)
			}
		}
		if err := rs.Check(context.Background(), m, &Result{}); err != nil {
			t.Fatal(err)
		}
	})
}

// benchMessage is a typical 5 KB newsletter-like message: plain text and
// HTML alternatives with a dozen links.
var benchMessage = func() string {
	var plain, htm strings.Builder
	for i := range 12 {
		fmt.Fprintf(&plain, "Item %d: Our team wrote about the new release and what changed since last month. Read more at https://news.example.org/item/%d\r\n\r\n", i, i)
		fmt.Fprintf(&htm, "<p>Item %d: Our team wrote about the <b>new release</b> and what changed since last month. <a href=\"https://news.example.org/item/%d\">Read more</a></p>\r\n", i, i)
	}
	return "Received: from mail.example.org (mail.example.org [192.0.2.1]) by mx.example.net; Thu, 03 Dec 2026 10:01:00 +0000\r\n" +
		"From: Example News <news@example.org>\r\nTo: bob@example.net\r\nSubject: The December newsletter\r\n" +
		"Date: Thu, 03 Dec 2026 10:00:00 +0000\r\nMessage-ID: <n.1@example.org>\r\nMIME-Version: 1.0\r\n" +
		"List-Unsubscribe: <https://news.example.org/u>\r\n" +
		"Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		plain.String() + "\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><head><style>p{margin:0}</style></head><body>" +
		htm.String() + "</body></html>\r\n--alt--\r\n"
}()

func BenchmarkNewMessage(b *testing.B) {
	raw := []byte(benchMessage)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := NewMessage(raw, Envelope{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRules(b *testing.B) {
	rs, err := NewRules(nil)
	if err != nil {
		b.Fatal(err)
	}
	m, err := NewMessage([]byte(benchMessage), hamEnvelope())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchMessage)))
	for b.Loop() {
		if err := rs.Check(context.Background(), m, &Result{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestNewMessageEmbedded checks that the text and links of a bounced or
// forwarded message (message/rfc822) are read, and the message is still
// counted as an attachment.
func TestNewMessageEmbedded(t *testing.T) {
	raw := "From: MAILER-DAEMON@mx.example\r\n" +
		"Subject: Undeliverable\r\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nYour message did not reach its recipient.\r\n" +
		"--b\r\nContent-Type: message/rfc822\r\n\r\n" +
		"From: seller@spam.example\r\nSubject: Cheap pills\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n\r\n" +
		"<p>Buy <a href=\"http://pills.example/buy\">now</a></p>\r\n" +
		"--b--\r\n"
	m, err := NewMessage([]byte(raw), Envelope{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "Your message did not reach its recipient.\nBuy now"; m.Text != want {
		t.Errorf("Text %q, want %q", m.Text, want)
	}
	if len(m.URLs) != 1 || m.URLs[0].Host != "pills.example" {
		t.Errorf("URLs %+v, want the embedded link", m.URLs)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].ContentType != "message/rfc822" {
		t.Errorf("Attachments %+v, want the message/rfc822 part", m.Attachments)
	}
}
