package smtp

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"gannet/lib/config"
	"gannet/lib/sievequery"
)

// TestSieveStageQuery: an administrator's stage script queries the store
// read-only (vnd.gannet.query, with Query set as cmd/smtpd sets it), but
// neither reads its credentials nor writes to it.
func TestSieveStageQuery(t *testing.T) {
	script := filepath.Join(t.TempDir(), "mail.sieve")
	src := `require ["variables", "vnd.gannet.query", "reject", "envelope"];
if envelope :domain :is "from" "count.example" {
	query :set "n" "SELECT count(*) FROM accounts WHERE address LIKE '%@example.test'";
	reject "This server has ${n} accounts";
}
if envelope :domain :is "from" "local.example" {
	if envelope :localpart :matches "from" "*" { set "who" "${1}"; }
	query :set "known" "SELECT count(*) FROM store.accounts WHERE address = '${who}@example.test'";
	if string :is "${known}" "0" { reject "Unknown local user ${who}"; }
}
if envelope :domain :is "from" "leak.example" {
	query :set "h" "SELECT password_hash FROM accounts LIMIT 1";
	reject "Hash ${h}";
}
if envelope :domain :is "from" "write.example" {
	query :set "x" "WITH a AS (SELECT 1) DELETE FROM accounts";
}
`
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOpts{
		config: func(c *config.Config) {
			c.SMTPD.Sieve = []config.SMTPDSieve{{Stage: StageMail, Script: script}}
		},
		server: func(srv *Server) {
			sc, err := CompileStageScripts(srv.Config.SMTPD.Sieve, srv.Config.Path)
			if err != nil {
				t.Fatal(err)
			}
			q, err := sievequery.Admin(srv.Config)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { q.Close() })
			for i := range sc {
				sc[i].Query = q.Query
			}
			srv.Sieve = sc
		},
	})
	rc := dialRaw(t, h.addr[RoleSMTP])
	rc.send("EHLO client.example\r\n")
	rc.expect("250")
	rc.send("MAIL FROM:<x@count.example>\r\n")
	rc.expect("550 5.7.1 This server has 2 accounts")
	rc.send("MAIL FROM:<nobody@local.example>\r\n")
	rc.expect("550 5.7.1 Unknown local user nobody")
	rc.send("MAIL FROM:<demo@local.example>\r\n")
	rc.expect("250")
	rc.send("RSET\r\n")
	rc.expect("250")
	// The credentials are out of reach: the query fails, a temporary
	// failure, and no hash is told.
	rc.send("MAIL FROM:<x@leak.example>\r\n")
	rc.expect("451 4.3.0")
	rc.send("MAIL FROM:<x@write.example>\r\n")
	rc.expect("451 4.3.0")
	rc.send("QUIT\r\n")
	rc.expect("221")
	if _, err := h.st.GetAccount(context.Background(), demo); err != nil {
		t.Errorf("demo's account after the DELETE attempt: %v", err)
	}
}
