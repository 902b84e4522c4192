package main

import (
	"gannet/lib/app"

	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"gannet/lib/store"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// sample is a queue as list sees it: a deferred entry being delivered
// with one recipient delivered and one failed, and a held bounce.
func sample() []store.QueueEntry {
	return []store.QueueEntry{
		{
			ID: 17, Sender: "alice@example.org", Size: 2500, Status: store.QueueActive, Attempts: 2,
			Created: now.Add(-3*time.Hour - 12*time.Minute), NextAttempt: now.Add(4 * time.Minute),
			LastError: "451 4.7.1 greylisted,\r\n try later",
			Recipients: []store.QueueRecipient{
				{Address: "bob@remote.test", Status: store.RcptPending, LastError: "451 4.7.1 greylisted,\r\n try later"},
				{Address: "carol@remote.test", Status: store.RcptDelivered},
				{Address: "dave@other.test", Status: store.RcptFailed, LastError: "550 5.1.1 no such user\x1b[2J"},
				{Address: "erin@other.test", Status: store.RcptPending, LastError: "421 4.3.2 closing"},
			},
		},
		{
			ID: 18, Sender: "", Size: 600, Status: store.QueueHeld,
			Created: now.Add(-12 * time.Second), NextAttempt: now,
			Recipients: []store.QueueRecipient{{Address: "postmaster@example.org", Status: store.RcptPending}},
		},
		{
			ID: 1234567, Sender: "frank@example.org", Size: 100, Status: store.QueueActive,
			Created: now.Add(-time.Minute), NextAttempt: now.Add(-time.Minute),
			LeaseOwner: "queued@mx:1", LeaseUntil: now.Add(time.Minute),
			Recipients: []store.QueueRecipient{{Address: "gina@remote.test", Status: store.RcptPending}},
		},
	}
}

func TestWriteList(t *testing.T) {
	var b bytes.Buffer
	if err := writeList(&b, sample(), now); err != nil {
		t.Fatal(err)
	}
	want := `-Queue ID-  --Size-- --Age-- -Status- ---Next-- -Sender/Recipient-------
17              2500   3h12m deferred     in 4m alice@example.org
                                                (451 4.7.1 greylisted, try later)
                                                bob@remote.test
                                                carol@remote.test (delivered)
                                                dave@other.test (failed: 550 5.1.1 no such user?[2J)
                                                (421 4.3.2 closing)
                                                erin@other.test

18!              600     12s held             - <>
                                                postmaster@example.org

1234567*         100      1m active         now frank@example.org
                                                gina@remote.test

-- 3 Kbytes in 3 Requests.
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}

	b.Reset()
	if err := writeList(&b, nil, now); err != nil {
		t.Fatal(err)
	}
	if b.String() != "Mail queue is empty\n" {
		t.Errorf("empty queue: %q", b.String())
	}
}

func TestWriteShow(t *testing.T) {
	e := sample()[0]
	e.DSNRet, e.DSNEnvID, e.RequireTLS, e.AuthAccount = "HDRS", "env-1", true, 3
	e.Recipients[0].Notify, e.Recipients[0].ORcpt = []string{"FAILURE", "DELAY"}, "rfc822;Bob@remote.test"
	var b bytes.Buffer
	hdr := []byte("Subject: hi\r\nX-Evil: \x1b]0;owned\x07\r\n")
	if err := writeShow(&b, &e, hdr, true, now); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"id:            17\n",
		"status:        deferred\n",
		"sender:        <alice@example.org>\n",
		"attempts:      2\n",
		"last error:    451 4.7.1 greylisted, try later\n",
		"dsn:           RET=HDRS ENVID=env-1\n",
		"requiretls:    yes\n",
		"smtputf8:      no\n",
		"submitted by:  account 3\n",
		"lease:         -\n",
		"  bob@remote.test  pending  attempts=0  NOTIFY=FAILURE,DELAY  ORCPT=rfc822;Bob@remote.test\n",
		"  dave@other.test  failed  attempts=0\n    last error: 550 5.1.1 no such user?[2J\n",
		"\n\nSubject: hi\nX-Evil: ?]0;owned?\n[header section longer than",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "(in 4m)") {
		t.Errorf("show does not say when the next attempt is:\n%s", out)
	}

	held := sample()[1]
	b.Reset()
	if err := writeShow(&b, &held, nil, false, now); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sender:        <>\n", "status:        held\n", "next attempt:  - (held)\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("show of a held bounce lacks %q:\n%s", want, b.String())
		}
	}
	leased := sample()[2]
	b.Reset()
	if err := writeShow(&b, &leased, nil, false, now); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "status:        active, being delivered\n") || !strings.Contains(b.String(), "lease:         queued@mx:1 until ") {
		t.Errorf("show of an entry being delivered:\n%s", b.String())
	}
}

func TestIntersperse(t *testing.T) {
	a := newApp()
	for in, want := range map[string]string{
		"queuectl show 12 --json":            "queuectl show --json 12",
		"queuectl delete - --yes":            "queuectl delete --yes -",
		"queuectl list --sender <> --json":   "queuectl list --sender <> --json",
		"queuectl hold 1 2 -c x.toml":        "queuectl -c x.toml hold 1 2",
		"queuectl list --status=held --json": "queuectl list --status=held --json",
	} {
		if got := strings.Join(app.Intersperse(a, strings.Fields(in)), " "); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

func TestEveryCommandHasUsageStatus(t *testing.T) {
	for _, c := range newApp().Commands {
		if c.OnUsageError == nil {
			t.Errorf("%s has no OnUsageError", c.Name)
			continue
		}
		err := c.OnUsageError(&cli.Context{App: &cli.App{Name: "queuectl"}}, errTest, true)
		if ec, ok := err.(cli.ExitCoder); !ok || ec.ExitCode() != exitUsage {
			t.Errorf("%s: usage error %v", c.Name, err)
		}
	}
}

var errTest = cli.Exit("test", 1)
