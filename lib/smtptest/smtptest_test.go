package smtptest

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"net"
	"strings"
	"testing"
)

func TestReadData(t *testing.T) {
	cases := []struct {
		in, strict, lax string
	}{
		{"a\r\n..b\r\n.\r\nREST", "a\r\n.b\r\n", "a\r\n.b\r\n"},
		{"a\n.\nb\r\n.\r\nREST", "a\n.\nb\r\n", "a\n"},
		{"a\r.\rb\r\n.\r\nREST", "a\r.\rb\r\n", "a\r"},
		{"a\r\n\x00.\r\nb\r\n.\r\nREST", "a\r\n\x00.\r\nb\r\n", "a\r\n"},
		{".\r\nREST", "", ""},
	}
	for _, c := range cases {
		for _, lax := range []bool{false, true} {
			want := c.strict
			if lax {
				want = c.lax
			}
			br := bufio.NewReader(strings.NewReader(c.in))
			got, err := ReadData(br, lax, 1000)
			if err != nil || string(got) != want {
				t.Errorf("ReadData(%q, lax=%v) = %q, %v; want %q", c.in, lax, got, err, want)
			}
		}
	}
	if _, err := ReadData(bufio.NewReader(strings.NewReader("0123456789\r\n.\r\n")), false, 5); err != ErrTooLarge {
		t.Errorf("limit: %v", err)
	}
}

// rawClient speaks SMTP line by line.
type rawClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func (rc *rawClient) send(s string) { rc.c.Write([]byte(s)) }

// expect reads a reply and checks its code.
func (rc *rawClient) expect(code string) string {
	rc.t.Helper()
	var all string
	for {
		line, err := rc.br.ReadString('\n')
		if err != nil {
			rc.t.Fatalf("reading reply: %v (so far %q)", err, all)
		}
		all += line
		if len(line) < 4 || line[3] != '-' {
			break
		}
	}
	if !strings.HasPrefix(all, code) {
		rc.t.Fatalf("got %q, want %s", all, code)
	}
	return all
}

func TestSession(t *testing.T) {
	cfg, pool, err := SelfSigned("mx.test")
	if err != nil {
		t.Fatal(err)
	}
	s := New(t, Options{Chunking: true, TLS: cfg, RequireTLS: true, Auth: map[string]string{"u": "p"}})
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc := &rawClient{t: t, c: c, br: bufio.NewReader(c)}
	rc.expect("220")
	rc.send("EHLO client\r\n")
	if r := rc.expect("250"); !strings.Contains(r, "STARTTLS") || strings.Contains(r, "AUTH") || strings.Contains(r, "REQUIRETLS") {
		t.Errorf("EHLO before TLS: %q", r)
	}
	rc.send("MAIL FROM:<a@x>\r\n")
	rc.expect("530")
	rc.send("STARTTLS\r\n")
	rc.expect("220")
	tc := tls.Client(c, &tls.Config{ServerName: "mx.test", RootCAs: pool})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	rc.c, rc.br = tc, bufio.NewReader(tc)
	rc.send("EHLO client\r\n")
	if r := rc.expect("250"); !strings.Contains(r, "AUTH PLAIN") || !strings.Contains(r, "REQUIRETLS") || strings.Contains(r, "STARTTLS") {
		t.Errorf("EHLO after TLS: %q", r)
	}
	rc.send("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00u\x00wrong")) + "\r\n")
	rc.expect("535")
	rc.send("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00u\x00p")) + "\r\n")
	rc.expect("235")
	rc.send("MAIL FROM:<a@x> REQUIRETLS\r\nRCPT TO:<b@y> NOTIFY=NEVER\r\n")
	rc.expect("250")
	rc.expect("250")
	rc.send("BDAT 5\r\nab\r\nc")
	rc.expect("250")
	rc.send("BDAT 3 LAST\r\n.\r\n")
	rc.expect("250")
	rc.send("QUIT\r\n")
	rc.expect("221")

	txs := s.Transactions()
	if len(txs) != 1 {
		t.Fatalf("%d transactions", len(txs))
	}
	tx := txs[0]
	if !tx.TLS || tx.AuthUser != "u" || !tx.BDAT || string(tx.Data) != "ab\r\nc.\r\n" || tx.From != "a@x" ||
		len(tx.Rcpts) != 1 || tx.Rcpts[0].Params[0] != "NOTIFY=NEVER" || tx.FromParams[0] != "REQUIRETLS" || !tx.Pipelined {
		t.Errorf("transaction %+v", tx)
	}
	if s.Quits() != 1 || s.Conns() != 1 {
		t.Errorf("quits %d conns %d", s.Quits(), s.Conns())
	}
}

func TestReplyOverride(t *testing.T) {
	s := New(t, Options{Reply: func(st Stage, arg string) string {
		if st == StageRCPT && arg == "no@y" {
			return "550 5.1.1 no"
		}
		return ""
	}})
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc := &rawClient{t: t, c: c, br: bufio.NewReader(c)}
	rc.expect("220")
	rc.send("HELO x\r\n")
	rc.expect("250")
	rc.send("MAIL FROM:<>\r\n")
	rc.expect("250")
	rc.send("RCPT TO:<no@y>\r\n")
	rc.expect("550 5.1.1")
	rc.send("DATA\r\n")
	rc.expect("554")
	rc.send("RCPT TO:<yes@y>\r\n")
	rc.expect("250")
	rc.send("DATA\r\n")
	rc.expect("354")
	rc.send("..x\r\n.\r\n")
	rc.expect("250")
	if txs := s.Transactions(); len(txs) != 1 || string(txs[0].Data) != ".x\r\n" || len(txs[0].Rcpts) != 1 {
		t.Errorf("transactions %+v", txs)
	}
}
