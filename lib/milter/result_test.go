package milter

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

const sample = "Received: from client.example\r\n" +
	"Subject: hello\r\n" +
	"\tworld\r\n" +
	"X-Spam: yes\r\n" +
	"x-spam: no\r\n" +
	"\r\n" +
	"body line 1\r\n" +
	"body line 2\r\n"

func TestApply(t *testing.T) {
	const body = "\r\nbody line 1\r\nbody line 2\r\n"
	tests := []struct {
		name string
		raw  string
		mods []Modification
		want string
	}{
		{"nothing", sample, nil, sample},
		{"envelope only", sample, []Modification{{Kind: AddRcpt, Addr: "a@b"}}, sample},
		{"add", sample, []Modification{{Kind: AddHeader, Name: "X-Added", Value: " 1"}},
			"Received: from client.example\r\nSubject: hello\r\n\tworld\r\nX-Spam: yes\r\nx-spam: no\r\nX-Added: 1\r\n" + body},
		{"insert at the top", sample, []Modification{{Kind: InsertHeader, Index: 0, Name: "DKIM-Signature", Value: " v=1"}},
			"DKIM-Signature: v=1\r\n" + sample},
		{"insert after one field", sample, []Modification{{Kind: InsertHeader, Index: 1, Name: "X-I", Value: " 1"}},
			"Received: from client.example\r\nX-I: 1\r\nSubject: hello\r\n\tworld\r\nX-Spam: yes\r\nx-spam: no\r\n" + body},
		{"insert past the end", sample, []Modification{{Kind: InsertHeader, Index: 99, Name: "X-I", Value: " 1"}},
			"Received: from client.example\r\nSubject: hello\r\n\tworld\r\nX-Spam: yes\r\nx-spam: no\r\nX-I: 1\r\n" + body},
		{"change the second of a name, any case", sample, []Modification{{Kind: ChangeHeader, Index: 2, Name: "X-SPAM", Value: " maybe"}},
			"Received: from client.example\r\nSubject: hello\r\n\tworld\r\nX-Spam: yes\r\nX-SPAM: maybe\r\n" + body},
		{"change a folded field", sample, []Modification{{Kind: ChangeHeader, Index: 1, Name: "Subject", Value: " new"}},
			"Received: from client.example\r\nSubject: new\r\nX-Spam: yes\r\nx-spam: no\r\n" + body},
		{"change index 0 is the first", sample, []Modification{{Kind: ChangeHeader, Index: 0, Name: "X-Spam", Value: " 0"}},
			"Received: from client.example\r\nSubject: hello\r\n\tworld\r\nX-Spam: 0\r\nx-spam: no\r\n" + body},
		{"change past the last adds", sample, []Modification{{Kind: ChangeHeader, Index: 3, Name: "X-Spam", Value: " 3"}},
			"Received: from client.example\r\nSubject: hello\r\n\tworld\r\nX-Spam: yes\r\nx-spam: no\r\nX-Spam: 3\r\n" + body},
		{"delete", sample, []Modification{{Kind: DeleteHeader, Index: 1, Name: "x-spam"}},
			"Received: from client.example\r\nSubject: hello\r\n\tworld\r\nx-spam: no\r\n" + body},
		{"delete a missing field", sample, []Modification{{Kind: DeleteHeader, Index: 3, Name: "X-Spam"}}, sample},
		{"mods apply in turn", sample, []Modification{
			{Kind: DeleteHeader, Index: 1, Name: "X-Spam"},
			{Kind: DeleteHeader, Index: 1, Name: "X-Spam"},
			{Kind: AddHeader, Name: "X-Spam", Value: " checked"},
			{Kind: ChangeHeader, Index: 1, Name: "X-Spam", Value: " rechecked"},
		}, "Received: from client.example\r\nSubject: hello\r\n\tworld\r\nX-Spam: rechecked\r\n" + body},
		{"replace body", sample, []Modification{{Kind: ReplaceBody, Body: []byte("new\r\nbody\r\n")}},
			"Received: from client.example\r\nSubject: hello\r\n\tworld\r\nX-Spam: yes\r\nx-spam: no\r\n\r\nnew\r\nbody\r\n"},
		{"header only", "Subject: x\r\n", []Modification{{Kind: AddHeader, Name: "X-A", Value: " 1"}}, "Subject: x\r\nX-A: 1\r\n"},
		{"new body for a header-only message", "Subject: x\r\n", []Modification{{Kind: ReplaceBody, Body: []byte("b\r\n")}}, "Subject: x\r\n\r\nb\r\n"},
		{"line that is not a field is kept, not counted", "Subject: x\r\nnot a field\r\nX-A: 1\r\n\r\nb\r\n",
			[]Modification{{Kind: InsertHeader, Index: 1, Name: "X-I", Value: " i"}},
			"Subject: x\r\nX-I: i\r\nnot a field\r\nX-A: 1\r\n\r\nb\r\n"},
		{"empty body kept", "Subject: x\r\n\r\n", []Modification{{Kind: AddHeader, Name: "X-A", Value: " 1"}}, "Subject: x\r\nX-A: 1\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Result{Modifications: tt.mods}
			got, err := r.Apply([]byte(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Apply =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestApplyRefusesBadNames(t *testing.T) {
	for _, name := range []string{"", "Bad Name", "Colon:", "Ctl\x01"} {
		r := &Result{Modifications: []Modification{{Kind: AddHeader, Name: name, Value: " x"}}}
		if _, err := r.Apply([]byte(sample)); err == nil {
			t.Errorf("Apply accepted the field name %q", name)
		}
	}
	var r *Result
	if out, err := r.Apply([]byte(sample)); err != nil || string(out) != sample {
		t.Errorf("a nil Result changed the message: %q, %v", out, err)
	}
}

func TestFoldValue(t *testing.T) {
	tests := []struct {
		in   string
		lead bool
		want string
	}{
		{"v=1; a=rsa-sha256", true, " v=1; a=rsa-sha256"},
		{" already spaced", false, " already spaced"},
		{"a=1;\n\tb=2", true, " a=1;\r\n\tb=2"},
		{"a=1;\r\n b=2", true, " a=1;\r\n b=2"},
		// A milter cannot make a new field, or end the header.
		{"x\nBcc: victim@example.org", true, " x\r\n\tBcc: victim@example.org"},
		{"x\r\n\r\nbody", true, " x\r\n\tbody"},
		{"x\r\rbody", true, " x\r\n\tbody"},
		{"x\n \n\ty", true, " x\r\n\ty"},
	}
	for _, tt := range tests {
		if got := foldValue(tt.in, tt.lead); got != tt.want {
			t.Errorf("foldValue(%q, %v) = %q, want %q", tt.in, tt.lead, got, tt.want)
		}
	}
}

func TestCRLF(t *testing.T) {
	for in, want := range map[string]string{
		"a\nb\n":     "a\r\nb\r\n",
		"a\r\nb\r\n": "a\r\nb\r\n",
		"a\rb":       "a\r\nb",
		"\n\n":       "\r\n\r\n",
		"":           "",
	} {
		if got := string(crlf([]byte(in))); got != want {
			t.Errorf("crlf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFieldValue(t *testing.T) {
	fields, rest := splitHeader([]byte(sample))
	var names []string
	for _, f := range fields {
		names = append(names, f.name)
	}
	if !reflect.DeepEqual(names, []string{"Received", "Subject", "X-Spam", "x-spam"}) {
		t.Errorf("fields %q", names)
	}
	if string(rest) != "\r\nbody line 1\r\nbody line 2\r\n" {
		t.Errorf("rest %q", rest)
	}
	if got := fields[1].value(false); got != "hello\n\tworld" {
		t.Errorf("value without leading space = %q", got)
	}
	if got := fields[1].value(true); got != " hello\n\tworld" {
		t.Errorf("value with leading space = %q", got)
	}
}

func TestEnvelope(t *testing.T) {
	r := &Result{Modifications: []Modification{
		{Kind: ChangeFrom, Addr: "bounce@example.org"},
		{Kind: AddRcpt, Addr: "archive@example.org"},
		{Kind: AddRcpt, Addr: "Archive@example.org"}, // already there
		{Kind: DeleteRcpt, Addr: "BOB@example.org"},
		{Kind: AddHeader, Name: "X", Value: " y"},
	}}
	rcpts := []string{"alice@example.org", "bob@example.org"}
	from, got := r.Envelope("sender@example.net", rcpts)
	if from != "bounce@example.org" || !reflect.DeepEqual(got, []string{"alice@example.org", "archive@example.org"}) {
		t.Errorf("Envelope = %q, %q", from, got)
	}
	if !reflect.DeepEqual(rcpts, []string{"alice@example.org", "bob@example.org"}) {
		t.Errorf("Envelope changed its argument: %q", rcpts)
	}
	var nilResult *Result
	if from, got := nilResult.Envelope("", rcpts); from != "" || !reflect.DeepEqual(got, rcpts) {
		t.Errorf("nil Result: %q %q", from, got)
	}
}

func TestReplyAction(t *testing.T) {
	tests := []struct {
		code       int
		text       string
		kind       Kind
		enh, reply string
	}{
		{550, "5.7.1 Spam detected", Reject, "5.7.1", "Spam detected"},
		{554, "Go away", Reject, "5.7.1", "Go away"},
		{451, "4.7.0 Greylisted, try later", TempFail, "4.7.0", "Greylisted, try later"},
		{450, "5.7.1 wrong class", TempFail, "4.7.1", "wrong class"},
		{550, "", Reject, "5.7.1", "Command rejected"},
		{550, "5.7.1 line one\r\n550-5.7.1 line two\r\n550 5.7.1 line three", Reject, "5.7.1", "line one\nline two\nline three"},
		{550, "bad\x00\x07 bytes\ttab", Reject, "5.7.1", "bad bytes tab"},
	}
	for _, tt := range tests {
		act, err := replyAction("m", tt.code, tt.text)
		if err != nil {
			t.Errorf("replyAction(%d, %q): %v", tt.code, tt.text, err)
			continue
		}
		if act.Kind != tt.kind || act.Code != tt.code || act.Enhanced != tt.enh || act.Text != tt.reply || act.Milter != "m" {
			t.Errorf("replyAction(%d, %q) = %+v", tt.code, tt.text, act)
		}
		if r := act.Reply(); r == nil || r.Code != tt.code || r.Enhanced != tt.enh || r.Check != "milter" {
			t.Errorf("Reply() = %+v", r)
		}
	}
	for _, code := range []int{0, 250, 354, 600} {
		if _, err := replyAction("m", code, "x"); err == nil {
			t.Errorf("reply code %d accepted", code)
		}
	}
	if (Action{}).Reply() != nil || (Action{Kind: Discard}).Reply() != nil {
		t.Error("Reply() for Accept or Discard is not nil")
	}
}

func FuzzApply(f *testing.F) {
	f.Add([]byte(sample), "X-Spam", "a\nb", 1, uint8(0))
	f.Add([]byte("Subject: x\r\n"), "Subject", "", 0, uint8(3))
	f.Add([]byte("\r\nbody"), "A", "x\r\n\r\ny", 2, uint8(4))
	f.Fuzz(func(t *testing.T, raw []byte, name, value string, index int, op uint8) {
		if !validName(name) {
			name = "X-Fuzz"
		}
		kinds := []ModKind{AddHeader, InsertHeader, ChangeHeader, DeleteHeader, ReplaceBody}
		m := Modification{Kind: kinds[int(op)%len(kinds)], Name: name, Value: foldValue(value, true), Index: index % 1000, Body: crlf([]byte(value))}
		out, err := (&Result{Modifications: []Modification{m, m}}).Apply(raw)
		if err != nil {
			t.Fatal(err)
		}
		_, restIn := splitHeader(raw)
		_, restOut := splitHeader(out)
		if m.Kind != ReplaceBody && len(restIn) > 0 && !bytes.Equal(restIn, restOut) {
			t.Fatalf("a header change moved the body:\n%q\n%q", raw, out)
		}
		// A message with CRLF line ends keeps them.
		if !bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) &&
			!bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\r")) {
			stripped := bytes.ReplaceAll(out, []byte("\r\n"), nil)
			if bytes.ContainsAny(stripped, "\r\n") {
				t.Fatalf("bare CR or LF in %q", out)
			}
		}
	})
}

func FuzzReply(f *testing.F) {
	f.Add(550, "5.7.1 a\r\n550-5.7.1 b")
	f.Add(421, "4.4.2 bye")
	f.Fuzz(func(t *testing.T, code int, text string) {
		act, err := replyAction("m", code, text)
		if err != nil {
			return
		}
		if act.Enhanced[0] != byte('0'+code/100) {
			t.Fatalf("enhanced code %q for %d", act.Enhanced, code)
		}
		lines := strings.Split(act.Text, "\n")
		if len(lines) > maxReplyLines {
			t.Fatalf("%d lines", len(lines))
		}
		for _, l := range lines {
			if len(l) > maxReplyLineLen || printable(l) != l {
				t.Fatalf("line %q", l)
			}
		}
	})
}
