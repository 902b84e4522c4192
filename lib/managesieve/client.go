package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/xdg-go/scram"
)

// DefaultPort is ManageSieve's port (RFC 5804 section 1.8).
const DefaultPort = "4190"

// maxResponseLines bounds the data lines of one response (LISTSCRIPTS,
// CAPABILITY).
const maxResponseLines = 100000

// Client is a ManageSieve client (RFC 5804) for one connection. It is not
// safe for concurrent use.
type Client struct {
	// Warn, when set, is given the warnings of a script that PutScript
	// stored or CheckScript found valid: the text of an OK (WARNINGS)
	// answer, one warning a line (RFC 5804 section 1.3).
	Warn func(warnings []string)

	conn net.Conn
	r    *reader
	w    *bufio.Writer
	tls  bool
	caps map[string]string
}

// Dial connects to addr (host:port; port 4190 when missing) and reads the
// server's greeting.
func Dial(ctx context.Context, addr string) (*Client, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(strings.Trim(addr, "[]"), DefaultPort)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("managesieve: %w", err)
	}
	c, err := NewClient(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// NewClient starts a session on conn, reading the server's greeting.
func NewClient(ctx context.Context, conn net.Conn) (*Client, error) {
	c := &Client{}
	c.setConn(conn)
	if err := c.readCapabilities(ctx); err != nil {
		return nil, fmt.Errorf("managesieve: greeting: %w", err)
	}
	return c, nil
}

func (c *Client) setConn(conn net.Conn) {
	c.conn = conn
	c.r = &reader{br: bufio.NewReaderSize(conn, MaxLineLength), maxLiteral: 64 << 20, maxDiscard: 64 << 20}
	c.w = bufio.NewWriter(conn)
}

// Close closes the connection without logging out.
func (c *Client) Close() error { return c.conn.Close() }

// Capabilities returns the server's capabilities, by upper-case name
// (RFC 5804 section 1.7): SASL, SIEVE, STARTTLS...
func (c *Client) Capabilities() map[string]string { return c.caps }

// TLS reports whether the connection is encrypted.
func (c *Client) TLS() bool { return c.tls }

// deadline applies ctx's deadline, or a default, to the connection.
func (c *Client) deadline(ctx context.Context) {
	d, ok := ctx.Deadline()
	if !ok {
		d = time.Now().Add(2 * time.Minute)
	}
	c.conn.SetDeadline(d)
}

// response is a server's answer: the data lines before it, and the
// OK/NO/BYE line itself.
type response struct {
	data     [][]token
	status   string
	code     string
	codeData []string
	text     string
}

// err returns the refusal of a NO or BYE response, nil for OK.
func (r *response) err() error {
	if r.status == "OK" {
		return nil
	}
	return &Error{Status: r.status, Code: r.code, Msg: r.text}
}

// readResponse reads lines up to the OK, NO or BYE ending a response.
func (c *Client) readResponse() (*response, error) {
	var resp response
	for {
		toks, err := c.r.readTokens()
		if err != nil {
			return nil, err
		}
		if len(toks) > 0 && toks[0].kind == tokAtom {
			switch st := strings.ToUpper(toks[0].value); st {
			case "OK", "NO", "BYE":
				resp.status = st
				if err := parseStatus(toks[1:], &resp); err != nil {
					return nil, err
				}
				if st == "BYE" {
					c.conn.Close()
				}
				return &resp, nil
			}
		}
		if len(resp.data) >= maxResponseLines {
			return nil, errors.New("too many lines in a response")
		}
		resp.data = append(resp.data, toks)
	}
}

// parseStatus reads [SP "(" code [SP data] ")"] [SP string] (RFC 5804
// section 4: response-oknobye).
func parseStatus(toks []token, resp *response) error {
	if len(toks) > 0 && toks[0].kind == tokLParen {
		end := slices.IndexFunc(toks, func(t token) bool { return t.kind == tokRParen })
		if end < 2 || toks[1].kind != tokAtom {
			return errors.New("malformed response code")
		}
		resp.code = strings.ToUpper(toks[1].value)
		for _, t := range toks[2:end] {
			resp.codeData = append(resp.codeData, t.value)
		}
		toks = toks[end+1:]
	}
	if len(toks) > 0 {
		resp.text = toks[0].value
	}
	return nil
}

// readCapabilities reads a capability response (RFC 5804 section 1.7).
func (c *Client) readCapabilities(ctx context.Context) error {
	c.deadline(ctx)
	resp, err := c.readResponse()
	if err != nil {
		return err
	}
	if err := resp.err(); err != nil {
		return err
	}
	caps := map[string]string{}
	for _, line := range resp.data {
		if len(line) == 0 || line[0].kind != tokString {
			continue
		}
		v := ""
		if len(line) > 1 {
			v = line[1].value
		}
		caps[strings.ToUpper(line[0].value)] = v
	}
	c.caps = caps
	return nil
}

// command sends a command line made of a name and string arguments, and
// reads the response.
func (c *Client) command(ctx context.Context, name string, args ...string) (*response, error) {
	c.deadline(ctx)
	c.w.WriteString(name)
	for _, a := range args {
		c.w.WriteString(" " + quote(a, true))
	}
	c.w.WriteString("\r\n")
	if err := c.w.Flush(); err != nil {
		return nil, fmt.Errorf("managesieve: %s: %w", name, err)
	}
	resp, err := c.readResponse()
	if err != nil {
		return nil, fmt.Errorf("managesieve: %s: %w", name, err)
	}
	return resp, nil
}

// simple runs a command that answers only OK or NO.
func (c *Client) simple(ctx context.Context, name string, args ...string) error {
	resp, err := c.command(ctx, name, args...)
	if err != nil {
		return err
	}
	return resp.err()
}

// StartTLS upgrades the connection (RFC 5804 section 2.2) and reads the
// capabilities the server re-issues.
func (c *Client) StartTLS(ctx context.Context, cfg *tls.Config) error {
	if err := c.simple(ctx, "STARTTLS"); err != nil {
		return err
	}
	tc := tls.Client(c.conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("managesieve: TLS: %w", err)
	}
	c.setConn(tc)
	c.tls = true
	if err := c.readCapabilities(ctx); err != nil {
		return fmt.Errorf("managesieve: after STARTTLS: %w", err)
	}
	return nil
}

// Mechanisms lists the SASL mechanisms the server offers.
func (c *Client) Mechanisms() []string {
	return strings.Fields(strings.ToUpper(c.caps["SASL"]))
}

// Login authenticates as user with password: with SCRAM-SHA-256 when the
// server offers it, else PLAIN. PLAIN is refused here without TLS unless
// the server is on a loopback address.
func (c *Client) Login(ctx context.Context, user, password string) error {
	mechs := c.Mechanisms()
	switch {
	case slices.Contains(mechs, "SCRAM-SHA-256"):
		cl, err := NewSCRAMClient(user, password)
		if err != nil {
			return err
		}
		return c.Authenticate(ctx, cl)
	case slices.Contains(mechs, "PLAIN"):
		if !c.tls && !isLoopback(c.conn.RemoteAddr()) {
			return errors.New("managesieve: the server offers PLAIN without TLS; not sending the password in the clear")
		}
		return c.Authenticate(ctx, sasl.NewPlainClient("", user, password))
	}
	return fmt.Errorf("managesieve: no usable SASL mechanism (the server offers %q)", c.caps["SASL"])
}

func isLoopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}

// Authenticate runs a SASL exchange (RFC 5804 section 2.1). Data in the
// final OK's SASL code is given to the mechanism as a last challenge.
func (c *Client) Authenticate(ctx context.Context, cl sasl.Client) error {
	mech, ir, err := cl.Start()
	if err != nil {
		return fmt.Errorf("managesieve: AUTHENTICATE: %w", err)
	}
	c.deadline(ctx)
	c.w.WriteString("AUTHENTICATE " + quote(mech, true))
	if ir != nil {
		c.w.WriteString(" " + quote(base64.StdEncoding.EncodeToString(ir), true))
	}
	c.w.WriteString("\r\n")
	for {
		if err := c.w.Flush(); err != nil {
			return fmt.Errorf("managesieve: AUTHENTICATE: %w", err)
		}
		toks, err := c.r.readTokens()
		if err != nil {
			return fmt.Errorf("managesieve: AUTHENTICATE: %w", err)
		}
		if len(toks) > 0 && toks[0].kind == tokAtom {
			var resp response
			resp.status = strings.ToUpper(toks[0].value)
			if err := parseStatus(toks[1:], &resp); err != nil {
				return fmt.Errorf("managesieve: AUTHENTICATE: %w", err)
			}
			if err := resp.err(); err != nil {
				return err
			}
			if resp.code == "SASL" && len(resp.codeData) == 1 {
				ch, err := base64.StdEncoding.DecodeString(resp.codeData[0])
				if err != nil {
					return errors.New("managesieve: AUTHENTICATE: server's final data is not base64")
				}
				if _, err := cl.Next(ch); err != nil {
					return fmt.Errorf("managesieve: AUTHENTICATE: the server did not prove itself: %w", err)
				}
			}
			if v, ok := cl.(interface{ Verified() bool }); ok && !v.Verified() {
				return errors.New("managesieve: AUTHENTICATE: the server did not prove itself")
			}
			return nil
		}
		if len(toks) != 1 || toks[0].kind != tokString {
			return errors.New("managesieve: AUTHENTICATE: malformed challenge")
		}
		ch, err := base64.StdEncoding.DecodeString(toks[0].value)
		if err != nil {
			return errors.New("managesieve: AUTHENTICATE: challenge is not base64")
		}
		out, err := cl.Next(ch)
		if err != nil {
			c.w.WriteString(`"*"` + "\r\n") // cancel
			c.w.Flush()
			c.readResponse()
			return fmt.Errorf("managesieve: AUTHENTICATE: %w", err)
		}
		c.w.WriteString(quote(base64.StdEncoding.EncodeToString(out), true) + "\r\n")
	}
}

// scramClient is SCRAM-SHA-256 (RFC 7677) as a sasl.Client.
type scramClient struct {
	conv *scram.ClientConversation
}

// NewSCRAMClient returns a SCRAM-SHA-256 client for user and password.
func NewSCRAMClient(user, password string) (sasl.Client, error) {
	cl, err := scram.SHA256.NewClient(user, password, "")
	if err != nil {
		return nil, fmt.Errorf("managesieve: SCRAM: %w", err)
	}
	return &scramClient{conv: cl.NewConversation()}, nil
}

func (s *scramClient) Start() (string, []byte, error) {
	first, err := s.conv.Step("")
	return "SCRAM-SHA-256", []byte(first), err
}

func (s *scramClient) Next(challenge []byte) ([]byte, error) {
	if s.conv.Done() {
		// An empty last challenge after the server-final message.
		return nil, nil
	}
	out, err := s.conv.Step(string(challenge))
	return []byte(out), err
}

// Verified reports whether the server proved it knows the password.
func (s *scramClient) Verified() bool { return s.conv.Done() && s.conv.Valid() }

// Logout ends the session (RFC 5804 section 2.3) and closes the
// connection.
func (c *Client) Logout(ctx context.Context) error {
	err := c.simple(ctx, "LOGOUT")
	c.conn.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// Noop is NOOP (RFC 5804 section 2.15).
func (c *Client) Noop(ctx context.Context) error { return c.simple(ctx, "NOOP") }

// ListScripts implements Scripts.
func (c *Client) ListScripts(ctx context.Context) ([]ScriptInfo, error) {
	resp, err := c.command(ctx, "LISTSCRIPTS")
	if err != nil {
		return nil, err
	}
	if err := resp.err(); err != nil {
		return nil, err
	}
	var out []ScriptInfo
	for _, line := range resp.data {
		if len(line) == 0 || line[0].kind != tokString {
			return nil, errors.New("managesieve: LISTSCRIPTS: malformed line")
		}
		active := len(line) > 1 && line[1].kind == tokAtom && strings.EqualFold(line[1].value, "ACTIVE")
		out = append(out, ScriptInfo{Name: line[0].value, Active: active})
	}
	return out, nil
}

// GetScript implements Scripts.
func (c *Client) GetScript(ctx context.Context, name string) ([]byte, error) {
	resp, err := c.command(ctx, "GETSCRIPT", name)
	if err != nil {
		return nil, err
	}
	if err := resp.err(); err != nil {
		return nil, err
	}
	if len(resp.data) != 1 || len(resp.data[0]) != 1 || resp.data[0][0].kind != tokString {
		return nil, errors.New("managesieve: GETSCRIPT: malformed answer")
	}
	return []byte(resp.data[0][0].value), nil
}

// PutScript implements Scripts; warnings go to Warn.
func (c *Client) PutScript(ctx context.Context, name string, content []byte) error {
	return c.warned(ctx, "PUTSCRIPT", name, string(content))
}

// CheckScript implements Scripts; warnings go to Warn.
func (c *Client) CheckScript(ctx context.Context, content []byte) error {
	return c.warned(ctx, "CHECKSCRIPT", string(content))
}

// warned runs a command whose OK may carry the WARNINGS response code.
func (c *Client) warned(ctx context.Context, name string, args ...string) error {
	resp, err := c.command(ctx, name, args...)
	if err != nil {
		return err
	}
	if err := resp.err(); err != nil {
		return err
	}
	if resp.code == CodeWarnings && c.Warn != nil {
		var warnings []string
		for _, l := range strings.Split(strings.ReplaceAll(resp.text, "\r\n", "\n"), "\n") {
			if l != "" {
				warnings = append(warnings, l)
			}
		}
		c.Warn(warnings)
	}
	return nil
}

// SetActive implements Scripts.
func (c *Client) SetActive(ctx context.Context, name string) error {
	return c.simple(ctx, "SETACTIVE", name)
}

// DeleteScript implements Scripts.
func (c *Client) DeleteScript(ctx context.Context, name string) error {
	return c.simple(ctx, "DELETESCRIPT", name)
}

// RenameScript implements Scripts.
func (c *Client) RenameScript(ctx context.Context, oldName, newName string) error {
	return c.simple(ctx, "RENAMESCRIPT", oldName, newName)
}

// HaveSpace implements Scripts.
func (c *Client) HaveSpace(ctx context.Context, name string, size int64) error {
	c.deadline(ctx)
	c.w.WriteString("HAVESPACE " + quote(name, true) + " " + strconv.FormatInt(size, 10) + "\r\n")
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("managesieve: HAVESPACE: %w", err)
	}
	resp, err := c.readResponse()
	if err != nil {
		return fmt.Errorf("managesieve: HAVESPACE: %w", err)
	}
	return resp.err()
}
