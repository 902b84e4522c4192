package render

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"gannet/lib/message"
)

// fakeServer answers go-imap's imapclient on conn: a greeting, then every
// FETCH with "* 1 FETCH (data)", every other command with OK.
func fakeServer(conn net.Conn, data []byte) {
	defer conn.Close()
	bw := bufio.NewWriter(conn)
	br := bufio.NewReader(conn)
	bw.WriteString("* OK [CAPABILITY IMAP4rev1] fake\r\n")
	bw.Flush()
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		tag, cmd, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch verb, _, _ := strings.Cut(cmd, " "); strings.ToUpper(verb) {
		case "FETCH":
			bw.WriteString("* 1 FETCH (")
			bw.Write(data)
			bw.WriteString(")\r\n")
		case "LOGOUT":
			bw.WriteString("* BYE\r\n" + tag + " OK bye\r\n")
			bw.Flush()
			return
		}
		bw.WriteString(tag + " OK done\r\n")
		bw.Flush()
	}
}

// goIMAPFetch has imapclient read "ENVELOPE env BODYSTRUCTURE bs" (or BODY).
func goIMAPFetch(t *testing.T, env, bs string, ext bool) (*imapclient.FetchMessageBuffer, error) {
	t.Helper()
	cc, sc := net.Pipe()
	item := "BODY"
	if ext {
		item = "BODYSTRUCTURE"
	}
	go fakeServer(sc, []byte("ENVELOPE "+env+" "+item+" "+bs))
	c := imapclient.New(cc, nil)
	defer c.Close()
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		Envelope:      true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: ext},
	}).Collect()
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("%d messages", len(msgs))
	}
	return msgs[0], nil
}

// TestGoIMAPReadsOutput has go-imap/v2's client read what the renderer
// writes for every testdata message, and checks what it understood against
// the stored structure: types, sizes, lines, parts, parameters, addresses.
func TestGoIMAPReadsOutput(t *testing.T) {
	for _, file := range emls(t) {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		p := stored(t, raw)
		for _, utf8 := range []bool{false, true} {
			if !utf8 && strings.Contains(file, "message-global") {
				// go-imap follows RFC 9051 and reads message/global in the
				// message form, which the renderer only uses with UTF-8.
				continue
			}
			env, bs, body := items(p, utf8)
			for _, ext := range []bool{true, false} {
				name := fmt.Sprintf("%s/utf8=%v/ext=%v", filepath.Base(file), utf8, ext)
				out := body
				if ext {
					out = bs
				}
				m, err := goIMAPFetch(t, env, out, ext)
				if err != nil {
					t.Errorf("%s: go-imap cannot read it: %v\n%s", name, err, out)
					continue
				}
				if err := sameEnvelope(m.Envelope, p.Root.Envelope); err != nil {
					t.Errorf("%s: envelope: %v", name, err)
				}
				if err := sameBody(m.BodyStructure, p.Root, ext, utf8); err != nil {
					t.Errorf("%s: body: %v\n%s", name, err, out)
				}
			}
		}
	}
}

func sameEnvelope(got *imap.Envelope, want *message.Envelope) error {
	if got == nil {
		return fmt.Errorf("no envelope")
	}
	if want == nil {
		want = &message.Envelope{}
	}
	subject := strings.ReplaceAll(want.Subject, "\x00", "")
	if g, w := got.Subject, message.DecodeText(subject); g != w && g != subject {
		return fmt.Errorf("subject %q, want %q", g, w)
	}
	lists := []struct {
		name string
		got  []imap.Address
		want []message.Address
	}{
		{"from", got.From, want.From},
		{"sender", got.Sender, want.SenderOrFrom()},
		{"reply-to", got.ReplyTo, want.ReplyToOrFrom()},
		{"to", got.To, want.To},
		{"cc", got.Cc, want.Cc},
		{"bcc", got.Bcc, want.Bcc},
	}
	for _, l := range lists {
		if len(l.got) != len(l.want) {
			return fmt.Errorf("%s: %d addresses, want %d", l.name, len(l.got), len(l.want))
		}
		for i, a := range l.want {
			if g := l.got[i]; g.Mailbox != strings.ReplaceAll(a.Mailbox, "\x00", "") || g.Host != a.Host {
				return fmt.Errorf("%s[%d]: %+v, want %+v", l.name, i, g, a)
			}
		}
	}
	return nil
}

func sameBody(got imap.BodyStructure, pt *message.Part, ext, utf8 bool) error {
	if len(pt.Parts) > 0 {
		mp, ok := got.(*imap.BodyStructureMultiPart)
		if !ok {
			return fmt.Errorf("%T for a multipart", got)
		}
		if mp.Subtype != pt.Subtype || len(mp.Children) != len(pt.Parts) {
			return fmt.Errorf("multipart/%s with %d parts, want %s with %d", mp.Subtype, len(mp.Children), pt.Subtype, len(pt.Parts))
		}
		if ext != (mp.Extended != nil) {
			return fmt.Errorf("multipart extension data: %v, want %v", mp.Extended != nil, ext)
		}
		if ext {
			if err := sameParams(mp.Extended.Params, pt.Params, false, utf8); err != nil {
				return err
			}
		}
		for i, c := range pt.Parts {
			if err := sameBody(mp.Children[i], c, ext, utf8); err != nil {
				return fmt.Errorf("part %d: %w", i+1, err)
			}
		}
		return nil
	}
	sp, ok := got.(*imap.BodyStructureSinglePart)
	if !ok {
		return fmt.Errorf("%T for a single part", got)
	}
	enc := pt.Encoding
	if enc == "" {
		enc = "7bit"
	}
	if sp.Type != pt.Type || sp.Subtype != pt.Subtype || int64(sp.Size) != pt.Size() || sp.Encoding != enc {
		return fmt.Errorf("%s/%s %d %s, want %s/%s %d %s", sp.Type, sp.Subtype, sp.Size, sp.Encoding, pt.Type, pt.Subtype, pt.Size(), enc)
	}
	if err := sameParams(sp.Params, pt.Params, pt.Type == "text", utf8); err != nil {
		return err
	}
	switch {
	case sp.MessageRFC822 != nil:
		if sp.MessageRFC822.NumLines != pt.Lines {
			return fmt.Errorf("message lines %d, want %d", sp.MessageRFC822.NumLines, pt.Lines)
		}
		if pt.Embedded == nil {
			return nil
		}
		if err := sameEnvelope(sp.MessageRFC822.Envelope, pt.Embedded.Envelope); err != nil {
			return err
		}
		return sameBody(sp.MessageRFC822.BodyStructure, pt.Embedded, ext, utf8)
	case pt.Type == "text":
		if sp.Text == nil || sp.Text.NumLines != pt.Lines {
			return fmt.Errorf("text lines %v, want %d", sp.Text, pt.Lines)
		}
	case pt.Type == "message" && pt.Subtype == "rfc822":
		return fmt.Errorf("message/rfc822 read as a basic part")
	}
	if ext {
		x := sp.Extended
		if x == nil {
			return fmt.Errorf("no extension data")
		}
		if x.Location != pt.Location || strings.Join(x.Language, ",") != strings.Join(pt.Language, ",") {
			return fmt.Errorf("language %v location %q, want %v %q", x.Language, x.Location, pt.Language, pt.Location)
		}
		if (x.Disposition != nil) != (pt.Disposition != "") {
			return fmt.Errorf("disposition %v, want %q", x.Disposition, pt.Disposition)
		}
	} else if sp.Extended != nil {
		return fmt.Errorf("extension data in BODY")
	}
	return nil
}

// sameParams checks the parameters go-imap read (names lower-cased, RFC
// 2047 decoded) against the decoded stored ones.
func sameParams(got map[string]string, ps []message.Param, text, utf8 bool) error {
	pt := &message.Part{Params: ps}
	for _, p := range ps {
		base, _ := splitName(p.Name)
		if !hasStart(ps, base) {
			continue // kept as written
		}
		want := pt.Param(base)
		g, ok := got[base]
		if !ok && !utf8 && !isASCII(want) {
			g, ok = got[base+"*"]
			want = "utf-8''" + percentEncode(want)
		}
		if !ok {
			return fmt.Errorf("parameter %q missing from %v", base, got)
		}
		if g != strings.ReplaceAll(want, "\x00", "") && g != message.DecodeText(want) {
			return fmt.Errorf("parameter %q = %q, want %q", base, g, want)
		}
	}
	if text {
		_, ok := got["charset"]
		_, ok2 := got["charset*"]
		if !ok && !ok2 {
			return fmt.Errorf("text part without charset: %v", got)
		}
	}
	return nil
}

// TestGoIMAPLiterals checks that go-imap reads strings sent as literals:
// an 8-bit display name without UTF-8.
func TestGoIMAPLiterals(t *testing.T) {
	raw := []byte("Subject: two\r\n lines\r\nFrom: \"Caf\xc3\xa9\" <a@b>\r\n\r\nx\r\n")
	p := stored(t, raw)
	env, bs, _ := items(p, false)
	if !bytes.Contains([]byte(env), []byte("{5}\r\nCaf\xc3\xa9")) {
		t.Fatalf("8-bit name not sent as a literal: %q", env)
	}
	m, err := goIMAPFetch(t, env, bs, true)
	if err != nil {
		t.Fatal(err)
	}
	if m.Envelope.Subject != "two lines" || m.Envelope.From[0].Name != "Café" {
		t.Errorf("go-imap read %+v", m.Envelope)
	}
}
