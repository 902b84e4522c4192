package sieve

import (
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

// The date and index extensions (RFC 5260).

func init() {
	extensions["date"] = true
	extensions["index"] = true
	zoneTags := []tagSpec{{name: "zone", param: pStr, group: "zone"}, {name: "originalzone", group: "zone"}}
	register(&spec{name: "date", test: true, ext: "date", groups: gComparator | gMatch | gIndex, tags: zoneTags,
		pos: []posKind{pStr, pStr, pList}, names: []string{"header name", "date part", "key list"}, check: checkDate, run: runDate})
	register(&spec{name: "currentdate", test: true, ext: "date", groups: gComparator | gMatch, tags: zoneTags[:1],
		pos: []posKind{pStr, pList}, names: []string{"date part", "key list"}, check: checkDate, run: runCurrentDate})
}

var dateParts = map[string]bool{"year": true, "month": true, "day": true, "date": true, "julian": true, "hour": true,
	"minute": true, "second": true, "time": true, "iso8601": true, "std11": true, "zone": true, "weekday": true}

func checkDate(v *validator, c *cmd) {
	dp := c.args[len(c.args)-2]
	if len(dp.strs) > 0 && !strings.Contains(dp.strs[0], "${") && !dateParts[strings.ToLower(dp.strs[0])] {
		v.errorf(dp.pos, "%s test: invalid date part '%s'", c.name, dp.strs[0])
	}
	if z := c.tags["zone"]; z != nil && !strings.Contains(z.strs[0], "${") {
		if _, ok := parseZone(z.strs[0]); !ok {
			v.errorf(z.pos, "%s test: invalid time zone '%s'", c.name, z.strs[0])
		}
	}
}

// parseZone parses "+hhmm" / "-hhmm".
func parseZone(s string) (*time.Location, bool) {
	if len(s) != 5 || (s[0] != '+' && s[0] != '-') {
		return nil, false
	}
	h, err1 := strconv.Atoi(s[1:3])
	m, err2 := strconv.Atoi(s[3:5])
	if err1 != nil || err2 != nil || h > 23 || m > 59 {
		return nil, false
	}
	off := h*3600 + m*60
	if s[0] == '-' {
		off = -off
	}
	return time.FixedZone(s, off), true
}

// parseDateHeader parses an RFC 5322 date leniently.
func parseDateHeader(s string) (time.Time, bool) {
	s = strings.TrimSpace(stripComments(s))
	s = strings.Join(strings.Fields(s), " ")
	if t, err := mail.ParseDate(s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

func datePart(t time.Time, part string) string {
	switch strings.ToLower(part) {
	case "year":
		return fmt.Sprintf("%04d", t.Year())
	case "month":
		return fmt.Sprintf("%02d", int(t.Month()))
	case "day":
		return fmt.Sprintf("%02d", t.Day())
	case "date":
		return t.Format("2006-01-02")
	case "julian":
		mjd := time.Date(1858, 11, 17, 0, 0, 0, 0, time.UTC)
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		return strconv.Itoa(int(d.Sub(mjd).Hours() / 24))
	case "hour":
		return fmt.Sprintf("%02d", t.Hour())
	case "minute":
		return fmt.Sprintf("%02d", t.Minute())
	case "second":
		return fmt.Sprintf("%02d", t.Second())
	case "time":
		return t.Format("15:04:05")
	case "iso8601":
		s := t.Format("2006-01-02T15:04:05-07:00")
		return strings.Replace(s, "+00:00", "Z", 1)
	case "std11":
		return t.Format("Mon, 02 Jan 2006 15:04:05 -0700")
	case "zone":
		return t.Format("-0700")
	case "weekday":
		return strconv.Itoa(int(t.Weekday()))
	}
	return ""
}

func (in *interp) dateZone(c *cmd) (*time.Location, bool) {
	if z := c.tags["zone"]; z != nil {
		loc, ok := parseZone(in.str(z))
		return loc, ok
	}
	return in.localZone(), true
}

func (in *interp) localZone() *time.Location {
	if in.env.Now.IsZero() {
		return time.Local
	}
	return in.env.Now.Location()
}

func runDate(in *interp, c *cmd) (bool, error) {
	hdr := in.str(c.args[0])
	part := in.str(c.args[1])
	if !dateParts[strings.ToLower(part)] {
		return false, nil
	}
	loc, ok := in.dateZone(c)
	if !ok {
		return false, nil
	}
	var vals []string
	for _, hv := range selectIndex(c, fieldValues(in.topFields(), hdr)) {
		if strings.EqualFold(hdr, "received") {
			if i := strings.LastIndexByte(hv, ';'); i >= 0 {
				hv = hv[i+1:]
			}
		}
		t, ok := parseDateHeader(hv)
		if !ok {
			continue
		}
		if !c.has("originalzone") {
			t = t.In(loc)
		}
		vals = append(vals, datePart(t, part))
	}
	return in.match(c, vals, in.list(c.args[2]))
}

func runCurrentDate(in *interp, c *cmd) (bool, error) {
	part := in.str(c.args[0])
	if !dateParts[strings.ToLower(part)] {
		return false, nil
	}
	loc, ok := in.dateZone(c)
	if !ok {
		return false, nil
	}
	t := in.now.In(loc)
	return in.match(c, []string{datePart(t, part)}, in.list(c.args[1]))
}
