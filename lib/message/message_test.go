package message

import (
	"bytes"
	"fmt"
	"net/mail"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// crlf turns the LF line ends of a test message into CRLF.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// sec parses a section as written in FETCH BODY[...]: "", "1.2", "3.HEADER",
// "4.1.MIME", "TEXT", "HEADER.FIELDS (A B)".
func sec(t testing.TB, s string) Section {
	t.Helper()
	var out Section
	for s != "" {
		num := s
		rest := ""
		if i := strings.IndexByte(s, '.'); i >= 0 {
			num, rest = s[:i], s[i+1:]
		}
		n, err := strconv.Atoi(num)
		if err != nil {
			break
		}
		out.Path = append(out.Path, n)
		s = rest
	}
	switch {
	case s == "":
	case s == "HEADER":
		out.Spec = SpecHeader
	case s == "TEXT":
		out.Spec = SpecText
	case s == "MIME":
		out.Spec = SpecMIME
	case strings.HasPrefix(s, "HEADER.FIELDS.NOT ("):
		out.Spec = SpecHeaderFieldsNot
		out.Fields = strings.Fields(strings.Trim(s[len("HEADER.FIELDS.NOT "):], "()"))
	case strings.HasPrefix(s, "HEADER.FIELDS ("):
		out.Spec = SpecHeaderFields
		out.Fields = strings.Fields(strings.Trim(s[len("HEADER.FIELDS "):], "()"))
	default:
		t.Fatalf("bad section %q", s)
	}
	return out
}

// want is one expectation on a section: its content, and for part
// sections optionally the part's type.
type want struct {
	section string
	typ     string // "type/subtype", or "" not to check
	content string // expected bytes; "!": the section must not exist; "*": not checked
}

var cases = []struct {
	name  string
	raw   string
	wants []want
	check func(t *testing.T, p *Parsed)
}{
	{
		name: "simple",
		raw: crlf(`Received: from mx.example.com by mx.example.org; Mon, 2 Jan 2006 15:04:06 -0700
From: "Alice Example" <Alice@Example.COM>
To: bob@example.org,
 "Carol" <carol@example.net>
Subject: Hello
Date: Mon, 2 Jan 2006 15:04:05 -0700
Message-ID: <abc@example.com>

Hello world
Second line
`),
		wants: []want{
			{"", "", ""}, // BODY[]: the whole message
			{"TEXT", "", crlf("Hello world\nSecond line\n")},
			{"1", "text/plain", crlf("Hello world\nSecond line\n")},
			{"2", "", "!"},
			{"1.1", "", "!"},
			{"1.HEADER", "", "!"},
			{"MIME", "", "!"},
			{"HEADER.FIELDS (SUBJECT from)", "", crlf("From: \"Alice Example\" <Alice@Example.COM>\nSubject: Hello\n\n")},
			{"HEADER.FIELDS (To)", "", crlf("To: bob@example.org,\n \"Carol\" <carol@example.net>\n\n")},
			{"HEADER.FIELDS (X-None)", "", crlf("\n")},
			{"HEADER.FIELDS.NOT (Received To From Date Message-ID)", "", crlf("Subject: Hello\n\n")},
		},
		check: func(t *testing.T, p *Parsed) {
			m := p.Meta()
			eq(t, "From", m.From, "alice@example.com")
			eq(t, "To", strings.Join(m.To, " "), "bob@example.org carol@example.net")
			eq(t, "Subject", m.Subject, "Hello")
			eq(t, "MessageID", m.MessageID, "abc@example.com")
			eq(t, "Preview", m.Preview, "Hello world Second line")
			if want := time.Date(2006, 1, 2, 22, 4, 5, 0, time.UTC); !m.Date.Equal(want) {
				t.Errorf("Date = %v, want %v", m.Date, want)
			}
			if m.HasAttachment {
				t.Error("HasAttachment set")
			}
			eq(t, "Lines", p.Root.Lines, int64(2))
			eq(t, "params", p.Root.Params, []Param{{"charset", "us-ascii"}})
			env := p.Envelope()
			eq(t, "env.From", env.From, []Address{{Name: "Alice Example", Mailbox: "Alice", Host: "Example.COM"}})
			eq(t, "env.To", env.To, []Address{{Mailbox: "bob", Host: "example.org"}, {Name: "Carol", Mailbox: "carol", Host: "example.net"}})
			eq(t, "env.Date", env.Date, "Mon, 2 Jan 2006 15:04:05 -0700")
			eq(t, "env.MessageID", env.MessageID, "<abc@example.com>")
			eq(t, "header index", len(p.Header), 6)
			eq(t, "index[2]", p.Header[2].Name, "To")
		},
	},
	{
		name: "multipart/alternative",
		raw: crlf(`From: a@example.com
Subject: Alt
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="XYZ"

This is a preamble.
--XYZ
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Caf=C3=A9 au lait=
 is good.=20
--XYZ
Content-Type: text/html; charset=utf-8

<html><head><style>p{}</style></head><body><p>Caf&eacute;</p></body></html>
--XYZ--
epilogue
`),
		wants: []want{
			{"1", "text/plain", crlf("Caf=C3=A9 au lait=\n is good.=20")},
			{"1.MIME", "", crlf("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n")},
			{"2", "text/html", "<html><head><style>p{}</style></head><body><p>Caf&eacute;</p></body></html>"},
			{"2.MIME", "", crlf("Content-Type: text/html; charset=utf-8\n\n")},
			{"3", "", "!"},
			{"TEXT", "", crlf("This is a preamble.\n--XYZ\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nCaf=C3=A9 au lait=\n is good.=20\n--XYZ\nContent-Type: text/html; charset=utf-8\n\n<html><head><style>p{}</style></head><body><p>Caf&eacute;</p></body></html>\n--XYZ--\nepilogue\n")},
		},
		check: func(t *testing.T, p *Parsed) {
			m := p.Meta()
			eq(t, "Preview", m.Preview, "Café au lait is good.")
			eq(t, "type", p.Root.Type+"/"+p.Root.Subtype, "multipart/alternative")
			eq(t, "boundary", p.Root.Params, []Param{{"boundary", "XYZ"}})
			bin, err := p.Binary(bytes.NewReader(p.raw), []int{1})
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "BINARY[1]", string(bin), "Café au lait is good. ")
			size, _ := p.BinarySize([]int{1})
			eq(t, "BINARY.SIZE[1]", size, int64(len(bin)))
			txt, _, _ := p.Root.Parts[1].Text(bytes.NewReader(p.raw), 0)
			eq(t, "html text", txt, "<html><head><style>p{}</style></head><body><p>Caf&eacute;</p></body></html>")
			if m.HasAttachment {
				t.Error("HasAttachment set")
			}
		},
	},
	{
		name: "mixed with attachments",
		raw: crlf(`From: a@example.com
Subject: Files
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: text/plain

See attached.
--outer
Content-Type: application/pdf; name="doc.pdf"
Content-Disposition: attachment; filename*=UTF-8''R%C3%A9sum%C3%A9.pdf
Content-Transfer-Encoding: base64
Content-Description: A file

SGVsbG8sIFBERiE=
--outer
Content-Type: image/png
Content-Disposition: inline;
 filename="=?utf-8?q?p=C3=AFc.png?="
Content-Transfer-Encoding: BASE64
Content-ID: <img1@x>
Content-Language: en, de
Content-Location: http://example.com/pic.png
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==

iVBORw0K
GgoAAAA=
--outer--
`),
		wants: []want{
			{"1", "text/plain", "See attached."},
			{"2", "application/pdf", "SGVsbG8sIFBERiE="},
			{"3", "image/png", crlf("iVBORw0K\nGgoAAAA=")},
			{"4", "", "!"},
			{"2.1", "", "!"},
		},
		check: func(t *testing.T, p *Parsed) {
			if !p.Meta().HasAttachment {
				t.Error("HasAttachment not set")
			}
			pdf, img := p.Root.Parts[1], p.Root.Parts[2]
			eq(t, "pdf filename", pdf.Filename(), "Résumé.pdf")
			eq(t, "pdf disposition", pdf.Disposition, "attachment")
			eq(t, "pdf description", pdf.Description, "A file")
			eq(t, "pdf decoded size", pdf.DecodedSize, int64(11))
			bin, err := p.Binary(bytes.NewReader(p.raw), []int{2})
			if err != nil || string(bin) != "Hello, PDF!" {
				t.Errorf("BINARY[2] = %q, %v", bin, err)
			}
			eq(t, "img filename", img.Filename(), "pïc.png")
			eq(t, "img encoding", img.Encoding, "base64")
			eq(t, "img id", img.ID, "<img1@x>")
			eq(t, "img language", img.Language, []string{"en", "de"})
			eq(t, "img location", img.Location, "http://example.com/pic.png")
			eq(t, "img md5", img.MD5, "Q2hlY2sgSW50ZWdyaXR5IQ==")
			bin, _ = img.Decoded(bytes.NewReader(p.raw))
			eq(t, "img bytes", string(bin), "\x89PNG\r\n\x1a\n\x00\x00\x00")
			eq(t, "img decoded size", img.DecodedSize, int64(len(bin)))
			eq(t, "Preview", p.Meta().Preview, "See attached.")
		},
	},
	{
		name: "nested message/rfc822",
		raw: crlf(`From: a@example.com
Subject: Fwd: Inner subject
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain

Forwarding.
--b1
Content-Type: message/rfc822

From: "Inner" <inner@example.com>
Subject: Inner subject
Content-Type: multipart/alternative; boundary="b2"

--b2
Content-Type: text/plain

inner text
--b2
Content-Type: text/html

<p>inner</p>
--b2--
--b1
Content-Type: message/rfc822

Subject: single

just text
--b1--
`),
		wants: []want{
			{"1", "text/plain", "Forwarding."},
			{"2", "message/rfc822", crlf("From: \"Inner\" <inner@example.com>\nSubject: Inner subject\nContent-Type: multipart/alternative; boundary=\"b2\"\n\n--b2\nContent-Type: text/plain\n\ninner text\n--b2\nContent-Type: text/html\n\n<p>inner</p>\n--b2--")},
			{"2.MIME", "", crlf("Content-Type: message/rfc822\n\n")},
			{"2.HEADER", "", crlf("From: \"Inner\" <inner@example.com>\nSubject: Inner subject\nContent-Type: multipart/alternative; boundary=\"b2\"\n\n")},
			{"2.HEADER.FIELDS (Subject)", "", crlf("Subject: Inner subject\n\n")},
			{"2.HEADER.FIELDS.NOT (Subject)", "", crlf("From: \"Inner\" <inner@example.com>\nContent-Type: multipart/alternative; boundary=\"b2\"\n\n")},
			{"2.TEXT", "", crlf("--b2\nContent-Type: text/plain\n\ninner text\n--b2\nContent-Type: text/html\n\n<p>inner</p>\n--b2--")},
			{"2.1", "text/plain", "inner text"},
			{"2.1.MIME", "", crlf("Content-Type: text/plain\n\n")},
			{"2.2", "text/html", "<p>inner</p>"},
			{"2.3", "", "!"},
			{"2.1.1", "", "!"},
			{"3", "message/rfc822", crlf("Subject: single\n\njust text")},
			{"3.HEADER", "", crlf("Subject: single\n\n")},
			{"3.TEXT", "", "just text"},
			{"3.1", "text/plain", "just text"},
			{"3.1.MIME", "", crlf("Subject: single\n\n")},
			{"3.2", "", "!"},
			{"1.HEADER", "", "!"},
			{"1.TEXT", "", "!"},
		},
		check: func(t *testing.T, p *Parsed) {
			emb := p.Root.Parts[1].Embedded
			eq(t, "inner subject", emb.Envelope.Subject, "Inner subject")
			eq(t, "inner from", emb.Envelope.From, []Address{{Name: "Inner", Mailbox: "inner", Host: "example.com"}})
			eq(t, "rfc822 lines", p.Root.Parts[1].Lines, int64(13))
			m := p.Meta()
			eq(t, "Preview", m.Preview, "Forwarding.")
			if !m.HasAttachment {
				t.Error("an attached message should count as an attachment")
			}
		},
	},
	{
		name: "bare LF",
		raw: `From: a@example.com
Subject: LF only
Content-Type: multipart/mixed; boundary=lf

--lf
Content-Type: text/plain

line one
line two
--lf
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

AAEC
--lf--
`,
		wants: []want{
			{"HEADER", "", "From: a@example.com\nSubject: LF only\nContent-Type: multipart/mixed; boundary=lf\n\n"},
			{"1", "text/plain", "line one\nline two"},
			{"1.MIME", "", "Content-Type: text/plain\n\n"},
			{"2", "application/octet-stream", "AAEC"},
			{"HEADER.FIELDS (subject)", "", "Subject: LF only\n\n"},
		},
		check: func(t *testing.T, p *Parsed) {
			eq(t, "lines", p.Root.Parts[0].Lines, int64(2))
			eq(t, "Preview", p.Meta().Preview, "line one line two")
		},
	},
	{
		name: "missing final boundary",
		raw: crlf(`Subject: cut
Content-Type: multipart/mixed; boundary=zz

--zz
Content-Type: text/plain

one
--zz
Content-Type: text/plain

two
`),
		wants: []want{
			{"1", "text/plain", "one"},
			{"2", "text/plain", crlf("two\n")},
		},
	},
	{
		name: "8-bit headers",
		raw:  crlf("From: J\xc3\xb6rg <j@example.de>\nSubject: Gr\xc3\xbc\xc3\x9fe\nTo: x@example.com\n\nHallo\n"),
		check: func(t *testing.T, p *Parsed) {
			m := p.Meta()
			eq(t, "Subject", m.Subject, "Grüße")
			eq(t, "from name", p.Envelope().From[0].Name, "J\xc3\xb6rg")
		},
	},
	{
		name: "8-bit header in latin-1",
		raw:  crlf("Subject: Gr\xfc\xdfe\n\nHallo\n"),
		check: func(t *testing.T, p *Parsed) {
			eq(t, "Subject", p.Meta().Subject, "Grüße")
		},
	},
	{
		name: "8-bit header in the body charset",
		raw:  crlf("Subject: \xf0\xd2\xc9\xd7\xc5\xd4\nContent-Type: text/plain; charset=koi8-r\n\n\xf0\xd2\xc9\xd7\xc5\xd4, \xcd\xc9\xd2\n"),
		check: func(t *testing.T, p *Parsed) {
			m := p.Meta()
			eq(t, "Subject", m.Subject, "Привет")
			eq(t, "Preview", m.Preview, "Привет, мир")
		},
	},
	{
		name: "encoded words",
		raw: crlf(`From: =?utf-8?q?J=C3=B6rg?= <j@example.de>
To: =?ISO-8859-1?Q?Patrik_F=E4ltstr=F6m?= <PF@example.com>
Subject: =?ISO-8859-1?Q?Andr=E9?= Pirard,
 =?utf-8?B?5pel5pys6Kqe?= =?iso-2022-jp?B?GyRCRnxLXDhsGyhC?=
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Gr=FC=DFe aus K=F6ln
`),
		check: func(t *testing.T, p *Parsed) {
			m := p.Meta()
			eq(t, "Subject", m.Subject, "André Pirard, 日本語日本語")
			env := p.Envelope()
			eq(t, "raw subject", env.Subject, "=?ISO-8859-1?Q?Andr=E9?= Pirard, =?utf-8?B?5pel5pys6Kqe?= =?iso-2022-jp?B?GyRCRnxLXDhsGyhC?=")
			eq(t, "from name", env.From[0].Name, "=?utf-8?q?J=C3=B6rg?=")
			eq(t, "decoded from name", DecodeText(env.From[0].Name), "Jörg")
			eq(t, "decoded to name", DecodeText(env.To[0].Name), "Patrik Fältström")
			eq(t, "To", m.To, []string{"pf@example.com"})
			eq(t, "Preview", m.Preview, "Grüße aus Köln")
			txt, _, err := p.Root.Text(bytes.NewReader(p.raw), 0)
			if err != nil || txt != "Grüße aus Köln\r\n" {
				t.Errorf("Text = %q, %v", txt, err)
			}
		},
	},
	{
		name: "groups and routes",
		raw: crlf(`From: Boss <boss@example.com>
To: undisclosed-recipients:;
Cc: Friends: a@x.org, "B, Jr." <b@y.org>;, c@z.org (Carl)
Bcc: <@relay.example,@r2.example:user@host.example>, root
Reply-To: "Weird \"Q\" Name" <"john doe"@example.com>

x
`),
		check: func(t *testing.T, p *Parsed) {
			env := p.Envelope()
			eq(t, "To", env.To, []Address{{Mailbox: "undisclosed-recipients", Group: true}, {Group: true}})
			eq(t, "Cc", env.Cc, []Address{
				{Mailbox: "Friends", Group: true},
				{Mailbox: "a", Host: "x.org"},
				{Name: "B, Jr.", Mailbox: "b", Host: "y.org"},
				{Group: true},
				{Name: "Carl", Mailbox: "c", Host: "z.org"},
			})
			eq(t, "Bcc", env.Bcc, []Address{{ADL: "@relay.example,@r2.example", Mailbox: "user", Host: "host.example"}, {Mailbox: "root"}})
			eq(t, "Reply-To", env.ReplyTo, []Address{{Name: `Weird "Q" Name`, Mailbox: "john doe", Host: "example.com"}})
			if !env.To[0].IsGroupStart() || !env.To[1].IsGroupEnd() || env.Cc[1].IsGroupStart() {
				t.Error("group markers misread")
			}
			eq(t, "Sender defaults to From", env.SenderOrFrom(), env.From)
			eq(t, "Meta.To", p.Meta().To, []string(nil))
		},
	},
	{
		name: "multipart without boundary parameter",
		raw:  crlf("Subject: x\nContent-Type: multipart/mixed\n\n--foo\nbody\n"),
		wants: []want{
			{"1", "text/plain", crlf("--foo\nbody\n")},
			{"TEXT", "", crlf("--foo\nbody\n")},
		},
	},
	{
		name: "boundary never appears",
		raw:  crlf("Subject: x\nContent-Type: multipart/mixed; boundary=nope\n\n--other\nsome text\n"),
		wants: []want{
			{"1", "text/plain", crlf("--other\nsome text\n")},
		},
		check: func(t *testing.T, p *Parsed) {
			eq(t, "Preview", p.Meta().Preview, "--other some text")
		},
	},
	{
		name: "no header",
		raw:  crlf("Just some text\nno header: at all\n"),
		wants: []want{
			{"HEADER", "", ""},
			{"TEXT", "text/plain", crlf("Just some text\nno header: at all\n")},
			{"1", "text/plain", crlf("Just some text\nno header: at all\n")},
		},
	},
	{
		name: "header only",
		raw:  "Subject: no body",
		wants: []want{
			{"HEADER", "", "Subject: no body"},
			{"TEXT", "", ""},
			{"HEADER.FIELDS (Subject)", "", "Subject: no body\r\n"},
		},
	},
	{
		name: "garbage line in header",
		raw:  crlf("Subject: a\nthis is not a field\nFrom: b@example.com\n\nbody\n"),
		wants: []want{
			{"HEADER", "", crlf("Subject: a\nthis is not a field\nFrom: b@example.com\n\n")},
			{"HEADER.FIELDS.NOT (Subject)", "", crlf("From: b@example.com\n\n")},
			{"TEXT", "", crlf("body\n")},
		},
		check: func(t *testing.T, p *Parsed) {
			eq(t, "From", p.Meta().From, "b@example.com")
		},
	},
	{
		name: "boundary that prefixes an inner boundary",
		raw: crlf(`Content-Type: multipart/mixed; boundary="abc"

--abc
Content-Type: multipart/alternative; boundary="abc_1"

--abc_1
Content-Type: text/plain

plain
--abc_1
Content-Type: text/html

<b>html</b>
--abc_1--
--abc
Content-Type: text/plain

after
--abc--
`),
		wants: []want{
			{"1", "multipart/alternative", "*"}, // see TestPrefixBoundaryContent
			{"1.1", "text/plain", "plain"},
			{"1.2", "text/html", "<b>html</b>"},
			{"2", "text/plain", "after"},
		},
	},
	{
		name: "inner multipart without close delimiter",
		raw: crlf(`Content-Type: multipart/mixed; boundary="out"

--out
Content-Type: multipart/alternative; boundary="in"

--in
Content-Type: text/plain

plain
--out
Content-Type: text/plain

second
--out--
`),
		wants: []want{
			{"1.1", "text/plain", "plain"},
			{"2", "text/plain", "second"},
			{"3", "", "!"},
		},
	},
	{
		name: "multipart/digest",
		raw: crlf(`Content-Type: multipart/digest; boundary=d

--d

Subject: one

first
--d
Content-Type: text/plain

not a message
--d--
`),
		wants: []want{
			{"1", "message/rfc822", crlf("Subject: one\n\nfirst")},
			{"1.HEADER", "", crlf("Subject: one\n\n")},
			{"1.1", "text/plain", "first"},
			{"2", "text/plain", "not a message"},
		},
	},
	{
		name: "top-level message/rfc822",
		raw:  crlf("Subject: outer\nContent-Type: message/rfc822\n\nSubject: inner\n\ninner body\n"),
		wants: []want{
			{"1", "message/rfc822", crlf("Subject: inner\n\ninner body\n")},
			{"1.HEADER", "", crlf("Subject: inner\n\n")},
			{"1.1", "text/plain", crlf("inner body\n")},
			{"1.TEXT", "", crlf("inner body\n")},
		},
	},
	{
		name: "encoded message/rfc822 is not opened",
		raw:  crlf("Content-Type: multipart/mixed; boundary=q\n\n--q\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeA0KDQp5DQo=\n--q--\n"),
		wants: []want{
			{"1", "message/rfc822", "U3ViamVjdDogeA0KDQp5DQo="},
			{"1.HEADER", "", "!"},
			{"1.1", "", "!"},
		},
		check: func(t *testing.T, p *Parsed) {
			bin, err := p.Binary(bytes.NewReader(p.raw), []int{1})
			if err != nil || string(bin) != "Subject: x\r\n\r\ny\r\n" {
				t.Errorf("BINARY[1] = %q, %v", bin, err)
			}
		},
	},
	{
		name: "unknown transfer encoding",
		raw:  crlf("Content-Type: application/x-foo\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 f\n"),
		check: func(t *testing.T, p *Parsed) {
			if _, err := p.Binary(bytes.NewReader(p.raw), []int{1}); err != ErrUnknownCTE {
				t.Errorf("BINARY = %v, want ErrUnknownCTE", err)
			}
			if _, err := p.BinarySize([]int{1}); err != ErrUnknownCTE {
				t.Errorf("BINARY.SIZE = %v, want ErrUnknownCTE", err)
			}
		},
	},
	{
		name: "html only preview",
		raw: crlf(`Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

` + b64wrap("<!DOCTYPE html><html><head><title>T</title><style>.a{color:red}</style></head><body><!-- hidden --><div>Hello&nbsp;&amp; welcome</div><script>var x = '<p>no</p>';</script><p>to   the\nshow</p>&zwnj;&zwnj;</body></html>")),
		check: func(t *testing.T, p *Parsed) {
			eq(t, "Preview", p.Meta().Preview, "Hello & welcome to the show")
		},
	},
}

func b64wrap(s string) string {
	var out strings.Builder
	enc := make([]byte, 0, len(s)*2)
	enc = appendBase64(enc, []byte(s))
	for len(enc) > 76 {
		out.Write(enc[:76])
		out.WriteString("\n")
		enc = enc[76:]
	}
	out.Write(enc)
	out.WriteString("\n")
	return out.String()
}

func appendBase64(dst, src []byte) []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for len(src) >= 3 {
		v := uint(src[0])<<16 | uint(src[1])<<8 | uint(src[2])
		dst = append(dst, alphabet[v>>18&63], alphabet[v>>12&63], alphabet[v>>6&63], alphabet[v&63])
		src = src[3:]
	}
	switch len(src) {
	case 1:
		v := uint(src[0]) << 16
		dst = append(dst, alphabet[v>>18&63], alphabet[v>>12&63], '=', '=')
	case 2:
		v := uint(src[0])<<16 | uint(src[1])<<8
		dst = append(dst, alphabet[v>>18&63], alphabet[v>>12&63], alphabet[v>>6&63], '=')
	}
	return dst
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte(tc.raw)
			p := Parse(raw)
			checkInvariants(t, p, raw)
			for _, w := range tc.wants {
				s := sec(t, w.section)
				got, err := p.Section(raw, s)
				if w.content == "!" {
					if err != ErrNoSection {
						t.Errorf("BODY[%s] = %q, %v; want ErrNoSection", w.section, got, err)
					}
					continue
				}
				if err != nil {
					t.Errorf("BODY[%s]: %v", w.section, err)
					continue
				}
				want := w.content
				if w.section == "" {
					want = tc.raw
				}
				if want != "*" && string(got) != want {
					t.Errorf("BODY[%s] = %q, want %q", w.section, got, want)
				}
				// The same through a ReaderAt, reading only what is needed.
				got2, err := p.ReadSection(bytes.NewReader(raw), s)
				if err != nil || !bytes.Equal(got, got2) {
					t.Errorf("ReadSection(%s) = %q, %v; Section gave %q", w.section, got2, err, got)
				}
				if w.typ != "" {
					pt, ok := p.Part(s.Path)
					if !ok {
						t.Errorf("Part(%v) not found", s.Path)
					} else if typ := pt.Type + "/" + pt.Subtype; typ != w.typ {
						t.Errorf("type of %s = %s, want %s", w.section, typ, w.typ)
					}
				}
			}
			if tc.check != nil {
				tc.check(t, p)
			}
			roundTrip(t, p)
		})
	}
}

// roundTrip checks that Decode gives back exactly the structure Parse found.
func roundTrip(t testing.TB, p *Parsed) {
	t.Helper()
	m := p.Meta()
	d, err := Decode(m.Structure)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !reflect.DeepEqual(d.Root, p.Root) {
		t.Fatalf("Decode(Meta().Structure).Root differs:\n got %s\nwant %s", dumpPart(d.Root), dumpPart(p.Root))
	}
	if !reflect.DeepEqual(d.Header, p.Header) || d.HeaderTruncated != p.HeaderTruncated {
		t.Fatalf("Decode header index = %v, %v; want %v, %v", d.Header, d.HeaderTruncated, p.Header, p.HeaderTruncated)
	}
	// Everything but the preview and References comes back in Meta.
	dm := d.Meta()
	m.Preview, m.References = "", nil
	if !reflect.DeepEqual(dm, m) {
		t.Fatalf("Meta of the decoded structure = %+v, want %+v", dm, m)
	}
}

func dumpPart(pt *Part) string {
	var b strings.Builder
	var f func(pt *Part, ind string)
	f = func(pt *Part, ind string) {
		cp := *pt
		cp.Parts, cp.Embedded = nil, nil
		fmt.Fprintf(&b, "%s%+v\n", ind, cp)
		if cp.Envelope != nil {
			fmt.Fprintf(&b, "%s  envelope %+v\n", ind, *cp.Envelope)
		}
		for _, c := range pt.Parts {
			f(c, ind+"  ")
		}
		if pt.Embedded != nil {
			f(pt.Embedded, ind+"  E ")
		}
	}
	f(pt, "")
	return b.String()
}

func caseRaw(t testing.TB, name string) []byte {
	for _, tc := range cases {
		if tc.name == name {
			return []byte(tc.raw)
		}
	}
	t.Fatalf("no case %q", name)
	return nil
}

// checkInvariants checks what must hold for any input: offsets inside raw
// and nested, the root covering the whole message, the part tree within
// bounds, sizes that agree with decoding.
func checkInvariants(t testing.TB, p *Parsed, raw []byte) {
	t.Helper()
	n := int64(len(raw))
	if p.Root.HeaderStart != 0 || p.Root.BodyEnd != n {
		t.Fatalf("root covers %d-%d of %d bytes", p.Root.HeaderStart, p.Root.BodyEnd, n)
	}
	count := 0
	var visit func(pt *Part, lo, hi int64, depth int)
	visit = func(pt *Part, lo, hi int64, depth int) {
		count++
		if depth > MaxDepth+1 {
			t.Fatalf("part at depth %d", depth)
		}
		if !(lo <= pt.HeaderStart && pt.HeaderStart <= pt.HeaderEnd && pt.HeaderEnd <= pt.BodyStart &&
			pt.BodyStart <= pt.BodyEnd && pt.BodyEnd <= hi) {
			t.Fatalf("part offsets %d %d %d %d outside %d-%d", pt.HeaderStart, pt.HeaderEnd, pt.BodyStart, pt.BodyEnd, lo, hi)
		}
		if pt.Type == "" || pt.Subtype == "" {
			t.Fatalf("part without a type at %d", pt.HeaderStart)
		}
		if pt.Type == "multipart" && len(pt.Parts) == 0 {
			t.Fatalf("multipart without parts at %d", pt.HeaderStart)
		}
		if pt.Embedded != nil && (pt.Embedded.HeaderStart != pt.BodyStart || pt.Embedded.BodyEnd != pt.BodyEnd) {
			t.Fatalf("embedded message does not fill its part")
		}
		if pt.isLeaf() && pt.DecodedSize >= 0 {
			dec, err := pt.Decoded(bytes.NewReader(raw))
			if err != nil || int64(len(dec)) != pt.DecodedSize {
				t.Fatalf("DecodedSize %d, decoded %d bytes (%v), encoding %q", pt.DecodedSize, len(dec), err, pt.Encoding)
			}
		}
		prev := pt.BodyStart
		for _, c := range pt.Parts {
			visit(c, prev, pt.BodyEnd, depth+1)
			prev = c.BodyEnd
		}
		if pt.Embedded != nil {
			visit(pt.Embedded, pt.BodyStart, pt.BodyEnd, depth+1)
		}
	}
	visit(p.Root, 0, n, 0)
	if count > MaxParts {
		t.Fatalf("%d parts", count)
	}
	var prev int64
	for _, h := range p.Header {
		if h.Start < prev || h.End < h.Start || h.End > p.Root.HeaderEnd {
			t.Fatalf("header field %q at %d-%d", h.Name, h.Start, h.End)
		}
		prev = h.End
	}
}

// TestPrefixBoundaryContent checks the multipart whose boundary the outer
// boundary is a prefix of, by what it must start and end with.
func TestPrefixBoundaryContent(t *testing.T) {
	raw := caseRaw(t, "boundary that prefixes an inner boundary")
	p := Parse(raw)
	got, _ := p.Section(raw, sec(t, "1"))
	if !bytes.HasPrefix(got, []byte("--abc_1\r\n")) || !bytes.HasSuffix(got, []byte("--abc_1--")) {
		t.Errorf("BODY[1] = %q", got)
	}
}

func TestHeaderFieldsWithoutIndex(t *testing.T) {
	// The index and the scanner must agree.
	for _, tc := range cases {
		raw := []byte(tc.raw)
		p := Parse(raw)
		for _, fields := range [][]string{{"subject", "FROM"}, {"Content-Type"}, {"x-none"}} {
			for _, not := range []bool{false, true} {
				spec := SpecHeaderFields
				if not {
					spec = SpecHeaderFieldsNot
				}
				a, err := p.Section(raw, Section{Spec: spec, Fields: fields})
				if err != nil {
					t.Fatal(err)
				}
				b, _ := p.Root.HeaderFields(bytes.NewReader(raw), fields, not)
				if !bytes.Equal(a, b) {
					t.Errorf("%s: indexed %q, scanned %q", tc.name, a, b)
				}
			}
		}
	}
}

func TestLimits(t *testing.T) {
	t.Run("header fields", func(t *testing.T) {
		var b strings.Builder
		for i := 0; i < 2*MaxHeaderFields; i++ {
			b.WriteString("X-Field: " + strconv.Itoa(i) + "\r\n")
		}
		b.WriteString("Subject: late\r\n\r\nbody\r\n")
		raw := []byte(b.String())
		p := Parse(raw)
		checkInvariants(t, p, raw)
		if len(p.Header) != MaxHeaderFields || !p.HeaderTruncated {
			t.Errorf("index has %d fields, truncated %v", len(p.Header), p.HeaderTruncated)
		}
		text, _ := p.Section(raw, sec(t, "TEXT"))
		eq(t, "TEXT", string(text), "body\r\n")
		got, _ := p.Section(raw, sec(t, "HEADER.FIELDS (Subject)"))
		eq(t, "late field", string(got), "Subject: late\r\n\r\n")
		roundTrip(t, p)
	})
	t.Run("depth", func(t *testing.T) {
		var b strings.Builder
		const levels = MaxDepth + 20
		for i := 0; i < levels; i++ {
			// (RFC 2046 section 5.1.1: no boundary may be a prefix of another.)
			bd := "b" + strconv.Itoa(i) + "x"
			b.WriteString("Content-Type: multipart/mixed; boundary=" + bd + "\r\n\r\n--" + bd + "\r\n")
		}
		b.WriteString("Content-Type: text/plain\r\n\r\ndeep text\r\n")
		raw := []byte(b.String())
		p := Parse(raw)
		checkInvariants(t, p, raw)
		// The deepest part holds the rest of the message as text/plain.
		pt := p.Root
		depth := 0
		for len(pt.Parts) > 0 {
			pt = pt.Parts[0]
			depth++
		}
		eq(t, "depth", depth, MaxDepth)
		eq(t, "deepest type", pt.Type+"/"+pt.Subtype, "text/plain")
		if !bytes.HasSuffix(raw[pt.BodyStart:pt.BodyEnd], []byte("deep text\r\n")) {
			t.Errorf("deepest body = %q", raw[pt.BodyStart:pt.BodyEnd])
		}
		roundTrip(t, p)
	})
	t.Run("nested messages", func(t *testing.T) {
		var b strings.Builder
		for i := 0; i < MaxDepth+20; i++ {
			b.WriteString("Subject: level " + strconv.Itoa(i) + "\r\nContent-Type: message/rfc822\r\n\r\n")
		}
		b.WriteString("Subject: bottom\r\n\r\nbottom text\r\n")
		raw := []byte(b.String())
		p := Parse(raw)
		checkInvariants(t, p, raw)
		roundTrip(t, p)
	})
	t.Run("parts", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("Content-Type: multipart/mixed; boundary=p\r\n\r\n")
		for i := 0; i < MaxParts+500; i++ {
			b.WriteString("--p\r\n\r\n" + strconv.Itoa(i) + "\r\n")
		}
		b.WriteString("--p--\r\n")
		raw := []byte(b.String())
		p := Parse(raw)
		checkInvariants(t, p, raw)
		eq(t, "parts", len(p.Root.Parts), MaxParts-1)
		last := p.Root.Parts[len(p.Root.Parts)-1]
		eq(t, "last part", string(raw[last.BodyStart:last.BodyEnd]), strconv.Itoa(MaxParts-2))
		// The rest is still in the message body.
		text, _ := p.Section(raw, sec(t, "TEXT"))
		if !bytes.HasSuffix(text, []byte("--p\r\n\r\n"+strconv.Itoa(MaxParts+499)+"\r\n--p--\r\n")) {
			t.Errorf("TEXT lost the parts beyond the limit")
		}
		roundTrip(t, p)
	})
	t.Run("long header line", func(t *testing.T) {
		long := strings.Repeat("a", 4<<20)
		raw := []byte("Subject: " + long + "\r\nTo: " + long + "@example.com\r\n\r\nbody\r\n")
		p := Parse(raw)
		checkInvariants(t, p, raw)
		m := p.Meta()
		if len(m.Subject) > maxValue {
			t.Errorf("Subject is %d bytes", len(m.Subject))
		}
		if len(m.Structure) > 3*maxValue {
			t.Errorf("structure is %d bytes", len(m.Structure))
		}
		hdr, _ := p.Section(raw, sec(t, "HEADER.FIELDS (Subject)"))
		eq(t, "whole field served", len(hdr), len("Subject: ")+len(long)+4)
		roundTrip(t, p)
	})
	t.Run("many addresses", func(t *testing.T) {
		raw := []byte("To: " + strings.Repeat("a@b.c, ", 5000) + "\r\n\r\n")
		p := Parse(raw)
		eq(t, "addresses kept", len(p.Envelope().To), maxAddresses)
		roundTrip(t, p)
	})
}

func TestReferences(t *testing.T) {
	raw := crlf(`Message-ID: <m3@example.com>
In-Reply-To: <m2@example.com> (some comment)
References: <m1@example.com>
   <m2@example.com>

x
`)
	m := Parse([]byte(raw)).Meta()
	eq(t, "MessageID", m.MessageID, "m3@example.com")
	eq(t, "InReplyTo", m.InReplyTo, []string{"m2@example.com"})
	eq(t, "References", m.References, []string{"m1@example.com", "m2@example.com"})

	var refs []string
	var b strings.Builder
	b.WriteString("References:")
	for i := 0; i < 1000; i++ {
		id := "r" + strconv.Itoa(i) + "@x"
		refs = append(refs, id)
		b.WriteString(" <" + id + ">\r\n")
	}
	b.WriteString("\r\n")
	m = Parse([]byte(b.String())).Meta()
	want := append([]string{refs[0]}, refs[len(refs)-(maxRefs-1):]...)
	eq(t, "capped References", m.References, want)
}

func TestDates(t *testing.T) {
	for in, want := range map[string]string{
		"Mon, 2 Jan 2006 15:04:05 -0700":     "2006-01-02T15:04:05-07:00",
		"2 Jan 2006 15:04:05 +0100 (CET)":    "2006-01-02T15:04:05+01:00",
		"Mon,  2 Jan 2006 15:04:05 GMT":      "2006-01-02T15:04:05Z",
		"Monday, 02 Jan 2006 15:04:05 -0700": "2006-01-02T15:04:05-07:00",
		"Mon Jan  2 15:04:05 2006":           "2006-01-02T15:04:05Z",
		"2006-01-02T15:04:05Z":               "2006-01-02T15:04:05Z",
		"Tue, 14 Nov 2023 10:00 +0000 (UTC)": "2023-11-14T10:00:00Z",
		"garbage":                            "0001-01-01T00:00:00Z",
	} {
		if s := parseDate(in).Format(time.RFC3339); s != want {
			t.Errorf("parseDate(%q) = %s, want %s", in, s, want)
		}
	}
}

func TestDecodeRejectsCorruption(t *testing.T) {
	p := Parse(caseRaw(t, "nested message/rfc822"))
	s := p.Meta().Structure
	if _, err := Decode(nil); err == nil {
		t.Error("Decode(nil) succeeded")
	}
	if _, err := Decode(append([]byte{99}, s[1:]...)); err == nil {
		t.Error("Decode accepted an unknown version")
	}
	for i := 1; i < len(s); i++ {
		if _, err := Decode(s[:i]); err == nil {
			t.Errorf("Decode accepted a structure cut at %d of %d", i, len(s))
		}
	}
	if _, err := Decode(append(s[:len(s):len(s)], 0)); err == nil {
		t.Error("Decode accepted trailing bytes")
	}
}

func TestStructureSize(t *testing.T) {
	raw := bench10KB()
	s := Parse(raw).Meta().Structure
	t.Logf("10 KB message: structure %d bytes", len(s))
	if len(s) > 600 {
		t.Errorf("structure of the 10 KB message is %d bytes", len(s))
	}
}

// TestParseDateAsNetMail checks that ParseDate reads what net/mail's
// ParseDate reads, to the same instant, and refuses what it refuses.
func TestParseDateAsNetMail(t *testing.T) {
	for _, s := range []string{
		"Thu, 03 Dec 2026 10:00:00 +0000",
		"Thu, 3 Dec 2026 10:00:00 -0330",
		"3 Dec 2026 10:00 +0545",
		"Thu, 03 Dec 2026 10:00:00 +0000 (UTC)",
		"Thu, 03 Dec 2026 10:00:00 GMT",
		"Thu, 03 Dec 2026 10:00:00",
		"Thu, 03 Dec 2026 25:00:00 +0000",
		"Thu, 32 Dec 2026 10:00:00 +0000",
		"Thu, 03 Foo 2026 10:00:00 +0000",
		"someday soon",
		"",
	} {
		got, gotErr := ParseDate(s)
		want, wantErr := mail.ParseDate(s)
		if (gotErr == nil) != (wantErr == nil) || !got.Equal(want) {
			t.Errorf("ParseDate(%q) = %v, %v; net/mail: %v, %v", s, got, gotErr, want, wantErr)
		}
	}
}
