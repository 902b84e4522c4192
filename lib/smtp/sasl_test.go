package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/xdg-go/scram"

	"gannet/lib/store"
)

// testSCRAM derives SCRAM-SHA-256 credentials from the test password, as a
// store keeping them (RFC 5803) would hand them back.
func testSCRAM(s *Server) SCRAMLookup {
	return func(ctx context.Context, username string) (scram.StoredCredentials, *store.Account, error) {
		acct, err := s.Store.GetAccount(ctx, strings.ToLower(username))
		if err != nil {
			return scram.StoredCredentials{}, nil, err
		}
		c, err := scram.SHA256.NewClient(username, password, "")
		if err != nil {
			return scram.StoredCredentials{}, nil, err
		}
		return c.GetStoredCredentials(scram.KeyFactors{Salt: "salt of " + username, Iters: 4096}), acct, nil
	}
}

// scramClient is a go-sasl client for SCRAM-SHA-256 over xdg-go/scram.
type scramClient struct {
	conv *scram.ClientConversation
}

func newSCRAMClient(t *testing.T, user, pass string) *scramClient {
	return newSCRAMClientAs(t, user, pass, "")
}

// newSCRAMClientAs asks to act as authz (RFC 5802 section 5.1, a=).
func newSCRAMClientAs(t *testing.T, user, pass, authz string) *scramClient {
	c, err := scram.SHA256.NewClient(user, pass, authz)
	if err != nil {
		t.Fatal(err)
	}
	return &scramClient{conv: c.NewConversation()}
}

func (c *scramClient) Start() (string, []byte, error) {
	s, err := c.conv.Step("")
	return MechSCRAMSHA256, []byte(s), err
}

func (c *scramClient) Next(challenge []byte) ([]byte, error) {
	s, err := c.conv.Step(string(challenge))
	return []byte(s), err
}

func TestSCRAM(t *testing.T) {
	h := newHarness(t, harnessOpts{server: func(s *Server) { s.SCRAM = testSCRAM(s) }})
	loginAs := func(user, pass, authz string) (*scramClient, error) {
		c, err := gosmtp.DialTLS(h.addr[RoleSubmissions], &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		sc := newSCRAMClientAs(t, user, pass, authz)
		if err := c.Auth(sc); err != nil {
			return sc, err
		}
		return sc, c.SendMail(demo, []string{other}, strings.NewReader(testMessage))
	}
	login := func(user, pass string) (*scramClient, error) { return loginAs(user, pass, "") }
	sc, err := login(demo, password)
	if err != nil {
		t.Fatal(err)
	}
	if !sc.conv.Valid() {
		t.Error("the client did not verify the server's proof")
	}
	var se *gosmtp.SMTPError
	if _, err := login(demo, "wrong"); !errors.As(err, &se) || se.Code != 535 {
		t.Errorf("wrong password: %v, want 535", err)
	}
	// An unknown user goes through the same exchange and fails the same way.
	if _, err := login("nobody@example.test", password); !errors.As(err, &se) || se.Code != 535 {
		t.Errorf("unknown user: %v, want 535", err)
	}
	// Acting for another account is refused; naming oneself is fine.
	if _, err := loginAs(demo, password, other); !errors.As(err, &se) || se.Code != 535 {
		t.Errorf("SCRAM with another authorization identity: %v, want 535", err)
	}
	if _, err := loginAs(demo, password, demo); err != nil {
		t.Errorf("SCRAM with one's own authorization identity: %v", err)
	}
	if n := len(h.inbox(other)); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
}

func TestLoginServer(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	var got *store.Account
	done := func(a *store.Account, _ string) { got = a }
	// With the user name as initial response.
	s := newLoginServer(context.Background(), h.srv.Auth, done)
	ch, fin, err := s.Next([]byte(demo))
	if string(ch) != "Password:" || fin || err != nil {
		t.Fatalf("after the user name: %q %v %v", ch, fin, err)
	}
	if _, fin, err := s.Next([]byte(password)); !fin || err != nil || got == nil || got.Address != demo {
		t.Fatalf("after the password: %v %v %v", fin, err, got)
	}
	// Without: the server asks for both.
	got = nil
	s = newLoginServer(context.Background(), h.srv.Auth, done)
	if ch, _, _ := s.Next(nil); string(ch) != "Username:" {
		t.Fatalf("first challenge %q", ch)
	}
	s.Next([]byte(demo))
	if _, _, err := s.Next([]byte("nope")); err != gosmtp.ErrAuthFailed || got != nil {
		t.Fatalf("wrong password: %v %v", err, got)
	}
	// PLAIN refuses to act for someone else.
	p := newPlainServer(context.Background(), h.srv.Auth, done)
	if _, _, err := p.Next([]byte(other + "\x00" + demo + "\x00" + password)); err == nil {
		t.Error("PLAIN with another authorization identity accepted")
	}
	var _ sasl.Server = p
}

func FuzzLoginServer(f *testing.F) {
	f.Add([]byte("user@example.test"), []byte("secret"))
	f.Add([]byte(""), []byte(strings.Repeat("x", 2000)))
	f.Fuzz(func(t *testing.T, user, pass []byte) {
		calls := 0
		s := &loginServer{ctx: context.Background(), done: func(*store.Account, string) { calls++ }}
		// A nil Authenticator must not be reached for oversized input.
		if len(user) > maxSASLField {
			if _, _, err := s.Next(user); err == nil {
				t.Fatal("oversized user name accepted")
			}
			return
		}
		if _, _, err := s.Next(user); err != nil {
			t.Fatal(err)
		}
		if len(user) == 0 {
			if _, _, err := s.Next(user); err != nil {
				t.Fatal(err)
			}
		}
		if len(pass) > maxSASLField {
			if _, _, err := s.Next(pass); err == nil {
				t.Fatal("oversized password accepted")
			}
		}
		if calls != 0 {
			t.Fatal("login attempted")
		}
	})
}
