package imap

import "time"

// monthNames are the month names of RFC 9051's date-month.
var monthNames = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// appendDateTime appends t as RFC 9051's date-time without the quotes
// (section 9: date-day-fixed "-" date-month "-" date-year SP time SP
// zone), what t.AppendFormat(b, internalDateLayout) gives, at a fraction
// of its cost: FETCH INTERNALDATE writes one per message.
func appendDateTime(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, internalDateLayout)
	}
	hour, minute, sec := t.Clock()
	_, offset := t.Zone()
	if day < 10 {
		b = append(b, ' ', byte('0'+day))
	} else {
		b = append2(b, day)
	}
	b = append(b, '-')
	b = append(b, monthNames[month-1]...)
	b = append(b, '-')
	b = append2(b, year/100)
	b = append2(b, year%100)
	b = append(b, ' ')
	b = append2(b, hour)
	b = append(b, ':')
	b = append2(b, minute)
	b = append(b, ':')
	b = append2(b, sec)
	zone := offset / 60 // minutes; seconds of the offset are dropped, as by the layout
	sign := byte('+')
	if zone < 0 {
		sign, zone = '-', -zone
	}
	b = append(b, ' ', sign)
	b = append2(b, zone/60)
	return append2(b, zone%60)
}

// append2 appends n (0 to 99) as two digits.
func append2(b []byte, n int) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10))
}
