package main

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadSet(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "spam-1"), 0o755)
	for i, name := range []string{"00001.aa.txt", "00002.bb.txt", "00003.cc.txt", "00004.dd.txt", "x.json"} {
		os.WriteFile(filepath.Join(dir, "spam-1", name), []byte("From a@b  Thu Aug 22 12:36:23 2002\nSubject: "+string(rune('a'+i))+"\n\nbody\n"), 0o644)
	}
	ms, err := loadSet(dir, "spam-1", 0)
	if err != nil || len(ms) != 4 {
		t.Fatalf("loadSet: %d, %v", len(ms), err)
	}
	if got := string(ms[0].Raw); got != "Subject: a\r\n\r\nbody\r\n" {
		t.Errorf("message = %q", got)
	}
	if ms, _ := loadSet(dir, "spam-1", 2); len(ms) != 2 || ms[0].Name != "00001.aa.txt" || ms[1].Name != "00003.cc.txt" {
		t.Errorf("sample of 2: %v", ms)
	}
	if !isSpamSet("spam-2") || isSpamSet("hard-ham-1") {
		t.Error("isSpamSet")
	}
}

// spamcCheck reads spamd's answer to CHECK.
func TestSpamcCheck(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	answers := []string{"Spam: True ; 15.3 / 5.0", "Spam: False ; 1.0 / 5.0"}
	go func() {
		for _, a := range answers {
			c, err := l.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(c)
			for {
				line, err := br.ReadString('\n')
				if err != nil || line == "\r\n" {
					break
				}
			}
			c.Write([]byte("SPAMD/1.1 0 EX_OK\r\n" + a + "\r\n\r\n"))
			c.Close()
		}
	}()
	for i, want := range []struct {
		spam  bool
		score float64
	}{{true, 15.3}, {false, 1.0}} {
		got, score, err := spamcCheck(t.Context(), l.Addr().String(), []byte("Subject: x\r\n\r\nbody\r\n"))
		if err != nil || got != want.spam || score != want.score {
			t.Errorf("answer %q: %v, %v, %v", answers[i], got, score, err)
		}
	}
}

// TestBestWithin: the threshold that keeps within the ham bounds and
// catches the most spam.
func TestBestWithin(t *testing.T) {
	var scores []Scored
	for i := range 20 { // hard ham scores 0..19: 5 % is 1 of 20
		scores = append(scores, Scored{"hard-ham-1", float64(i)})
	}
	for i := range 200 { // easy ham all low
		scores = append(scores, Scored{"easy-ham-2", float64(i % 3)})
	}
	for i := range 10 { // spam 10..19
		scores = append(scores, Scored{"spam-1", float64(10 + i)})
	}
	spam, th, ok := bestWithin(scores, 0.05, 0.005)
	if !ok || th != 19 || spam != 0.1 {
		t.Errorf("bestWithin = %v, %v, %v; want 10 %% of spam at 19", spam, th, ok)
	}
	if _, _, ok := bestWithin([]Scored{{"easy-ham-2", 5}}, 0.05, 0); !ok {
		t.Error("a bound of 0 is kept by a threshold above every score")
	}
}

func TestPrintTable(t *testing.T) {
	g := &Result{System: "Gannet", Sets: map[string]*SetResult{"spam-1": {N: 100, Flagged: 97}, "easy-ham-2": {N: 100}, "hard-ham-1": {N: 10, Flagged: 1}}, Classify: 1e9}
	sa := &Result{System: "SpamAssassin", Sets: map[string]*SetResult{"spam-1": {N: 100, Flagged: 87}, "easy-ham-2": {N: 100}, "hard-ham-1": {N: 10, Flagged: 1}}, Classify: 10e9}
	f, _ := os.CreateTemp(t.TempDir(), "out")
	printTable(f, []*Result{g, sa})
	f.Seek(0, 0)
	b, _ := os.ReadFile(f.Name())
	out := string(b)
	for _, want := range []string{"97.00 %", "210.0", "Gannet / SpamAssassin: speed x10.0, spam caught +10.00 points"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
