package imap

import "strings"

// baseSubject extracts the base subject of a decoded Subject (RFC 5256
// section 2.1) and reports whether the subject marks a reply or forward
// (a subj-refwd leader, a "(fwd)" trailer or a "[fwd: ...]" wrapper). The
// result keeps its case: comparisons use i;ascii-casemap.
func baseSubject(subj string) (base string, reply bool) {
	// Step 1: tabs and continuations become spaces, runs of spaces one.
	s := strings.Join(strings.FieldsFunc(subj, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\r' || r == '\n'
	}), " ")
	for {
		// Step 2: remove subj-trailer ("(fwd)" / WSP) repeatedly.
		for {
			t := strings.TrimRight(s, " ")
			if len(t) >= 5 && strings.EqualFold(t[len(t)-5:], "(fwd)") {
				t = t[:len(t)-5]
				reply = true
			}
			if t == s {
				break
			}
			s = t
		}
		// Steps 3 to 5: remove subj-leader and subj-blob prefixes.
		for {
			t := strings.TrimLeft(s, " ")
			if rest, ok := cutLeader(t); ok {
				t, reply = rest, true
			}
			if rest, ok := cutBlob(t); ok && strings.TrimSpace(rest) != "" {
				t = rest // step 4: only when a non-empty subj-base remains
			}
			if t == s {
				break
			}
			s = t
		}
		// Step 6: "[fwd:" ... "]" is removed and the work starts again.
		if len(s) >= 6 && strings.EqualFold(s[:5], "[fwd:") && s[len(s)-1] == ']' {
			s, reply = s[5:len(s)-1], true
			continue
		}
		return s, reply
	}
}

// cutBlob removes a leading subj-blob: "[" *BLOBCHAR "]" *WSP.
func cutBlob(s string) (string, bool) {
	if !strings.HasPrefix(s, "[") {
		return s, false
	}
	end := strings.IndexAny(s[1:], "[]")
	if end < 0 || s[1+end] != ']' {
		return s, false
	}
	return strings.TrimLeft(s[end+2:], " "), true
}

// cutLeader removes a leading *subj-blob subj-refwd, where subj-refwd is
// ("re" / ("fw" ["d"])) *WSP [subj-blob] ":".
func cutLeader(s string) (string, bool) {
	t := s
	for {
		rest, ok := cutBlob(t)
		if !ok {
			break
		}
		t = rest
	}
	low := strings.ToLower(t)
	switch {
	case strings.HasPrefix(low, "re"):
		t = t[2:]
	case strings.HasPrefix(low, "fwd"):
		t = t[3:]
	case strings.HasPrefix(low, "fw"):
		t = t[2:]
	default:
		return s, false
	}
	t = strings.TrimLeft(t, " ")
	if rest, ok := cutBlob(t); ok {
		t = rest
	}
	if !strings.HasPrefix(t, ":") {
		return s, false
	}
	return t[1:], true
}
