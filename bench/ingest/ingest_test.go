package main

import (
	"context"
	"testing"
)

// BenchmarkIngest10KB ingests b.N messages of 10 KB from 20 goroutines and
// reports messages/s and fsyncs per message.
//
//	go test -bench Ingest -benchtime 10000x ./bench/ingest
func BenchmarkIngest10KB(b *testing.B) {
	cfg := Config{Messages: b.N, Size: 10 * 1024, Workers: 20, Dir: b.TempDir()}
	b.ResetTimer()
	r, err := Run(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.PerSecond(), "msgs/s")
	b.ReportMetric(r.FsyncsPerMessage(), "fsyncs/msg")
	b.SetBytes(r.Bytes / int64(r.Messages))
}
