package imap

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"gannet/lib/fts"
	"gannet/lib/message"
	"gannet/lib/store"
)

// ftsMessages are messages whose text only shows once decoded: base64,
// quoted-printable, HTML, Latin-1, RFC 2047 headers, attachments and an
// attached message. UIDs follow the order.
var ftsMessages = []string{
	// 1: plain ASCII.
	plainMsg("Hello there", "The quick brown fox jumps."),
	// 2: base64 UTF-8.
	"From: a@example.org\r\nSubject: greetings\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nR3LDvMOfZSBhdXMgTcO8bmNoZW4sIFN0cmHDn2Uu\r\n",
	// 3: quoted-printable UTF-8 with a soft line break.
	"From: a@example.org\r\nSubject: dessert\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 cr=C3=A8me br=C3=BBl=C3=A9e, soft br=\r\neak joined\r\n",
	// 4: HTML only.
	"From: a@example.org\r\nSubject: html\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n" +
		"<p>Hello <b>bold</b> world</p>\r\n",
	// 5: alternative plus a base64 attachment whose bytes spell a word.
	"From: a@example.org\r\nSubject: =?UTF-8?Q?Jalape=C3=B1o?= report\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
		"--outer\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n" +
		"--alt\r\nContent-Type: text/plain\r\n\r\nquarterly numbers\r\n" +
		"--alt\r\nContent-Type: text/html\r\n\r\n<i>quarterly</i> numbers\r\n--alt--\r\n" +
		"--outer\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"c2VjcmV0d29yZA==\r\n--outer--\r\n",
	// 6: Latin-1 quoted-printable.
	"From: a@example.org\r\nSubject: latin\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n\r\nA na=EFve fa=E7ade.\r\n",
	// 7: an attached message.
	"From: a@example.org\r\nSubject: forward\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
		"--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@example.org\r\nSubject: inner\r\n\r\nthe innerneedle fox\r\n--b--\r\n",
}

// utf8Lit is a LITERAL+ (RFC 7888) literal of s.
func utf8Lit(s string) string { return fmt.Sprintf("{%d+}\r\n%s", len(s), s) }

// ftsCases are SEARCH keys and the UIDs they find in ftsMessages.
var ftsCases = []struct{ keys, want string }{
	{"BODY fox", "1 7"},
	{"BODY FOX", "1 7"},
	{"BODY ox", "1 7"}, // too short for the index: scanned
	{"TEXT hello", "1 4"},
	{"BODY hello", "4"},
	{`TEXT "Subject: Hello"`, "1"},
	{"CHARSET UTF-8 BODY " + utf8Lit("münchen"), "2"},
	{"CHARSET UTF-8 BODY " + utf8Lit("straße."), "2"},
	{"CHARSET UTF-8 BODY " + utf8Lit("MÜNCHEN"), "2"},
	{"CHARSET UTF-8 BODY " + utf8Lit("crème brûlée"), "3"},
	{`BODY "soft break joined"`, "3"},
	{`BODY "bold</b>"`, "4"},
	{"BODY quarterly", "5"},
	{"CHARSET UTF-8 TEXT " + utf8Lit("jalapeño"), "5"},
	{"CHARSET UTF-8 BODY " + utf8Lit("jalapeño"), ""},
	{"BODY secretword", ""},
	{"CHARSET UTF-8 BODY " + utf8Lit("naïve façade"), "6"},
	{"BODY innerneedle", "7"},
	{"TEXT inner", "7"},
	{"OR BODY fox BODY quarterly", "1 5 7"},
	{"NOT BODY fox", "2 3 4 5 6"},
	{"BODY fox SUBJECT hello", "1"},
	{`BODY "a\"quote"`, ""},
	{"BODY nothing-like-this", ""},
}

func searchUIDs(t *testing.T, r *rawConn, keys string) string {
	t.Helper()
	got := r.cmd("s UID SEARCH " + keys)
	if !strings.HasPrefix(last(got), "s OK") || !strings.HasPrefix(got[0], "* SEARCH") {
		t.Fatalf("UID SEARCH %s: %q", keys, got)
	}
	return strings.TrimSpace(strings.TrimPrefix(got[0], "* SEARCH"))
}

// TestSearchTextIndex checks that BODY and TEXT find the same messages
// before the background indexer has run, after it, and with a mailbox
// half indexed; and that expunging drops a message's index rows.
func TestSearchTextIndex(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for _, m := range ftsMessages {
		h.deliver("INBOX", m)
	}
	r := h.login(t)
	r.cmd("x SELECT INBOX")
	check := func(stage string) {
		t.Helper()
		for _, tc := range ftsCases {
			if got := searchUIDs(t, r, tc.keys); got != tc.want {
				t.Errorf("%s: UID SEARCH %s = %q, want %q", stage, tc.keys, got, tc.want)
			}
		}
	}
	check("before indexing")

	mb, err := h.st.GetMailbox(ctx, h.acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	ix := &fts.Indexer{Store: h.st, Batch: 3}
	n, err := ix.IndexOnce(ctx)
	if err != nil || n != len(ftsMessages) {
		t.Fatalf("IndexOnce = %d, %v; want %d", n, err, len(ftsMessages))
	}
	res, err := h.st.SearchText(ctx, h.acct.ID, mb.ID, "fox", store.TextBody)
	if err != nil || len(res.Matches) != 2 || len(res.Unindexed) != 0 {
		t.Fatalf("SearchText fox after indexing = %+v, %v", res, err)
	}
	check("after indexing")

	// A new message, not indexed yet, beside indexed ones.
	h.deliver("INBOX", plainMsg("late", "a late fox"))
	r.cmd("n NOOP")
	if got := searchUIDs(t, r, "BODY fox"); got != "1 7 8" {
		t.Errorf("half indexed: BODY fox = %q", got)
	}
	if got := searchUIDs(t, r, "NOT BODY fox"); got != "2 3 4 5 6" {
		t.Errorf("half indexed: NOT BODY fox = %q", got)
	}
	if n, err := ix.IndexOnce(ctx); err != nil || n != 1 {
		t.Fatalf("second IndexOnce = %d, %v", n, err)
	}
	if got := searchUIDs(t, r, "BODY fox"); got != "1 7 8" {
		t.Errorf("indexed again: BODY fox = %q", got)
	}

	// Expunge 1: its index rows go; the others stay.
	r.cmd(`e STORE 1 +FLAGS (\Deleted)`)
	r.cmd("e EXPUNGE")
	res, err = h.st.SearchText(ctx, h.acct.ID, mb.ID, "fox", store.TextBody)
	if err != nil || len(res.Matches) != 2 || len(res.Unindexed) != 0 {
		t.Fatalf("SearchText fox after expunge = %+v, %v", res, err)
	}
	if got := searchUIDs(t, r, "BODY fox"); got != "7 8" {
		t.Errorf("after expunge: BODY fox = %q", got)
	}
}

// BenchmarkSearchText times UID SEARCH TEXT over 10,000 messages, scanning
// every message (nothing indexed yet) and through the full-text index.
func BenchmarkSearchText(b *testing.B) {
	const total = 10000
	h := newHarness(b)
	ctx := context.Background()
	mb, err := h.st.GetMailbox(ctx, h.acct.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	words := strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa")
	var batch []store.NewMessage
	for i := range total {
		var sb strings.Builder
		for j := range 120 {
			sb.WriteString(words[(i*7+j*13+j*j)%len(words)])
			sb.WriteByte(' ')
			if j%12 == 11 {
				sb.WriteString("\r\n")
			}
		}
		if i%100 == 0 {
			sb.WriteString(fmt.Sprintf("needle%d\r\n", i/100))
		}
		raw := plainMsg(fmt.Sprintf("message %d", i), sb.String())
		if i%3 == 0 { // a third base64
			raw = "From: a@example.org\r\nSubject: message " + fmt.Sprint(i) + "\r\nMIME-Version: 1.0\r\n" +
				"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
				base64.StdEncoding.EncodeToString([]byte(sb.String())) + "\r\n"
		}
		batch = append(batch, store.NewMessage{AccountID: h.acct.ID, MailboxID: mb.ID,
			Raw: []byte(raw), Meta: message.Parse([]byte(raw)).Meta()})
		if len(batch) == 500 || i == total-1 {
			if _, err := h.st.AddMessages(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	c := h.dial(nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	search := func(b *testing.B) {
		d, err := c.UIDSearch(&goimap.SearchCriteria{Text: []string{"needle42"}}, nil).Wait()
		if err != nil {
			b.Fatal(err)
		}
		if got := d.AllUIDs(); len(got) != 1 || got[0] != 4201 {
			b.Fatalf("TEXT needle42 = %v, want [4201]", got)
		}
	}
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			search(b)
		}
	})
	start := time.Now()
	n, err := (&fts.Indexer{Store: h.st, Batch: 500}).IndexOnce(ctx)
	if err != nil || n != total {
		b.Fatalf("IndexOnce = %d, %v", n, err)
	}
	b.Logf("indexed %d messages in %v (%.0f messages/s)", n, time.Since(start), float64(n)/time.Since(start).Seconds())
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			search(b)
		}
	})
}
