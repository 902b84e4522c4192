package deliver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"gannet/lib/config"
)

// readAll splits an mbox, collecting messages and size errors.
func readAll(t testing.TB, in string, max int64) ([]*MboxMessage, []*TooLargeError, error) {
	t.Helper()
	r := NewMboxReader(strings.NewReader(in), max)
	var msgs []*MboxMessage
	var big []*TooLargeError
	for {
		m, err := r.Next()
		var tl *TooLargeError
		switch {
		case err == io.EOF:
			if r.Offset() != int64(len(in)) {
				t.Fatalf("offset %d at EOF, input is %d bytes", r.Offset(), len(in))
			}
			return msgs, big, nil
		case errors.As(err, &tl):
			big = append(big, tl)
		case err != nil:
			return msgs, big, err
		default:
			msgs = append(msgs, m)
		}
	}
}

// writeMbox writes messages the mboxrd way (the inverse of MboxReader).
func writeMbox(raws [][]byte) []byte {
	var b bytes.Buffer
	for _, raw := range raws {
		b.WriteString("From sender@example.test Thu Jan  1 00:00:00 1970\n")
		if len(raw) > 0 {
			for _, line := range strings.Split(strings.TrimSuffix(string(raw), "\r\n"), "\r\n") {
				k := 0
				for k < len(line) && line[k] == '>' {
					k++
				}
				if strings.HasPrefix(line[k:], "From ") {
					b.WriteByte('>')
				}
				b.WriteString(line)
				b.WriteByte('\n')
			}
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func TestMboxReader(t *testing.T) {
	in := "From alice@example.test Sat Jan  3 01:05:34 1996\n" +
		"Subject: one\n\n>From the start.\n>From here\n>>From there\n>Fromage\nFrom inside a paragraph\n\n" +
		"From bob@example.test Mon Feb 10 10:00:00 2020\r\n" +
		"Subject: two\r\n\r\nbody\r\n\r\n\r\n" +
		"From MAILER-DAEMON Tue Mar  3 03:03:03 +0100 2021\n" +
		"Subject: three\n\nno final newline"
	msgs, big, err := readAll(t, in, 1<<20)
	if err != nil || len(big) != 0 {
		t.Fatal(err, big)
	}
	want := []string{
		"Subject: one\r\n\r\nFrom the start.\r\nFrom here\r\n>From there\r\n>Fromage\r\nFrom inside a paragraph\r\n",
		"Subject: two\r\n\r\nbody\r\n\r\n",
		"Subject: three\r\n\r\nno final newline\r\n",
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages, want %d", len(msgs), len(want))
	}
	for i, m := range msgs {
		if string(m.Raw) != want[i] || m.Index != i {
			t.Errorf("message %d: %q, want %q", i, m.Raw, want[i])
		}
	}
	if msgs[0].From != "alice@example.test Sat Jan  3 01:05:34 1996" ||
		!msgs[0].Date.Equal(time.Date(1996, 1, 3, 1, 5, 34, 0, time.UTC)) ||
		!msgs[1].Date.Equal(time.Date(2020, 2, 10, 10, 0, 0, 0, time.UTC)) ||
		!msgs[2].Date.Equal(time.Date(2021, 3, 3, 2, 3, 3, 0, time.UTC)) {
		t.Errorf("From lines %q %v, %v, %v", msgs[0].From, msgs[0].Date, msgs[1].Date, msgs[2].Date)
	}

	// Not an mbox; an empty file is an empty mbox.
	if _, _, err := readAll(t, "Subject: hi\n\nbody\n", 1<<20); !errors.Is(err, ErrNotMbox) {
		t.Errorf("plain message: err %v, want ErrNotMbox", err)
	}
	if msgs, _, err := readAll(t, "", 1<<20); err != nil || len(msgs) != 0 {
		t.Errorf("empty file: %d messages, %v", len(msgs), err)
	}
	if msgs, _, err := readAll(t, "\n\nFrom x\n\n", 1<<20); err != nil || len(msgs) != 1 || len(msgs[0].Raw) != 0 {
		t.Errorf("leading blank lines and an empty message: %v, %v", msgs, err)
	}
}

func TestMboxReaderTooLarge(t *testing.T) {
	small := []byte("Subject: small\r\n\r\nok\r\n")
	large := []byte("Subject: large\r\n\r\n" + strings.Repeat("x", 200) + "\r\n")
	longLine := []byte("Subject: long line\r\n\r\n" + strings.Repeat("y", 100_000) + "\r\n")
	in := string(writeMbox([][]byte{small, large, small, longLine, small}))
	msgs, big, err := readAll(t, in, int64(len(small)))
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 || len(big) != 2 {
		t.Fatalf("%d messages and %d too large, want 3 and 2", len(msgs), len(big))
	}
	for _, m := range msgs {
		if !bytes.Equal(m.Raw, small) {
			t.Errorf("message %d: %q", m.Index, m.Raw)
		}
	}
	if big[0].Index != 1 || big[0].Size != int64(len(large)) || big[1].Index != 3 || big[0].Limit != int64(len(small)) {
		t.Errorf("too large: %+v %+v", big[0], big[1])
	}
	// Exactly at the limit is fine.
	if msgs, big, _ := readAll(t, in, int64(len(large))); len(msgs) != 4 || len(big) != 1 {
		t.Errorf("limit = size: %d messages, %d too large", len(msgs), len(big))
	}
}

func TestMboxRoundTrip(t *testing.T) {
	raws := [][]byte{
		[]byte("Subject: a\r\n\r\nFrom me\r\n>From you\r\n\r\n"),
		{},
		[]byte("Subject: b\r\n\r\n\r\n\r\nFrom \r\n"),
	}
	msgs, _, err := readAll(t, string(writeMbox(raws)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	for _, m := range msgs {
		got = append(got, m.Raw)
	}
	if !slices.EqualFunc(got, raws, bytes.Equal) {
		t.Errorf("got %q, want %q", got, raws)
	}
}

// FuzzMboxReader checks that splitting never fails on any input beyond
// ErrNotMbox, keeps every message within the limit and in CRLF form, and
// that writing the messages out again and splitting gives them back.
func FuzzMboxReader(f *testing.F) {
	f.Add("From a Sat Jan  3 01:05:34 1996\nSubject: x\n\n>From y\nFrom z\n\nFrom b\n\nbody", int64(1000))
	f.Add("From \r\r\n\n\nFrom \n>\n>>From \r", int64(10))
	f.Add("\nFrom x\n"+strings.Repeat("z", 300)+"\n\nFrom y\n", int64(100))
	f.Fuzz(func(t *testing.T, in string, max int64) {
		if max <= 0 || max > 1<<20 {
			max = 1 << 20
		}
		msgs, _, err := readAll(t, in, max)
		if errors.Is(err, ErrNotMbox) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		var raws [][]byte
		for _, m := range msgs {
			if int64(len(m.Raw)) > max {
				t.Fatalf("message %d is %d bytes, over %d", m.Index, len(m.Raw), max)
			}
			if !bytes.Equal(ToCRLF(m.Raw), m.Raw) {
				t.Fatalf("message %d has bare line breaks: %q", m.Index, m.Raw)
			}
			raws = append(raws, m.Raw)
		}
		again, big, err := readAll(t, string(writeMbox(raws)), max)
		if err != nil || len(big) != 0 {
			t.Fatalf("re-reading: %v, %d too large", err, len(big))
		}
		if len(again) != len(raws) {
			t.Fatalf("%d messages, %d after writing and reading again", len(raws), len(again))
		}
		for i := range again {
			if !bytes.Equal(again[i].Raw, raws[i]) {
				t.Fatalf("message %d: %q became %q", i, raws[i], again[i].Raw)
			}
		}
	})
}

func TestImporter(t *testing.T) {
	f := newFixture(t)
	d := f.deliverer(config.Deliver{})
	ctx := context.Background()
	im, err := d.NewImporter(ctx, "Old/2019", "alice+x@example.test", "ALICE@example.test")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(im.Accounts(), []string{"alice@example.test"}) || im.Mailbox() != "Old/2019" {
		t.Errorf("importer for %v into %s", im.Accounts(), im.Mailbox())
	}
	date := time.Date(2019, 5, 1, 12, 0, 0, 0, time.UTC)
	msgs := []ImportMessage{
		{Raw: testMessage("old 1"), InternalDate: date, Flags: []string{`\Seen`}},
		{Raw: []byte("Date: Tue, 1 Jan 2019 10:00:00 +0000\r\nSubject: old 2\r\n\r\nx\r\n")},
	}
	if err := im.Import(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	got := f.list(t, "alice", "Old/2019")
	if len(got) != 2 || !got[0].InternalDate.Equal(date) || !slices.Equal(got[0].Flags, []string{`\Seen`}) ||
		!got[1].InternalDate.Equal(time.Date(2019, 1, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("imported %+v", got)
	}
	// Over quota: nothing of the batch is stored.
	f.setQuota(t, "alice", 3)
	err = im.Import(ctx, []ImportMessage{{Raw: testMessage("a")}, {Raw: testMessage("b")}})
	var re interface{ ExitCode() int }
	if !errors.As(err, &re) || re.ExitCode() != 75 {
		t.Errorf("over quota: %v", err)
	}
	if n := len(f.list(t, "alice", "Old/2019")); n != 2 {
		t.Errorf("%d messages after a failed batch, want 2", n)
	}
	for _, addr := range []string{"nobody@example.test", "fwd@example.test"} {
		if _, err := d.NewImporter(ctx, "", "alice@example.test", addr); !errors.As(err, &re) || re.ExitCode() != 67 {
			t.Errorf("%s: %v, want a 5.1.1 reply", addr, err)
		}
	}
}

func TestMboxFlags(t *testing.T) {
	for in, want := range map[string][]string{
		"Status: RO\r\nX-Status: AF\r\nSubject: x\r\n\r\nStatus: D\r\n": {`\Seen`, `\Answered`, `\Flagged`},
		"status: O\r\n\r\n":             nil,
		"X-Status: DT\r\nStatus: R\r\n": {`\Deleted`, `\Draft`, `\Seen`},
		"Subject: no status\r\n":        nil,
	} {
		if got := MboxFlags([]byte(in)); !slices.Equal(got, want) {
			t.Errorf("MboxFlags(%q) = %v, want %v", in, got, want)
		}
	}
}
