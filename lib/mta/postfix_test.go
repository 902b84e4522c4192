package mta_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"gannet/lib/postfixtest"
	"gannet/lib/smtptest"
)

// A real Postfix as the receiving peer, with CHUNKING (our client sends
// BDAT) and without (DATA). Postfix relays what it takes to a capture
// server, which shows how Postfix read our messages: each one whole, the
// smuggled commands still in its body.
func TestPostfixPeer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("a private Postfix instance needs root; run the tests as root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := postfixtest.Install(ctx, t.Logf); err != nil {
		t.Fatal(err)
	}
	for i, chunking := range []bool{true, false} {
		t.Run(fmt.Sprintf("chunking=%v", chunking), func(t *testing.T) {
			t.Parallel()
			capture := smtptest.New(t, smtptest.Options{Addr: fmt.Sprintf("127.0.0.%d:0", 30+i)})
			main := map[string]string{
				"relay_domains":   "peer.test",
				"relay_transport": fmt.Sprintf("smtp:[127.0.0.%d]:%d", 30+i, capture.Port()),
				// Log the SMTP dialogue, to see BDAT or DATA.
				"debug_peer_list":  "127.0.0.1",
				"debug_peer_level": "2",
			}
			if !chunking {
				main["smtpd_discard_ehlo_keywords"] = "chunking"
			}
			pf := postfixtest.New(t, postfixtest.Options{Main: main})
			e := newEnv(t)
			e.c.Port = pf.Port
			e.dns.Add("peer.test. 300 IN MX 10 mx.peer.test.", "mx.peer.test. 300 IN A 127.0.0.1")

			plain := msg("b@peer.test")
			plain.Data = []byte("From: a@example.org\r\nTo: b@peer.test\r\nSubject: plain\r\nMessage-ID: <1@example.org>\r\n" +
				"Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n\r\nbody\r\n.dot\r\n..two\r\n")
			smuggler := msg("c@peer.test")
			var body strings.Builder
			body.WriteString("Subject: smuggling\r\n\r\nfirst")
			for _, v := range smuggleVariants {
				body.WriteString(v + "MAIL FROM:<evil@x>\r\nRCPT TO:<victim@peer.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsecond\r\n")
			}
			smuggler.Data = []byte(body.String())
			wantDelivered(t, deliver(t, e.c, "peer.test", plain), "mx.peer.test[127.0.0.1]")
			wantDelivered(t, deliver(t, e.c, "peer.test", smuggler), "mx.peer.test[127.0.0.1]")
			e.c.Close()

			// Postfix relays in its own time: wait for both messages.
			deadline := time.Now().Add(time.Minute)
			for len(capture.Transactions()) < 2 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			txs := capture.Transactions()
			if len(txs) != 2 {
				t.Fatalf("Postfix relayed %d messages, want 2\n%s", len(txs), pf.Log())
			}
			byRcpt := map[string]smtptest.Transaction{}
			for _, tx := range txs {
				if tx.From != "a@example.org" || len(tx.Rcpts) != 1 {
					t.Errorf("envelope %q %+v", tx.From, tx.Rcpts)
					continue
				}
				byRcpt[tx.Rcpts[0].Addr] = tx
			}
			if got := byRcpt["b@peer.test"].Data; !bytes.HasSuffix(got, plain.Data) {
				t.Errorf("plain message arrived as\n%q", got)
			}
			got := string(byRcpt["c@peer.test"].Data)
			if n := strings.Count(got, "MAIL FROM:<evil@x>"); n != len(smuggleVariants) {
				t.Errorf("%d of %d smuggled commands in the body:\n%q", n, len(smuggleVariants), got)
			}
			if regexp.MustCompile(`to=<victim@peer\.test>`).MatchString(pf.Log()) {
				t.Errorf("Postfix delivered to the smuggled recipient")
			}
			verb := regexp.MustCompile(`< \S+: DATA\s*$`)
			if chunking {
				verb = regexp.MustCompile(`< \S+: BDAT \d+ LAST`)
			}
			wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer wcancel()
			if _, err := pf.WaitLog(wctx, verb); err != nil {
				t.Errorf("%v\n%s", err, pf.Log())
			}
		})
	}
}
