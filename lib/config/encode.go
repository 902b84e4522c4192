package config

import (
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"
)

// Encode writes the effective configuration (every key, defaults included)
// as TOML that Parse reads back. String values that came from ${env:...} or
// ${file:...} are written as those references, never as the secrets they
// stand for.
func (c *Config) Encode(w io.Writer) error {
	cp := *c
	restore(reflect.ValueOf(&cp).Elem(), "", c.unexpanded)
	enc := toml.NewEncoder(w)
	enc.Indent = ""
	if err := enc.Encode(cp); err != nil {
		return fmt.Errorf("encode configuration: %w", err)
	}
	return nil
}

// restore gives v its own copy of every slice, so that the caller's Config
// is not touched, puts back the unexpanded text of the strings in raw and
// escapes "${" in the others.
func restore(v reflect.Value, key string, raw map[string]string) {
	switch v.Kind() {
	case reflect.Struct:
		for name, i := range fields(v.Type()) {
			restore(v.Field(i), joinKey(key, name), raw)
		}
	case reflect.Slice:
		if v.IsNil() {
			return
		}
		s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(s, v)
		v.Set(s)
		for i := range s.Len() {
			restore(s.Index(i), indexKey(key, i), raw)
		}
	case reflect.String:
		if r, ok := raw[key]; ok {
			v.SetString(r)
		} else {
			// A literal "${" must not read back as a reference.
			v.SetString(strings.ReplaceAll(v.String(), "${", "$${"))
		}
	}
}
