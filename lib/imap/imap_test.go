package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"gannet/lib/store"
)

const multipartMsg = "From: Alice <alice@example.org>\r\n" +
	"To: Demo <demo@example.test>, bob@example.net\r\n" +
	"Subject: Hello there\r\n" +
	"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n" +
	"Message-ID: <m1@example.org>\r\n" +
	"X-Thing: one\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n" +
	"\r\n" +
	"preamble\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"The first part, with a needle.\r\n" +
	"--b1\r\n" +
	"Content-Type: application/octet-stream\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"AAECAwQ=\r\n" +
	"--b1--\r\n"

func plainMsg(subject, body string) string {
	return "From: carol@example.org\r\nTo: demo@example.test\r\nSubject: " + subject +
		"\r\nDate: Tue, 03 Jan 2006 10:00:00 +0000\r\n\r\n" + body + "\r\n"
}

func TestLoginSelectFetch(t *testing.T) {
	h := newHarness(t)
	h.deliver("INBOX", multipartMsg)
	h.deliver("INBOX", plainMsg("second", "hello"), store.FlagSeen)

	c := h.dial(nil)
	if !c.Caps().Has(goimap.CapIdle) || !c.Caps().Has(goimap.CapUIDPlus) {
		t.Errorf("capabilities after login: %v", c.Caps())
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 2 || sel.UIDNext != 3 || sel.UIDValidity == 0 {
		t.Errorf("SELECT: %+v", sel)
	}

	hdr := &goimap.FetchItemBodySection{Specifier: goimap.PartSpecifierHeader, Peek: true}
	part2 := &goimap.FetchItemBodySection{Part: []int{2}, Peek: true}
	fields := &goimap.FetchItemBodySection{Specifier: goimap.PartSpecifierHeader, HeaderFields: []string{"Subject", "X-Thing"}, Peek: true}
	whole := &goimap.FetchItemBodySection{Peek: true}
	partial := &goimap.FetchItemBodySection{Peek: true, Partial: &goimap.SectionPartial{Offset: 6, Size: 5}}
	bin := &goimap.FetchItemBinarySection{Part: []int{2}, Peek: true}
	msgs, err := c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{
		UID: true, Flags: true, Envelope: true, BodyStructure: &goimap.FetchItemBodyStructure{Extended: true},
		RFC822Size: true, InternalDate: true,
		BodySection:   []*goimap.FetchItemBodySection{hdr, part2, fields, whole, partial},
		BinarySection: []*goimap.FetchItemBinarySection{bin},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	hdrEnd := strings.Index(multipartMsg, "\r\n\r\n") + 4
	checks := []struct {
		name      string
		got, want string
	}{
		{"HEADER", string(m.FindBodySection(hdr)), multipartMsg[:hdrEnd]},
		{"BODY[2]", string(m.FindBodySection(part2)), "AAECAwQ="},
		{"HEADER.FIELDS", string(m.FindBodySection(fields)), "Subject: Hello there\r\nX-Thing: one\r\n\r\n"},
		{"BODY[]", string(m.FindBodySection(whole)), multipartMsg},
		{"BODY[]<6.5>", string(m.FindBodySection(partial)), multipartMsg[6:11]},
		{"BINARY[2]", string(m.FindBinarySection(bin)), "\x00\x01\x02\x03\x04"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if m.UID != 1 || m.RFC822Size != int64(len(multipartMsg)) || m.InternalDate.IsZero() {
		t.Errorf("UID %d size %d date %v", m.UID, m.RFC822Size, m.InternalDate)
	}
	if m.Envelope == nil || m.Envelope.Subject != "Hello there" || len(m.Envelope.To) != 2 ||
		m.Envelope.From[0].Addr() != "alice@example.org" || m.Envelope.MessageID != "m1@example.org" {
		t.Errorf("ENVELOPE %+v", m.Envelope)
	}
	mp, ok := m.BodyStructure.(*goimap.BodyStructureMultiPart)
	if !ok || len(mp.Children) != 2 || !strings.EqualFold(mp.Subtype, "mixed") {
		t.Fatalf("BODYSTRUCTURE %#v", m.BodyStructure)
	}
	if sp := mp.Children[1].(*goimap.BodyStructureSinglePart); !strings.EqualFold(sp.Type, "application") || sp.Size != 8 {
		t.Errorf("part 2: %+v", sp)
	}
	if slices.Contains(m.Flags, goimap.FlagSeen) {
		t.Error("BODY.PEEK set \\Seen")
	}

	// BODY[TEXT] without PEEK sets \Seen and reports it.
	text := &goimap.FetchItemBodySection{Specifier: goimap.PartSpecifierText}
	msgs, err = c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{BodySection: []*goimap.FetchItemBodySection{text}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(msgs[0].FindBodySection(text)); got != multipartMsg[hdrEnd:] {
		t.Errorf("TEXT = %q", got)
	}
	if !slices.Contains(msgs[0].Flags, goimap.FlagSeen) {
		t.Errorf("flags after BODY[TEXT]: %v", msgs[0].Flags)
	}

	// UID FETCH with a UID range beyond the mailbox.
	msgs, err = c.Fetch(goimap.UIDSetNum(2, 99), &goimap.FetchOptions{Flags: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].UID != 2 || !slices.Contains(msgs[0].Flags, goimap.FlagSeen) {
		t.Errorf("UID FETCH 2,99: %v %+v", err, msgs)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Error(err)
	}
}

func TestStoreSearchCopyMoveExpunge(t *testing.T) {
	h := newHarness(t)
	for i := 1; i <= 5; i++ {
		body := "plain text"
		if i == 3 {
			body = "the needle is here"
		}
		h.deliver("INBOX", plainMsg(fmt.Sprintf("message %d", i), body))
	}
	c := h.dial(nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	got, err := c.Store(goimap.SeqSetNum(2, 4), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagFlagged, "$Work"}}, nil).Collect()
	if err != nil || len(got) != 2 || !slices.Contains(got[0].Flags, "$Work") {
		t.Fatalf("STORE: %v %+v", err, got)
	}
	search := func(uid bool, crit *goimap.SearchCriteria) []uint32 {
		t.Helper()
		var d *goimap.SearchData
		var err error
		if uid {
			d, err = c.UIDSearch(crit, nil).Wait()
		} else {
			d, err = c.Search(crit, nil).Wait()
		}
		if err != nil {
			t.Fatalf("SEARCH %+v: %v", crit, err)
		}
		if uid {
			var out []uint32
			for _, u := range d.AllUIDs() {
				out = append(out, uint32(u))
			}
			return out
		}
		return d.AllSeqNums()
	}
	cases := []struct {
		crit *goimap.SearchCriteria
		want []uint32
	}{
		{&goimap.SearchCriteria{Flag: []goimap.Flag{goimap.FlagFlagged}}, []uint32{2, 4}},
		{&goimap.SearchCriteria{NotFlag: []goimap.Flag{goimap.FlagFlagged}}, []uint32{1, 3, 5}},
		{&goimap.SearchCriteria{Flag: []goimap.Flag{"$Work"}}, []uint32{2, 4}},
		{&goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "Subject", Value: "MESSAGE 3"}}}, []uint32{3}},
		{&goimap.SearchCriteria{Body: []string{"needle"}}, []uint32{3}},
		{&goimap.SearchCriteria{Text: []string{"carol@"}}, []uint32{1, 2, 3, 4, 5}},
		{&goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "From", Value: "carol"}}}, []uint32{1, 2, 3, 4, 5}},
		{&goimap.SearchCriteria{Larger: 10000}, nil},
		{&goimap.SearchCriteria{Since: time.Now().Add(-48 * time.Hour), SentBefore: time.Date(2006, 1, 4, 0, 0, 0, 0, time.UTC)}, []uint32{1, 2, 3, 4, 5}},
		{&goimap.SearchCriteria{Or: [][2]goimap.SearchCriteria{{{SeqNum: []goimap.SeqSet{goimap.SeqSetNum(1)}}, {UID: []goimap.UIDSet{goimap.UIDSetNum(5)}}}}}, []uint32{1, 5}},
	}
	for _, tc := range cases {
		if got := search(false, tc.crit); !slices.Equal(got, tc.want) {
			t.Errorf("SEARCH %+v = %v, want %v", tc.crit, got, tc.want)
		}
	}
	if got := search(true, &goimap.SearchCriteria{Flag: []goimap.Flag{goimap.FlagFlagged}}); !slices.Equal(got, []uint32{2, 4}) {
		t.Errorf("UID SEARCH FLAGGED = %v", got)
	}

	cp, err := c.Copy(goimap.SeqSetNum(1, 2), "Archive").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if cp.UIDValidity == 0 || cp.SourceUIDs.String() != "1:2" || cp.DestUIDs.String() != "1:2" {
		t.Errorf("COPYUID %+v %v %v", cp, cp.SourceUIDs, cp.DestUIDs)
	}
	if _, err := c.Copy(goimap.SeqSetNum(1), "Nowhere").Wait(); err == nil || !strings.Contains(err.Error(), "TRYCREATE") {
		t.Errorf("COPY to a missing mailbox: %v", err)
	}
	mv, err := c.Move(goimap.SeqSetNum(3), "Trash").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if mv.SourceUIDs.String() != "3" || mv.DestUIDs.String() != "1" {
		t.Errorf("MOVE COPYUID %v %v", mv.SourceUIDs, mv.DestUIDs)
	}
	if n := c.Mailbox().NumMessages; n != 4 {
		t.Errorf("after MOVE the client counts %d messages", n)
	}
	// \Deleted on (old) 4 and 5, which are now 3 and 4.
	if err := c.Store(goimap.SeqSetNum(3, 4), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	exp, err := c.Expunge().Collect()
	if err != nil || !slices.Equal(exp, []uint32{4, 3}) {
		t.Errorf("EXPUNGE: %v %v", err, exp)
	}
	st, err := c.Status("INBOX", &goimap.StatusOptions{NumMessages: true, UIDNext: true, NumUnseen: true, Size: true, NumDeleted: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *st.NumMessages != 2 || st.UIDNext != 6 || *st.NumUnseen != 2 || *st.NumDeleted != 0 || *st.Size == 0 {
		t.Errorf("STATUS %+v", st)
	}
	for name, want := range map[string]uint32{"Archive": 2, "Trash": 1} {
		st, err := c.Status(name, &goimap.StatusOptions{NumMessages: true}).Wait()
		if err != nil || *st.NumMessages != want {
			t.Errorf("STATUS %s: %v %v", name, err, st)
		}
	}
}

func TestAppendListCreate(t *testing.T) {
	h := newHarness(t)
	c := h.dial(nil)
	if err := c.Create("Projects/Gannet", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Projects", nil).Wait(); err == nil || !strings.Contains(err.Error(), "ALREADYEXISTS") {
		t.Errorf("CREATE of an existing mailbox: %v", err)
	}
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string][]goimap.MailboxAttr{}
	for _, l := range list {
		attrs[l.Mailbox] = l.Attrs
	}
	for name, want := range map[string]goimap.MailboxAttr{
		"INBOX": goimap.MailboxAttrHasNoChildren, "Sent": goimap.MailboxAttrSent, "Junk": goimap.MailboxAttrJunk,
		"Projects": goimap.MailboxAttrHasChildren, "Projects/Gannet": goimap.MailboxAttrHasNoChildren,
	} {
		if !slices.Contains(attrs[name], want) {
			t.Errorf("LIST %s: %v, want %s", name, attrs[name], want)
		}
	}
	if list, _ := c.List("", "%", nil).Collect(); len(list) != 7 {
		t.Errorf("LIST %% gave %d mailboxes", len(list))
	}
	if err := c.Rename("Projects/Gannet", "Projects/Sea bird", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("Projects/Sea bird").Wait(); err != nil {
		t.Fatal(err)
	}

	raw := plainMsg("appended", "by APPEND")
	date := time.Date(2020, 5, 17, 8, 30, 0, 0, time.FixedZone("", 2*3600))
	ap := c.Append("Drafts", int64(len(raw)), &goimap.AppendOptions{Flags: []goimap.Flag{goimap.FlagDraft}, Time: date})
	ap.Write([]byte(raw))
	ap.Close()
	res, err := ap.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.UID != 1 || res.UIDValidity == 0 {
		t.Errorf("APPENDUID %+v", res)
	}
	if _, err := c.Select("Drafts", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	whole := &goimap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{Flags: true, InternalDate: true, BodySection: []*goimap.FetchItemBodySection{whole}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatal(err, len(msgs))
	}
	if string(msgs[0].FindBodySection(whole)) != raw || !msgs[0].InternalDate.Equal(date) || !slices.Contains(msgs[0].Flags, goimap.FlagDraft) {
		t.Errorf("appended message: %q %v %v", msgs[0].FindBodySection(whole), msgs[0].InternalDate, msgs[0].Flags)
	}
	ap = c.Append("Missing", 3, nil)
	ap.Write([]byte("x\r\n"))
	ap.Close()
	if _, err := ap.Wait(); err == nil || !strings.Contains(err.Error(), "TRYCREATE") {
		t.Errorf("APPEND to a missing mailbox: %v", err)
	}
}

// TestTwoSessions checks that changes made in one session reach another
// as unsolicited EXISTS, FETCH and EXPUNGE, after NOOP and under IDLE.
func TestTwoSessions(t *testing.T) {
	h := newHarness(t)
	h.deliver("INBOX", plainMsg("one", "1"))
	h.deliver("INBOX", plainMsg("two", "2"))
	u := newUpdates()
	watcher := h.dial(u)
	if _, err := watcher.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	actor := h.dial(nil)
	if _, err := actor.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}

	// A flag change, seen at NOOP.
	if err := actor.Store(goimap.SeqSetNum(2), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	for {
		if err := watcher.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		u.mu.Lock()
		ok := slices.Contains(u.flags[2], goimap.FlagFlagged)
		u.mu.Unlock()
		if ok {
			break
		}
		// The feed event may not have arrived yet: it will, so NOOP again.
		select {
		case <-u.changed:
		case <-time.After(50 * time.Millisecond):
		}
	}

	// Under IDLE: a delivery, an expunge and a flag change.
	idle, err := watcher.Idle()
	if err != nil {
		t.Fatal(err)
	}
	h.deliver("INBOX", plainMsg("three", "3"))
	u.wait(t, "EXISTS 3", func(u *updates) bool { return slices.Contains(u.exists, 3) })
	if err := actor.Store(goimap.SeqSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := actor.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	u.wait(t, "EXPUNGE 1", func(u *updates) bool { return slices.Contains(u.expunged, 1) })
	if err := actor.Store(goimap.SeqSetNum(2), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{"$Later"}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	u.wait(t, "FETCH 2 $Later", func(u *updates) bool { return slices.Contains(u.flags[2], "$Later") })
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := watcher.Mailbox().NumMessages; n != 2 {
		t.Errorf("watcher counts %d messages, want 2", n)
	}
	msgs, err := watcher.Fetch(goimap.SeqSetNum(1, 2), &goimap.FetchOptions{UID: true}).Collect()
	if err != nil || len(msgs) != 2 || msgs[0].UID != 2 || msgs[1].UID != 3 {
		t.Errorf("after the changes: %v %+v", err, msgs)
	}
}

func TestAuthenticate(t *testing.T) {
	h := newHarness(t)
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256"} {
		t.Run(mech, func(t *testing.T) {
			c, err := imapclient.DialTLS(h.tls, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var sc sasl.Client
			if mech == "PLAIN" {
				sc = sasl.NewPlainClient("", demo, password)
			} else {
				sc = newSCRAMClient(t, demo, password)
			}
			if err := c.Authenticate(sc); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				t.Fatal(err)
			}
		})
	}
	c, err := imapclient.DialTLS(h.tls, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(demo, "wrong").Wait(); err == nil || !strings.Contains(err.Error(), "AUTHENTICATIONFAILED") {
		t.Errorf("wrong password: %v", err)
	}
}

// rawConn is a line-level client for what imapclient will not send.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func (h *harness) raw(t *testing.T, implicitTLS bool) *rawConn {
	var c net.Conn
	var err error
	if implicitTLS {
		c, err = tls.Dial("tcp", h.tls, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = net.Dial("tcp", h.addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := &rawConn{t: t, c: c, br: bufio.NewReader(c)}
	r.line() // greeting
	return r
}

func (r *rawConn) line() string {
	r.t.Helper()
	l, err := r.br.ReadString('\n')
	if err != nil {
		r.t.Fatalf("read: %v (after %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

// cmd sends a line and returns the responses up to the tagged one.
func (r *rawConn) cmd(line string) []string {
	r.t.Helper()
	if _, err := fmt.Fprintf(r.c, "%s\r\n", line); err != nil {
		r.t.Fatal(err)
	}
	tag, _, _ := strings.Cut(line, " ")
	var out []string
	for {
		l := r.line()
		out = append(out, l)
		if strings.HasPrefix(l, tag+" ") {
			return out
		}
	}
}

func last(ls []string) string { return ls[len(ls)-1] }

func TestProtocolErrors(t *testing.T) {
	h := newHarness(t)
	r := h.raw(t, false)
	if got := r.cmd("a CAPABILITY"); !strings.Contains(got[0], "LOGINDISABLED") || !strings.Contains(got[0], "STARTTLS") || strings.Contains(got[0], "AUTH=") {
		t.Errorf("CAPABILITY before TLS: %q", got)
	}
	if got := last(r.cmd(`b LOGIN demo@example.test "` + password + `"`)); !strings.HasPrefix(got, "b NO [PRIVACYREQUIRED]") {
		t.Errorf("LOGIN before TLS: %q", got)
	}
	for _, tc := range []struct{ line, want string }{
		{"c FROB", "c BAD Unknown command"},
		{"d SELECT INBOX", "d BAD SELECT is not valid in the not authenticated state"},
		{`e LOGIN "unterminated`, "e BAD unterminated quoted string"},
		{"f NOOP ((((((((((((((((((((((((((((((((((((((x))))))))))))))))))))))))))))))))))))))", "f BAD lists nested deeper than 32"},
		{"g APPEND INBOX {999999999999}", "g BAD [TOOBIG]"},
	} {
		if got := last(r.cmd(tc.line)); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.line, got, tc.want)
		}
	}

}

func TestRawSession(t *testing.T) {
	h := newHarness(t)
	h.deliver("INBOX", multipartMsg)
	r := h.raw(t, true)
	lit := fmt.Sprintf("{%d+}", len(password))
	fmt.Fprintf(r.c, "a LOGIN %s %s\r\n%s\r\n", demo, lit, password)
	if l := r.line(); !strings.HasPrefix(l, "a OK [CAPABILITY ") {
		t.Fatalf("LOGIN with LITERAL+: %q", l)
	}
	got := r.cmd("b SELECT inbox")
	want := []string{"* FLAGS (", "* 1 EXISTS", "* 1 RECENT", "* OK [UNSEEN 1]", "* OK [UIDVALIDITY ", "* OK [UIDNEXT 2]", "* OK [PERMANENTFLAGS (", "* OK [MAILBOXID (F", "* OK [HIGHESTMODSEQ ", "b OK [READ-WRITE]"}
	if len(got) != len(want) {
		t.Fatalf("SELECT: %q", got)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("SELECT line %d: %q, want %q...", i, got[i], want[i])
		}
	}
	if got := r.cmd("c FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)] BINARY.SIZE[2] UID)"); got[0] != "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {24}" {
		t.Errorf("FETCH: %q", got)
	} else if l := got[len(got)-2]; l != ` BINARY.SIZE[2] 5 UID 1)` {
		t.Errorf("FETCH tail: %q", got)
	}
	if got := r.cmd("d SEARCH RETURN (MIN COUNT) UNSEEN"); got[0] != `* ESEARCH (TAG "d") MIN 1 COUNT 1` {
		t.Errorf("ESEARCH: %q", got)
	}
	if got := r.cmd("e FETCH 2 FLAGS"); !strings.HasPrefix(last(got), "e BAD invalid message sequence number") {
		t.Errorf("FETCH beyond the mailbox: %q", got)
	}
	if got := r.cmd("f ENABLE UTF8=ACCEPT"); got[0] != "* ENABLED UTF8=ACCEPT" {
		t.Errorf("ENABLE: %q", got)
	}
	if got := r.cmd(`g ID ("name" "test")`); got[0] != `* ID ("name" "Gannet")` {
		t.Errorf("ID: %q", got)
	}
	if got := r.cmd(`h NAMESPACE`); got[0] != `* NAMESPACE (("" "/")) NIL NIL` {
		t.Errorf("NAMESPACE: %q", got)
	}
	// APPEND with a literal8 (RFC 3516 section 4.4), fetched back as BINARY.
	if got := r.cmd("j APPEND INBOX ~{15+}\r\nSubject: x\r\n\r\n\x00"); got[0] != "* 2 EXISTS" || !strings.HasPrefix(last(got), "j OK [APPENDUID ") {
		t.Fatalf("APPEND literal8: %q", got)
	}
	if got := r.cmd("k FETCH 2 (BINARY.PEEK[1])"); got[0] != "* 2 FETCH (BINARY[1] ~{1}" {
		t.Errorf("BINARY of a NUL: %q", got)
	}
	if got := r.cmd("i LOGOUT"); got[0] != "* BYE Logging out" || !strings.HasPrefix(got[1], "i OK") {
		t.Errorf("LOGOUT: %q", got)
	}
}

func TestMailboxNamesUTF7(t *testing.T) {
	for _, tc := range []struct{ utf8, utf7 string }{
		{"Entwürfe", "Entw&APw-rfe"},
		{"a&b", "a&-b"},
		{"日本語", "&ZeVnLIqe-"},
		{"plain", "plain"},
	} {
		if got := encodeUTF7(tc.utf8); got != tc.utf7 {
			t.Errorf("encode %q = %q, want %q", tc.utf8, got, tc.utf7)
		}
		if got, err := decodeUTF7(tc.utf7); err != nil || got != tc.utf8 {
			t.Errorf("decode %q = %q %v", tc.utf7, got, err)
		}
	}
	for _, bad := range []string{"&ZeVnLIqe", "&AGE-", "é"} {
		if _, err := decodeUTF7(bad); err == nil {
			t.Errorf("decode %q: no error", bad)
		}
	}
	_ = context.Background
}
