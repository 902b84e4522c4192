package config

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"
)

// decoder fills a Config from the tables the TOML parser produced. Doing it
// here rather than in the toml package lets every problem be reported at
// once, with its line, and lets ${env:} and ${file:} stand for any string
// before it is converted (a duration, for instance).
type decoder struct {
	file       string
	lines      map[string]int
	src        sources
	errs       []*Error
	unexpanded map[string]string
}

func (d *decoder) fail(key, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: lineOf(d.lines, key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

// lineOf returns the line of key or, for a key the file does not hold, of
// the nearest enclosing table or array the file does hold.
func lineOf(lines map[string]int, key string) int {
	for key != "" {
		if n, ok := lines[key]; ok {
			return n
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// fields maps the toml names of a struct type's fields to their indices.
func fields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("toml")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		name, _, _ = strings.Cut(name, ",")
		m[name] = i
	}
	return m
}

func (d *decoder) table(key string, m map[string]any, v reflect.Value) {
	known := fields(v.Type())
	for _, name := range sortedKeys(m) {
		k := joinKey(key, name)
		i, ok := known[name]
		if !ok {
			msg := "unknown key"
			if s := suggest(name, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.fail(k, "%s", msg)
			continue
		}
		d.value(k, m[name], v.Field(i))
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (d *decoder) value(key string, data any, v reflect.Value) {
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshalerType) {
		s, ok := d.str(key, data, "a string")
		if !ok {
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			d.fail(key, "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.String:
		if s, ok := d.str(key, data, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		b, ok := data.(bool)
		if !ok {
			d.fail(key, "want true or false, not %s", describe(data))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := data.(int64)
		if !ok {
			d.fail(key, "want an integer, not %s", describe(data))
			return
		}
		if v.OverflowInt(n) {
			d.fail(key, "%d is out of range", n)
			return
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := data.(int64)
		if !ok {
			d.fail(key, "want an integer, not %s", describe(data))
			return
		}
		if n < 0 || v.OverflowUint(uint64(n)) {
			d.fail(key, "%d is out of range (0 to %d)", n, maxUint(v))
			return
		}
		v.SetUint(uint64(n))
	case reflect.Float32, reflect.Float64:
		switch n := data.(type) {
		case float64:
			v.SetFloat(n)
		case int64:
			v.SetFloat(float64(n))
		default:
			d.fail(key, "want a number, not %s", describe(data))
		}
	case reflect.Struct:
		m, ok := data.(map[string]any)
		if !ok {
			d.fail(key, "want a table, not %s", describe(data))
			return
		}
		d.table(key, m, v)
	case reflect.Slice:
		var elems []any
		switch a := data.(type) {
		case []any:
			elems = a
		case []map[string]any:
			elems = make([]any, len(a))
			for i := range a {
				elems[i] = a[i]
			}
		default:
			d.fail(key, "want an array, not %s", describe(data))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(elems), len(elems))
		for i, e := range elems {
			d.value(indexKey(key, i), e, s.Index(i))
		}
		v.Set(s)
	default:
		// Only reachable if a field of a type this decoder does not know
		// is added to Config.
		d.fail(key, "cannot decode into %s", v.Type())
	}
}

// str returns a string value with its references expanded.
func (d *decoder) str(key string, data any, want string) (string, bool) {
	s, ok := data.(string)
	if !ok {
		d.fail(key, "want %s, not %s", want, describe(data))
		return "", false
	}
	x, err := d.src.expand(s, 0)
	if err != nil {
		d.fail(key, "%v", err)
		return "", false
	}
	if x != s {
		d.unexpanded[key] = s
	}
	return x, true
}

// describe names the TOML type of a decoded value, with the value when short.
func describe(data any) string {
	switch v := data.(type) {
	case string:
		if len(v) > 40 {
			return "a string"
		}
		return fmt.Sprintf("the string %q", v)
	case int64:
		return fmt.Sprintf("the integer %d", v)
	case float64:
		return fmt.Sprintf("the float %v", v)
	case bool:
		return fmt.Sprintf("%v", v)
	case time.Time:
		return "a date-time"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return fmt.Sprintf("a %T", data)
	}
}

func maxUint(v reflect.Value) uint64 {
	bits := v.Type().Bits()
	if bits >= 64 {
		return math.MaxUint64
	}
	return 1<<bits - 1
}

// suggest returns the known name closest to a misspelt one, if close enough.
func suggest(name string, known map[string]int) string {
	limit := 2
	if len(name) <= 4 {
		limit = 1
	}
	best, bestDist := "", limit+1
	for k := range known {
		dist := editDistance(name, k)
		if dist < bestDist || dist == bestDist && k < best {
			best, bestDist = k, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance between short strings.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return math.MaxInt
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
