package sieve

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// skipFiles lists Pigeonhole conformance files (relative to
// testdata/pigeonhole/tests) skipped as a whole, with the reason.
var skipFiles = map[string]string{
	"plugins/extprograms/execute/command.svtest":          "vnd.dovecot.execute is Pigeonhole-only (extprograms plugin)",
	"plugins/extprograms/execute/errors.svtest":           "vnd.dovecot.execute is Pigeonhole-only (extprograms plugin)",
	"plugins/extprograms/execute/execute.svtest":          "vnd.dovecot.execute is Pigeonhole-only (extprograms plugin)",
	"plugins/extprograms/filter/errors.svtest":            "vnd.dovecot.filter is Pigeonhole-only (extprograms plugin)",
	"plugins/extprograms/filter/execute.svtest":           "vnd.dovecot.filter is Pigeonhole-only (extprograms plugin)",
	"plugins/extprograms/filter/command.svtest":           "vnd.dovecot.filter is Pigeonhole-only (extprograms plugin)",
	"plugins/extprograms/pipe/errors.svtest":              "vnd.dovecot.pipe is Pigeonhole-only (extprograms plugin)",
	"plugins/extprograms/pipe/execute.svtest":             "vnd.dovecot.pipe is Pigeonhole-only (extprograms plugin)",
	"plugins/extprograms/pipe/command.svtest":             "vnd.dovecot.pipe is Pigeonhole-only (extprograms plugin)",
	"plugins/extprograms/errors.svtest":                   "extprograms plugin is Pigeonhole-only",
	"extensions/vnd.dovecot/debug/execute.svtest":         "vnd.dovecot.debug is Pigeonhole-only",
	"extensions/vnd.dovecot/environment/basic.svtest":     "vnd.dovecot.environment is Pigeonhole-only",
	"extensions/vnd.dovecot/environment/variables.svtest": "vnd.dovecot.environment is Pigeonhole-only",
	"extensions/vnd.dovecot/report/errors.svtest":         "vnd.dovecot.report is Pigeonhole-only",
	"extensions/vnd.dovecot/report/execute.svtest":        "vnd.dovecot.report is Pigeonhole-only",
	"extensions/metadata/errors.svtest":                   "mboxmetadata/servermetadata (RFC 5490 section 3) are not in Gannet's list",
	"extensions/metadata/execute.svtest":                  "mboxmetadata/servermetadata (RFC 5490 section 3) are not in Gannet's list",
}

// skipTests lists single tests skipped, file -> test name -> reason.
var skipTests = map[string]map[string]string{
	"execute/examples.svtest": allTests("the example scripts (Pigeonhole's examples/ directory) are not part of testdata",
		"Elvey example", "M. Johnson example", "RFC 3028 example", "Sieve examples", "Vivil example", "Jerry example",
		"M. Klose example", "Sanjay example", "Relational (RFC5231) example", "Subaddress (RFC5233) example"),
	"extensions/environment/basic.svtest": allTests("expects the implementation name to contain \"Pigeonhole\"", "Name"),
	"extensions/mailbox/errors.svtest": allTests("the file requires vnd.dovecot.debug (Pigeonhole-only)",
		"Invalid Syntax", "Mailboxexists - bad UTF-8 in mailbox name"),
}

func allTests(reason string, names ...string) map[string]string {
	m := map[string]string{}
	for _, n := range names {
		m[n] = reason
	}
	return m
}

// testNameRE finds test names; failures/fuzz3.svtest writes `test""`.
var testNameRE = regexp.MustCompile(`(?m)^\s*test\s*"((?:[^"\\]|\\.)*)"`)

// fileKey is the results key of a file-level problem (a test may be
// named "").
const fileKey = "\x00file"

// expectFailure reports whether a file's tests must fail. Pigeonhole's
// Makefile runs tests/failures/*.svtest (crash regressions from fuzzing)
// as failure_test_cases, with "testsuite -F": the run must end with the
// tests failing, not with a crash. Here a test of such a file passes when
// it fails cleanly (a panic still fails the run) and fails if it passes.
func expectFailure(rel string) bool { return strings.HasPrefix(rel, "failures/") }

type fileResult struct {
	file                    string
	pass, fail, skip, known int
}

// TestConformance runs Dovecot Pigeonhole's .svtest files through the
// vnd.dovecot.testsuite extension and prints a table of results.
func TestConformance(t *testing.T) {
	root := filepath.Join("testdata", "pigeonhole", "tests")
	var files []string
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".svtest") {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatal("no .svtest files found")
	}
	var rows []fileResult
	var tot fileResult
	var unexpected []string
	var nowPassing []string
	for _, path := range files {
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		uncommented := regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(string(src), "")
		for _, m := range testNameRE.FindAllStringSubmatch(uncommented, -1) {
			names = append(names, strings.ReplaceAll(m[1], `\"`, `"`))
		}
		r := fileResult{file: rel}
		if reason, ok := skipFiles[rel]; ok {
			r.skip = len(names)
			rows = append(rows, r)
			t.Logf("skip %s (%d tests): %s", rel, len(names), reason)
			continue
		}
		start := time.Now()
		results := runSvtest(t, path, src)
		if d := time.Since(start); d > time.Second {
			t.Logf("slow: %s took %v", rel, d)
		}
		for _, n := range names {
			if reason, ok := skipTests[rel][n]; ok {
				r.skip++
				t.Logf("skip %s: %q: %s", rel, n, reason)
				continue
			}
			res, ok := results[n]
			if !ok {
				res = "fail: not run (" + results[fileKey] + ")"
			}
			if expectFailure(rel) {
				if res == "pass" {
					res = "fail: passed, but Pigeonhole runs failures/ tests expecting them to fail"
				} else {
					t.Logf("%s: %q failed as expected: %s", rel, n, res)
					res = "pass"
				}
			}
			known := knownFailing[rel+": "+n]
			if res == "pass" {
				r.pass++
				if known {
					nowPassing = append(nowPassing, rel+": "+n)
				}
				continue
			}
			r.fail++
			if known {
				r.known++
			} else {
				if len(res) > 300 {
					res = res[:300] + "..."
				}
				unexpected = append(unexpected, fmt.Sprintf("%s: %s: %s", rel, n, res))
				if os.Getenv("SIEVE_CONFORMANCE_LIST") != "" {
					fmt.Printf("KNOWNFAIL\t%q: true, // %s\n", rel+": "+n, strings.Join(strings.Fields(res), " "))
				}
			}
			if os.Getenv("SIEVE_CONFORMANCE_VERBOSE") != "" {
				t.Logf("FAIL %s: %q: %s", rel, n, res)
			}
		}
		rows = append(rows, r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-55s %6s %6s %7s\n", "file", "passed", "failed", "skipped")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-55s %6d %6d %7d\n", r.file, r.pass, r.fail, r.skip)
		tot.pass += r.pass
		tot.fail += r.fail
		tot.skip += r.skip
		tot.known += r.known
	}
	fmt.Fprintf(&b, "%-55s %6d %6d %7d\n", "TOTAL", tot.pass, tot.fail, tot.skip)
	fmt.Fprintf(&b, "known failing (listed in knownfail_test.go): %d\n", tot.known)
	t.Log(b.String())
	fmt.Print(b.String())
	for _, u := range unexpected {
		t.Errorf("unexpected failure: %s", u)
	}
	for _, p := range nowPassing {
		t.Logf("now passing, remove from knownFailing: %s", p)
	}
}

// runSvtest runs one file and returns test name -> "pass" or "fail: why";
// the "" key holds a file-level problem.
func runSvtest(t *testing.T, path string, src []byte) (results map[string]string) {
	dir := filepath.Dir(path)
	st := newSuite(dir, path)
	st.t = t
	defer func() {
		if r := recover(); r != nil {
			results = st.results
			results[fileKey] = fmt.Sprintf("panic: %v", r)
			t.Errorf("%s: panic: %v", path, r)
		}
	}()
	s, err := Compile(src, st.options(dir))
	if err != nil {
		st.results[fileKey] = "compile: " + strings.ReplaceAll(err.Error(), "\n", "; ")
		return st.results
	}
	in := newInterp(context.Background(), s, st.env())
	st.configure(in)
	st.main = in
	in.res = st.res
	if err := in.run(); err != nil {
		if err == errTestFail {
			err = fmt.Errorf("test_fail outside test: %s", st.failMsg)
		}
		st.results[fileKey] = "run: " + err.Error()
	}
	return st.results
}
