package imap

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"gannet/lib/message"
	"gannet/lib/store"
)

// BenchmarkSelect50k times SELECT of a mailbox of 50,000 messages (the
// view SELECT builds: IDs, UIDs and flags; no FETCH).
func BenchmarkSelect50k(b *testing.B) {
	const total = 50000
	h := newHarness(b)
	ctx := context.Background()
	mb, err := h.st.GetMailbox(ctx, h.acct.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	body := strings.Repeat("Some text of a message, long enough to matter.\r\n", 20)
	var batch []store.NewMessage
	for i := range total {
		raw := "From: Carol <carol@example.org>\r\nTo: demo@example.test\r\nSubject: message " + fmt.Sprint(i) +
			"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
			"Content-Type: text/plain\r\n\r\n" + body + "--b\r\nContent-Type: text/html\r\n\r\n<p>" + body + "--b--\r\n"
		var flags []string
		if i%2 == 0 {
			flags = []string{store.FlagSeen}
		}
		batch = append(batch, store.NewMessage{AccountID: h.acct.ID, MailboxID: mb.ID,
			Raw: []byte(raw), Meta: message.Parse([]byte(raw)).Meta(), Flags: flags})
		if len(batch) == 1000 || i == total-1 {
			if _, err := h.st.AddMessages(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	c := h.dial(nil)
	b.ResetTimer()
	for b.Loop() {
		d, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			b.Fatal(err)
		}
		if d.NumMessages != total {
			b.Fatalf("SELECT: %d messages, want %d", d.NumMessages, total)
		}
	}
}
