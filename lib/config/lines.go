package config

import (
	"strconv"
	"strings"
)

// The TOML decoder does not tell where each key was written, so scanLines
// walks the text once more and notes the line of every key, table header and
// array element. It runs only on text the decoder has already accepted, and
// tolerates anything else without looping or panicking: a key it cannot
// place gets no line, never a wrong one.
//
// Keys are named as the decoder names them: parts joined by ".", quoted
// when not bare, and array elements as "[i]": "smtpd.listener[1].address",
// "queued.retry_schedule[3]".

// keyPart formats one part of a dotted key.
func keyPart(s string) string {
	if s == "" {
		return `""`
	}
	for i := 0; i < len(s); i++ {
		if !isBare(s[i]) {
			return strconv.Quote(s)
		}
	}
	return s
}

func joinKey(prefix, part string) string {
	if prefix == "" {
		return keyPart(part)
	}
	return prefix + "." + keyPart(part)
}

func indexKey(prefix string, i int) string {
	return prefix + "[" + strconv.Itoa(i) + "]"
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

type lineScanner struct {
	s     string
	i     int
	line  int
	lines map[string]int
	// arrays counts the elements of each array of tables seen so far.
	arrays map[string]int
}

func scanLines(data []byte) map[string]int {
	sc := &lineScanner{s: string(data), line: 1, lines: map[string]int{}, arrays: map[string]int{}}
	sc.document()
	return sc.lines
}

func (sc *lineScanner) note(key string) {
	if _, ok := sc.lines[key]; !ok {
		sc.lines[key] = sc.line
	}
}

func (sc *lineScanner) peek(prefix string) bool { return strings.HasPrefix(sc.s[sc.i:], prefix) }

func (sc *lineScanner) advance() {
	if sc.s[sc.i] == '\n' {
		sc.line++
	}
	sc.i++
}

// space skips blanks, and with newlines also line ends and comments.
func (sc *lineScanner) space(newlines bool) {
	for sc.i < len(sc.s) {
		switch c := sc.s[sc.i]; {
		case c == ' ' || c == '\t':
			sc.i++
		case newlines && (c == '\n' || c == '\r'):
			sc.advance()
		case newlines && c == '#':
			sc.skipLine()
		default:
			return
		}
	}
}

// skipLine moves to the start of the next line.
func (sc *lineScanner) skipLine() {
	for sc.i < len(sc.s) && sc.s[sc.i] != '\n' {
		sc.i++
	}
	if sc.i < len(sc.s) {
		sc.advance()
	}
}

func (sc *lineScanner) document() {
	table := ""
	for {
		sc.space(true)
		if sc.i >= len(sc.s) {
			return
		}
		start := sc.i
		switch {
		case sc.peek("[["):
			sc.i += 2
			parts := sc.key()
			table = sc.resolve(parts, true)
			sc.note(table)
		case sc.peek("["):
			sc.i++
			parts := sc.key()
			table = sc.resolve(parts, false)
			sc.note(table)
		default:
			key := sc.dotted(table)
			sc.space(false)
			if sc.i < len(sc.s) && sc.s[sc.i] == '=' {
				sc.i++
				sc.value(key, 0)
			}
		}
		sc.skipLine()
		if sc.i == start && sc.i < len(sc.s) {
			sc.advance()
		}
	}
}

// resolve names the table a header opens: parts that are arrays of tables
// refer to their latest element, and a [[header]] adds a new element.
func (sc *lineScanner) resolve(parts []string, array bool) string {
	key := ""
	for n, p := range parts {
		key = joinKey(key, p)
		sc.note(key)
		if array && n == len(parts)-1 {
			i := sc.arrays[key]
			sc.arrays[key] = i + 1
			return indexKey(key, i)
		}
		if c := sc.arrays[key]; c > 0 {
			key = indexKey(key, c-1)
		}
	}
	return key
}

// dotted reads the key of a key/value pair in table, notes the line of it
// and of each table its dots make, and returns it in full.
func (sc *lineScanner) dotted(table string) string {
	key := table
	for _, p := range sc.key() {
		key = joinKey(key, p)
		sc.note(key)
	}
	return key
}

// key reads a dotted key and returns its parts, unquoted.
func (sc *lineScanner) key() []string {
	var parts []string
	for {
		sc.space(false)
		if sc.i >= len(sc.s) {
			return parts
		}
		switch c := sc.s[sc.i]; {
		case c == '"':
			raw := sc.basicString()
			if u, err := strconv.Unquote(raw); err == nil {
				parts = append(parts, u)
			} else {
				parts = append(parts, strings.Trim(raw, `"`))
			}
		case c == '\'':
			raw := sc.literalString()
			parts = append(parts, strings.Trim(raw, "'"))
		case isBare(c):
			start := sc.i
			for sc.i < len(sc.s) && isBare(sc.s[sc.i]) {
				sc.i++
			}
			parts = append(parts, sc.s[start:sc.i])
		default:
			return parts
		}
		sc.space(false)
		if sc.i < len(sc.s) && sc.s[sc.i] == '.' {
			sc.i++
			continue
		}
		return parts
	}
}

// basicString reads a one-line "..." string and returns it with its quotes.
func (sc *lineScanner) basicString() string {
	start := sc.i
	sc.i++
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case '\\':
			sc.i += 2
			continue
		case '"':
			sc.i++
			return sc.s[start:sc.i]
		case '\n':
			return sc.s[start:sc.i]
		}
		sc.i++
	}
	sc.i = len(sc.s)
	return sc.s[start:]
}

// literalString reads a one-line '...' string and returns it with its quotes.
func (sc *lineScanner) literalString() string {
	start := sc.i
	sc.i++
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case '\'':
			sc.i++
			return sc.s[start:sc.i]
		case '\n':
			return sc.s[start:sc.i]
		}
		sc.i++
	}
	return sc.s[start:]
}

// multiline skips a """...""" or ”'...”' string, counting its lines.
func (sc *lineScanner) multiline(delim string, escapes bool) {
	sc.i += 3
	for sc.i < len(sc.s) {
		if escapes && sc.s[sc.i] == '\\' {
			sc.advance()
			if sc.i < len(sc.s) {
				sc.advance()
			}
			continue
		}
		if sc.peek(delim) {
			sc.i += 3
			// Up to two more quotes belong to the string.
			for n := 0; n < 2 && sc.i < len(sc.s) && sc.s[sc.i] == delim[0]; n++ {
				sc.i++
			}
			return
		}
		sc.advance()
	}
}

// maxNesting bounds the recursion into nested arrays and inline tables.
const maxNesting = 32

// value skips one value, noting the lines of the elements of arrays and the
// keys of inline tables under key.
func (sc *lineScanner) value(key string, depth int) {
	sc.space(false)
	if sc.i >= len(sc.s) || depth > maxNesting {
		return
	}
	switch {
	case sc.peek(`"""`):
		sc.multiline(`"""`, true)
	case sc.peek("'''"):
		sc.multiline("'''", false)
	case sc.s[sc.i] == '"':
		sc.basicString()
	case sc.s[sc.i] == '\'':
		sc.literalString()
	case sc.s[sc.i] == '[':
		sc.i++
		for n := 0; ; n++ {
			sc.space(true)
			if sc.i >= len(sc.s) {
				return
			}
			if sc.s[sc.i] == ']' {
				sc.i++
				return
			}
			start := sc.i
			elem := indexKey(key, n)
			sc.note(elem)
			sc.value(elem, depth+1)
			sc.space(true)
			if sc.i < len(sc.s) && sc.s[sc.i] == ',' {
				sc.i++
			} else if sc.i == start {
				sc.advance() // not TOML; make progress
			}
		}
	case sc.s[sc.i] == '{':
		sc.i++
		for {
			sc.space(true)
			if sc.i >= len(sc.s) {
				return
			}
			if sc.s[sc.i] == '}' {
				sc.i++
				return
			}
			start := sc.i
			k := sc.dotted(key)
			sc.space(false)
			if sc.i < len(sc.s) && sc.s[sc.i] == '=' {
				sc.i++
				sc.value(k, depth+1)
			}
			sc.space(true)
			if sc.i < len(sc.s) && sc.s[sc.i] == ',' {
				sc.i++
			} else if sc.i == start {
				sc.advance()
			}
		}
	default:
		// A number, boolean or date: up to what ends a value.
		for sc.i < len(sc.s) && !strings.ContainsRune(",]}#\r\n", rune(sc.s[sc.i])) {
			sc.i++
		}
	}
}

// maxDepth bounds how deeply arrays and inline tables nest. The TOML parser
// takes time quadratic in the depth; no configuration needs more than a few.
const maxDepth = 16

// checkDepth returns the line where arrays and inline tables first nest
// deeper than maxDepth, or 0. It skips strings and comments; brackets of
// table headers count, and close on their line.
func checkDepth(s string) int {
	depth, line := 0, 1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\n':
			line++
		case '#':
			for i+1 < len(s) && s[i+1] != '\n' {
				i++
			}
		case '"', '\'':
			delim := s[i : i+1]
			if strings.HasPrefix(s[i:], strings.Repeat(delim, 3)) {
				delim = strings.Repeat(delim, 3)
			}
			for i += len(delim); i < len(s) && !strings.HasPrefix(s[i:], delim); i++ {
				switch {
				case s[i] == '\n':
					line++
					if len(delim) == 1 {
						goto next // an unterminated string: the parser reports it
					}
				case s[i] == '\\' && c == '"' && i+1 < len(s):
					i++
					if s[i] == '\n' {
						line++
					}
				}
			}
			i += len(delim) - 1
		case '[', '{':
			if depth++; depth > maxDepth {
				return line
			}
		case ']', '}':
			depth = max(depth-1, 0)
		}
	next:
	}
	return 0
}
