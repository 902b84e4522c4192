package milter

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// ModKind is the kind of a Modification.
type ModKind int

// The modifications a milter may ask for at the end of a message.
const (
	// AddHeader appends a field to the header (SMFIR_ADDHEADER).
	AddHeader ModKind = iota + 1
	// InsertHeader inserts a field after Index fields, 0 being the top
	// (SMFIR_INSHEADER, as libmilter's smfi_insheader documents it).
	InsertHeader
	// ChangeHeader replaces the Index'th (from 1) field called Name, or
	// appends one when there are fewer (SMFIR_CHGHEADER).
	ChangeHeader
	// DeleteHeader removes the Index'th (from 1) field called Name
	// (SMFIR_CHGHEADER with an empty value).
	DeleteHeader
	// ReplaceBody replaces the whole body (SMFIR_REPLBODY).
	ReplaceBody
	// ChangeFrom changes the envelope sender (SMFIR_CHGFROM).
	ChangeFrom
	// AddRcpt adds an envelope recipient (SMFIR_ADDRCPT).
	AddRcpt
	// DeleteRcpt removes an envelope recipient (SMFIR_DELRCPT).
	DeleteRcpt
)

func (k ModKind) String() string {
	switch k {
	case AddHeader:
		return "add header"
	case InsertHeader:
		return "insert header"
	case ChangeHeader:
		return "change header"
	case DeleteHeader:
		return "delete header"
	case ReplaceBody:
		return "replace body"
	case ChangeFrom:
		return "change from"
	case AddRcpt:
		return "add recipient"
	case DeleteRcpt:
		return "delete recipient"
	}
	return fmt.Sprintf("ModKind(%d)", int(k))
}

// Modification is one change a milter asked for.
type Modification struct {
	Kind ModKind
	// Milter names the milter that asked.
	Milter string
	// Name, Value and Index describe a header change. Value is the field
	// body as it follows the colon, leading space included, with CRLF
	// between folded lines.
	Name  string
	Value string
	Index int
	// Body is the new body for ReplaceBody, with CRLF line ends.
	Body []byte
	// Addr is the address for ChangeFrom ("" for the null sender),
	// AddRcpt and DeleteRcpt, without angle brackets; Params holds the
	// ESMTP parameters of ChangeFrom.
	Addr   string
	Params []string
}

// Result is what the milters made of a message at the end of DATA.
type Result struct {
	// Action is the verdict. Modifications matter only when it is Accept
	// or Quarantine.
	Action Action
	// Modifications lists every change in the order the milters asked for
	// them, each milter's after those of the milters before it.
	Modifications []Modification
}

// Apply returns raw with the header and body modifications made, in
// order; raw must be the message given to Data (its header, then the
// body). Fields the milters did not touch keep their bytes; new fields and
// a new body have CRLF line ends. When nothing changes, raw itself is
// returned. The envelope changes are left to Envelope.
func (r *Result) Apply(raw []byte) ([]byte, error) {
	if r == nil || !slices.ContainsFunc(r.Modifications, func(m Modification) bool { return m.changesContent() }) {
		return raw, nil
	}
	fields, rest := splitHeader(raw)
	fields, rest, err := applyMods(fields, rest, r.Modifications)
	if err != nil {
		return nil, err
	}
	return joinMessage(fields, rest), nil
}

// Envelope returns the sender and recipients with the milters' envelope
// changes made: a changed sender, recipients added (once) and removed
// (compared case-insensitively, as smtpd compares recipients).
func (r *Result) Envelope(from string, rcpts []string) (string, []string) {
	out := slices.Clone(rcpts)
	if r == nil {
		return from, out
	}
	for _, m := range r.Modifications {
		switch m.Kind {
		case ChangeFrom:
			from = m.Addr
		case AddRcpt:
			if !slices.ContainsFunc(out, func(s string) bool { return strings.EqualFold(s, m.Addr) }) {
				out = append(out, m.Addr)
			}
		case DeleteRcpt:
			out = slices.DeleteFunc(out, func(s string) bool { return strings.EqualFold(s, m.Addr) })
		}
	}
	return from, out
}

func (m *Modification) changesContent() bool {
	switch m.Kind {
	case AddHeader, InsertHeader, ChangeHeader, DeleteHeader, ReplaceBody:
		return true
	}
	return false
}

// field is one header field as it is in the message, or a line in the
// header that is not a field (name ""), which is kept but never counted
// or shown to milters.
type field struct {
	name string
	text []byte // the whole field, folded lines and line ends included
}

// splitHeader splits a message into its header fields and the rest: the
// blank line that ends the header and the body, or nothing when the
// message has no blank line.
func splitHeader(raw []byte) (fields []field, rest []byte) {
	for i := 0; i < len(raw); {
		end := len(raw)
		if j := bytes.IndexByte(raw[i:], '\n'); j >= 0 {
			end = i + j + 1
		}
		line := raw[i:end]
		content := bytes.TrimRight(line, "\r\n")
		switch {
		case len(content) == 0 && len(line) > 0 && (line[0] == '\n' || line[0] == '\r'):
			return fields, raw[i:]
		case (content[0] == ' ' || content[0] == '\t') && len(fields) > 0:
			// RFC 5322 section 2.2.3: a folded line continues the field.
			f := &fields[len(fields)-1]
			f.text = raw[i-len(f.text) : end]
		default:
			fields = append(fields, field{name: fieldName(content), text: line})
		}
		i = end
	}
	return fields, nil
}

// fieldName returns the name of a field line, or "" when the line does not
// start with one (RFC 5322 section 3.6.8: printable US-ASCII but colon).
func fieldName(line []byte) string {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return ""
	}
	for _, c := range line[:i] {
		if c <= ' ' || c >= 0x7f {
			return ""
		}
	}
	return string(line[:i])
}

// value returns the field body as milters are shown it: after the colon,
// without the final line end, folded lines joined by "\n" as Sendmail and
// Postfix send them, and without leading blanks unless the milter asked
// for them (SMFIP_HDR_LEADSPC).
func (f *field) value(leadingSpace bool) string {
	v := f.text[len(f.name)+1:]
	v = bytes.TrimRight(v, "\r\n")
	s := strings.ReplaceAll(string(v), "\r\n", "\n")
	if !leadingSpace {
		s = strings.TrimLeft(s, " \t")
	}
	return s
}

func joinMessage(fields []field, rest []byte) []byte {
	n := len(rest)
	for _, f := range fields {
		n += len(f.text)
	}
	out := make([]byte, 0, n)
	for _, f := range fields {
		out = append(out, f.text...)
	}
	return append(out, rest...)
}

func newField(name, value string) field {
	return field{name: name, text: []byte(name + ":" + value + "\r\n")}
}

// applyMods makes the header and body modifications, in order.
func applyMods(fields []field, rest []byte, mods []Modification) ([]field, []byte, error) {
	fields = slices.Clone(fields)
	for _, m := range mods {
		if m.changesContent() && m.Kind != ReplaceBody && !validName(m.Name) {
			return nil, nil, fmt.Errorf("milter %s: %s: bad field name %q", m.Milter, m.Kind, m.Name)
		}
		switch m.Kind {
		case AddHeader:
			fields = append(fields, newField(m.Name, m.Value))
		case InsertHeader:
			// Insert after m.Index fields, not counting lines that are
			// not fields.
			at, seen := len(fields), 0
			for i, f := range fields {
				if seen == m.Index {
					at = i
					break
				}
				if f.name != "" {
					seen++
				}
			}
			if m.Index <= 0 {
				at = 0
			}
			fields = slices.Insert(fields, at, newField(m.Name, m.Value))
		case ChangeHeader, DeleteHeader:
			at, seen := -1, 0
			for i, f := range fields {
				if strings.EqualFold(f.name, m.Name) {
					seen++
					if seen == max(m.Index, 1) {
						at = i
						break
					}
				}
			}
			switch {
			case m.Kind == DeleteHeader && at >= 0:
				fields = slices.Delete(fields, at, at+1)
			case m.Kind == ChangeHeader && at >= 0:
				fields[at] = newField(m.Name, m.Value)
			case m.Kind == ChangeHeader:
				// libmilter's smfi_chgheader: past the last field of
				// that name, a new one is added.
				fields = append(fields, newField(m.Name, m.Value))
			}
		case ReplaceBody:
			blank := []byte("\r\n")
			if len(rest) > 0 && rest[0] == '\n' {
				blank = rest[:1]
			} else if len(rest) > 1 && rest[0] == '\r' && rest[1] == '\n' {
				blank = rest[:2]
			}
			rest = append(slices.Clip(blank), m.Body...)
		}
	}
	return fields, rest, nil
}

// validName reports whether s can be a field name (RFC 5322 section
// 3.6.8), of a sensible length.
func validName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == ':' {
			return false
		}
	}
	return true
}

// foldValue makes a header value from a milter safe to write: line breaks
// of any kind become CRLF, each folded line starts with white space (a tab
// is added where it does not, so that no new field can be made), and
// blank lines, which would end the header, are dropped. lead adds the one
// space Sendmail and Postfix put after the colon for milters that did not
// ask to send it themselves.
func foldValue(v string, lead bool) string {
	v = strings.ReplaceAll(v, "\r\n", "\n")
	v = strings.ReplaceAll(v, "\r", "\n")
	lines := strings.Split(v, "\n")
	var b strings.Builder
	if lead {
		b.WriteByte(' ')
	}
	for i, l := range lines {
		if i > 0 {
			if strings.TrimLeft(l, " \t") == "" {
				continue
			}
			b.WriteString("\r\n")
			if l[0] != ' ' && l[0] != '\t' {
				b.WriteByte('\t')
			}
		}
		b.WriteString(l)
	}
	return b.String()
}

// crlf gives a body from a milter CRLF line ends (milters send LF, as
// Postfix wants them).
func crlf(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/32)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '\r' && i+1 < len(b) && b[i+1] == '\n':
			out = append(out, '\r', '\n')
			i++
		case c == '\r' || c == '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}
