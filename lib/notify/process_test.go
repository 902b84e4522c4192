package notify

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"
)

// helperEnv names the change-feed directory for the publishing child.
const helperEnv = "GANNET_NOTIFY_TEST_PUBLISHER_DIR"

// maxLatency is the requirement: sessions in other processes hear
// of a change within 100 ms.
const maxLatency = 100 * time.Millisecond

// TestCrossProcess runs a publisher in a second OS process (this test
// binary, re-executed) and checks that this process hears each of its
// events within maxLatency, measured from the child's call to Publish to
// the subscriber's receipt.
func TestCrossProcess(t *testing.T) {
	dir := t.TempDir()
	l := listen(t, ListenOptions{Dir: dir})
	ch, unsubscribe := l.Subscribe(42)
	defer unsubscribe()
	other, unsubOther := l.Subscribe(43)
	defer unsubOther()

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperPublisherProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("child did not start: %q %v", lines.Text(), lines.Err())
	}

	const events = 50
	latencies := make([]time.Duration, 0, events)
	var slowest time.Duration
	for i := 1; i <= events; i++ {
		asked := time.Now()
		if _, err := fmt.Fprintf(stdin, "%d\n", i); err != nil {
			t.Fatalf("telling the child to publish: %v", err)
		}
		ev := next(t, ch)
		heard := time.Now()
		if ev != (Event{AccountID: 42, ModSeq: uint64(i)}) {
			t.Fatalf("event %d: got %+v", i, ev)
		}
		// The child says when it called Publish (the wall clock is the
		// same for both processes).
		if !lines.Scan() {
			t.Fatalf("child stopped: %v", lines.Err())
		}
		var n int
		var nanos int64
		if _, err := fmt.Sscanf(lines.Text(), "%d %d", &n, &nanos); err != nil || n != i {
			t.Fatalf("child said %q (%v)", lines.Text(), err)
		}
		latency := heard.Sub(time.Unix(0, nanos))
		if latency >= maxLatency {
			t.Errorf("event %d heard %v after Publish, the requirement is under %v", i, latency, maxLatency)
		}
		latencies = append(latencies, latency)
		slowest = max(slowest, heard.Sub(asked))
	}
	if err := stdin.Close(); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	select {
	case ev := <-other:
		t.Errorf("subscriber of account 43 got %+v", ev)
	default:
	}
	slices.Sort(latencies)
	t.Logf("Publish to subscriber across processes, %d events: median %v, max %v (max %v from asking the child)",
		events, latencies[len(latencies)/2], latencies[len(latencies)-1], slowest)
}

// TestHelperPublisherProcess is the child of TestCrossProcess: it
// publishes Event{42, N} for each number N read from stdin, and writes N
// and the time it called Publish to stdout.
func TestHelperPublisherProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("run by TestCrossProcess as its publishing process")
	}
	p, err := NewPublisher(dir)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		n, err := strconv.ParseUint(in.Text(), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		p.Publish(Event{AccountID: 42, ModSeq: n})
		fmt.Println(n, now.UnixNano())
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
