package sieve

// The vnd.dovecot.testsuite extension, implemented for the conformance
// tests (conformance_test.go) only.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const testsuiteExt = "vnd.dovecot.testsuite"

var errTestFail = errors.New("test_fail")

type sentMsg struct {
	from, to string
	msg      []byte
}

type storedMsg struct {
	msg   []byte
	flags []string
}

// suite is the state of one .svtest file's run.
type suite struct {
	t        interface{ Logf(string, ...any) }
	dir      string
	file     string
	curTest  string
	failMsg  string
	msg      []byte
	from, to string
	origTo   string
	auth     string
	compiled *Script
	errs     []string
	res      *result
	// resMsg is the (edited) message of the last run, for execute.
	resMsg    []byte
	resFlags  []string
	mailboxes map[string][]storedMsg
	order     []string
	sent      []sentMsg
	cfg       map[string]string
	binaries  map[string]*Script
	results   map[string]string // test name -> "pass"/"fail: msg"
	tests     []string
	tracker   *memTracker
	main      *interp
	lastRun   *interp
	savedEnv  *[2]string
	fromSet   bool
	// savedFromSet is fromSet before test_message :smtp.
	savedFromSet bool
	// envFlags carries imap4flags' internal variable from one script of
	// a test_multiscript run to the next (Env.Flags).
	envFlags []string
}

func (st *suite) restoreEnv() {
	if st.savedEnv != nil {
		st.from, st.to = st.savedEnv[0], st.savedEnv[1]
		st.fromSet = st.savedFromSet
		st.savedEnv = nil
	}
}

type memTracker struct{ seen map[string]time.Time }

func (m *memTracker) Seen(ctx context.Context, key string, period time.Duration) (bool, error) {
	if strings.HasPrefix(key, "vacation\x00") {
		// Pigeonhole's testsuite never finds earlier replies.
		return false, nil
	}
	t, ok := m.seen[key]
	m.seen[key] = time.Now()
	return ok && time.Since(t) < period, nil
}

func init() {
	extensions[testsuiteExt] = true
	testOnlyExt[testsuiteExt] = true
	ts := func(s *spec) { s.ext = testsuiteExt; register(s) }
	ts(&spec{name: "test", pos: []posKind{pStr}, block: 1, run: tsTest})
	ts(&spec{name: "test_fail", pos: []posKind{pStr}, run: func(in *interp, c *cmd) (bool, error) {
		st := in.suite.(*suite)
		st.failMsg = in.str(c.args[0])
		return false, errTestFail
	}})
	ts(&spec{name: "test_set", pos: []posKind{pStr, pStr}, run: tsSet})
	ts(&spec{name: "test_message", tags: []tagSpec{{name: "smtp", group: "src"}, {name: "folder", param: pStr, group: "src"}},
		pos: []posKind{pNum}, run: tsMessage})
	ts(&spec{name: "test_message", test: true, tags: []tagSpec{{name: "smtp", group: "src"}, {name: "folder", param: pStr, group: "src"}},
		pos: []posKind{pNum}, run: tsMessage})
	ts(&spec{name: "test_mailbox_create", pos: []posKind{pStr}, run: func(in *interp, c *cmd) (bool, error) {
		st := in.suite.(*suite)
		st.createMailbox(in.str(c.args[0]))
		return false, nil
	}})
	ts(&spec{name: "test_script_compile", test: true, pos: []posKind{pStr}, run: tsCompile})
	ts(&spec{name: "test_script_run", test: true, tags: []tagSpec{{name: "append_result"}}, run: tsRun})
	ts(&spec{name: "test_multiscript", test: true, pos: []posKind{pList}, run: tsMultiscript})
	ts(&spec{name: "test_result_execute", test: true, run: tsExecute})
	ts(&spec{name: "test_result_reset", run: func(in *interp, c *cmd) (bool, error) {
		st := in.suite.(*suite)
		st.resetResult(in)
		return false, nil
	}})
	ts(&spec{name: "test_result_print", run: func(*interp, *cmd) (bool, error) { return false, nil }})
	ts(&spec{name: "test_result_action", test: true, groups: gComparator | gMatch, tags: []tagSpec{{name: "index", param: pNum}},
		pos: []posKind{pList}, run: tsResultAction})
	ts(&spec{name: "test_error", test: true, groups: gComparator | gMatch, tags: []tagSpec{{name: "index", param: pNum}},
		pos: []posKind{pList}, run: tsError})
	ts(&spec{name: "test_config_set", pos: []posKind{pStr, pStr}, run: func(in *interp, c *cmd) (bool, error) {
		st := in.suite.(*suite)
		st.cfg[in.str(c.args[0])] = in.str(c.args[1])
		return false, nil
	}})
	ts(&spec{name: "test_config_unset", pos: []posKind{pStr}, run: func(in *interp, c *cmd) (bool, error) {
		st := in.suite.(*suite)
		delete(st.cfg, in.str(c.args[0]))
		return false, nil
	}})
	ts(&spec{name: "test_config_reload", tags: []tagSpec{{name: "extension", param: pStr}}, run: func(in *interp, c *cmd) (bool, error) {
		return false, nil
	}})
	ts(&spec{name: "test_binary_save", pos: []posKind{pStr}, run: func(in *interp, c *cmd) (bool, error) {
		st := in.suite.(*suite)
		st.binaries[in.str(c.args[0])] = st.compiled
		return false, nil
	}})
	ts(&spec{name: "test_binary_load", pos: []posKind{pStr}, run: func(in *interp, c *cmd) (bool, error) {
		st := in.suite.(*suite)
		st.compiled = st.binaries[in.str(c.args[0])]
		if st.compiled == nil {
			return false, fmt.Errorf("test_binary_load: no binary %q", in.str(c.args[0]))
		}
		return false, nil
	}})
}

func newSuite(dir, file string) *suite {
	return &suite{dir: dir, file: file, cfg: map[string]string{}, mailboxes: map[string][]storedMsg{"INBOX": nil},
		order: []string{"INBOX"}, binaries: map[string]*Script{}, results: map[string]string{},
		tracker: &memTracker{seen: map[string]time.Time{}}, res: &result{}, from: "sender@example.com"}
}

func (st *suite) createMailbox(name string) {
	if _, ok := st.mailboxes[name]; !ok {
		st.mailboxes[name] = nil
		st.order = append(st.order, name)
	}
}

// env returns the environment for a run.
func (st *suite) env() *Env {
	from := st.from
	if !st.fromSet {
		// Like Pigeonhole's testsuite, the sender defaults to the message's
		// Return-Path or From address.
		for _, h := range []string{"Return-Path", "From"} {
			if vs := fieldValuesMsg(st.msg, h); len(vs) > 0 {
				if as := parseAddressList(vs[0]); len(as) > 0 && as[0].valid && as[0].domain != "" {
					from = as[0].String()
					break
				}
			}
		}
	}
	e := &Env{Message: st.msg, From: from, To: st.to, OrigTo: st.origTo, AuthUser: st.auth,
		Mailboxes: suiteMailboxes{st}, Tracker: st.tracker, Lists: &suiteLists{st}, User: st.cfg["sieve_user_email"],
		Flags: st.envFlags}
	e.SpamTest = func(ctx context.Context) (Score, error) { return st.score("spamtest", e.Message) }
	e.VirusTest = func(ctx context.Context) (Score, error) { return st.score("virustest", e.Message) }
	// The testsuite plays the mail store (RFC 5183 "location" MS).
	e.Environment = map[string]string{"location": "MS"}
	for k, v := range st.cfg {
		if n, ok := strings.CutPrefix(k, "sieve_env_"); ok {
			e.Environment[n] = v
		}
	}
	return e
}

// syncEnv brings the envelope of a running interpreter up to date.
func (st *suite) syncEnv(in *interp) {
	e := st.env()
	in.env.Message, in.env.From, in.env.To, in.env.OrigTo, in.env.AuthUser = e.Message, e.From, e.To, e.OrigTo, e.AuthUser
}

func (st *suite) configure(in *interp) {
	in.suite = st
	in.cfg = st.cfg
	in.nsLookup = func(ns, name string) (string, bool) {
		if ns == "tst" {
			switch name {
			case "path":
				return st.dir, true
			case "name":
				return st.curTest, true
			}
		}
		return "", false
	}
}

func (st *suite) resetResult(in *interp) {
	st.res = &result{}
	if st.main != nil {
		st.main.res = st.res
	}
	st.resMsg = nil
}

func tsTest(in *interp, c *cmd) (bool, error) {
	st := in.suite.(*suite)
	name := in.str(c.args[0])
	st.curTest = name
	st.failMsg = ""
	st.resetResult(in)
	st.restoreEnv()
	st.syncEnv(in)
	st.sent = nil
	in.flags = nil
	st.tests = append(st.tests, name)
	err := in.exec(c.block)
	switch {
	case err == errTestFail:
		st.results[name] = "fail: " + st.failMsg
	case err == nil || err == errStop:
		st.results[name] = "pass"
	default:
		st.results[name] = "fail: error: " + err.Error()
	}
	st.curTest = ""
	return false, nil
}

func tsSet(in *interp, c *cmd) (bool, error) {
	st := in.suite.(*suite)
	name, val := in.str(c.args[0]), in.str(c.args[1])
	switch strings.ToLower(name) {
	case "message":
		st.restoreEnv()
		st.msg = []byte(val)
		in.setMessage(st.msg)
		in.env.Message = st.msg
	case "envelope.from":
		st.restoreEnv()
		st.from = val
		st.fromSet = true
	case "envelope.to":
		st.restoreEnv()
		st.to = val
	case "envelope.orig_to":
		st.origTo = val
	case "envelope.auth":
		st.auth = val
	default:
		return false, fmt.Errorf("test_set: unknown item %q", name)
	}
	st.syncEnv(in)
	return false, nil
}

func tsMessage(in *interp, c *cmd) (bool, error) {
	st := in.suite.(*suite)
	idx := int(c.args[0].num)
	if c.has("smtp") {
		if idx >= len(st.sent) {
			if c.spec.test {
				return false, nil
			}
			st.failMsg = fmt.Sprintf("no outgoing SMTP message with index %d", idx)
			return false, errTestFail
		}
		m := st.sent[idx]
		st.msg = m.msg
		if st.savedEnv == nil {
			st.savedEnv = &[2]string{st.from, st.to}
			st.savedFromSet = st.fromSet
		}
		st.from, st.to = m.from, m.to
		st.fromSet = true
	} else {
		box := in.expand(c.tagStr("folder"))
		msgs, ok := st.mailboxes[box]
		if !ok || idx >= len(msgs) {
			if c.spec.test {
				return false, nil
			}
			st.failMsg = fmt.Sprintf("no message in folder %q with index %d", box, idx)
			return false, errTestFail
		}
		st.msg = msgs[idx].msg
		in.setMessage(st.msg)
		in.flags = append([]string(nil), msgs[idx].flags...)
	}
	in.setMessage(st.msg)
	st.syncEnv(in)
	return true, nil
}

func (st *suite) options(dir string) *Options {
	opt := &Options{cfg: st.cfg}
	if n, err := strconv.Atoi(st.cfg["sieve_include_max_includes"]); err == nil {
		opt.Limits.MaxIncludes = n
	}
	if n, err := strconv.Atoi(st.cfg["sieve_include_max_nesting_depth"]); err == nil {
		opt.Limits.MaxIncludeDepth = n
	}
	if n, err := strconv.Atoi(st.cfg["sieve_max_redirects"]); err == nil {
		opt.Limits.MaxRedirects = n
	}
	if n, err := strconv.Atoi(st.cfg["sieve_max_actions"]); err == nil {
		opt.Limits.MaxActions = n
	}
	if d, err := time.ParseDuration(st.cfg["sieve_max_cpu_time"]); err == nil {
		opt.Limits.MaxCPUTime = d
	}
	opt.Include = func(name string, global bool) ([]byte, error) {
		sub := "included"
		if global {
			sub = "included-global"
		}
		if strings.ContainsAny(name, "/\\") || name == "" {
			return nil, fmt.Errorf("bad script name %q", name)
		}
		return os.ReadFile(filepath.Join(dir, sub, name+".sieve"))
	}
	return opt
}

func tsCompile(in *interp, c *cmd) (bool, error) {
	st := in.suite.(*suite)
	path := filepath.Join(st.dir, in.str(c.args[0]))
	st.errs = nil
	st.compiled = nil
	src, err := os.ReadFile(path)
	if err != nil {
		st.errs = []string{err.Error()}
		return false, nil
	}
	s, err := Compile(src, st.options(st.dir))
	if err != nil {
		var el *ErrorList
		if errors.As(err, &el) {
			for _, e := range *el {
				st.errs = append(st.errs, e.Msg)
			}
		} else {
			st.errs = []string{err.Error()}
		}
		// Pigeonhole reports a final "compilation failed" error too.
		st.errs = append(st.errs, "script compilation failed")
		return false, nil
	}
	s.name = path
	st.compiled = s
	return true, nil
}

// runScript runs a compiled script into the suite's result.
func (st *suite) runScript(in *interp, s *Script, appendRes bool) (bool, error) {
	st.errs = nil
	if !appendRes {
		st.resetResult(in)
	}
	env := st.env()
	sub := newInterp(in.ctx, s, env)
	st.configure(sub)
	sub.res = st.res
	if st.resMsg != nil && appendRes {
		sub.setMessage(st.resMsg)
	}
	err := sub.run()
	if err != nil {
		st.errs = append(st.errs, err.Error())
		// RFC 5228 section 2.10.6: on a run-time error, implicit keep.
		st.res.actions = nil
		st.res.keepCancelled = false
		st.resMsg = nil
		return false, nil
	}
	st.errs = append(st.errs, sub.warnings...)
	st.resMsg = sub.message()
	st.resFlags = sub.currentFlags()
	st.lastRun = sub
	return true, nil
}

func tsRun(in *interp, c *cmd) (bool, error) {
	st := in.suite.(*suite)
	if st.compiled == nil {
		return false, nil
	}
	return st.runScript(in, st.compiled, c.has("append_result"))
}

func tsMultiscript(in *interp, c *cmd) (bool, error) {
	st := in.suite.(*suite)
	st.resetResult(in)
	defer func() { st.envFlags = nil }()
	for _, f := range in.list(c.args[0]) {
		src, err := os.ReadFile(filepath.Join(st.dir, f))
		if err != nil {
			return false, nil
		}
		s, err := Compile(src, st.options(st.dir))
		if err != nil {
			return false, nil
		}
		ok, _ := st.runScript(in, s, true)
		if !ok {
			return false, nil
		}
		st.envFlags = st.lastRun.currentFlags()
		if st.lastRun != nil && !st.lastRun.res.keepCancelled {
			// The next script continues while implicit keep holds.
			continue
		}
	}
	return tsExecute(in, c)
}

// resultActions returns the suite's result as action names.
func (st *suite) resultActions(in *interp) []Action {
	acts := append([]Action(nil), st.res.actions...)
	if !st.res.keepCancelled {
		var flags []string
		if st.lastRun != nil {
			flags = st.lastRun.currentFlags()
		} else {
			flags = in.currentFlags()
		}
		acts = append(acts, Keep{Implicit: true, Flags: flags, Message: in.editedMessage()})
	}
	return acts
}

func tsResultAction(in *interp, c *cmd) (bool, error) {
	st := in.suite.(*suite)
	// Pigeonhole's result lists the implicit keep only once executed.
	acts := st.res.actions
	var names []string
	for _, a := range acts {
		names = append(names, actionName(a))
	}
	if n, ok := c.tagNum("index"); ok {
		if n < 1 || int(n) > len(names) {
			names = nil
		} else {
			names = names[n-1 : n]
		}
	}
	return in.match(c, names, in.list(c.args[0]))
}

func tsError(in *interp, c *cmd) (bool, error) {
	st := in.suite.(*suite)
	errs := st.errs
	if n, ok := c.tagNum("index"); ok {
		if n < 1 || int(n) > len(errs) {
			errs = nil
		} else {
			errs = errs[n-1 : n]
		}
	}
	saved := in.matchVals
	ok, err := in.match(c, errs, in.list(c.args[0]))
	in.matchVals = saved
	if c.mt == "count" && os.Getenv("SIEVE_CONFORMANCE_VERBOSE") != "" {
		st.t.Logf("%s: %s: test_error count %d vs %v: %q", st.file, st.curTest, len(errs), in.list(c.args[0]), errs)
	}
	return ok, err
}

// tsExecute performs the result: stores, sends.
func tsExecute(in *interp, c *cmd) (bool, error) {
	st := in.suite.(*suite)
	msg := st.resMsg
	if msg == nil {
		msg = in.message()
	}
	ok := true
	st.errs = nil
	notified := map[string]bool{}
	acts := st.resultActions(in)
	start := st.res.executed
	if start > len(acts) {
		start = len(acts)
	}
	for i, a := range acts[start:] {
		if k, ok := a.(Keep); ok && k.Implicit {
			if st.res.implicitDone {
				continue
			}
			st.res.implicitDone = true
		}
		_ = i
		msg := msg
		switch a := a.(type) {
		case Keep:
			if a.Message != nil {
				msg = a.Message
			}
		case FileInto:
			if a.Message != nil {
				msg = a.Message
			}
		case Redirect:
			if a.Message != nil {
				msg = a.Message
			}
		}
		switch a := a.(type) {
		case Keep:
			st.mailboxes["INBOX"] = append(st.mailboxes["INBOX"], storedMsg{msg: msg, flags: storeFlags(msg, a.Flags)})
		case FileInto:
			if strings.Contains(a.Mailbox, "//") || strings.HasPrefix(a.Mailbox, "/") {
				st.errs = append(st.errs, fmt.Sprintf("failed to store into mailbox '%s': invalid mailbox name", a.Mailbox))
				ok = false
				continue
			}
			if _, exists := st.mailboxes[a.Mailbox]; !exists {
				// Like Pigeonhole's testsuite store, children of INBOX
				// spring into existence.
				if !a.Create && !strings.HasPrefix(strings.ToUpper(a.Mailbox), "INBOX.") {
					st.errs = append(st.errs, fmt.Sprintf("failed to store into mailbox '%s': Mailbox doesn't exist", a.Mailbox))
					ok = false
					continue
				}
				st.createMailbox(a.Mailbox)
			}
			st.mailboxes[a.Mailbox] = append(st.mailboxes[a.Mailbox], storedMsg{msg: msg, flags: storeFlags(msg, a.Flags)})
		case Redirect:
			from := st.from
			user := st.cfg["sieve_user_email"]
			if user == "" {
				user = st.to
			}
			if from != "" && from != "<>" {
				switch v := strings.TrimSpace(st.cfg["sieve_redirect_envelope_from"]); v {
				case "", "sender":
				case "recipient":
					from = st.to
				case "orig_recipient":
					from = st.origTo
					if from == "" {
						from = st.to
					}
				case "user_email":
					from = user
				default:
					from = strings.Trim(v, "<>")
				}
			}
			if from == "<>" {
				from = ""
			}
			hdr := []byte("X-Sieve-Redirected-From: " + user + "\r\n")
			st.sent = append(st.sent, sentMsg{from: from, to: a.Address, msg: append(hdr, msg...)})
		case Reject:
			if st.from == "" || st.from == "<>" {
				continue
			}
			st.sent = append(st.sent, sentMsg{from: "", to: st.from, msg: rejectMessage(st, msg, a)})
		case Vacation:
			if a.skip != "" {
				if os.Getenv("SIEVE_CONFORMANCE_VERBOSE") != "" {
					st.t.Logf("%s: %s: vacation skipped: %s", st.file, st.curTest, a.skip)
				}
				continue
			}
			from := ""
			if st.cfg["sieve_vacation_send_from_recipient"] == "yes" {
				from = st.to
			}
			st.sent = append(st.sent, sentMsg{from: from, to: a.To, msg: a.Message})
		case Notify:
			if m, to, ok := notifyMessage(st, a, notified); ok {
				for _, t := range to {
					st.sent = append(st.sent, sentMsg{from: st.notifyFrom(a.From), to: t, msg: m})
				}
			}
		}
	}
	if !ok {
		// A failed execution falls back to implicit keep of the original
		// message (RFC 5228 section 2.10.6).
		st.mailboxes["INBOX"] = append(st.mailboxes["INBOX"], storedMsg{msg: st.msg, flags: storeFlags(st.msg, nil)})
	}
	st.res.executed = len(st.res.actions)
	return ok, nil
}

func (st *suite) notifyFrom(from string) string {
	if st.from == "" || st.from == "<>" {
		return ""
	}
	switch v := st.cfg["sieve_notify_mailto_envelope_from"]; v {
	case "recipient":
		return st.to
	case "orig_recipient":
		if st.origTo != "" {
			return st.origTo
		}
		return st.to
	case "user_email":
		return st.cfg["sieve_user_email"]
	case "sender":
		return st.from
	case "":
		if from != "" {
			if as := parseAddressList(from); len(as) == 1 && as[0].valid {
				return as[0].String()
			}
		}
		return "postmaster@example.com"
	default:
		return strings.Trim(v, "<>")
	}
}

// rejectMessage builds the rejection (an MDN, RFC 5429 section 2.1).
func rejectMessage(st *suite, msg []byte, r Reject) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Mail Delivery Subsystem <postmaster@example.com>\r\nTo: <%s>\r\n", st.from)
	fmt.Fprintf(&b, "Subject: Rejected: %s\r\n", firstField(msg, "Subject"))
	b.WriteString("Auto-Submitted: auto-replied (rejected)\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/report; report-type=disposition-notification; boundary=\"rej\"\r\n\r\n")
	b.WriteString("--rej\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(r.Reason + "\r\n")
	b.WriteString("--rej\r\nContent-Type: message/disposition-notification\r\n\r\n")
	fmt.Fprintf(&b, "Final-Recipient: rfc822; %s\r\nDisposition: automatic-action/MDN-sent-automatically; deleted\r\n", st.to)
	b.WriteString("--rej\r\nContent-Type: message/rfc822\r\n\r\n")
	b.Write(msg)
	b.WriteString("\r\n--rej--\r\n")
	return b.Bytes()
}

func firstField(msg []byte, name string) string {
	fs, _ := parseFields(msg)
	v := fieldValues(fs, name)
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// suiteMailboxes is the testsuite's mail store.
type suiteMailboxes struct{ st *suite }

func (m suiteMailboxes) MailboxExists(ctx context.Context, name string) (bool, error) {
	_, ok := m.st.mailboxes[name]
	return ok, nil
}

func (m suiteMailboxes) SpecialUse(ctx context.Context, name string) ([]string, error) {
	if _, ok := m.st.mailboxes[name]; !ok {
		return nil, nil
	}
	return m.st.specialUse()[name], nil
}

func (st *suite) specialUse() map[string][]string {
	out := map[string][]string{}
	for k, v := range st.cfg {
		if name, ok := strings.CutPrefix(k, "mail_special_use/"); ok {
			out[name] = strings.Fields(v)
		}
	}
	return out
}

func (m suiteMailboxes) SpecialUseMailbox(ctx context.Context, use string) (string, error) {
	for name, uses := range m.st.specialUse() {
		for _, u := range uses {
			if strings.EqualFold(u, use) {
				if _, ok := m.st.mailboxes[name]; ok {
					return name, nil
				}
			}
		}
	}
	return "", nil
}

func (m suiteMailboxes) MailboxID(ctx context.Context, id string) (string, error) {
	return "", nil
}

// suiteLists serves the extlists configuration (dict files).
type suiteLists struct{ st *suite }

func (l *suiteLists) lists() map[string]string {
	out := map[string]string{}
	for _, n := range strings.Fields(l.st.cfg["sieve_extlists_list"]) {
		out[normList(n)] = l.st.cfg["sieve_extlists_list/"+n+"/dict/file/path"]
	}
	return out
}

func (l *suiteLists) Valid(list string) bool {
	_, ok := l.lists()[list]
	return ok
}

func (l *suiteLists) Contains(ctx context.Context, list, value string) (bool, error) {
	path, ok := l.lists()[list]
	if !ok || path == "" {
		return false, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return false, nil
	}
	// Dovecot dict file: key and value lines alternate.
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		key := lines[i]
		k := strings.TrimPrefix(key, "priv/")
		k = strings.TrimPrefix(k, "shared/")
		if strings.EqualFold(k, value) || strings.EqualFold(lastSeg(k), value) {
			return true, nil
		}
	}
	return false, nil
}

func lastSeg(s string) string {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// score computes spamtest/virustest from the configured header (Pigeonhole's
// sieve_spamtest_* settings).
func (st *suite) score(ext string, msg []byte) (Score, error) {
	pfx := "sieve_" + ext + "_"
	hdr := st.cfg[pfx+"status_header"]
	if hdr == "" {
		return Score{}, nil
	}
	fields, _ := parseFields(msg)
	get := func(spec string) (string, bool) {
		name, pat, hasPat := strings.Cut(spec, ":")
		vals := fieldValues(fields, strings.TrimSpace(name))
		if len(vals) == 0 {
			return "", false
		}
		v := vals[0]
		if !hasPat {
			return v, true
		}
		re, err := regexp.Compile(strings.TrimLeft(pat, " \t"))
		if err != nil {
			return "", false
		}
		m := re.FindStringSubmatch(v)
		if m == nil || len(m) < 2 {
			return "", false
		}
		return m[1], true
	}
	val, ok := get(hdr)
	if !ok {
		return Score{}, nil
	}
	maxv := 0.0
	if mh := st.cfg[pfx+"score_max_header"]; mh != "" {
		s, ok := get(mh)
		if !ok {
			return Score{}, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return Score{}, nil
		}
		maxv = f
	} else if mv := st.cfg[pfx+"score_max_value"]; mv != "" {
		f, err := strconv.ParseFloat(mv, 64)
		if err != nil {
			return Score{}, nil
		}
		maxv = f
	}
	switch st.cfg[pfx+"status_type"] {
	case "strlen":
		n := float64(len(strings.TrimSpace(val)))
		return scaleScore(n, maxv), nil
	case "text":
		for i := 0; i <= 10; i++ {
			key := fmt.Sprintf(pfx+"text_value/%d", i)
			if t, ok := st.cfg[key]; ok && t == strings.TrimSpace(val) {
				if ext == "virustest" {
					if i == 0 {
						return Score{}, nil
					}
					return Score{Tested: true, Value: i, Percent: -1}, nil
				}
				return Score{Tested: true, Value: i, Percent: (i - 1) * 100 / 9}, nil
			}
		}
		return Score{}, nil
	default: // score
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			return Score{}, nil
		}
		if ext == "virustest" {
			if maxv <= 0 {
				return Score{}, nil
			}
			s := scaleScore(f, maxv)
			s.Value = 1 + int(f/maxv*4+0.5)
			return s, nil
		}
		return scaleScore(f, maxv), nil
	}
}

// notifyMessage composes the mailto notification (RFC 5436 section 2).
func notifyMessage(st *suite, n Notify, notified map[string]bool) ([]byte, []string, bool) {
	m, e := parseMailto(n.Method)
	if e != "" {
		return nil, nil, false
	}
	var to, toHdr []string
	for i, a := range m.to {
		if !notified[strings.ToLower(a)] {
			notified[strings.ToLower(a)] = true
			to = append(to, a)
			toHdr = append(toHdr, m.toHdr[i])
		}
	}
	m.to, m.toHdr = to, toHdr
	var hs [][2]string
	for _, h := range m.headers {
		if strings.EqualFold(h[0], "cc") || strings.EqualFold(h[0], "bcc") {
			var keep []string
			for _, seg := range splitTop(h[1], ",") {
				as := parseAddressList(seg)
				if len(as) != 1 {
					continue
				}
				if a := as[0]; !notified[strings.ToLower(a.String())] {
					notified[strings.ToLower(a.String())] = true
					keep = append(keep, strings.TrimSpace(seg))
				}
			}
			if len(keep) == 0 {
				continue
			}
			h[1] = strings.Join(keep, ", ")
		}
		hs = append(hs, h)
	}
	m.headers = hs
	for _, v := range fieldValuesMsg(st.msg, "Auto-Submitted") {
		if !strings.EqualFold(strings.TrimSpace(v), "no") {
			return nil, nil, false
		}
	}
	var b bytes.Buffer
	from := n.From
	if from == "" {
		from = "Postmaster <postmaster@example.com>"
	}
	b.WriteString("X-Sieve: Gannet Sieve\r\n")
	fmt.Fprintf(&b, "From: %s\r\n", encodeAddressHeader(from))
	if len(m.to) > 0 {
		fmt.Fprintf(&b, "To: %s\r\n", strings.Join(m.toHdr, ", "))
	}
	subject := m.subject
	if subject == "" {
		subject = n.Message
	}
	if subject == "" {
		subject = "[SIEVE] New mail notification"
	}
	if r := []rune(subject); len(r) > 256 {
		subject = string(r[:255]) + "\u2026"
	}
	fmt.Fprintf(&b, "Subject:%s\r\n", foldValue("Subject", subject))
	for _, h := range m.headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], encodeHeaderValue(h[1]))
	}
	b.WriteString("Auto-Submitted: auto-notified\r\n")
	switch n.Importance {
	case "1":
		b.WriteString("X-Priority: 1 (Highest)\r\nImportance: High\r\n")
	case "3":
		b.WriteString("X-Priority: 5 (Lowest)\r\nImportance: Low\r\n")
	default:
		b.WriteString("X-Priority: 3 (Normal)\r\nImportance: Normal\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	body := m.body
	if body == "" {
		body = "Notification of new message.\r\n"
	}
	b.WriteString(body)
	to = append([]string(nil), m.to...)
	for _, h := range m.headers {
		if strings.EqualFold(h[0], "cc") || strings.EqualFold(h[0], "bcc") {
			for _, a := range parseAddressList(h[1]) {
				to = append(to, a.String())
			}
		}
	}
	return b.Bytes(), to, true
}

func fieldValuesMsg(msg []byte, name string) []string {
	fs, _ := parseFields(msg)
	return fieldValues(fs, name)
}

// storeFlags adds Dovecot's attachment keyword, as the mail store the
// conformance tests were written against does.
func storeFlags(msg []byte, flags []string) []string {
	out := append([]string(nil), flags...)
	if !bytes.Contains(bytes.ToLower(msg), []byte("content-disposition: attachment")) {
		out = append(out, "$HasNoAttachment")
	}
	return out
}
