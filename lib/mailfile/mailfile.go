// Package mailfile reads messages from the places people keep them: single
// message files, mbox files (mboxrd/mboxo, split at "From " lines),
// maildirs (cur/ and new/) and directories of any of these. Messages come
// out with CRLF line endings and without the mbox "From " line.
package mailfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gannet/lib/deliver"
)

// MaxMessage is the largest message read; a bigger one is reported as an
// error (ErrTooLarge) and skipped.
const MaxMessage = 64 << 20

// ErrTooLarge is reported for a message over MaxMessage.
var ErrTooLarge = errors.New("message too large")

// Formats a path may be read as.
const (
	Auto    = "auto"
	Mbox    = "mbox"
	Maildir = "maildir"
	File    = "file"
)

// Message is one message read.
type Message struct {
	// Source names where it came from: the file, or the mbox file and
	// the message's number in it ("box.mbox#3").
	Source string
	Raw    []byte
}

// Func receives each message, or the error reading one (msg.Raw nil);
// returning an error stops the walk with that error.
type Func func(msg Message, err error) error

// Walk reads every message under path as format ("" is Auto) and calls fn
// for each. "-" is standard input: one message, or an mbox with Mbox.
// Auto takes a directory with cur/ or new/ for a maildir, any other
// directory for a collection walked in name order (dot files skipped), a
// file starting with "From " for an mbox and any other file for one
// message.
func Walk(path, format string, stdin io.Reader, fn Func) error {
	if format == "" {
		format = Auto
	}
	switch format {
	case Auto, Mbox, Maildir, File:
	default:
		return fmt.Errorf("unknown format %q (want auto, mbox, maildir or file)", format)
	}
	if path == "-" {
		if format == Mbox {
			return readMbox(stdin, "-", fn)
		}
		raw, err := readAll(stdin)
		if err != nil {
			return fn(Message{Source: "-"}, err)
		}
		return fn(Message{Source: "-", Raw: deliver.ToCRLF(stripFromLine(raw))}, nil)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	switch {
	case format == Maildir || format == Auto && fi.IsDir() && isMaildir(path):
		return walkMaildir(path, fn)
	case fi.IsDir():
		if format != Auto {
			return fmt.Errorf("%s is a directory, not a %s", path, format)
		}
		return walkDir(path, fn)
	}
	return readFile(path, format, fn)
}

// Count returns how many messages Walk would read under path (quickly:
// mbox files are scanned for "From " lines, not parsed), for a progress
// bar. Errors count nothing.
func Count(path, format string) int {
	if path == "-" {
		return 1
	}
	n := 0
	filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if p != path && strings.HasPrefix(d.Name(), ".") || d.Name() == "tmp" && isMaildir(filepath.Dir(p)) {
				return fs.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") || !d.Type().IsRegular() {
			return nil
		}
		if format == File || format == Maildir {
			n++
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		defer f.Close()
		br := bufio.NewReaderSize(f, 64<<10)
		first, _ := br.Peek(5)
		if format != Mbox && string(first) != "From " {
			n++
			return nil
		}
		prevBlank := true
		for {
			line, err := br.ReadSlice('\n')
			if bytes.HasPrefix(line, []byte("From ")) && prevBlank {
				n++
			}
			prevBlank = len(bytes.TrimRight(line, "\r\n")) == 0
			if err == bufio.ErrBufferFull {
				prevBlank = false
				for err == bufio.ErrBufferFull {
					_, err = br.ReadSlice('\n')
				}
			}
			if err != nil {
				break
			}
		}
		return nil
	})
	return n
}

func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

// walkMaildir reads cur/ and new/ (never tmp/, where deliveries are
// still being written).
func walkMaildir(dir string, fn Func) error {
	for _, sub := range []string{"cur", "new"} {
		names, err := readDirNames(filepath.Join(dir, sub))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		for _, n := range names {
			if strings.HasPrefix(n, ".") {
				continue
			}
			if err := readFile(filepath.Join(dir, sub, n), File, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// walkDir reads every entry of a directory that is not a maildir.
func walkDir(dir string, fn Func) error {
	names, err := readDirNames(dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if strings.HasPrefix(n, ".") {
			continue
		}
		p := filepath.Join(dir, n)
		fi, err := os.Stat(p)
		if err != nil {
			if ferr := fn(Message{Source: p}, err); ferr != nil {
				return ferr
			}
			continue
		}
		if fi.IsDir() {
			err = Walk(p, Auto, nil, fn)
		} else if fi.Mode().IsRegular() {
			err = readFile(p, Auto, fn)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func readDirNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names, nil
}

// readFile reads one file as one message or as an mbox.
func readFile(path, format string, fn Func) error {
	f, err := os.Open(path)
	if err != nil {
		return fn(Message{Source: path}, err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	if format == Mbox || format == Auto && isMboxStart(br) {
		return readMbox(br, path, fn)
	}
	raw, err := readAll(br)
	if err != nil {
		return fn(Message{Source: path}, fmt.Errorf("%s: %w", path, err))
	}
	return fn(Message{Source: path, Raw: deliver.ToCRLF(raw)}, nil)
}

func isMboxStart(br *bufio.Reader) bool {
	b, _ := br.Peek(5)
	return string(b) == "From "
}

// readAll reads at most MaxMessage bytes.
func readAll(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxMessage+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxMessage {
		return nil, ErrTooLarge
	}
	return b, nil
}

// readMbox splits an mbox with lib/deliver's reader (the one deliver
// --mbox imports with): messages start at From_ lines, mboxrd quoting is
// undone, line breaks become CRLF.
func readMbox(r io.Reader, name string, fn Func) error {
	mr := deliver.NewMboxReader(r, MaxMessage)
	for {
		m, err := mr.Next()
		var tl *deliver.TooLargeError
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.As(err, &tl):
			if ferr := fn(Message{Source: fmt.Sprintf("%s#%d", name, tl.Index+1)}, ErrTooLarge); ferr != nil {
				return ferr
			}
			continue
		case err != nil:
			return fn(Message{Source: name}, err)
		}
		if err := fn(Message{Source: fmt.Sprintf("%s#%d", name, m.Index+1), Raw: m.Raw}, nil); err != nil {
			return err
		}
	}
}

// stripFromLine drops an mbox "From " line at the start of one message.
func stripFromLine(b []byte) []byte {
	if bytes.HasPrefix(b, []byte("From ")) {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			return b[i+1:]
		}
	}
	return b
}
