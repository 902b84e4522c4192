package sieve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

const testMsg = "From: Alice <alice@example.com>\r\nTo: bob+lists@example.org\r\nSubject: Hello there\r\nMessage-ID: <1@example.com>\r\n\r\nHi Bob.\r\n"

func mustCompile(t *testing.T, src string) *Script {
	t.Helper()
	s, err := Compile([]byte(src), nil)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return s
}

func run(t *testing.T, src string, env *Env) *Outcome {
	t.Helper()
	if env == nil {
		env = &Env{}
	}
	if env.Message == nil {
		env.Message = []byte(testMsg)
	}
	o, err := mustCompile(t, src).Run(context.Background(), env)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return o
}

func TestImplicitKeep(t *testing.T) {
	o := run(t, `if false { discard; }`, nil)
	if len(o.Actions) != 1 || !isImplicitKeep(o.Actions[0]) {
		t.Fatalf("actions = %#v, want implicit keep", o.Actions)
	}
	o = run(t, `require "fileinto"; if header :contains "subject" "hello" { fileinto "Greetings"; }`, nil)
	want := []Action{FileInto{Mailbox: "Greetings"}}
	if fmt.Sprint(o.Actions) != fmt.Sprint(want) {
		t.Fatalf("actions = %#v, want %#v", o.Actions, want)
	}
	o = run(t, `require ["fileinto","copy"]; fileinto :copy "Archive";`, nil)
	if len(o.Actions) != 2 || !isImplicitKeep(o.Actions[1]) {
		t.Fatalf(":copy should keep the implicit keep: %#v", o.Actions)
	}
}

func TestErrorList(t *testing.T) {
	_, err := Compile([]byte("if header :bogus \"a\" \"b\" { keep; }\nfrobnicate;\n"), nil)
	var el *ErrorList
	if !errors.As(err, &el) || len(*el) != 2 {
		t.Fatalf("err = %v, want 2 errors", err)
	}
	if (*el)[1].Line != 2 || (*el)[1].Column != 1 {
		t.Errorf("second error at %d:%d, want 2:1", (*el)[1].Line, (*el)[1].Column)
	}
	if !strings.Contains(err.Error(), "line 2, column 1: unknown command 'frobnicate'") {
		t.Errorf("message = %q", err.Error())
	}
}

func TestExtensionsSorted(t *testing.T) {
	ext := Extensions()
	if !slices.IsSorted(ext) {
		t.Error("not sorted")
	}
	for _, want := range []string{"fileinto", "vacation", "vnd.gannet.eval", "vnd.gannet.query", "editheader", "enotify"} {
		if !slices.Contains(ext, want) {
			t.Errorf("missing %s", want)
		}
	}
	if slices.Contains(ext, "vnd.dovecot.testsuite") {
		t.Error("testsuite extension advertised")
	}
	// Options.Extensions restricts require.
	if _, err := Compile([]byte(`require "vacation";`), &Options{Extensions: []string{"fileinto"}}); err == nil {
		t.Error("require of a disabled extension compiled")
	}
}

func TestRuntimeErrorKeeps(t *testing.T) {
	s := mustCompile(t, `redirect "a@example.com"; redirect "b@example.com"; redirect "c@example.com";`)
	s2, _ := Compile([]byte(`redirect "a@example.com"; redirect "b@example.com"; redirect "c@example.com";`), &Options{Limits: Limits{MaxRedirects: 2}})
	if _, err := s.Run(context.Background(), &Env{Message: []byte(testMsg)}); err != nil {
		t.Fatal(err)
	}
	o, err := s2.Run(context.Background(), &Env{Message: []byte(testMsg)})
	if err == nil {
		t.Fatal("no error past the redirect limit")
	}
	if len(o.Actions) != 1 || !isImplicitKeep(o.Actions[0]) {
		t.Fatalf("outcome after error = %#v, want implicit keep only", o.Actions)
	}
}

func TestInstructionLimit(t *testing.T) {
	src := `require ["mime","foreverypart"]; foreverypart { foreverypart { keep; } }`
	s, err := Compile([]byte(src), &Options{Limits: Limits{MaxInstructions: 3}})
	if err != nil {
		t.Fatal(err)
	}
	msg := "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\na\r\n--b\r\n\r\nb\r\n--b--\r\n"
	if _, err := s.Run(context.Background(), &Env{Message: []byte(msg)}); err == nil {
		t.Fatal("instruction limit not enforced")
	}
}

func TestNestingBounded(t *testing.T) {
	src := strings.Repeat("if true {", 100) + strings.Repeat("}", 100)
	if _, err := Compile([]byte(src), nil); err == nil {
		t.Fatal("deep nesting compiled")
	}
	src = "if " + strings.Repeat("not ", 1000) + "true {}"
	if _, err := Compile([]byte(src), nil); err == nil {
		t.Fatal("deep test nesting compiled")
	}
	if _, err := Compile([]byte(`keep; # `+strings.Repeat("x", 100)), &Options{Limits: Limits{MaxScriptSize: 50}}); err == nil {
		t.Fatal("script size limit not enforced")
	}
	if _, err := Compile([]byte(`if size :over 99999999999999999999999 {}`), nil); err == nil {
		t.Fatal("huge number compiled")
	}
}

func TestVariablesAndSubaddress(t *testing.T) {
	o := run(t, `require ["variables","envelope","subaddress","fileinto"];
if envelope :detail :matches "to" "*" { set "box" "${1}"; }
if header :matches "subject" "* there" { fileinto "INBOX.${box}.${1}"; }`, &Env{To: "bob+lists@example.org"})
	if f, ok := o.Actions[0].(FileInto); !ok || f.Mailbox != "INBOX.lists.Hello" {
		t.Fatalf("actions = %#v", o.Actions)
	}
}

type memTrack map[string]bool

func (m memTrack) Seen(ctx context.Context, key string, period time.Duration) (bool, error) {
	s := m[key]
	m[key] = true
	return s, nil
}

func TestVacationTracked(t *testing.T) {
	src := `require "vacation"; vacation :days 3 :subject "Away" "I am away.";`
	tr := memTrack{}
	env := &Env{From: "alice@example.com", To: "bob+lists@example.org", Tracker: tr}
	o := run(t, src, env)
	v, ok := o.Actions[0].(Vacation)
	if !ok {
		t.Fatalf("actions = %#v", o.Actions)
	}
	if v.To != "alice@example.com" || v.Subject != "Away" || v.Period != 72*time.Hour {
		t.Errorf("vacation = %+v", v)
	}
	msg := string(v.Message)
	for _, want := range []string{"Subject: Away\r\n", "In-Reply-To: <1@example.com>\r\n", "Auto-Submitted: auto-replied (vacation)\r\n", "\r\n\r\nI am away.\r\n"} {
		if !strings.Contains(msg, want) {
			t.Errorf("reply lacks %q:\n%s", want, msg)
		}
	}
	o = run(t, src, env)
	for _, a := range o.Actions {
		if _, ok := a.(Vacation); ok {
			t.Error("second run replied again")
		}
	}
}

func TestEditheaderAndFlags(t *testing.T) {
	o := run(t, `require ["editheader","imap4flags"]; addheader "X-Spam" "yes"; deleteheader "subject"; addflag "\\Seen"; keep;`, nil)
	if !strings.HasPrefix(string(o.Message), "X-Spam: yes\r\n") || strings.Contains(string(o.Message), "Subject:") {
		t.Errorf("edited message = %q", o.Message)
	}
	k, ok := o.Actions[0].(Keep)
	if !ok || !slices.Equal(k.Flags, []string{`\Seen`}) {
		t.Errorf("keep = %#v", o.Actions)
	}
}

func TestEvalAndQuery(t *testing.T) {
	env := &Env{Query: func(ctx context.Context, q string, args []string) (string, error) {
		if q != "SELECT score FROM rep WHERE sender = 'alice@example.com'" || args != nil {
			return "", fmt.Errorf("unexpected query %q %q", q, args)
		}
		return "4", nil
	}, From: "alice@example.com"}
	o := run(t, `require ["variables","envelope","vnd.gannet.eval","vnd.gannet.query","fileinto"];
if envelope :matches "from" "*" { set "from" "${1}"; }
query :set "score" "SELECT score FROM rep WHERE sender = '${from}'";
if eval "score + 2 > 5 and header(\"subject\") contains \"Hello\"" { fileinto "Junk"; }`, env)
	if f, ok := o.Actions[0].(FileInto); !ok || f.Mailbox != "Junk" {
		t.Fatalf("actions = %#v", o.Actions)
	}
	if _, err := Compile([]byte(`require "vnd.gannet.eval"; if eval "1 +" {}`), nil); err == nil {
		t.Error("bad expression compiled")
	}
}

// TestQueryArgs: the strings of :args reach Env.Query apart from the
// query's text, their variables expanded, and the text keeps its "?".
func TestQueryArgs(t *testing.T) {
	var gotQ string
	var gotArgs []string
	env := &Env{Query: func(ctx context.Context, q string, args []string) (string, error) {
		gotQ, gotArgs = q, args
		return "7", nil
	}, From: "o'brien@example.com"}
	o := run(t, `require ["variables","envelope","vnd.gannet.query","fileinto"];
if envelope :matches "from" "*" { set "from" "${1}"; }
query :set "score" :args ["${from}", "x"] "SELECT score FROM rep WHERE sender = ? AND k = ?";
if string :is "${score}" "7" { fileinto "Scored"; }`, env)
	if gotQ != "SELECT score FROM rep WHERE sender = ? AND k = ?" || !slices.Equal(gotArgs, []string{"o'brien@example.com", "x"}) {
		t.Errorf("query %q, args %q", gotQ, gotArgs)
	}
	if f, ok := o.Actions[0].(FileInto); !ok || f.Mailbox != "Scored" {
		t.Fatalf("actions = %#v", o.Actions)
	}
}

func TestRejectConflict(t *testing.T) {
	s := mustCompile(t, `require "reject"; keep; reject "no";`)
	if _, err := s.Run(context.Background(), &Env{Message: []byte(testMsg)}); err == nil {
		t.Error("reject after keep did not fail")
	}
}

func TestConcurrentRuns(t *testing.T) {
	s := mustCompile(t, `require ["variables","fileinto"]; if header :matches "subject" "*" { set "s" "${1}"; fileinto "${s}"; }`)
	done := make(chan error)
	for i := 0; i < 4; i++ {
		go func() {
			_, err := s.Run(context.Background(), &Env{Message: []byte(testMsg)})
			done <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func isImplicitKeep(a Action) bool {
	k, ok := a.(Keep)
	return ok && k.Implicit && len(k.Flags) == 0
}

// An include of a missing script is an error, except :optional, and a
// warning when the script is being uploaded (Options.Upload); a loader
// failure other than "not found" stays an error.
func TestIncludeUpload(t *testing.T) {
	scripts := map[string]string{"helper": "keep;"}
	broken := errors.New("disk on fire")
	loader := func(name string, global bool) ([]byte, error) {
		if name == "fire" {
			return nil, broken
		}
		if s, ok := scripts[name]; ok && !global {
			return []byte(s), nil
		}
		return nil, fmt.Errorf("no %q: %w", name, ErrNotFound)
	}
	compile := func(src string, upload bool) (*Script, error) {
		return Compile([]byte("require \"include\";\n"+src), &Options{Include: loader, Upload: upload})
	}
	for _, tc := range []struct {
		src, warning, err string
		upload            bool
	}{
		{src: `include "helper";`},
		{src: `include "helper";`, upload: true},
		{src: `include "absent";`, err: "included personal script 'absent' does not exist"},
		{src: `include "absent";`, upload: true, warning: "line 2: included personal script 'absent' does not exist (ignored during upload)"},
		{src: `include :global "absent";`, upload: true, warning: "line 2: included global script 'absent' does not exist (ignored during upload)"},
		{src: `include :optional "absent";`, upload: true},
		{src: `include "fire";`, upload: true, err: "could not be loaded: disk on fire"},
	} {
		s, err := compile(tc.src, tc.upload)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s (upload %v): error %v, want %q", tc.src, tc.upload, err, tc.err)
			}
			continue
		case err != nil:
			t.Errorf("%s (upload %v): %v", tc.src, tc.upload, err)
			continue
		}
		var want []string
		if tc.warning != "" {
			want = []string{tc.warning}
		}
		if got := s.Warnings(); !slices.Equal(got, want) {
			t.Errorf("%s (upload %v): warnings %q, want %q", tc.src, tc.upload, got, want)
		}
	}
	// A warning of an included script is passed up, naming it.
	scripts["middle"] = "require \"include\";\ninclude \"absent\";"
	s, err := compile(`include "middle";`, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Warnings(); len(got) != 1 || !strings.HasPrefix(got[0], "in included script 'middle': line 2: ") {
		t.Errorf("warnings through an include: %q", got)
	}
}

// Flags from an earlier script (Env.Flags) apply to keep and fileinto of a
// script that does not use imap4flags (a multiscript run).
func TestEnvFlags(t *testing.T) {
	out := run(t, "require \"fileinto\";\nfileinto \"folder\";", &Env{Flags: []string{"$label1 \\Answered"}})
	if len(out.Actions) != 1 {
		t.Fatalf("actions %#v", out.Actions)
	}
	if f, ok := out.Actions[0].(FileInto); !ok || !slices.Equal(f.Flags, []string{"$label1", "\\Answered"}) {
		t.Errorf("fileinto %#v, want the flags of Env.Flags", out.Actions[0])
	}
}

// TestEnvelopeExtension: vnd.gannet.envelope reads the envelope and
// changes its sender, only where the caller allows it.
func TestEnvelopeExtension(t *testing.T) {
	src := `require ["variables", "vnd.gannet.envelope"];
if string :matches "${envelope.from}" "*@old.example" {
	set "envelope.from" "${1}@new.example";
}
if string :is "${envelope.from}" "alice@new.example" { set "seen" "yes"; }
if string :is "${seen}" "yes" { set "envelope.from" "${envelope.from}"; }
`
	opts := &Options{Extensions: append(Extensions(), "vnd.gannet.envelope")}
	s, err := Compile([]byte(src), opts)
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.Run(context.Background(), &Env{Message: []byte(testMsg), From: "alice@old.example", To: "bob@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if o.EnvelopeFrom == nil || *o.EnvelopeFrom != "alice@new.example" {
		t.Errorf("EnvelopeFrom = %v, want alice@new.example", o.EnvelopeFrom)
	}
	o, err = s.Run(context.Background(), &Env{Message: []byte(testMsg), From: "carol@other.example", To: "bob@example.org"})
	if err != nil || o.EnvelopeFrom != nil {
		t.Errorf("unchanged sender: EnvelopeFrom %v, %v", o.EnvelopeFrom, err)
	}

	if slices.Contains(Extensions(), "vnd.gannet.envelope") {
		t.Error("Extensions() offers vnd.gannet.envelope")
	}
	if _, err := Compile([]byte(src), nil); err == nil {
		t.Error("vnd.gannet.envelope compiled without the caller allowing it")
	}
	for _, bad := range []string{
		`require ["variables", "vnd.gannet.envelope"]; set "envelope.to" "x@example.org";`,
		`require ["variables", "vnd.gannet.envelope"]; set "envelope.size" "1";`,
		`require ["variables"]; set "envelope.from" "x@example.org";`,
	} {
		if _, err := Compile([]byte(bad), opts); err == nil {
			t.Errorf("compiled: %s", bad)
		}
	}
}
