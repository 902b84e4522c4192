package render

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gannet/lib/message"
)

// The cross-check: the testdata messages are appended to a private Dovecot
// (Debian's dovecot-imapd), fetched back with FETCH (ENVELOPE BODYSTRUCTURE
// BODY), and compared with what the renderer writes for the same messages
// (without UTF-8: Dovecot 2.3 has no UTF8=ACCEPT). The comparison reads
// both sides into values and normalises the differences documented here;
// anything else fails the test.
//
// Documented differences, normalised away:
//
//   - Case: Dovecot sends types, subtypes, parameter names, encodings and
//     disposition types as written; lib/message keeps them in lower case.
//     Clients compare them case-insensitively.
//
//   - RFC 2231: Dovecot joins the pieces but keeps the value encoded in its
//     original charset and lists such parameters after the plain ones; the
//     renderer sends UTF-8 (or plain "name" when the value is ASCII) where
//     the first piece was (see the example below). Parameter lists are
//     compared decoded and sorted.
//
//   - NIL and "": Dovecot sends "" for a Subject (etc.) present but empty;
//     lib/message does not keep the difference, so the renderer sends NIL
//     (RFC 9051 section 7.5.2 allows it and asks clients to treat both
//     alike).
//
//   - Missing address parts: Dovecot fills in "MISSING_MAILBOX" and
//     "MISSING_DOMAIN"; the renderer sends "" (never NIL, which would make
//     the address a group marker).
//
//   - Folding: Dovecot turns the tab of a folded header line into a space;
//     lib/message unfolds as RFC 5322 section 2.2.3 says, removing the CRLF
//     only. Envelope strings are compared with runs of white space as one
//     space.
//
//   - Lines: Dovecot counts line feeds; lib/message also counts a last line
//     without a line break (the body of a part usually ends without one,
//     since the CRLF before the boundary belongs to the boundary), so its
//     count may be one more.
//
// RFC 2231 example:
//
//	Dovecot:  ("filename*" "iso-8859-1''caf%E9.txt")
//	renderer: ("filename*" "utf-8''caf%C3%A9.txt")
//
// Messages whose structure differs for a documented reason must still
// differ:
var dovecotDiffers = map[string]string{
	"empty.eml": "Dovecot refuses to APPEND a zero-byte message",
	"no-boundary.eml": "a multipart without a boundary parameter: lib/message serves the body as " +
		"text/plain; Dovecot sends a multipart with one empty text/plain part",
	"boundary-never.eml": "a multipart whose boundary never appears: as no-boundary.eml",
	"no-header.eml": "a message that starts with a line that is not a header field: lib/message " +
		"takes it as body (no header); Dovecot takes the first line as a broken header",
	"lf-only.eml": "bare LF line ends: Dovecot counts sizes as if each LF were CRLF (the message " +
		"as IMAP would send it); lib/message counts the stored bytes, which is what BODY[] serves",
	"nul-header.eml": "NUL in header values: Dovecot replaces it with U+FFFD, the renderer drops " +
		"it (no IMAP string can carry NUL)",
	"rfc822-close.eml": "a message/rfc822 part whose embedded multipart's close delimiter is " +
		"followed directly by the enclosing delimiter: lib/message gives the CRLF between them to " +
		"the enclosing delimiter (RFC 2046 section 5.1.1), Dovecot to the embedded message, so " +
		"Dovecot's size is 2 more",
	"lenient.eml": "lib/message reads a bare phrase (To: Name Only) as a mailbox without a domain, " +
		"Dovecot as a display name; lib/message drops the comment after an address without a " +
		"domain (Dovecot takes it as the display name); lib/message names a group without a name " +
		"undisclosed-recipients (Dovecot sends \"\"); lib/message keeps a comment after a " +
		"Content-Language tag (Dovecot drops it)",
}

var installDovecot sync.Once

// dovecotIMAP returns the path of Dovecot's imap program, installing
// dovecot-imapd with apt-get when it is missing and we are root. It skips
// the test when Dovecot cannot be had, and fails under
// GANNET_REQUIRE_TOOLS=1.
func dovecotIMAP(t *testing.T) string {
	t.Helper()
	const bin = "/usr/lib/dovecot/imap"
	if _, err := os.Stat(bin); err != nil && os.Geteuid() == 0 {
		installDovecot.Do(func() {
			if _, err := exec.LookPath("apt-get"); err != nil {
				return
			}
			t.Log("installing the Debian dovecot-imapd package")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			args := []string{"-o", "DPkg::Lock::Timeout=300", "install", "-y", "-q", "--no-install-recommends", "dovecot-imapd"}
			run := func(args ...string) error {
				cmd := exec.CommandContext(ctx, "apt-get", args...)
				cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
				out, err := cmd.CombinedOutput()
				if err != nil {
					return fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, out)
				}
				return nil
			}
			if err := run(args...); err != nil {
				if err := run("-o", "DPkg::Lock::Timeout=300", "update", "-q"); err != nil {
					t.Log(err)
					return
				}
				if err := run(args...); err != nil {
					t.Log(err)
				}
			}
		})
	}
	if _, err := os.Stat(bin); err != nil {
		msg := "Dovecot is not installed (apt-get install dovecot-imapd)"
		if os.Getenv("GANNET_REQUIRE_TOOLS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// dovecotFetch appends msgs to a private Dovecot mailbox and returns, for
// each, the values of FETCH (ENVELOPE BODYSTRUCTURE BODY) keyed by item
// name; nil for a message Dovecot refused. Dovecot's imap program runs
// pre-authenticated over its standard input and output, with its
// configuration, maildir and state in a temporary directory.
func dovecotFetch(t *testing.T, msgs [][]byte) []map[string]node {
	t.Helper()
	bin := dovecotIMAP(t)
	// Dovecot will not access mail as root: the mail belongs to nobody,
	// who must be able to reach the directory.
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("user nobody: %v", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	dir, err := os.MkdirTemp("", "render-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	mail := filepath.Join(dir, "mail")
	for _, d := range []string{dir, mail} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(mail, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "dovecot.conf")
	cfg := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/log
mail_location = maildir:%[2]s
mail_uid = %[3]d
mail_gid = %[4]d
first_valid_uid = 1
protocols = imap
ssl = no
`, dir, mail, uid, gid)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	var script bytes.Buffer
	for i, m := range msgs {
		fmt.Fprintf(&script, "A%d APPEND INBOX {%d+}\r\n", i, len(m)) // LITERAL+ (RFC 7888)
		script.Write(m)
		script.WriteString("\r\n")
	}
	script.WriteString("S SELECT INBOX\r\nF FETCH 1:* (ENVELOPE BODYSTRUCTURE BODY)\r\nL LOGOUT\r\n")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-c", conf)
	cmd.Env = []string{"USER=gannet", "HOME=" + dir, "PATH=/usr/bin:/bin"}
	cmd.Stdin = &script
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		t.Fatalf("dovecot imap: %v\n%s\n%s\n%s", err, out, stderr.Bytes(), log)
	}

	// Read the responses: tagged APPEND results and the FETCH data.
	seqOf := make([]int, len(msgs)) // sequence number of each message, 0 if refused
	byNum := map[int]map[string]node{}
	seq := 0
	for rest := out; len(rest) > 0; {
		line := rest
		if i := bytes.Index(rest, []byte("\r\n")); i >= 0 {
			line = rest[:i]
		}
		if num, ok := fetchStart(line); ok {
			start := bytes.IndexByte(rest, '(')
			r := reader{s: rest, i: start, atoms: true}
			v, err := r.value()
			if err != nil {
				t.Fatalf("reading Dovecot's FETCH response: %v\n%s", err, rest)
			}
			items := map[string]node{}
			for j := 0; j+1 < len(v.list); j += 2 {
				items[v.list[j].str] = v.list[j+1]
			}
			byNum[num] = items
			rest = rest[r.i:]
			if bytes.HasPrefix(rest, []byte("\r\n")) {
				rest = rest[2:]
			}
			continue
		}
		if tag, status, ok := strings.Cut(string(line), " "); ok && strings.HasPrefix(tag, "A") {
			i, err := strconv.Atoi(tag[1:])
			if err == nil && i < len(msgs) && strings.HasPrefix(status, "OK") {
				seq++
				seqOf[i] = seq
			} else if err == nil && i < len(msgs) {
				t.Logf("Dovecot refused message %d: %s", i, status)
			}
		}
		rest = rest[len(line):]
		if bytes.HasPrefix(rest, []byte("\r\n")) {
			rest = rest[2:]
		}
	}
	res := make([]map[string]node, len(msgs))
	for i, s := range seqOf {
		if s != 0 {
			res[i] = byNum[s]
			if res[i] == nil {
				t.Fatalf("no FETCH response for message %d (sequence %d):\n%s", i, s, out)
			}
		}
	}
	return res
}

// fetchStart recognises "* N FETCH (".
func fetchStart(line []byte) (int, bool) {
	s, ok := strings.CutPrefix(string(line), "* ")
	if !ok {
		return 0, false
	}
	num, rest, ok := strings.Cut(s, " ")
	if !ok || !strings.HasPrefix(rest, "FETCH (") {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	return n, err == nil
}

// TestDovecotAgrees compares ENVELOPE, BODYSTRUCTURE and BODY with
// Dovecot's for every testdata message. The messages in dovecotDiffers
// must still differ (so that the list stays true); the others must agree
// once the documented differences are normalised.
func TestDovecotAgrees(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Dovecot")
	}
	var names []string
	var msgs [][]byte
	for _, file := range emls(t) {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, filepath.Base(file))
		msgs = append(msgs, raw)
	}
	got := dovecotFetch(t, msgs)
	for i, name := range names {
		why, differs := dovecotDiffers[name]
		dv := got[i]
		if dv == nil {
			if len(msgs[i]) != 0 {
				t.Errorf("%s: Dovecot refused it", name)
			}
			continue
		}
		var diffs []string
		env, bs, body := items(stored(t, msgs[i]), false)
		for _, c := range []struct {
			item, ours string
		}{{"ENVELOPE", env}, {"BODYSTRUCTURE", bs}, {"BODY", body}} {
			theirs, ok := dv[c.item]
			if !ok {
				t.Errorf("%s: Dovecot sent no %s", name, c.item)
				continue
			}
			ours, err := parseOne([]byte(c.ours), false)
			if err != nil {
				t.Fatalf("%s: reading our %s: %v", name, c.item, err)
			}
			var co, ct canon
			if c.item == "ENVELOPE" {
				co.envelope(ours)
				ct.envelope(theirs)
			} else {
				co.body(ours)
				ct.body(theirs)
			}
			if err := co.same(&ct); err != nil {
				diffs = append(diffs, fmt.Sprintf("%s differs from Dovecot's: %v\nours:    %s\nDovecot: %s\nnormalised ours:    %s\nnormalised Dovecot: %s",
					c.item, err, c.ours, theirs, co.b.String(), ct.b.String()))
			}
		}
		switch {
		case differs && len(diffs) == 0:
			t.Errorf("%s now agrees with Dovecot: remove it from dovecotDiffers (%s)", name, why)
		case differs:
			t.Logf("%s: documented difference (%s)", name, why)
		default:
			for _, d := range diffs {
				t.Errorf("%s: %s", name, d)
			}
		}
	}
}

// canon writes a value in a normal form for comparison, with line counts
// kept apart.
type canon struct {
	b     strings.Builder
	lines []int64
}

func (c *canon) same(o *canon) error {
	if c.b.String() != o.b.String() {
		return fmt.Errorf("structures differ")
	}
	if len(c.lines) != len(o.lines) {
		return fmt.Errorf("%d line counts, Dovecot %d", len(c.lines), len(o.lines))
	}
	for i, n := range c.lines {
		if d := n - o.lines[i]; d != 0 && d != 1 {
			return fmt.Errorf("line count %d is %d, Dovecot's %d", i, n, o.lines[i])
		}
	}
	return nil
}

func (c *canon) str(n node) {
	switch n.kind {
	case 's':
		c.b.WriteString(strconv.Quote(n.str))
	case 'n':
		c.b.WriteString("NIL")
	case '#':
		c.b.WriteString(strconv.FormatInt(n.num, 10))
	default:
		c.b.WriteString(n.String())
	}
}

// nstr writes an envelope string: NIL and "" are the same, and runs of
// white space are one space.
func (c *canon) nstr(n node) {
	if n.kind == 'n' {
		n = node{kind: 's'}
	}
	if n.kind == 's' {
		n.str = strings.Join(strings.FieldsFunc(n.str, func(r rune) bool { return r == ' ' || r == '\t' }), " ")
	}
	c.str(n)
}

func (c *canon) lower(n node) {
	if n.kind == 's' {
		n.str = strings.ToLower(n.str)
	}
	c.str(n)
}

func (c *canon) envelope(n node) {
	if n.kind != 'l' || len(n.list) != 10 {
		c.str(n)
		return
	}
	c.b.WriteString("ENV(")
	for i, f := range n.list {
		c.b.WriteByte(' ')
		if i >= 2 && i < 8 {
			c.addresses(f)
		} else {
			c.nstr(f)
		}
	}
	c.b.WriteString(")")
}

func (c *canon) addresses(n node) {
	if n.kind != 'l' {
		c.str(n)
		return
	}
	c.b.WriteString("[")
	for _, a := range n.list {
		if a.kind != 'l' || len(a.list) != 4 {
			c.str(a)
			continue
		}
		c.b.WriteString("(")
		for i, f := range a.list {
			if f.kind == 's' && (i == 2 && f.str == "MISSING_MAILBOX" || i == 3 && f.str == "MISSING_DOMAIN") {
				f.str = ""
			}
			if i < 2 {
				c.nstr(f)
			} else {
				c.str(f) // NIL mailbox and host mark groups
			}
			c.b.WriteByte(' ')
		}
		c.b.WriteString(")")
	}
	c.b.WriteString("]")
}

// params writes a parameter list decoded: names in lower case, RFC 2231
// pieces joined and decoded to UTF-8.
func (c *canon) params(n node) {
	if n.kind != 'l' {
		c.str(n)
		return
	}
	var ps []message.Param
	for i := 0; i+1 < len(n.list); i += 2 {
		ps = append(ps, message.Param{Name: strings.ToLower(n.list[i].str), Value: n.list[i+1].str})
	}
	pt := &message.Part{Params: ps}
	var out []string
	for i, p := range ps {
		base, _ := splitName(p.Name)
		if !hasStart(ps, base) {
			out = append(out, fmt.Sprintf("%s=%q;", p.Name, p.Value))
			continue
		}
		if seenBefore(ps[:i], base) {
			continue
		}
		out = append(out, fmt.Sprintf("%s=%q;", base, pt.Param(base)))
	}
	sort.Strings(out)
	c.b.WriteString("{" + strings.Join(out, "") + "}")
}

func (c *canon) extTail(l []node) {
	for i, f := range l {
		c.b.WriteByte(' ')
		switch {
		case i == 0 && f.kind == 'l' && len(f.list) == 2: // disposition
			c.b.WriteString("DSP(")
			c.lower(f.list[0])
			c.params(f.list[1])
			c.b.WriteString(")")
		default:
			c.str(f)
		}
	}
}

func (c *canon) body(n node) {
	if n.kind != 'l' || len(n.list) == 0 {
		c.str(n)
		return
	}
	l := n.list
	c.b.WriteString("(")
	if l[0].kind == 'l' {
		i := 0
		for i < len(l) && l[i].kind == 'l' {
			c.body(l[i])
			i++
		}
		if i < len(l) {
			c.b.WriteString(" MULTIPART/")
			c.lower(l[i])
			if rest := l[i+1:]; len(rest) > 0 {
				c.b.WriteByte(' ')
				c.params(rest[0])
				c.extTail(rest[1:])
			}
		}
		c.b.WriteString(")")
		return
	}
	if len(l) < 7 {
		c.str(n)
		return
	}
	c.lower(l[0])
	c.b.WriteString("/")
	c.lower(l[1])
	c.b.WriteByte(' ')
	c.params(l[2])
	for _, f := range l[3:5] {
		c.b.WriteByte(' ')
		c.str(f)
	}
	c.b.WriteByte(' ')
	c.lower(l[5])
	c.b.WriteByte(' ')
	c.str(l[6])
	rest := l[7:]
	typ, sub := strings.ToLower(l[0].str), strings.ToLower(l[1].str)
	switch {
	case typ == "message" && sub == "rfc822" && len(rest) >= 3:
		c.b.WriteByte(' ')
		c.envelope(rest[0])
		c.b.WriteByte(' ')
		c.body(rest[1])
		c.lines = append(c.lines, rest[2].num)
		rest = rest[3:]
	case typ == "text" && len(rest) >= 1:
		c.lines = append(c.lines, rest[0].num)
		rest = rest[1:]
	}
	if len(rest) > 0 {
		c.b.WriteString(" MD5 ")
		c.str(rest[0])
		c.extTail(rest[1:])
	}
	c.b.WriteString(")")
}
