package milter

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"net/textproto"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"

	"gannet/lib/config"
)

// seen is what a test milter was told.
type seen struct {
	mu      sync.Mutex
	host    string
	family  string
	port    uint16
	addr    string
	helo    string
	from    []string
	rcpts   []string
	headers [][2]string
	body    []byte
	macros  map[string]string
	aborts  int
}

func (s *seen) snapshot() *seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := &seen{host: s.host, family: s.family, port: s.port, addr: s.addr, helo: s.helo,
		from: append([]string(nil), s.from...), rcpts: append([]string(nil), s.rcpts...),
		headers: append([][2]string(nil), s.headers...), body: append([]byte(nil), s.body...),
		macros: map[string]string{}, aborts: s.aborts}
	for k, v := range s.macros {
		cp.macros[k] = v
	}
	return cp
}

// testMilter is a go-milter Milter whose answers a test chooses.
type testMilter struct {
	seen *seen
	mail func(from string) gomilter.Response
	rcpt func(to string) gomilter.Response
	// eom answers the end of the message; h holds the header fields of
	// this message (go-milter's Modifier.Headers keeps those of earlier
	// messages of the connection too).
	eom func(m *gomilter.Modifier, h textproto.MIMEHeader) gomilter.Response
}

func (t *testMilter) note(m *gomilter.Modifier) {
	for k, v := range m.Macros {
		t.seen.macros[k] = v
	}
}

func (t *testMilter) Connect(host, family string, port uint16, addr net.IP, m *gomilter.Modifier) (gomilter.Response, error) {
	t.seen.mu.Lock()
	defer t.seen.mu.Unlock()
	t.note(m)
	t.seen.host, t.seen.family, t.seen.port, t.seen.addr = host, family, port, addr.String()
	return gomilter.RespContinue, nil
}

func (t *testMilter) Helo(name string, m *gomilter.Modifier) (gomilter.Response, error) {
	t.seen.mu.Lock()
	defer t.seen.mu.Unlock()
	t.seen.helo = name
	return gomilter.RespContinue, nil
}

func (t *testMilter) MailFrom(from string, m *gomilter.Modifier) (gomilter.Response, error) {
	t.seen.mu.Lock()
	t.note(m)
	t.seen.from = append(t.seen.from, from)
	t.seen.headers, t.seen.body = nil, nil
	t.seen.mu.Unlock()
	if t.mail != nil {
		return t.mail(from), nil
	}
	return gomilter.RespContinue, nil
}

func (t *testMilter) RcptTo(to string, m *gomilter.Modifier) (gomilter.Response, error) {
	t.seen.mu.Lock()
	t.note(m)
	t.seen.rcpts = append(t.seen.rcpts, to)
	t.seen.mu.Unlock()
	if t.rcpt != nil {
		return t.rcpt(to), nil
	}
	return gomilter.RespContinue, nil
}

func (t *testMilter) Header(name, value string, m *gomilter.Modifier) (gomilter.Response, error) {
	t.seen.mu.Lock()
	defer t.seen.mu.Unlock()
	t.seen.headers = append(t.seen.headers, [2]string{name, value})
	return gomilter.RespContinue, nil
}

func (t *testMilter) Headers(h textproto.MIMEHeader, m *gomilter.Modifier) (gomilter.Response, error) {
	return gomilter.RespContinue, nil
}

func (t *testMilter) BodyChunk(chunk []byte, m *gomilter.Modifier) (gomilter.Response, error) {
	t.seen.mu.Lock()
	defer t.seen.mu.Unlock()
	t.seen.body = append(t.seen.body, chunk...)
	return gomilter.RespContinue, nil
}

func (t *testMilter) Body(m *gomilter.Modifier) (gomilter.Response, error) {
	t.seen.mu.Lock()
	t.note(m)
	h := textproto.MIMEHeader{}
	for _, f := range t.seen.headers {
		h.Add(f[0], f[1])
	}
	t.seen.mu.Unlock()
	if t.eom != nil {
		return t.eom(m, h), nil
	}
	return gomilter.RespAccept, nil
}

func (t *testMilter) Abort(m *gomilter.Modifier) error {
	t.seen.mu.Lock()
	defer t.seen.mu.Unlock()
	t.seen.aborts++
	return nil
}

// serve starts a go-milter server (it speaks protocol version 2) on
// loopback whose milters answer as tm says, and returns its address in
// Postfix syntax.
func serve(t *testing.T, tm testMilter) (string, *seen) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sn := &seen{macros: map[string]string{}}
	tm.seen = sn
	srv := &gomilter.Server{
		NewMilter: func() gomilter.Milter { m := tm; return &m },
		Actions: gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptChangeBody |
			gomilter.OptAddRcpt | gomilter.OptRemoveRcpt | gomilter.OptQuarantine,
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "inet:" + ln.Addr().String(), sn
}

var client = ConnInfo{
	ServerName: "mx.example.org",
	Hostname:   "client.example.net",
	Addr:       netip.MustParseAddr("192.0.2.7"),
	Port:       40001,
	HELO:       "client.example.net",
	AuthUser:   "alice",
}

const message = "From: Alice <alice@example.org>\r\n" +
	"To: bob@example.org\r\n" +
	"Subject: hello\r\n" +
	" world\r\n" +
	"X-Spam: no\r\n" +
	"\r\n" +
	"Hello Bob,\r\n" +
	"\r\n" +
	"a line with a bare\rCR stays as it is\r\n"

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// session starts a session with the milters and checks the connection
// was accepted.
func session(t *testing.T, cfgs ...config.Milter) *Session {
	t.Helper()
	s, act := New(cfgs, nil).Session(ctx(t), client)
	if act.Kind != Accept {
		t.Fatalf("Session: %+v", act)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// splitAt splits message into a header and a body reader at its blank
// line, as smtpd would pass them.
func splitAt(msg string) ([]byte, io.Reader) {
	i := strings.Index(msg, "\r\n\r\n") + 4
	return []byte(msg[:i]), strings.NewReader(msg[i:])
}

func TestAcceptAndWhatTheMilterSees(t *testing.T) {
	for _, proto := range []int{2, 6} {
		t.Run(map[int]string{2: "v2", 6: "v6 falls back to v2"}[proto], func(t *testing.T) {
			addr, sn := serve(t, testMilter{})
			s := session(t, config.Milter{Name: "test", Address: addr, Protocol: proto})
			if act := s.Mail(ctx(t), "alice@example.org", []string{"BODY=8BITMIME"}); act.Kind != Accept {
				t.Fatalf("Mail: %+v", act)
			}
			for _, to := range []string{"bob@example.org", "carol@example.org"} {
				if act := s.Rcpt(ctx(t), to, nil); act.Kind != Accept {
					t.Fatalf("Rcpt: %+v", act)
				}
			}
			header, body := splitAt(message)
			res, err := s.Data(ctx(t), header, body)
			if err != nil {
				t.Fatal(err)
			}
			if res.Action.Kind != Accept || len(res.Modifications) != 0 {
				t.Fatalf("Data: %+v", res)
			}
			got := sn.snapshot()
			if got.host != "client.example.net" || got.family != "tcp4" || got.port != 40001 || got.addr != "192.0.2.7" || got.helo != "client.example.net" {
				t.Errorf("connect/helo: %+v", got)
			}
			if !reflect.DeepEqual(got.from, []string{"alice@example.org"}) || !reflect.DeepEqual(got.rcpts, []string{"bob@example.org", "carol@example.org"}) {
				t.Errorf("envelope: %q %q", got.from, got.rcpts)
			}
			// Header values as Sendmail and Postfix send them: no leading
			// space, folded lines joined by LF.
			wantHeaders := [][2]string{{"From", "Alice <alice@example.org>"}, {"To", "bob@example.org"}, {"Subject", "hello\n world"}, {"X-Spam", "no"}}
			if !reflect.DeepEqual(got.headers, wantHeaders) {
				t.Errorf("headers %q", got.headers)
			}
			// The body goes as it is, CRLF and all.
			if string(got.body) != message[strings.Index(message, "\r\n\r\n")+4:] {
				t.Errorf("body %q", got.body)
			}
			for k, v := range map[string]string{"j": "mx.example.org", "{client_addr}": "192.0.2.7", "{auth_authen}": "alice", "{mail_addr}": "alice@example.org", "{rcpt_addr}": "carol@example.org"} {
				if got.macros[k] != v {
					t.Errorf("macro %s = %q, want %q", k, got.macros[k], v)
				}
			}
			if len(got.macros["i"]) != 12 {
				t.Errorf("macro i = %q", got.macros["i"])
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	addr, sn := serve(t, testMilter{
		mail: func(from string) gomilter.Response {
			switch from {
			case "spammer@example.net":
				return gomilter.NewResponseStr('y', "554 5.7.1 You are not welcome here")
			case "slow@example.net":
				return gomilter.RespTempFail
			case "bad@example.net":
				return gomilter.RespReject
			}
			return gomilter.RespContinue
		},
		rcpt: func(to string) gomilter.Response {
			switch to {
			case "busy@example.org":
				return gomilter.NewResponseStr('y', "452 4.2.2 Mailbox full")
			case "gone@example.org":
				return gomilter.RespReject
			case "trap@example.org":
				return gomilter.RespDiscard
			}
			return gomilter.RespContinue
		},
		eom: func(m *gomilter.Modifier, h textproto.MIMEHeader) gomilter.Response {
			if strings.Contains(h.Get("Subject"), "virus") {
				return gomilter.NewResponseStr('y', "550 5.7.0 Virus found")
			}
			if strings.Contains(h.Get("Subject"), "later") {
				return gomilter.RespTempFail
			}
			if strings.Contains(h.Get("Subject"), "hold") {
				m.Quarantine("looks odd")
			}
			return gomilter.RespAccept
		},
	})
	s := session(t, config.Milter{Address: addr, Protocol: 2})
	c := ctx(t)

	check := func(what string, got Action, kind Kind, code int, enh, text string) {
		t.Helper()
		if got.Kind != kind || got.Code != code || got.Enhanced != enh || got.Text != text {
			t.Errorf("%s = %+v, want %v %d %s %q", what, got, kind, code, enh, text)
		}
		if got.Kind != Accept && got.Milter != addr {
			t.Errorf("%s: milter %q, want %q", what, got.Milter, addr)
		}
	}
	check("MAIL spammer", s.Mail(c, "spammer@example.net", nil), Reject, 554, "5.7.1", "You are not welcome here")
	check("MAIL slow", s.Mail(c, "slow@example.net", nil), TempFail, 451, "4.7.1", "Service unavailable - try again later")
	check("MAIL bad", s.Mail(c, "bad@example.net", nil), Reject, 550, "5.7.1", "Command rejected")

	check("MAIL ok", s.Mail(c, "alice@example.org", nil), Accept, 0, "", "")
	check("RCPT busy", s.Rcpt(c, "busy@example.org", nil), TempFail, 452, "4.2.2", "Mailbox full")
	check("RCPT gone", s.Rcpt(c, "gone@example.org", nil), Reject, 550, "5.7.1", "Command rejected")
	check("RCPT bob", s.Rcpt(c, "bob@example.org", nil), Accept, 0, "", "")
	res, err := s.Data(c, []byte("Subject: virus inside\r\n\r\nbody\r\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	check("DATA virus", res.Action, Reject, 550, "5.7.0", "Virus found")
	if r := res.Action.Reply(); r.Error() != "550 5.7.0 Virus found" || r.Temporary() {
		t.Errorf("Reply() = %v", r)
	}

	s.Mail(c, "alice@example.org", nil)
	s.Rcpt(c, "bob@example.org", nil)
	res, _ = s.Data(c, []byte("Subject: try later\r\n\r\nbody\r\n"), nil)
	check("DATA later", res.Action, TempFail, 451, "4.7.1", "Service unavailable - try again later")

	s.Mail(c, "alice@example.org", nil)
	s.Rcpt(c, "bob@example.org", nil)
	res, _ = s.Data(c, []byte("Subject: hold me\r\n\r\nbody\r\n"), nil)
	if res.Action.Kind != Quarantine || res.Action.Reason != "looks odd" {
		t.Errorf("DATA hold = %+v", res.Action)
	}

	// Discard at RCPT: the rest of the message is accepted and dropped.
	s.Mail(c, "alice@example.org", nil)
	if act := s.Rcpt(c, "trap@example.org", nil); act.Kind != Discard {
		t.Errorf("RCPT trap = %+v", act)
	}
	if act := s.Rcpt(c, "bob@example.org", nil); act.Kind != Discard {
		t.Errorf("RCPT after a discard = %+v", act)
	}
	res, _ = s.Data(c, []byte("Subject: hi\r\n\r\nbody\r\n"), nil)
	if res.Action.Kind != Discard {
		t.Errorf("DATA after a discard = %+v", res.Action)
	}

	// RSET after RCPT: the milter is told to abort.
	before := sn.snapshot().aborts
	s.Mail(c, "alice@example.org", nil)
	s.Rcpt(c, "bob@example.org", nil)
	s.Reset(c)
	// The abort has no reply: poll for the milter to have it.
	deadline := time.Now().Add(5 * time.Second)
	for sn.snapshot().aborts == before {
		if time.Now().After(deadline) {
			t.Fatal("the milter was not told of the abandoned message")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// And the session still works.
	check("MAIL after RSET", s.Mail(c, "alice@example.org", nil), Accept, 0, "", "")
}

func TestModifications(t *testing.T) {
	addr, _ := serve(t, testMilter{
		eom: func(m *gomilter.Modifier, h textproto.MIMEHeader) gomilter.Response {
			m.AddHeader("X-Scanned", "by test\r\n\tmilter")
			m.InsertHeader(0, "X-Top", "first")
			m.ChangeHeader(1, "Subject", "[checked] hello")
			m.ChangeHeader(1, "X-Spam", "") // delete
			m.ReplaceBody([]byte("Replaced body,\nwith LF line ends.\n"))
			m.AddRecipient("archive@example.org")
			m.DeleteRecipient("carol@example.org")
			m.ChangeFrom("<bounces@example.org>")
			return gomilter.RespAccept
		},
	})
	s := session(t, config.Milter{Name: "mod", Address: addr})
	c := ctx(t)
	s.Mail(c, "alice@example.org", nil)
	s.Rcpt(c, "bob@example.org", nil)
	s.Rcpt(c, "carol@example.org", nil)
	header, body := splitAt(message)
	res, err := s.Data(c, header, body)
	if err != nil {
		t.Fatal(err)
	}
	if res.Action.Kind != Accept {
		t.Fatalf("Data: %+v", res.Action)
	}
	out, err := res.Apply([]byte(message))
	if err != nil {
		t.Fatal(err)
	}
	want := "X-Top: first\r\n" +
		"From: Alice <alice@example.org>\r\n" +
		"To: bob@example.org\r\n" +
		"Subject: [checked] hello\r\n" +
		"X-Scanned: by test\r\n\tmilter\r\n" +
		"\r\n" +
		"Replaced body,\r\nwith LF line ends.\r\n"
	if string(out) != want {
		t.Errorf("Apply =\n%q\nwant\n%q", out, want)
	}
	from, rcpts := res.Envelope("alice@example.org", []string{"bob@example.org", "carol@example.org"})
	if from != "bounces@example.org" || !reflect.DeepEqual(rcpts, []string{"bob@example.org", "archive@example.org"}) {
		t.Errorf("Envelope = %q %q", from, rcpts)
	}
	for _, m := range res.Modifications {
		if m.Milter != "mod" {
			t.Errorf("modification %+v does not name its milter", m)
		}
	}
}

func TestChainSeesEarlierChanges(t *testing.T) {
	first, _ := serve(t, testMilter{eom: func(m *gomilter.Modifier, h textproto.MIMEHeader) gomilter.Response {
		m.AddHeader("X-First", "1")
		m.ReplaceBody([]byte("body from the first milter\n"))
		return gomilter.RespAccept
	}})
	second, sn := serve(t, testMilter{eom: func(m *gomilter.Modifier, h textproto.MIMEHeader) gomilter.Response {
		if h.Get("X-First") == "1" {
			m.ChangeHeader(1, "X-First", "seen by the second")
		}
		return gomilter.RespAccept
	}})
	s := session(t, config.Milter{Name: "first", Address: first}, config.Milter{Name: "second", Address: second})
	c := ctx(t)
	s.Mail(c, "alice@example.org", nil)
	s.Rcpt(c, "bob@example.org", nil)
	header, body := splitAt(message)
	res, err := s.Data(c, header, body)
	if err != nil || res.Action.Kind != Accept {
		t.Fatalf("Data: %+v, %v", res, err)
	}
	got := sn.snapshot()
	if string(got.body) != "body from the first milter\r\n" {
		t.Errorf("the second milter saw the body %q", got.body)
	}
	if last := got.headers[len(got.headers)-1]; last != [2]string{"X-First", "1"} {
		t.Errorf("the second milter saw the headers %q", got.headers)
	}
	out, err := res.Apply([]byte(message))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("\r\nX-First: seen by the second\r\n\r\nbody from the first milter\r\n")) {
		t.Errorf("Apply = %q", out)
	}
}

// deadAddress returns a loopback address nothing listens on.
func deadAddress(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return "inet:" + a
}

// silent returns the address of a milter that accepts connections and
// never answers.
func silent(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go io.Copy(io.Discard, c)
		}
	}()
	return "inet:" + ln.Addr().String()
}

func TestUnreachableMilterDefaultAction(t *testing.T) {
	tests := []struct {
		action string
		kind   Kind
		code   int
		enh    string
	}{
		{"", TempFail, 451, "4.7.1"},
		{"tempfail", TempFail, 451, "4.7.1"},
		{"reject", Reject, 550, "5.7.1"},
		{"accept", Accept, 0, ""},
	}
	for _, tt := range tests {
		t.Run("default_action="+tt.action, func(t *testing.T) {
			c := ctx(t)
			s, act := New([]config.Milter{{Name: "dead", Address: deadAddress(t), DefaultAction: tt.action}}, nil).Session(c, client)
			defer s.Close(c)
			if act.Kind != tt.kind || act.Code != tt.code || act.Enhanced != tt.enh {
				t.Errorf("Session = %+v", act)
			}
			// Every later command gets the same answer (Postfix's
			// milter_default_action).
			if act := s.Mail(c, "a@b", nil); act.Kind != tt.kind || act.Code != tt.code {
				t.Errorf("Mail = %+v", act)
			}
			if act := s.Rcpt(c, "c@d", nil); act.Kind != tt.kind {
				t.Errorf("Rcpt = %+v", act)
			}
			res, err := s.Data(c, []byte("Subject: x\r\n\r\nbody\r\n"), nil)
			if err != nil || res.Action.Kind != tt.kind || len(res.Modifications) != 0 {
				t.Errorf("Data = %+v, %v", res, err)
			}
			if tt.kind == TempFail {
				if r := res.Action.Reply(); r == nil || r.Error() != "451 4.7.1 Service unavailable - try again later" || !r.Temporary() {
					t.Errorf("Reply() = %v", r)
				}
			}
		})
	}
}

func TestBadAddressDefaultAction(t *testing.T) {
	s, act := New([]config.Milter{{Address: "nowhere"}}, nil).Session(ctx(t), client)
	defer s.Close(context.Background())
	if act.Kind != TempFail {
		t.Errorf("Session = %+v", act)
	}
}

func TestSilentMilterTimesOut(t *testing.T) {
	start := time.Now()
	m := config.Milter{Name: "silent", Address: silent(t), Timeout: config.Duration{Duration: 200 * time.Millisecond}}
	s, act := New([]config.Milter{m}, nil).Session(ctx(t), client)
	defer s.Close(context.Background())
	if act.Kind != TempFail || act.Milter != "silent" {
		t.Errorf("Session = %+v", act)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v with a 200ms timeout", d)
	}
}

func TestCancelledContext(t *testing.T) {
	addr := silent(t)
	c, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	s, act := New([]config.Milter{{Address: addr, DefaultAction: "reject"}}, nil).Session(c, client)
	defer s.Close(context.Background())
	if act.Kind != Reject {
		t.Errorf("Session = %+v", act)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a cancelled session took %v to give up", d)
	}
}

func TestFailingMilterLeftOutWithAccept(t *testing.T) {
	// The first milter is down and may be skipped; the second one still
	// decides.
	addr, _ := serve(t, testMilter{mail: func(string) gomilter.Response { return gomilter.RespReject }})
	s := session(t,
		config.Milter{Name: "down", Address: deadAddress(t), DefaultAction: "accept"},
		config.Milter{Name: "up", Address: addr})
	if act := s.Mail(ctx(t), "a@example.org", nil); act.Kind != Reject || act.Milter != "up" {
		t.Errorf("Mail = %+v", act)
	}
}

func TestNoMilters(t *testing.T) {
	var c *Chain
	s, act := c.Session(ctx(t), client)
	if act.Kind != Accept || s.Mail(ctx(t), "a@b", nil).Kind != Accept || c.Len() != 0 {
		t.Error("a nil chain refused")
	}
	res, err := s.Data(ctx(t), []byte(message), nil)
	if err != nil || res.Action.Kind != Accept {
		t.Errorf("Data = %+v, %v", res, err)
	}
	if out, _ := res.Apply([]byte(message)); string(out) != message {
		t.Error("Apply changed the message")
	}
}

// TestProtocolVersionOnTheWire checks the version the client offers in
// SMFIC_OPTNEG, with a milter that speaks the wire format by hand.
func TestProtocolVersionOnTheWire(t *testing.T) {
	for _, proto := range []int{2, 6} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		offered := make(chan uint32, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			packet := func() (byte, []byte) {
				var n uint32
				if binary.Read(c, binary.BigEndian, &n) != nil || n == 0 || n > 1<<20 {
					return 0, nil
				}
				b := make([]byte, n)
				if _, err := io.ReadFull(c, b); err != nil {
					return 0, nil
				}
				return b[0], b[1:]
			}
			send := func(code byte, data []byte) {
				binary.Write(c, binary.BigEndian, uint32(len(data)+1))
				c.Write(append([]byte{code}, data...))
			}
			code, data := packet()
			if code != 'O' || len(data) < 12 {
				return
			}
			v := binary.BigEndian.Uint32(data)
			offered <- v
			reply := make([]byte, 12)
			binary.BigEndian.PutUint32(reply, min(v, 6))
			send('O', reply)
			for {
				code, _ := packet()
				switch code {
				case 0, 'Q':
					return
				case 'D', 'A':
					// Macros and abort have no reply.
				default:
					send('c', nil)
				}
			}
		}()
		s, act := New([]config.Milter{{Address: "inet:" + ln.Addr().String(), Protocol: proto}}, nil).Session(ctx(t), client)
		if act.Kind != Accept {
			t.Errorf("protocol %d: Session = %+v", proto, act)
		}
		if got := <-offered; got != uint32(proto) {
			t.Errorf("protocol %d: SMFIC_OPTNEG offered version %d", proto, got)
		}
		if act := s.Mail(ctx(t), "a@example.org", nil); act.Kind != Accept {
			t.Errorf("protocol %d: Mail = %+v", proto, act)
		}
		s.Close(ctx(t))
		ln.Close()
	}
}
