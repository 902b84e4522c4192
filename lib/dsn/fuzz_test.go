package dsn

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	message "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// FuzzBuild checks that whatever the inputs, Build either refuses them or
// writes a message with CRLF line ends only, no line over 998 octets, that
// go-message reads as a multipart/report with one delivery-status block per
// recipient, and that returns a clean original that fits byte for byte.
func FuzzBuild(f *testing.F) {
	f.Add("alice@example.org", "bob@example.net", "rfc822;bob@example.net", "smtp; 550 5.1.1 no such user", "dns; mx.example.net", "ENV1", "", []byte(original), uint8(0), uint16(0), false)
	f.Add("alice@example.org", "用户@example.net", "utf-8;用户@example.net", "smtp; 451 try later", "", "", "HDRS", []byte(original), uint8(1), uint16(100), true)
	f.Add("a@b", "c@d", "", strings.Repeat("x", 2000), "", "", "FULL", []byte("S: x\n\n"+strings.Repeat("y", 3000)+"\r"), uint8(0), uint16(500), false)
	f.Add("a@b", "c@d", "", "smtp; 550 "+strings.Repeat("w ", 1500), "h", "id", "", []byte("--=_dsn_\r\n\r\n"), uint8(2), uint16(1), false)
	f.Add(`"x y"@b`, "postmaster", "x400;c=us", "\xff\xfe", "dns;[192.0.2.1]", "e n v", "full", []byte{}, uint8(3), uint16(0), false)
	f.Fuzz(func(t *testing.T, to, final, orig, diag, remote, envid, ret string, original []byte, action uint8, max uint16, smtputf8 bool) {
		actions := []Action{Failed, Delayed, Delivered, Relayed, Expanded}
		a := actions[int(action)%len(actions)]
		status := map[Action]string{Failed: "5.1.1", Delayed: "4.4.1"}[a]
		if status == "" {
			status = "2.0.0"
		}
		r := &Report{
			ReportingMTA:  "mx.example.org",
			To:            to,
			EnvID:         envid,
			Arrival:       arrival,
			Return:        ret,
			MaxReturnSize: int(max),
			SMTPUTF8:      smtputf8,
			Original:      original,
			Recipients: []Recipient{{
				Final: final, Original: orig, Action: a, Status: status,
				RemoteMTA: remote, Diagnostic: diag,
				LastAttempt: now, WillRetryUntil: now,
			}},
		}
		raw, err := r.Build(now)
		if err != nil {
			return
		}
		if err := wireError(raw); err != nil {
			t.Fatalf("%v\n%q", err, raw)
		}
		e, err := message.Read(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("go-message: %v\n%q", err, raw)
		}
		mr := e.MultipartReader()
		if mr == nil {
			t.Fatalf("not multipart:\n%q", raw)
		}
		var parts [][]byte
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("part: %v\n%q", err, raw)
			}
			b, err := io.ReadAll(p.Body)
			if err != nil {
				t.Fatalf("part body: %v", err)
			}
			parts = append(parts, b)
		}
		want := 3
		if original == nil {
			want = 2
		}
		if len(parts) != want {
			t.Fatalf("%d parts, want %d:\n%q", len(parts), want, raw)
		}
		br := bufio.NewReader(bytes.NewReader(parts[1]))
		blocks := 0
		for {
			h, err := textproto.ReadHeader(br)
			if err != nil {
				t.Fatalf("delivery-status: %v\n%q", err, parts[1])
			}
			if blocks > 0 && h.Get("Action") != string(a) {
				t.Fatalf("Action = %q, want %s", h.Get("Action"), a)
			}
			blocks++
			if _, err := br.Peek(1); err == io.EOF {
				break
			}
		}
		if blocks != 2 {
			t.Fatalf("%d delivery-status blocks, want 2:\n%q", blocks, parts[1])
		}
		limit := int(max)
		if limit == 0 {
			limit = DefaultMaxReturnSize
		}
		if a == Failed && !strings.EqualFold(ret, "HDRS") && wireSafe(original) && len(original) <= limit && !bytes.Equal(parts[2], original) {
			t.Fatalf("returned message differs:\n%q\nwant\n%q", parts[2], original)
		}
	})
}

// FuzzIsAutomatic checks that IsAutomatic takes any input without trouble.
func FuzzIsAutomatic(f *testing.F) {
	f.Add([]byte("Auto-Submitted: auto-replied\r\n\r\n"))
	f.Add([]byte("Content-Type: multipart/report; report-type=delivery-status; boundary=\"x\r\n\r\n"))
	f.Add([]byte("Auto-Submitted: (((no\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		IsAutomatic(msg)
	})
}
