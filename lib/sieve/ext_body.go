package sieve

import "strings"

// The body extension (RFC 5173).

func init() {
	extensions["body"] = true
	register(&spec{name: "body", test: true, ext: "body", groups: gComparator | gMatch,
		tags: []tagSpec{{name: "raw", group: "transform"}, {name: "content", param: pList, group: "transform"}, {name: "text", group: "transform"}},
		pos:  []posKind{pList}, names: []string{"key list"}, run: runBody})
}

func runBody(in *interp, c *cmd) (bool, error) {
	keys := in.list(c.args[0])
	var vals []string
	root := in.msgRoot()
	switch {
	case c.has("raw"):
		if len(root.body) > 0 {
			vals = []string{string(root.body)}
		}
	case c.has("content"):
		types := in.list(c.tags["content"])
		root.walk(func(p *part) {
			if !contentMatches(p, types) {
				return
			}
			switch {
			case p.typ == "multipart":
				vals = append(vals, string(p.preamble), string(p.epilogue))
			case p.typ == "message" && p.sub == "rfc822" && len(p.children) > 0:
				ch := p.children[0]
				vals = append(vals, strings.TrimSuffix(string(buildMessage(ch.fields, nil)), "\r\n"))
			default:
				vals = append(vals, p.text())
			}
		})
	default:
		root.walk(func(p *part) {
			if p.typ == "text" && len(p.body) > 0 && p.knownEncoding() {
				t := p.text()
				if p.sub == "html" {
					t = htmlToText(t)
				}
				vals = append(vals, t)
			}
		})
	}
	// Body tests do not set match variables (Pigeonhole).
	saved := append([]string(nil), in.matchVals...)
	ok, err := in.match(c, vals, keys)
	in.matchVals = saved
	return ok, err
}

// contentMatches tells whether a part's type matches a :content list
// (RFC 5173 section 5).
func contentMatches(p *part, types []string) bool {
	for _, t := range types {
		t = strings.ToLower(strings.TrimSpace(t))
		switch {
		case t == "":
			if p.typ != "multipart" {
				return true
			}
		case strings.Count(t, "/") > 1:
		case strings.Contains(t, "/"):
			if t == p.typ+"/"+p.sub {
				return true
			}
		default:
			if t == p.typ {
				return true
			}
		}
	}
	return false
}

// htmlToText strips tags, roughly (enough for matching).
func htmlToText(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}
