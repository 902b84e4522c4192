package tests

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// manPages are the pages besides one per program.
var manPages = []string{"gannet.toml.5", "gannet-spam.5"}

// manSection is the section of a program's page: 8 for the daemons (as
// Postfix's smtpd(8)), 1 for the commands.
func manSection(prog string) string {
	switch prog {
	case "smtpd", "queued", "imapd", "jmapd", "sieved", "spamd":
		return "8"
	}
	return "1"
}

// renderMan builds page (e.g. "smtpd.8") from man/PAGE.md with go-md2man
// and renders it with man -l, failing on any warning. It returns the text
// as a reader sees it.
func renderMan(t *testing.T, page string) string {
	t.Helper()
	man := needTool(t, "man")
	src := filepath.Join(repoRoot, "man", page+".md")
	if _, err := os.Stat(src); err != nil {
		t.Fatalf("no man page: %v", err)
	}
	roff := filepath.Join(t.TempDir(), page)
	if out, err := exec.Command(filepath.Join(toolDir, "go-md2man"), "-in", src, "-out", roff).CombinedOutput(); err != nil {
		t.Fatalf("go-md2man %s: %v\n%s", src, err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, man, "--warnings", "-l", roff)
	// Wide lines, so that no flag is hyphenated across two; a UTF-8 locale,
	// as most readers have.
	cmd.Env = append(cleanEnv(), "MANWIDTH=1000", "LC_ALL=C.UTF-8", "MANPAGER=cat", "PAGER=cat")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("man -l %s: %v\n%s", page, err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("man -l %s warns:\n%s", page, stderr.String())
	}
	return plainText(stdout.String())
}

var (
	overstrike = regexp.MustCompile(".\x08")
	sgr        = regexp.MustCompile("\x1b\\[[0-9;]*m")
	dashes     = strings.NewReplacer("\u2010", "-", "\u2011", "-", "\u2212", "-", "\u00ad", "")
)

// plainText removes terminal formatting and maps typographic hyphens and
// minus signs back to "-".
func plainText(s string) string {
	return dashes.Replace(sgr.ReplaceAllString(overstrike.ReplaceAllString(s, ""), ""))
}

// sections every program's page has, in this order.
var programSections = []string{"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "FILES", "ENVIRONMENT", "EXIT STATUS", "SEE ALSO"}

func TestManPages(t *testing.T) {
	needTool(t, "man")
	for _, prog := range programs {
		t.Run(prog, func(t *testing.T) {
			t.Parallel()
			text := renderMan(t, prog+"."+manSection(prog))
			if !strings.Contains(text, "NAME\n       "+prog+" - ") {
				t.Errorf("the NAME section does not name %s", prog)
			}
			checkSections(t, text, programSections)
			for _, flag := range flagsOf(t, prog) {
				if !mentionsFlag(text, flag) {
					t.Errorf("%s --help lists %s but its man page does not", prog, flag)
				}
			}
		})
	}
	for _, page := range manPages {
		t.Run(page, func(t *testing.T) {
			t.Parallel()
			text := renderMan(t, page)
			checkSections(t, text, []string{"NAME", "SYNOPSIS", "DESCRIPTION", "FILES", "SEE ALSO"})
		})
	}
}

// checkSections checks that text has the section headings in order.
func checkSections(t *testing.T, text string, sections []string) {
	t.Helper()
	at := 0
	for _, s := range sections {
		i := strings.Index(text[at:], "\n"+s+"\n")
		if i < 0 {
			t.Errorf("no %s section (after the previous one)", s)
			continue
		}
		at += i + 1
	}
}

// mentionsFlag reports whether text has flag as a word of its own: not
// within a longer flag or word.
func mentionsFlag(text, flag string) bool {
	re := regexp.MustCompile(`(^|[^-\w])` + regexp.QuoteMeta(flag) + `($|[^-\w])`)
	return re.MatchString(text)
}

// TestManPagesMatchPrograms checks that man/ holds a page for every program
// and no page for a program that does not exist.
func TestManPagesMatchPrograms(t *testing.T) {
	want := map[string]bool{}
	for _, p := range programs {
		want[p+"."+manSection(p)+".md"] = true
	}
	for _, p := range manPages {
		want[p+".md"] = true
	}
	entries, err := os.ReadDir(filepath.Join(repoRoot, "man"))
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".md") {
			have[e.Name()] = true
			if !want[e.Name()] {
				t.Errorf("man/%s is not the page of a program (or add it to manPages)", e.Name())
			}
		}
	}
	for name := range want {
		if !have[name] {
			t.Errorf("man/%s is missing", name)
		}
	}
}

// TestMentionsFlag keeps the flag matcher honest.
func TestMentionsFlag(t *testing.T) {
	text := "  -c, --config FILE\n  --password-stdin\n  see -V."
	for flag, want := range map[string]bool{
		"-c": true, "--config": true, "-V": true, "--password-stdin": true,
		"--password": false, "-p": false, "--conf": false, "-s": false,
	} {
		if got := mentionsFlag(text, flag); got != want {
			t.Errorf("mentionsFlag(%q) = %v, want %v", flag, got, want)
		}
	}
}
