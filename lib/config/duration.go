package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

const day = 24 * time.Hour

// D returns d as a Duration, for writing defaults and tests.
func D(d time.Duration) Duration { return Duration{d} }

// UnmarshalText reads a Go duration ("90s", "1h30m") optionally led by a
// number of days ("5d", "1d12h"). A sign may lead the whole value; Validate
// refuses negative durations where they make no sense.
func (d *Duration) UnmarshalText(text []byte) error {
	s := string(text)
	orig := s
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var days int64
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || n < 0 || s[:i] == "" || s[0] == '+' {
			return fmt.Errorf("invalid duration %q: days must be a whole number, as in \"5d\"", orig)
		}
		days = n
		s = s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		var err error
		if rest, err = time.ParseDuration(s); err != nil || rest < 0 || s[0] == '+' {
			return fmt.Errorf("invalid duration %q: want a number and a unit (ms, s, m, h, d), as in \"30s\" or \"5d\"", orig)
		}
	} else if days == 0 && !strings.Contains(orig, "d") {
		return fmt.Errorf("invalid duration %q: want a number and a unit (ms, s, m, h, d), as in \"30s\" or \"5d\"", orig)
	}
	if days > int64(math.MaxInt64/day) || time.Duration(days)*day > math.MaxInt64-rest {
		return fmt.Errorf("invalid duration %q: %w", orig, errTooLong)
	}
	v := time.Duration(days)*day + rest
	if neg {
		v = -v
	}
	d.Duration = v
	return nil
}

var errTooLong = errors.New("too long")

// MarshalText writes the duration in the shortest form UnmarshalText reads
// back: "5d", "4h", "1h30m", "90ms".
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// String formats the duration as MarshalText does.
func (d Duration) String() string {
	v := d.Duration
	if v == 0 {
		return "0s"
	}
	sign := ""
	if v < 0 {
		sign = "-"
		if v == math.MinInt64 {
			// -v overflows; the Go form is exact and readable back.
			return v.String()
		}
		v = -v
	}
	var b strings.Builder
	b.WriteString(sign)
	if days := v / day; days > 0 {
		b.WriteString(strconv.FormatInt(int64(days), 10))
		b.WriteString("d")
		v -= days * day
		if v == 0 {
			return b.String()
		}
	}
	s := v.String()
	// time.Duration.String writes "4h0m0s": drop the empty trailing units.
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	b.WriteString(s)
	return b.String()
}
