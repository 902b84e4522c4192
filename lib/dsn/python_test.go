package dsn

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// pyReader reads each report named on the command line with Python's email
// package and prints what it saw as JSON. Python knows message/delivery-status
// (it splits the blocks into messages) but not RFC 6533's
// message/global-delivery-status, which it takes for one message: for that
// type the script reads the blocks itself from the part's raw text.
const pyReader = `
import email, email.policy, json, sys

def u(s):
    return s.encode('utf-8', 'surrogateescape').decode('utf-8') if isinstance(s, str) else s

def fields(m):
    return {u(k): u(str(v)) for k, v in m.items()}

out = []
for path in sys.argv[1:]:
    raw = open(path, 'rb').read()
    m = email.message_from_bytes(raw, policy=email.policy.compat32)
    r = {'type': m.get_content_type(), 'report_type': m.get_param('report-type'),
         'defects': [type(d).__name__ for d in m.defects], 'parts': []}
    for p in m.get_payload():
        q = {'type': p.get_content_type(), 'defects': [type(d).__name__ for d in p.defects]}
        pl = p.get_payload()
        if q['type'] == 'message/delivery-status':
            q['blocks'] = [fields(b) for b in pl]
        elif q['type'] == 'message/global-delivery-status':
            body = u(p.as_bytes().decode('utf-8', 'surrogateescape')).replace('\r\n', '\n').split('\n\n', 1)[1]
            q['blocks'] = [fields(email.message_from_string(b.strip('\n') + '\n\n'))
                           for b in body.split('\n\n') if b.strip()]
        elif q['type'] in ('message/rfc822', 'message/global'):
            q['returned'] = fields(pl[0])
        else:
            q['text'] = u(pl) if isinstance(pl, str) else None
        r['parts'].append(q)
    out.append(r)
json.dump(out, sys.stdout)
`

// pyReport is what pyReader prints for one report.
type pyReport struct {
	Type       string   `json:"type"`
	ReportType string   `json:"report_type"`
	Defects    []string `json:"defects"`
	Parts      []struct {
		Type     string              `json:"type"`
		Defects  []string            `json:"defects"`
		Blocks   []map[string]string `json:"blocks"`
		Returned map[string]string   `json:"returned"`
		Text     *string             `json:"text"`
	} `json:"parts"`
}

// python returns Debian's python3, failing under GANNET_REQUIRE_TOOLS=1 and
// skipping otherwise when there is none.
func python(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	p, err := exec.LookPath("python3")
	if err == nil {
		return p
	}
	msg := "python3 is not installed (scripts/test-deps.sh installs it)"
	if os.Getenv("GANNET_REQUIRE_TOOLS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestPythonEmail has Python's email package read reports: a second parser,
// written independently of go-message, must see the same structure.
func TestPythonEmail(t *testing.T) {
	py := python(t)
	dir := t.TempDir()

	hdrs := baseReport()
	hdrs.Return = "HDRS"
	two := baseReport()
	two.Recipients = append(two.Recipients, Recipient{Final: "carol@example.net", Action: Delayed, Status: "4.4.1", WillRetryUntil: now.Add(time.Hour)})
	intl := baseReport()
	intl.Recipients[0].Final = "用户@example.net"
	reports := []*Report{baseReport(), hdrs, two, intl}
	var paths []string
	for i, r := range reports {
		raw, err := r.Build(now)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "dsn"+string(rune('0'+i))+".eml")
		if err := os.WriteFile(p, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, append([]string{"-c", pyReader}, paths...)...)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("python: %v\n%s", err, stderr)
	}
	var got []pyReport
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("python output: %v\n%s", err, out)
	}
	if len(got) != len(reports) {
		t.Fatalf("python read %d reports, want %d", len(got), len(reports))
	}

	wantTypes := [][]string{
		{"text/plain", "message/delivery-status", "message/rfc822"},
		{"text/plain", "message/delivery-status", "text/rfc822-headers"},
		{"text/plain", "message/delivery-status", "message/rfc822"},
		{"text/plain", "message/global-delivery-status", "message/global"},
	}
	for i, r := range got {
		wantRT := "delivery-status"
		if i == 3 {
			wantRT = "global-delivery-status"
		}
		if r.Type != "multipart/report" || r.ReportType != wantRT || len(r.Defects) > 0 {
			t.Errorf("report %d: %s report-type=%s defects %v", i, r.Type, r.ReportType, r.Defects)
		}
		var types []string
		for _, p := range r.Parts {
			types = append(types, p.Type)
			if len(p.Defects) > 0 {
				t.Errorf("report %d part %s: defects %v", i, p.Type, p.Defects)
			}
		}
		if !reflect.DeepEqual(types, wantTypes[i]) {
			t.Errorf("report %d: parts %v, want %v", i, types, wantTypes[i])
			continue
		}
		blocks := r.Parts[1].Blocks
		if len(blocks) != 1+len(reports[i].Recipients) {
			t.Errorf("report %d: %d delivery-status blocks, want %d", i, len(blocks), 1+len(reports[i].Recipients))
			continue
		}
		if blocks[0]["Reporting-MTA"] != "dns; mx.example.org" || blocks[0]["Original-Envelope-Id"] != "QQ314159" {
			t.Errorf("report %d: per-message fields %v", i, blocks[0])
		}
		for j, rc := range reports[i].Recipients {
			b := blocks[1+j]
			if b["Final-Recipient"] != addrType(rc.Final)+"; "+rc.Final || b["Action"] != string(rc.Action) || b["Status"] != rc.Status {
				t.Errorf("report %d recipient %d: %v", i, j, b)
			}
			if _, ok := b["Will-Retry-Until"]; ok != (rc.Action == Delayed) {
				t.Errorf("report %d recipient %d: Will-Retry-Until present %v", i, j, ok)
			}
		}
		if i != 1 && r.Parts[2].Returned["Subject"] != "lunch" {
			t.Errorf("report %d: returned message %v", i, r.Parts[2].Returned)
		}
		if i == 1 && (r.Parts[2].Text == nil || !strings.Contains(*r.Parts[2].Text, "Subject: lunch") || strings.Contains(*r.Parts[2].Text, "noon")) {
			t.Errorf("report %d: returned headers %v", i, r.Parts[2].Text)
		}
		if r.Parts[0].Text == nil || !strings.Contains(*r.Parts[0].Text, "This is the mail system at host mx.example.org.") {
			t.Errorf("report %d: text part %v", i, r.Parts[0].Text)
		}
	}
}
