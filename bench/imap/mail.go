package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// mail is one generated message.
type mail struct {
	raw  []byte
	date time.Time // its internal date
	seen bool
}

// The bounds of a generated message's size, and how often a message of
// the big mailbox is left unseen (one in unseenEvery).
const (
	minSize     = 2048
	maxSize     = 4096
	unseenEvery = 20
)

// baseDate is the internal date of the first generated message; the
// others follow a few minutes apart.
var baseDate = time.Date(2023, 1, 2, 8, 0, 0, 0, time.UTC)

var words = strings.Fields(`the of and to in is that for it as was with be by on not he this are or
his from at which but have an they you were her she there been one all we their has would when if
so no will more out up into do any your what some can only other new time could these two may first
then well do about over such our after most also made many before must through back years where much
invoice meeting report quarter garden delivery ticket release server mail account weekly update`)

var senders = []string{
	`"Alice Martin" <alice@shop.example>`, `Bob Stone <bob.stone@lists.example.org>`,
	`=?UTF-8?Q?Ren=C3=A9e_Dupont?= <renee@exemple.fr>`, `"GitHub" <notifications@github.example>`,
	`newsletter@news.example.com`, `"Carol (work)" <carol@corp.example>`,
}

// generateMailbox makes n messages of minSize to maxSize bytes, the same
// for a given n, every unseenEvery-th one unseen.
func generateMailbox(n int) []mail {
	rng := rand.New(rand.NewPCG(5, uint64(n)))
	out := make([]mail, n)
	for i := range out {
		size := minSize + rng.IntN(maxSize-minSize+1)
		date := baseDate.Add(time.Duration(i) * 3 * time.Minute)
		out[i] = mail{raw: generate(rng, i, size, date, ""), date: date, seen: i%unseenEvery != 0}
	}
	return out
}

// generate makes message i of about size bytes dated date: the headers a
// message picks up on its way (Received, DKIM-Signature,
// Authentication-Results) and a multipart/alternative body, text and
// HTML, different for every message. tag, when set, goes into the
// Message-ID and Subject to make the message unique.
func generate(rng *rand.Rand, i, size int, date time.Time, tag string) []byte {
	var b strings.Builder
	b.Grow(size + 256)
	from := senders[i%len(senders)]
	d := date.Format(time.RFC1123Z)
	fmt.Fprintf(&b, "Return-Path: <bounce-%d@shop.example>\r\n", i%97)
	fmt.Fprintf(&b, "Received: from mail.shop.example (mail.shop.example [192.0.2.10])\r\n\tby mx.example.test with ESMTPS id %08X\r\n\tfor <demo@example.test>; %s\r\n", i, d)
	b.WriteString("Authentication-Results: mx.example.test; spf=pass smtp.mailfrom=shop.example;\r\n\tdkim=pass header.d=shop.example; dmarc=pass header.from=shop.example\r\n")
	fmt.Fprintf(&b, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=shop.example; s=s1;\r\n\th=from:to:subject:date:message-id; bh=%x=;\r\n\tb=%x%x%x\r\n", rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64())
	fmt.Fprintf(&b, "From: %s\r\n", from)
	b.WriteString("To: Demo User <demo@example.test>\r\n")
	if i%4 == 0 {
		b.WriteString("Cc: team@example.test, \"Dave\" <dave@example.test>\r\n")
	}
	fmt.Fprintf(&b, "Subject: %s %s number %d%s\r\n", words[i%len(words)], words[(i/7)%len(words)], i, tag)
	fmt.Fprintf(&b, "Date: %s\r\n", d)
	fmt.Fprintf(&b, "Message-ID: <%d.%d%s@shop.example>\r\n", i, rng.Uint32(), tag)
	if i%3 != 0 && i > 0 {
		fmt.Fprintf(&b, "In-Reply-To: <thread%d@shop.example>\r\nReferences: <thread%d@shop.example>\r\n", i/3, i/3)
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"=_b\"\r\n\r\n")
	b.WriteString("--=_b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	half := b.Len() + (size-b.Len())/2
	line := 0
	for b.Len() < half {
		b.WriteString(words[rng.IntN(len(words))])
		line++
		if line%12 == 0 {
			b.WriteString("\r\n")
		} else {
			b.WriteByte(' ')
		}
	}
	b.WriteString("\r\n--=_b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>")
	for b.Len() < size-40 {
		b.WriteString(words[rng.IntN(len(words))])
		line++
		if line%12 == 0 {
			b.WriteString("</p>\r\n<p>")
		} else {
			b.WriteByte(' ')
		}
	}
	b.WriteString("</p></body></html>\r\n--=_b--\r\n")
	return []byte(b.String())
}

// appendSource makes the 10 KB messages the APPEND load sends: each call
// of next returns a message no other call returns (a unique Message-ID and
// Subject), so that no store can share their bytes.
type appendSource struct {
	rng    *rand.Rand
	client int
	n      int
	size   int
}

func newAppendSource(client, size int) *appendSource {
	return &appendSource{rng: rand.New(rand.NewPCG(7, uint64(client))), client: client, size: size}
}

func (s *appendSource) next() []byte {
	s.n++
	return generate(s.rng, s.n, s.size, baseDate, fmt.Sprintf(" c%d.%d", s.client, s.n))
}

// writeMaildir writes msgs into the cur/ directory of the maildir dir
// (creating it), named as Dovecot names what it saves (with the size, S=,
// and the size with CRLF line ends, W=; the messages have CRLF already)
// and with the message's date as modification time, which Dovecot takes
// as the internal date. The files are owned by uid:gid.
func writeMaildir(dir string, msgs []mail, uid, gid int) error {
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	for i, m := range msgs {
		flags := ""
		if m.seen {
			flags = "S"
		}
		name := fmt.Sprintf("%d.M%06dP1.bench,S=%d,W=%d:2,%s", m.date.Unix(), i, len(m.raw), len(m.raw), flags)
		path := filepath.Join(dir, "cur", name)
		if err := os.WriteFile(path, m.raw, 0o600); err != nil {
			return err
		}
		if err := os.Chtimes(path, m.date, m.date); err != nil {
			return err
		}
		if err := os.Chown(path, uid, gid); err != nil {
			return err
		}
	}
	return chownTree(dir, uid, gid)
}

// chownTree gives dir and everything under it to uid:gid.
func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chown(path, uid, gid)
		}
		return nil
	})
}
