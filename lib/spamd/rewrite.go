package spamd

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"gannet/lib/spam"
)

// spamFields are the header fields the filter writes; a message passing
// through loses those it came with (spam.HeaderStatus...), so nobody can
// forge a verdict.
var spamFields = []string{spam.HeaderFlag, spam.HeaderStatus, spam.HeaderScore, spam.HeaderResult}

// IsSpamField reports whether name is one of the header fields the filter
// writes.
func IsSpamField(name string) bool {
	return slices.ContainsFunc(spamFields, func(f string) bool { return strings.EqualFold(f, name) })
}

// splitHeader returns the header of raw up to and including the empty line
// that ends it (or all of raw when there is none) and the body after it.
func splitHeader(raw []byte) (header, body []byte) {
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\n')
		if j < 0 {
			return raw, nil
		}
		line := raw[i : i+j+1]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return raw[:i+j+1], raw[i+j+1:]
		}
		i += j + 1
	}
	return raw, nil
}

// stripFields returns header without the fields (and their continuation
// lines) whose name f selects.
func stripFields(header []byte, f func(name string) bool) []byte {
	out := make([]byte, 0, len(header))
	dropping := false
	for i := 0; i < len(header); {
		j := bytes.IndexByte(header[i:], '\n')
		end := len(header)
		if j >= 0 {
			end = i + j + 1
		}
		line := header[i:end]
		i = end
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if !dropping {
				out = append(out, line...)
			}
			continue
		}
		dropping = false
		if name, _, ok := bytes.Cut(line, []byte(":")); ok && f(string(bytes.TrimSpace(name))) {
			dropping = true
			continue
		}
		out = append(out, line...)
	}
	return out
}

// Rewrite returns raw with the verdict's header fields at the top of its
// header and the fields of those names it came with removed, in the line
// endings raw uses (LF when its first line ends in a bare LF). headerOnly
// stops after the empty line that ends the header, as for HEADERS.
func Rewrite(raw []byte, v *spam.Verdict, headerOnly bool) []byte {
	header, body := splitHeader(raw)
	header = stripFields(header, IsSpamField)
	fields := v.Fields()
	if i := bytes.IndexByte(raw, '\n'); i >= 0 && (i == 0 || raw[i-1] != '\r') {
		fields = bytes.ReplaceAll(fields, []byte("\r\n"), []byte("\n"))
	}
	out := make([]byte, 0, len(fields)+len(header)+len(body))
	out = append(out, fields...)
	out = append(out, header...)
	if headerOnly {
		return out
	}
	return append(out, body...)
}

// SymbolList returns the names of the tags, sorted and comma-separated, as
// spamd's SYMBOLS.
func SymbolList(v *spam.Verdict) string {
	names := make([]string, 0, len(v.Tags))
	for _, t := range v.Tags {
		names = append(names, t.Name)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// ReportText is the report of REPORT, laid out as SpamAssassin's "Content
// analysis details" so that people and scripts used to it can read it.
func ReportText(hostname string, v *spam.Verdict) string {
	var b strings.Builder
	if hostname == "" {
		hostname = "localhost"
	}
	if v.Spam {
		fmt.Fprintf(&b, "Spam detection software, running on the system %q,\nhas identified this incoming email as possible spam.\n\n", hostname)
	} else {
		fmt.Fprintf(&b, "Spam detection software, running on the system %q,\nhas not identified this incoming email as spam.\n\n", hostname)
	}
	fmt.Fprintf(&b, "Content analysis details:   (%s points, %.1f required)\n\n",
		FormatScore(v.Spam, v.Score, v.Thresholds.Spam), v.Thresholds.Spam)
	b.WriteString(" pts rule name              description\n")
	b.WriteString("---- ---------------------- --------------------------------------------------\n")
	for _, t := range v.Tags {
		fmt.Fprintf(&b, "%s %-22s %s\n", points(t.Score), t.Name, detail(t.Detail))
	}
	return b.String()
}

// points formats a score in four columns as SpamAssassin's report.
func points(s float64) string {
	p := fmt.Sprintf("%4.1f", s)
	if len(p) > 4 {
		p = fmt.Sprintf("%4.0f", s)
	}
	return p
}

// detail keeps a tag's description on one printable line.
func detail(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if s == "" {
		return "No description available."
	}
	return s
}
