// Command ingest measures message ingest into the SQLite store: N messages
// of about S bytes, from W goroutines, into one account through
// AddMessages, each parsed once with lib/message as the server does. It
// prints messages per second and fsyncs per message. With synchronous=FULL
// in WAL mode each commit is one fsync of the write-ahead log, so fsyncs
// per message is commits per message; group commit is what brings it
// below one.
//
//	go run ./bench/ingest [-n 10000] [-size 10240] [-workers 20] [-dir DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gannet/lib/message"
	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

// Config is one benchmark run.
type Config struct {
	Messages int    // how many messages
	Size     int    // approximate size of each, bytes
	Workers  int    // concurrent ingesting goroutines
	Dir      string // where the database goes ("" for a temporary directory)
	Keep     bool   // keep the database afterwards
}

// Result is what a run measured.
type Result struct {
	Messages   int
	Bytes      int64
	Elapsed    time.Duration
	Stats      sqlite.Stats
	ParseTime  time.Duration // summed over workers
	StoreTime  time.Duration // summed over workers, AddMessages only
	DBPath     string
	DBFileSize int64
}

// PerSecond is messages stored per second of wall time.
func (r Result) PerSecond() float64 { return float64(r.Messages) / r.Elapsed.Seconds() }

// FsyncsPerMessage is WAL commits (each one fsync) per message.
func (r Result) FsyncsPerMessage() float64 { return float64(r.Stats.Commits) / float64(r.Messages) }

func main() {
	var cfg Config
	flag.IntVar(&cfg.Messages, "n", 10000, "messages to ingest")
	flag.IntVar(&cfg.Size, "size", 10*1024, "approximate message size in bytes")
	flag.IntVar(&cfg.Workers, "workers", 20, "concurrent ingesting goroutines")
	flag.StringVar(&cfg.Dir, "dir", "", "directory for the database (default: a new temporary directory)")
	flag.BoolVar(&cfg.Keep, "keep", false, "keep the database")
	flag.Parse()
	r, err := Run(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
	Print(os.Stdout, cfg, r)
}

// Print writes the figures.
func Print(w io.Writer, cfg Config, r Result) {
	st := r.Stats
	fmt.Fprintf(w, "ingest: %d messages of ~%d bytes from %d goroutines into one account\n", r.Messages, cfg.Size, cfg.Workers)
	fmt.Fprintf(w, "  elapsed          %v\n", r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "  messages/s       %.0f\n", r.PerSecond())
	fmt.Fprintf(w, "  MB/s             %.1f\n", float64(r.Bytes)/r.Elapsed.Seconds()/1e6)
	fmt.Fprintf(w, "  commits (fsyncs) %d\n", st.Commits)
	fmt.Fprintf(w, "  fsyncs/message   %.4f (WAL commits; checkpoints add about 2 per 1000 WAL pages)\n", r.FsyncsPerMessage())
	if st.Batches > 0 {
		fmt.Fprintf(w, "  batch size       %.1f calls per group commit (%d batches)\n", float64(st.GroupedCalls)/float64(st.Batches), st.Batches)
	}
	fmt.Fprintf(w, "  parse time       %v per message (CPU in workers)\n", (r.ParseTime / time.Duration(r.Messages)).Round(time.Microsecond))
	fmt.Fprintf(w, "  store wait       %v per message (AddMessages latency)\n", (r.StoreTime / time.Duration(r.Messages)).Round(time.Microsecond))
	fmt.Fprintf(w, "  database         %.1f MB\n", float64(r.DBFileSize)/1e6)
	if r.DBPath != "" {
		fmt.Fprintf(w, "  kept             %s\n", r.DBPath)
	}
}

// Run ingests cfg.Messages messages and measures it. Messages are generated
// before the clock starts; parsing and storing are timed.
func Run(ctx context.Context, cfg Config) (Result, error) {
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "gannet-ingest-")
		if err != nil {
			return Result{}, err
		}
		dir = d
		if !cfg.Keep {
			defer os.RemoveAll(d)
		}
	}
	path := filepath.Join(dir, "gannet.db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	s, err := sqlite.Open(ctx, sqlite.Options{Path: path, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	if err := s.CreateDomain(ctx, &store.Domain{Name: "bench.test"}); err != nil {
		return Result{}, err
	}
	acct := &store.Account{Address: "demo@bench.test"}
	if err := s.CreateAccount(ctx, acct); err != nil {
		return Result{}, err
	}
	inbox, err := s.GetMailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		return Result{}, err
	}

	msgs := make([][]byte, cfg.Messages)
	var total int64
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range msgs {
		msgs[i] = generate(rng, i, cfg.Size)
		total += int64(len(msgs[i]))
	}

	before := s.Stats()
	var next atomic.Int64
	var parseNS, storeNS atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, cfg.Workers)
	start := time.Now()
	for range cfg.Workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(msgs) {
					return
				}
				t0 := time.Now()
				meta := message.Parse(msgs[i]).Meta()
				t1 := time.Now()
				_, err := s.AddMessages(ctx, []store.NewMessage{{
					AccountID: acct.ID, MailboxID: inbox.ID, Raw: msgs[i], Meta: meta,
				}})
				parseNS.Add(int64(t1.Sub(t0)))
				storeNS.Add(int64(time.Since(t1)))
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		return Result{}, err
	}
	after := s.Stats()
	r := Result{
		Messages: cfg.Messages, Bytes: total, Elapsed: elapsed,
		Stats: sqlite.Stats{
			Commits: after.Commits - before.Commits, Messages: after.Messages - before.Messages,
			Batches: after.Batches - before.Batches, GroupedCalls: after.GroupedCalls - before.GroupedCalls,
			BusyRetries: after.BusyRetries - before.BusyRetries,
		},
		ParseTime: time.Duration(parseNS.Load()), StoreTime: time.Duration(storeNS.Load()),
	}
	if r.Stats.Messages != int64(cfg.Messages) {
		return r, fmt.Errorf("store counted %d messages, want %d", r.Stats.Messages, cfg.Messages)
	}
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(path + suffix); err == nil {
			r.DBFileSize += fi.Size()
		}
	}
	if cfg.Keep {
		r.DBPath = path
	}
	return r, nil
}

var words = strings.Fields(`the of and to in is that for it as was with be by on not he this are or
his from at which but have an they you were her she there been one all we their has would when if
so no will more out up into do any your what some can only other new time could these two may first
then well do about over such our after most also made many before must through back years where much
invoice meeting report quarter garden delivery ticket release server mail account weekly update`)

// generate makes message i: unique headers and about size bytes of a
// multipart/alternative body (text and HTML), different for every message
// so that no blob is shared.
func generate(rng *rand.Rand, i, size int) []byte {
	var b strings.Builder
	b.Grow(size + 512)
	fmt.Fprintf(&b, "Return-Path: <sender%d@shop.example>\r\n", i%97)
	fmt.Fprintf(&b, "Received: from mail.shop.example (mail.shop.example [192.0.2.10])\r\n\tby mx.bench.test (Gannet) with ESMTPS id %08X\r\n\tfor <demo@bench.test>; Tue, 14 Nov 2023 10:00:00 +0000\r\n", i)
	fmt.Fprintf(&b, "From: \"Sender %d\" <sender%d@shop.example>\r\n", i%97, i%97)
	b.WriteString("To: Demo User <demo@bench.test>\r\n")
	fmt.Fprintf(&b, "Subject: Weekly update number %d\r\n", i)
	b.WriteString("Date: Tue, 14 Nov 2023 09:59:57 +0000\r\n")
	fmt.Fprintf(&b, "Message-ID: <%d.%d@shop.example>\r\n", i, rng.Uint32())
	if i%3 != 0 && i > 0 {
		fmt.Fprintf(&b, "In-Reply-To: <thread%d@shop.example>\r\nReferences: <thread%d@shop.example>\r\n", i/3, i/3)
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"=_b\"\r\n\r\n")
	b.WriteString("--=_b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	half := size / 2
	line := 0
	for b.Len() < half {
		b.WriteString(words[rng.IntN(len(words))])
		line++
		if line%12 == 0 {
			b.WriteString("\r\n")
		} else {
			b.WriteByte(' ')
		}
	}
	b.WriteString("\r\n--=_b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>")
	for b.Len() < size-40 {
		b.WriteString(words[rng.IntN(len(words))])
		line++
		if line%12 == 0 {
			b.WriteString("</p>\r\n<p>")
		} else {
			b.WriteByte(' ')
		}
	}
	b.WriteString("</p></body></html>\r\n--=_b--\r\n")
	return []byte(b.String())
}
