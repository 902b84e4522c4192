package imap

import "time"

// within parses the interval of RFC 5032's OLDER and YOUNGER keys, a
// non-zero number of seconds, and returns the instant it reaches back to
// from now; now is taken once, so that every message of one SEARCH is
// measured against the same instant.
func (p *searchParser) within() (time.Time, error) {
	n, err := p.number()
	if err != nil {
		return time.Time{}, err
	}
	if n == 0 {
		return time.Time{}, bad("OLDER and YOUNGER take a non-zero interval") // RFC 5032 section 4
	}
	if n > int64(200*365*24*time.Hour/time.Second) {
		n = int64(200 * 365 * 24 * time.Hour / time.Second) // beyond any internal date
	}
	return time.Now().Add(-time.Duration(n) * time.Second), nil
}

// matchWithin evaluates OLDER and YOUNGER (RFC 5032 section 3) on a
// message's internal date: OLDER matches messages that arrived before
// the instant the interval reaches back to, YOUNGER those since.
func (k *searchKey) matchWithin(internal time.Time) bool {
	if k.op == "OLDER" {
		return internal.Before(k.date)
	}
	return !internal.Before(k.date)
}
