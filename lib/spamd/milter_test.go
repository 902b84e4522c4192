package spamd

import (
	"context"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"
)

func milterSession(t *testing.T, m *Milter) *gomilter.ClientSession {
	t.Helper()
	addr := serve(t, m.ServeConn)
	cl := gomilter.NewClientWithOptions("tcp", addr, gomilter.ClientOptions{
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		ActionMask: gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptQuarantine,
	})
	s, err := cl.Session()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Conn("client.example.org", gomilter.FamilyInet, 4567, "192.0.2.7"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Helo("client.example.org"); err != nil {
		t.Fatal(err)
	}
	return s
}

// send runs one message through the session and returns what the milter
// asked for, as lines "+Name: value", "-Name[i]", "quarantine: why", and
// its final answer.
func send(t *testing.T, s *gomilter.ClientSession, rcpt, subject string, extra ...[2]string) ([]string, *gomilter.Action) {
	t.Helper()
	if _, err := s.Mail("<a@example.org>", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rcpt("<"+rcpt+">", nil); err != nil {
		t.Fatal(err)
	}
	h := [][2]string{{"From", "a@example.org"}, {"To", rcpt}, {"Subject", subject}}
	h = append(h, extra...)
	for _, f := range h {
		if _, err := s.HeaderField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.HeaderEnd(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BodyChunk([]byte("hello\nthere\n")); err != nil {
		t.Fatal(err)
	}
	mods, act, err := s.End()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range mods {
		switch m.Code {
		case gomilter.ActAddHeader:
			out = append(out, "+"+m.HeaderName+": "+m.HeaderValue)
		case gomilter.ActChangeHeader:
			out = append(out, "-"+textproto.CanonicalMIMEHeaderKey(m.HeaderName)+"["+itoa(int(m.HeaderIndex))+"]"+m.HeaderValue)
		case gomilter.ActQuarantine:
			out = append(out, "quarantine: "+m.Reason)
		default:
			out = append(out, "?"+string(rune(m.Code)))
		}
	}
	return out, act
}

func TestMilter(t *testing.T) {
	f, w := testFilter()
	m := &Milter{Filter: f, Accounts: accounts{}, MaxSize: 4096, Log: quiet}
	s := milterSession(t, m)

	got, act := send(t, s, "user@example.test", "cheap viagra",
		[2]string{"X-Spam-Flag", "NO"}, [2]string{"X-Spam-Status", "No"}, [2]string{"x-spam-flag", "NO"})
	want := []string{
		"-X-Spam-Flag[2]", "-X-Spam-Flag[1]", "-X-Spam-Status[1]",
		"+X-Spam-Flag: YES",
		"+X-Spam-Status: Yes, score=10.10 required=5.00",
		"+X-Spam-Score: 10.10",
		"+X-Spam-Result: TEST_VIAGRA=10.00 (Subject mentions viagra), TEST_SEEN=0.10",
	}
	// Map order decides which forged name goes first.
	if strings.Join(sortedCopy(got), "\n") != strings.Join(sortedCopy(want), "\n") || act.Code != gomilter.ActAccept {
		t.Errorf("spam: got %q, %c; want %q and accept", got, act.Code, want)
	}
	if w.account.Load() != 42 {
		t.Errorf("checked for account %d, want 42 (the one recipient's)", w.account.Load())
	}

	// The same connection goes on with the next message.
	got, act = send(t, s, "other@example.test", "REJECTME now")
	if len(got) != 0 || act.Code != gomilter.ActReplyCode || act.SMTPCode != 550 || !strings.HasPrefix(act.SMTPText, "5.7.1 ") {
		t.Errorf("reject: got %q, %+v; want 550 5.7.1", got, act)
	}
	got, act = send(t, s, "other@example.test", "lunch")
	if len(got) != 3 || got[0] != "+X-Spam-Status: No, score=0.10 required=5.00" || act.Code != gomilter.ActAccept {
		t.Errorf("ham: got %q, %c", got, act.Code)
	}
	if w.account.Load() != 0 {
		t.Errorf("checked for account %d, want 0 (no local account)", w.account.Load())
	}
}

func TestMilterQuarantineAndSize(t *testing.T) {
	f, _ := testFilter()
	m := &Milter{Filter: f, MaxSize: 100, Quarantine: true, Log: quiet}
	s := milterSession(t, m)
	got, act := send(t, s, "user@example.test", "viagra")
	if len(got) != 5 || got[4] != "quarantine: spam, score 10.1" || act.Code != gomilter.ActAccept {
		t.Errorf("quarantine: got %q, %c", got, act.Code)
	}
	got, act = send(t, s, "user@example.test", "viagra "+strings.Repeat("x", 200), [2]string{"X-Spam-Score", "-5"})
	if strings.Join(got, ",") != "-X-Spam-Score[1]" || act.Code != gomilter.ActAccept {
		t.Errorf("too big: got %q, %c; want only the forged field removed", got, act.Code)
	}
}

func TestMilterShutdown(t *testing.T) {
	// An idle MTA connection ends when the server stops.
	f, _ := testFilter()
	m := &Milter{Filter: f, Log: quiet}
	ctx, cancel := context.WithCancel(context.Background())
	srvDone := make(chan struct{})
	a, b := pipe(t)
	go func() { m.ServeConn(ctx, a); close(srvDone) }()
	cancel()
	select {
	case <-srvDone:
	case <-time.After(10 * time.Second):
		t.Fatal("milter connection still served after shutdown")
	}
	b.Close()
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func pipe(t *testing.T) (net.Conn, net.Conn) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}
