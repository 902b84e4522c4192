package smtp

import (
	"net"
	"net/textproto"
	"strings"
	"testing"

	gomilter "github.com/emersion/go-milter"

	"gannet/lib/config"
	"gannet/lib/milter"
)

// headerMilter is a milter (go-milter's server, spoken to over a socket)
// that refuses one recipient, adds a header field, moves the message from
// one recipient to another, and discards messages with "discard" in the
// subject.
type headerMilter struct {
	discard bool
}

func (m *headerMilter) Connect(string, string, uint16, net.IP, *gomilter.Modifier) (gomilter.Response, error) {
	return gomilter.RespContinue, nil
}
func (m *headerMilter) Helo(string, *gomilter.Modifier) (gomilter.Response, error) {
	return gomilter.RespContinue, nil
}
func (m *headerMilter) MailFrom(string, *gomilter.Modifier) (gomilter.Response, error) {
	m.discard = false
	return gomilter.RespContinue, nil
}
func (m *headerMilter) RcptTo(to string, _ *gomilter.Modifier) (gomilter.Response, error) {
	if strings.Contains(to, "blocked") {
		return gomilter.RespReject, nil
	}
	return gomilter.RespContinue, nil
}
func (m *headerMilter) Header(name, value string, _ *gomilter.Modifier) (gomilter.Response, error) {
	if strings.EqualFold(name, "Subject") && strings.Contains(value, "discard") {
		m.discard = true
	}
	return gomilter.RespContinue, nil
}
func (m *headerMilter) Headers(textproto.MIMEHeader, *gomilter.Modifier) (gomilter.Response, error) {
	return gomilter.RespContinue, nil
}
func (m *headerMilter) BodyChunk([]byte, *gomilter.Modifier) (gomilter.Response, error) {
	return gomilter.RespContinue, nil
}
func (m *headerMilter) Body(mod *gomilter.Modifier) (gomilter.Response, error) {
	if m.discard {
		return gomilter.RespDiscard, nil
	}
	mod.AddHeader("X-Miltered", "yes")
	mod.DeleteRecipient(demo)
	mod.AddRecipient(other)
	return gomilter.RespAccept, nil
}
func (m *headerMilter) Abort(*gomilter.Modifier) error { return nil }

func TestRealMilter(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ms := &gomilter.Server{
		NewMilter: func() gomilter.Milter { return &headerMilter{} },
		Actions:   gomilter.OptAddHeader | gomilter.OptAddRcpt | gomilter.OptRemoveRcpt,
	}
	go ms.Serve(l)
	t.Cleanup(func() { ms.Close() })

	h := newHarness(t, harnessOpts{server: func(s *Server) {
		s.Milter = NewMilter(milter.New([]config.Milter{{Name: "test", Address: "inet:" + l.Addr().String(), Protocol: 2}}, s.Log), "mx.example.test")
	}})
	err = sendMail(t, h.addr[RoleSMTP], "a@remote.example", []string{"demo+blocked@example.test"}, []byte(testMessage))
	wantReply(t, err, 550, "5.7.1")

	if err := sendMail(t, h.addr[RoleSMTP], "a@remote.example", []string{demo}, []byte(testMessage)); err != nil {
		t.Fatal(err)
	}
	if n := len(h.inbox(demo)); n != 0 {
		t.Errorf("the milter took demo off the message, yet demo got %d", n)
	}
	got := h.inbox(other)
	if len(got) != 1 || !strings.Contains(got[0], "X-Miltered: yes\r\n") {
		t.Fatalf("other got %q", got)
	}

	// Discarded: accepted, and nobody gets it.
	msg := strings.Replace(testMessage, "Subject: hello", "Subject: please discard", 1)
	if err := sendMail(t, h.addr[RoleSMTP], "a@remote.example", []string{other}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if n := len(h.inbox(other)); n != 1 {
		t.Errorf("discarded message delivered")
	}
}
