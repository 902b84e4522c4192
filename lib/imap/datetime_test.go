package imap

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestAppendDateTime checks appendDateTime against time's own formatting
// of internalDateLayout, in several zones and across the years.
func TestAppendDateTime(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("", -7*3600), time.FixedZone("", 5*3600+30*60),
		time.FixedZone("", -(3*3600 + 30*60 + 15)), time.FixedZone("", 14*3600)}
	if ny, err := time.LoadLocation("America/New_York"); err == nil {
		zones = append(zones, ny)
	}
	times := []time.Time{{}, time.Unix(0, 0), time.Date(2026, 12, 3, 9, 5, 7, 0, time.UTC),
		time.Date(999, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 6, 15, 12, 0, 0, 0, time.UTC)}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		times = append(times, time.UnixMilli(r.Int64N(300*365*24*3600*1000)-100*365*24*3600*1000))
	}
	for _, tm := range times {
		for _, z := range zones {
			tz := tm.In(z)
			want := tz.Format(internalDateLayout)
			if got := string(appendDateTime(nil, tz)); got != want {
				t.Fatalf("appendDateTime(%v) = %q, want %q", tz, got, want)
			}
		}
	}
}
