package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const minimal = `[server]
hostname = "mx.example.test"
state_dir = "/some/dir"
`

// public returns c without what Parse keeps for itself, for comparisons.
func public(c *Config) Config {
	cp := *c
	cp.Path = ""
	cp.lines = nil
	cp.unexpanded = nil
	return cp
}

// errorList flattens an error from Parse or Validate into its *Errors.
func errorList(t *testing.T, err error) []*Error {
	t.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var out []*Error
	for _, e := range errs {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Fatalf("error %q is not a *config.Error", e)
		}
		out = append(out, ce)
	}
	return out
}

func TestMinimalFileIsComplete(t *testing.T) {
	c, err := Parse("gannet.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Server.Hostname = "mx.example.test"
	want.Server.StateDir = "/some/dir"
	if !reflect.DeepEqual(public(c), public(want)) {
		t.Errorf("minimal file gave\n%+v\nwant the defaults\n%+v", public(c), public(want))
	}
	if c.Path != "gannet.toml" {
		t.Errorf("Path = %q", c.Path)
	}
	if got := c.DatabasePath(); got != "/some/dir/gannet.db" {
		t.Errorf("DatabasePath() = %q, want /some/dir/gannet.db", got)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("gannet.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"max_message_size", c.SMTPD.MaxMessageSize, int64(50 << 20)},
		{"max_recipients", c.SMTPD.MaxRecipients, 1000},
		{"max_received_headers", c.SMTPD.MaxReceivedHeaders, 50},
		{"max_line_length", c.SMTPD.MaxLineLength, 4096},
		{"idle_timeout", c.SMTPD.IdleTimeout.Duration, 5 * time.Minute},
		{"bare_line_endings", c.SMTPD.BareLineEndings, "reject"},
		{"sender_validation", c.SMTPD.SenderValidation, true},
		{"require_tls_for_auth", c.SMTPD.RequireTLSForAuth, true},
		{"delay_warning", c.Queued.DelayWarning.Duration, 4 * time.Hour},
		{"give_up_after", c.Queued.GiveUpAfter.Duration, 5 * 24 * time.Hour},
		{"retry_schedule", fmt.Sprint(c.Queued.RetrySchedule), "[2m 5m 10m 15m 30m 1h 2h 4h]"},
		{"min_version", c.TLS.MinVersion, "1.2"},
		{"log level", c.Log.Level, "info"},
		{"driver", c.Store.Driver, "sqlite"},
		{"subaddress", c.Directory.SubaddressSeparator, "+"},
		{"quota_exceeded", c.Deliver.QuotaExceeded, "temporary"},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("default %s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	wantListeners := map[string][]Listener{
		"smtpd":  {{Name: "smtp", Address: ":25"}, {Name: "submission", Address: ":587"}, {Name: "submissions", Address: ":465"}, {Name: "lmtp", Address: "127.0.0.1:24"}},
		"imapd":  {{Name: "imap", Address: ":143"}, {Name: "imaps", Address: ":993"}},
		"jmapd":  {{Name: "http", Address: "127.0.0.1:8080"}, {Name: "https", Address: ":443"}},
		"sieved": {{Name: "sieve", Address: ":4190"}},
		"spamd":  {{Name: "spamd", Address: "127.0.0.1:783"}, {Name: "milter", Address: "127.0.0.1:11332"}},
	}
	for sec, want := range wantListeners {
		if got := c.ListenersFor(sec); !reflect.DeepEqual(got, want) {
			t.Errorf("ListenersFor(%q) = %v, want %v", sec, got, want)
		}
	}
	if got := c.ListenersFor("queued"); got != nil {
		t.Errorf("ListenersFor(queued) = %v, want nil", got)
	}
}

func TestDefaultNeedsHostnameAndStateDir(t *testing.T) {
	errs := errorList(t, Default().Validate())
	var keys []string
	for _, e := range errs {
		keys = append(keys, e.Key)
	}
	if !reflect.DeepEqual(keys, []string{"server.hostname", "server.state_dir"}) {
		t.Errorf("Default().Validate() complains about %v, want only the two required keys", keys)
	}
}

// wantErr is one error a case expects: its line, key and part of its message.
type wantErr struct {
	line int
	key  string
	msg  string
}

func TestErrors(t *testing.T) {
	t.Setenv("GANNET_TEST_UNSET", "")
	os.Unsetenv("GANNET_TEST_UNSET")
	dir := t.TempDir()
	const head = minimal // lines 1-3
	tests := []struct {
		name string
		file string
		want []wantErr
	}{
		{"empty file", ``, []wantErr{
			{0, "server.hostname", "required"},
			{0, "server.state_dir", "required"},
		}},
		{"missing hostname", "[server]\nstate_dir = \"/x\"\n", []wantErr{{1, "server.hostname", "required"}}},
		{"missing state_dir", "\n[server]\nhostname = \"mx.example.test\"\n", []wantErr{{2, "server.state_dir", "required"}}},
		{"unknown section", head + "\n[smtp]\nmax_errors = 3\n", []wantErr{{5, "smtp", `unknown key (did you mean "smtpd"?)`}}},
		{"unknown key", "[server]\nhostname = \"mx.example.test\"\nstate_dir = \"/x\"\nhostnme = \"a.b\"\n", []wantErr{{4, "server.hostnme", `unknown key (did you mean "hostname"?)`}}},
		{"unknown top-level key", "verbose = true\n" + head, []wantErr{{1, "verbose", "unknown key"}}},
		{"unknown dotted key", head + "smtpd.max_recipient = 10\n", []wantErr{{4, "server.smtpd", "unknown key"}}},
		{"unknown key in second listener", head + `
[[smtpd.listener]]
name = "smtp"
address = ":25"

[[smtpd.listener]]
name = "lmtp"
adress = "127.0.0.1:24"
`, []wantErr{
			{9, "smtpd.listener[1].address", "required"},
			{11, "smtpd.listener[1].adress", `unknown key (did you mean "address"?)`},
		}},
		{"unknown key in inline table", head + "[imapd]\nlistener = [{name = \"imap\", address = \":143\"},\n  {name = \"imaps\", adress = \":993\"}]\n", []wantErr{
			{6, "imapd.listener[1].address", "required"},
			{6, "imapd.listener[1].adress", "unknown key"},
		}},
		{"string for integer", head + "[smtpd]\nmax_message_size = \"50M\"\n", []wantErr{{5, "smtpd.max_message_size", `want an integer, not the string "50M"`}}},
		{"float for integer", head + "[smtpd]\nmax_recipients = 1.5\n", []wantErr{{5, "smtpd.max_recipients", "want an integer, not the float 1.5"}}},
		{"string for bool", head + "[smtpd]\nrequire_tls_for_auth = \"yes\"\n", []wantErr{{5, "smtpd.require_tls_for_auth", "want true or false"}}},
		{"integer for string", "[server]\nhostname = 5\nstate_dir = \"/x\"\n", []wantErr{{2, "server.hostname", "want a string, not the integer 5"}}},
		{"string for array", head + "[queued]\nretry_schedule = \"2m\"\n", []wantErr{{5, "queued.retry_schedule", "want an array"}}},
		{"integer in duration array", head + "[queued]\nretry_schedule = [\n  \"2m\",\n  120,\n]\n", []wantErr{{7, "queued.retry_schedule[1]", "want a string, not the integer 120"}}},
		{"table for array of tables", head + "[smtpd.listener]\nname = \"smtp\"\n", []wantErr{{4, "smtpd.listener", "want an array, not a table"}}},
		{"scalar for table", head + "log = \"debug\"\n", []wantErr{{4, "server.log", "unknown key"}}},
		{"scalar for table at top", "log = \"debug\"\n" + head, []wantErr{{1, "log", "want a table"}}},
		{"out of range uint8", head + "[directory.argon2]\nthreads = 300\n", []wantErr{{5, "directory.argon2.threads", "out of range (0 to 255)"}}},
		{"negative uint", head + "[directory.argon2]\ntime = -1\n", []wantErr{{5, "directory.argon2.time", "out of range"}}},
		{"syntax error", "[server]\nhostname = \"mx.example.test\nstate_dir = \"/x\"\n", []wantErr{{2, "server.hostname", "strings cannot contain newlines"}}},
		{"nested too deeply", head + "[smtpd]\nrelay_networks = " + strings.Repeat("[", 17) + strings.Repeat("]", 17) + "\n", []wantErr{{5, "", "nested more than 16 deep"}}},
		{"duplicate key", head + "hostname = \"b.example\"\n", []wantErr{{4, "server.hostname", "already been defined"}}},
		{"bad enum", head + "[smtpd]\nbare_line_endings = \"foo\"\n", []wantErr{{5, "smtpd.bare_line_endings", `"foo" is not one of "reject", "normalize"`}}},
		{"negative size", head + "[smtpd]\nmax_message_size = -1\n", []wantErr{{5, "smtpd.max_message_size", "too small"}}},
		{"short line length", head + "[smtpd]\nmax_line_length = 100\n", []wantErr{{5, "smtpd.max_line_length", "at least 512"}}},
		{"bad CIDR", head + "[smtpd]\nrelay_networks = [\n  \"10.0.0.0/8\",\n  \"10.0.0.0/33\",\n]\n", []wantErr{{7, "smtpd.relay_networks[1]", `"10.0.0.0/33": want an address or network in CIDR form`}}},
		{"bad listener address", head + "[[smtpd.listener]]\nname = \"smtp\"\naddress = \"localhost\"\n", []wantErr{{6, "smtpd.listener[0].address", "want host:port"}}},
		{"bad listener port", head + "[[smtpd.listener]]\nname = \"smtp\"\naddress = \":smtp\"\n", []wantErr{{6, "smtpd.listener[0].address", `port "smtp" is not a number`}}},
		{"listener role of another daemon", head + "[[smtpd.listener]]\nname = \"imap\"\naddress = \":143\"\n", []wantErr{
			{5, "smtpd.listener[0].name", `"imap" is not one of "smtp", "submission", "submissions", "lmtp"`},
			{6, "smtpd.listener[0].address", `":143" is also used by imapd.listener[0]`},
		}},
		{"listener address twice", head + "[[imapd.listener]]\nname = \"imap\"\naddress = \"127.0.0.1:2525\"\n[[smtpd.listener]]\nname = \"smtp\"\naddress = \"127.0.0.1:2525\"\n", []wantErr{{6, "imapd.listener[0].address", "also used by smtpd.listener[0]"}}},
		{"hostname not FQDN", "[server]\nhostname = \"localhost\"\nstate_dir = \"/x\"\n", []wantErr{{2, "server.hostname", "not a fully qualified domain name"}}},
		{"hostname with underscore", "[server]\nhostname = \"mx_1.example.org\"\nstate_dir = \"/x\"\n", []wantErr{{2, "server.hostname", "only letters, digits and hyphens"}}},
		{"hostname is an IP", "[server]\nhostname = \"192.0.2.1\"\nstate_dir = \"/x\"\n", []wantErr{{2, "server.hostname", "all digits"}}},
		{"relative state_dir", "[server]\nhostname = \"mx.example.test\"\nstate_dir = \"var\"\n", []wantErr{{3, "server.state_dir", "absolute path"}}},
		{"min_version", head + "[tls]\nmin_version = \"1.1\"\n", []wantErr{{5, "tls.min_version", `"1.1" is not one of "1.2", "1.3"`}}},
		{"cert without key", head + "[tls]\ncert_file = \"/etc/ssl/x.pem\"\n", []wantErr{{4, "tls.key_file", "required when tls.cert_file is set"}}},
		{"log level", head + "[log]\nlevel = \"verbose\"\n", []wantErr{{5, "log.level", `"verbose" is not one of "debug", "info", "warn", "error"`}}},
		{"postgres", head + "[store]\ndriver = \"postgres\"\n", []wantErr{{5, "store.driver", "not supported yet"}}},
		{"bad duration", head + "[smtpd]\nidle_timeout = \"5x\"\n", []wantErr{{5, "smtpd.idle_timeout", `invalid duration "5x"`}}},
		{"zero duration", head + "[smtpd]\nidle_timeout = \"0s\"\n", []wantErr{{5, "smtpd.idle_timeout", "longer than zero"}}},
		{"negative retry", head + "[queued]\nretry_schedule = [\"2m\", \"-5m\"]\n", []wantErr{{5, "queued.retry_schedule[1]", "longer than zero"}}},
		{"empty retry schedule", head + "[queued]\nretry_schedule = []\n", []wantErr{{5, "queued.retry_schedule", "at least one"}}},
		{"warning after give-up", head + "[queued]\ndelay_warning = \"6d\"\n", []wantErr{{5, "queued.delay_warning", "shorter than give_up_after (5d)"}}},
		{"separator", head + "[directory]\nsubaddress_separator = \"ab\"\n", []wantErr{{5, "directory.subaddress_separator", "one punctuation character"}}},
		{"resolver", head + "[dns]\nresolver = \"dns.google\"\n", []wantErr{{5, "dns.resolver", "want an IP address and port"}}},
		{"quota", head + "[deliver]\nquota_exceeded = \"bounce\"\n", []wantErr{{5, "deliver.quota_exceeded", `"bounce" is not one of`}}},
		{"unset variable", "[server]\nhostname = \"mx.example.test\"\nstate_dir = \"${env:GANNET_TEST_UNSET}/x\"\n", []wantErr{{3, "server.state_dir", "${env:GANNET_TEST_UNSET}: environment variable GANNET_TEST_UNSET is not set"}}},
		{"missing file", head + "[tls]\ncert_file = \"/a.pem\"\nkey_file = \"${file:" + dir + "/nope}\"\n", []wantErr{{6, "tls.key_file", "no such file"}}},
		{"directory as file", head + "[tls]\ncert_file = \"/a.pem\"\nkey_file = \"${file:" + dir + "}\"\n", []wantErr{{6, "tls.key_file", "not a regular file"}}},
		{"unknown reference", head + "[dns]\nresolver = \"${vault:dns}\"\n", []wantErr{{5, "dns.resolver", `unknown reference "${vault:dns}"`}}},
		{"unterminated reference", head + "[dns]\nresolver = \"${env:X\"\n", []wantErr{{5, "dns.resolver", "unterminated"}}},
		{"reference in array", head + "[smtpd]\nrelay_networks = [\"10.0.0.0/8\", \"${env:GANNET_TEST_UNSET}\"]\n", []wantErr{{5, "smtpd.relay_networks[1]", "not set"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("/etc/gannet/test.toml", []byte(tt.file))
			if err == nil {
				t.Fatalf("Parse accepted the file; config %+v", c)
			}
			if c != nil {
				t.Errorf("Parse returned a config with an error")
			}
			errs := errorList(t, err)
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tt.want), err)
			}
			for i, w := range tt.want {
				e := errs[i]
				if e.File != "/etc/gannet/test.toml" || e.Line != w.line || e.Key != w.key || !strings.Contains(e.Msg, w.msg) {
					t.Errorf("error %d = %#v\nwant file /etc/gannet/test.toml, line %d, key %q, message containing %q", i, e, w.line, w.key, w.msg)
				}
				// What an administrator reads: FILE:LINE: KEY: MSG.
				prefix := "/etc/gannet/test.toml"
				if w.line > 0 {
					prefix += fmt.Sprintf(":%d", w.line)
				}
				prefix += ": "
				if w.key != "" {
					prefix += w.key + ": "
				}
				if !strings.HasPrefix(e.Error(), prefix) || !strings.Contains(err.Error(), e.Error()) {
					t.Errorf("message %q does not start with %q", e.Error(), prefix)
				}
			}
		})
	}
}

func TestEveryErrorAtOnce(t *testing.T) {
	file := `[server]
hostname = "localhost"
state_dir = "/x"

[smtpd]
max_recipients = "many"
bare_line_endings = "fix"
typo = 1

[log]
level = "loud"
`
	_, err := Parse("g.toml", []byte(file))
	if err == nil {
		t.Fatal("Parse accepted a file with five mistakes")
	}
	want := []string{
		"g.toml:2: server.hostname: ",
		"g.toml:6: smtpd.max_recipients: ",
		"g.toml:7: smtpd.bare_line_endings: ",
		"g.toml:8: smtpd.typo: unknown key",
		"g.toml:11: log.level: ",
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d (in line order):\n%v", len(lines), len(want), err)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d = %q, want it to start with %q", i, lines[i], want[i])
		}
	}
}

func TestExpansion(t *testing.T) {
	creds := t.TempDir()
	// As systemd's LoadCredential= leaves them: one file per credential.
	if err := os.WriteFile(filepath.Join(creds, "resolver"), []byte("192.0.2.53:53\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	confDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(confDir, "host"), []byte("mx.example.test\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	t.Setenv("GANNET_TEST_STATE", "/var/lib/gannet")
	t.Setenv("GANNET_TEST_NET", "10.1.0.0/16")
	t.Setenv("GANNET_TEST_IDLE", "7m")
	t.Setenv("GANNET_TEST_EMPTY", "")
	file := `[server]
hostname = "${file:host}"
state_dir = "${env:GANNET_TEST_STATE}"
runtime_dir = "${env:GANNET_TEST_STATE}/run${env:GANNET_TEST_EMPTY}"
[smtpd]
relay_networks = ["127.0.0.0/8", "${env:GANNET_TEST_NET}"]
idle_timeout = "${env:GANNET_TEST_IDLE}"
[dns]
resolver = "${file:${env:CREDENTIALS_DIRECTORY}/resolver}"
[tls]
cert_file = "/etc/x/$${not}.pem"
key_file = "/etc/x/key.pem"
`
	path := filepath.Join(confDir, "gannet.toml")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"file relative to the config, CRLF trimmed", c.Server.Hostname, "mx.example.test"},
		{"whole value", c.Server.StateDir, "/var/lib/gannet"},
		{"embedded, empty variable", c.Server.RuntimeDir, "/var/lib/gannet/run"},
		{"array element", c.SMTPD.RelayNetworks[1], "10.1.0.0/16"},
		{"duration", c.SMTPD.IdleTimeout.String(), "7m"},
		{"nested, newline trimmed", c.DNS.Resolver, "192.0.2.53:53"},
		{"escaped", c.TLS.CertFile, "/etc/x/${not}.pem"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %q, want %q", ch.name, ch.got, ch.want)
		}
	}

	// The effective configuration shows references, not what they hold.
	var out bytes.Buffer
	if err := c.Encode(&out); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); strings.Contains(s, "192.0.2.53") || !strings.Contains(s, `resolver = "${file:${env:CREDENTIALS_DIRECTORY}/resolver}"`) {
		t.Errorf("Encode shows the secret or loses the reference:\n%s", s)
	}
	if c.DNS.Resolver != "192.0.2.53:53" {
		t.Errorf("Encode changed the config: resolver %q", c.DNS.Resolver)
	}
}

func TestSecretFileTooLarge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(p, bytes.Repeat([]byte("x"), MaxSecretFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Parse("g.toml", []byte(minimal+"[dns]\nresolver = \"${file:"+p+"}\"\n"))
	var e *Error
	if !errors.As(err, &e) || e.Key != "dns.resolver" || e.Line != 5 || !strings.Contains(e.Msg, "larger than") {
		t.Errorf("got %v, want a size error at g.toml:5 dns.resolver", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gannet.toml")
	if err := os.WriteFile(path, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != path || c.Server.Hostname != "mx.example.test" {
		t.Errorf("Load gave path %q hostname %q", c.Path, c.Server.Hostname)
	}

	_, err = Load(filepath.Join(dir, "missing.toml"))
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, fs.ErrNotExist) || e.File != filepath.Join(dir, "missing.toml") {
		t.Errorf("Load(missing) = %v, want an *Error naming the file that wraps fs.ErrNotExist", err)
	}
	if strings.Count(err.Error(), "missing.toml") != 1 {
		t.Errorf("message names the file more than once: %q", err)
	}

	big := filepath.Join(dir, "big.toml")
	if err := os.WriteFile(big, append([]byte(minimal), bytes.Repeat([]byte("#"), MaxFileSize)...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load(big) = %v, want a size error", err)
	}
}

func TestResolvePath(t *testing.T) {
	t.Setenv("GANNET_CONFIG", "")
	if got := ResolvePath(""); got != DefaultPath {
		t.Errorf("no flag, no env: %q", got)
	}
	t.Setenv("GANNET_CONFIG", "/env.toml")
	if got := ResolvePath(""); got != "/env.toml" {
		t.Errorf("env: %q", got)
	}
	if got := ResolvePath("/flag.toml"); got != "/flag.toml" {
		t.Errorf("flag and env: %q", got)
	}
}

func TestPaths(t *testing.T) {
	c, err := Parse("g.toml", []byte(minimal+"[store]\npath = \"db/mail.db\"\n[tls]\ncert_file = \"c.pem\"\nkey_file = \"/k.pem\"\n[smtpd]\nrelay_networks = [\"192.0.2.1\", \"2001:db8::1\", \"10.0.0.0/8\"]\n[dns]\nresolver = \"::1\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.DatabasePath(); got != "/some/dir/db/mail.db" {
		t.Errorf("DatabasePath() = %q", got)
	}
	if c.TLS.CertFile != "/some/dir/c.pem" || c.TLS.KeyFile != "/k.pem" {
		t.Errorf("tls files %q %q", c.TLS.CertFile, c.TLS.KeyFile)
	}
	if want := []string{"192.0.2.1/32", "2001:db8::1/128", "10.0.0.0/8"}; !slices.Equal(c.SMTPD.RelayNetworks, want) {
		t.Errorf("relay_networks = %q, want %q", c.SMTPD.RelayNetworks, want)
	}
	if n := len(c.SMTPD.RelayPrefixes()); n != 3 {
		t.Errorf("RelayPrefixes() has %d entries", n)
	}
	if c.DNS.Resolver != "[::1]:53" {
		t.Errorf("resolver = %q", c.DNS.Resolver)
	}
}

func TestNotifyDir(t *testing.T) {
	c := Default()
	c.Server.StateDir = "/state"

	c.Server.RuntimeDir = "/custom"
	if got := c.NotifyDir(); got != "/custom/notify" {
		t.Errorf("with runtime_dir: %q", got)
	}
	c.Server.RuntimeDir = ""

	saved := systemRuntimeDir
	t.Cleanup(func() { systemRuntimeDir = saved })
	systemRuntimeDir = t.TempDir()
	if got := c.NotifyDir(); got != filepath.Join(systemRuntimeDir, "notify") {
		t.Errorf("writable system runtime dir: %q", got)
	}
	systemRuntimeDir = filepath.Join(t.TempDir(), "absent")
	if got := c.NotifyDir(); got != "/state/run/notify" {
		t.Errorf("no system runtime dir: %q", got)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	c, err := Parse("g.toml", []byte(minimal+"[queued]\nretry_schedule = [\"90s\", \"1d12h\"]\n[[sieved.listener]]\nname = \"sieve\"\naddress = \"/run/gannet/sieve.sock\"\nproxy_protocol = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := c.Encode(&out); err != nil {
		t.Fatal(err)
	}
	c2, err := Parse("out.toml", out.Bytes())
	if err != nil {
		t.Fatalf("Encode wrote what Parse refuses: %v\n%s", err, out.String())
	}
	if !reflect.DeepEqual(public(c), public(c2)) {
		t.Errorf("round trip changed the config:\n%+v\n%+v", public(c), public(c2))
	}
	if !strings.Contains(out.String(), `retry_schedule = ["1m30s", "1d12h"]`) {
		t.Errorf("durations not written readably:\n%s", out.String())
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"30s", 30 * time.Second, "30s"},
		{"4h", 4 * time.Hour, "4h"},
		{"1h30m", 90 * time.Minute, "1h30m"},
		{"5d", 5 * 24 * time.Hour, "5d"},
		{"1d12h", 36 * time.Hour, "1d12h"},
		{"0d", 0, "0s"},
		{"0", 0, "0s"},
		{"250ms", 250 * time.Millisecond, "250ms"},
		{"-5m", -5 * time.Minute, "-5m"},
		{"1h0m5s", time.Hour + 5*time.Second, "1h0m5s"},
	}
	for _, tt := range tests {
		var d Duration
		if err := d.UnmarshalText([]byte(tt.in)); err != nil {
			t.Errorf("UnmarshalText(%q): %v", tt.in, err)
			continue
		}
		if d.Duration != tt.want {
			t.Errorf("UnmarshalText(%q) = %v, want %v", tt.in, d.Duration, tt.want)
		}
		b, _ := d.MarshalText()
		if string(b) != tt.out {
			t.Errorf("MarshalText(%v) = %q, want %q", tt.want, b, tt.out)
		}
	}
	for _, bad := range []string{"", "d", "5", "5x", "1.5d", "d5", "1h2d", "5d-1h", "5d+1h", "--5d", "-+5d", "9999999999999d", "106751d23h47m16.854775808s"} {
		var d Duration
		if err := d.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) = %v, want an error", bad, d.Duration)
		}
	}
}

// TestContribExample checks that contrib/gannet.toml parses, that it says
// what the defaults really are, and that it shows every key.
func TestContribExample(t *testing.T) {
	path := filepath.Join("..", "..", "contrib", "gannet.toml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(path, data)
	if err != nil {
		t.Fatalf("the example does not parse: %v", err)
	}
	want := Default()
	want.Server.Hostname = "mx.example.org"
	want.Server.StateDir = "/var/lib/gannet"
	if !reflect.DeepEqual(public(c), public(want)) {
		t.Errorf("the example's values are not the defaults:\n%+v\nwant\n%+v", public(c), public(want))
	}
	// Arrays that are empty by default (smtpd.rewrite, smtpd.milter) are
	// shown as commented-out examples: uncommented, they must parse and
	// name their keys.
	t.Setenv("GANNET_RELAY_PASSWORD", "secret") // queued.relay_host's example
	full, err := Parse(path, uncommentExamples(data))
	if err != nil {
		t.Fatalf("the example with its commented-out [[tables]] uncommented does not parse: %v", err)
	}
	var missing []string
	for _, k := range allKeys(reflect.TypeFor[Config](), "") {
		if _, ok := full.lines[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		t.Errorf("the example leaves out %v", missing)
	}
}

// uncommentExamples uncomments the "# [[table]]" lines of a file and the
// "# key = value" lines right after each.
func uncommentExamples(data []byte) []byte {
	lines := strings.Split(string(data), "\n")
	in := false
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "# [[") && strings.HasSuffix(l, "]]"):
			in = true
		case in && strings.HasPrefix(l, "# ") && strings.Contains(l, " = ") && !strings.HasPrefix(l, "#  "):
		default:
			in = false
			continue
		}
		lines[i] = strings.TrimPrefix(l, "# ")
	}
	return []byte(strings.Join(lines, "\n"))
}

// allKeys lists every key of a struct type; arrays of tables as element 0.
func allKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for name, i := range fields(t) {
		f := t.Field(i)
		k := joinKey(prefix, name)
		switch {
		case f.Type == reflect.TypeFor[Duration]():
			keys = append(keys, k)
		case f.Type.Kind() == reflect.Struct:
			keys = append(keys, allKeys(f.Type, k)...)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct && f.Type.Elem() != reflect.TypeFor[Duration]():
			keys = append(keys, allKeys(f.Type.Elem(), indexKey(k, 0))...)
		default:
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func TestScanLines(t *testing.T) {
	file := `# comment [not.a.table]
a = """
multi = 1
line"""
b = '''x
'''
"quoted.key" = 1
c = [ # comment
  1,
  [2, 3],
  { d = 4,
    e = "x" },
]

[t . "u v"]
w.x = { y = 'z' }
[[arr]]
k = 1
[[arr]]
k = 2
[arr.sub]
s = "a\"b"
[[arr.list]]
n = 1
`
	got := scanLines([]byte(file))
	want := map[string]int{
		"a":                2,
		"b":                5,
		`"quoted.key"`:     7,
		"c":                8,
		"c[0]":             9,
		"c[1]":             10,
		"c[1][0]":          10,
		"c[1][1]":          10,
		"c[2]":             11,
		"c[2].d":           11,
		"c[2].e":           12,
		"t":                15,
		`t."u v"`:          15,
		`t."u v".w`:        16,
		`t."u v".w.x`:      16,
		`t."u v".w.x.y`:    16,
		"arr":              17,
		"arr[0]":           17,
		"arr[0].k":         18,
		"arr[1]":           19,
		"arr[1].k":         20,
		"arr[1].sub":       21,
		"arr[1].sub.s":     22,
		"arr[1].list":      23,
		"arr[1].list[0]":   23,
		"arr[1].list[0].n": 24,
	}
	for k, line := range want {
		if got[k] != line {
			t.Errorf("line of %s = %d, want %d", k, got[k], line)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected key %s at line %d", k, got[k])
		}
	}
}

func TestBracketsInStringsAreNotNesting(t *testing.T) {
	deep := strings.Repeat("[{", 20)
	file := minimal + "# " + deep + "\n[tls]\ncert_file = \"/" + deep + "\"\nkey_file = '/" + deep + "'\n[dns]\nresolver = \"\"\"\n" + deep + "\"\"\"\n"
	_, err := Parse("g.toml", []byte(file))
	var e *Error
	if !errors.As(err, &e) || e.Key != "dns.resolver" || e.Line != 9 {
		t.Errorf("got %v, want only the bad resolver at line 9", err)
	}
}
