package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// MaxSecretFileSize bounds what a ${file:PATH} reference may read.
const MaxSecretFileSize = 1 << 20

// maxExpandDepth bounds how deeply references may nest, as in
// ${file:${env:CREDENTIALS_DIRECTORY}/dbpass}.
const maxExpandDepth = 4

// sources is where references are looked up; tests and the fuzz target
// replace it so that they touch neither the environment nor the disk.
type sources struct {
	env  func(name string) (string, bool)
	file func(path string) (string, error)
	dir  string // for relative ${file:} paths; "" means the working directory
}

func osSources(configFile string) sources {
	dir := ""
	if configFile != "" {
		dir = filepath.Dir(configFile)
	}
	return sources{env: os.LookupEnv, file: readSecretFile, dir: dir}
}

// readSecretFile reads a regular file of at most MaxSecretFileSize bytes.
// Anything else (a FIFO, a device, /dev/stdin) is refused rather than waited
// on or read without end.
func readSecretFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSecretFileSize+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > MaxSecretFileSize {
		return "", fmt.Errorf("%s: larger than %d bytes", path, MaxSecretFileSize)
	}
	return string(b), nil
}

// expand replaces every ${env:NAME} and ${file:PATH} in s. "$${" stands for
// a literal "${". The content of a variable or file is taken as it is, never
// expanded again; a file loses one trailing newline (as written by echo or
// an editor). References may nest: ${file:${env:CREDENTIALS_DIRECTORY}/x}.
func (src sources) expand(s string, depth int) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	if depth > maxExpandDepth {
		return "", errors.New("references nested too deeply")
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := closingBrace(s, i+2)
		if end < 0 {
			return "", fmt.Errorf("unterminated %q: want ${env:NAME} or ${file:PATH}", s[i:])
		}
		ref := s[i : end+1]
		scheme, arg, ok := strings.Cut(s[i+2:end], ":")
		if !ok || (scheme != "env" && scheme != "file") {
			return "", fmt.Errorf("unknown reference %q: want ${env:NAME} or ${file:PATH}", ref)
		}
		arg, err := src.expand(arg, depth+1)
		if err != nil {
			return "", err
		}
		if arg == "" {
			return "", fmt.Errorf("%s: empty name", ref)
		}
		switch scheme {
		case "env":
			v, ok := src.env(arg)
			if !ok {
				return "", fmt.Errorf("%s: environment variable %s is not set", ref, arg)
			}
			b.WriteString(v)
		case "file":
			path := arg
			if !filepath.IsAbs(path) && src.dir != "" {
				path = filepath.Join(src.dir, path)
			}
			v, err := src.file(path)
			if err != nil {
				return "", fmt.Errorf("%s: %w", ref, err)
			}
			if t, ok := strings.CutSuffix(v, "\n"); ok {
				v = strings.TrimSuffix(t, "\r")
			}
			b.WriteString(v)
		}
		i = end + 1
	}
	return b.String(), nil
}

// closingBrace returns the index of the "}" closing a reference whose body
// starts at i, allowing nested references, or -1.
func closingBrace(s string, i int) int {
	depth := 1
	for ; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], "${"):
			depth++
			i++
		case s[i] == '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}
