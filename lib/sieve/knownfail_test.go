package sieve

// knownFailing lists the conformance tests ("file: test name") that fail
// today, with the reason the runner saw. TestConformance fails on any other
// failure, and logs the entries that start passing. The goal is an empty
// list.
var knownFailing = map[string]bool{
	"compile/errors.svtest: Parser errors (FIXME: count only)":                        true, // fail: wrong number of errors reported
	"compile/errors.svtest: Require errors (FIXME: count only)":                       true, // fail: wrong number of errors reported
	"compile/errors.svtest: Encoded-character errors (FIXME: count only)":             true, // fail: wrong number of errors reported
	"compile/errors.svtest: Outgoing address errors (FIXME: count only)":              true, // fail: wrong number of errors reported
	"compile/errors.svtest: Typos":                                                    true, // fail: error 1 is invalid
	"extensions/editheader/errors.svtest: Invalid field value":                        true, // fail: wrong number of errors reported
	"extensions/editheader/errors.svtest: deleteheader :last without :index":          true, // fail: wrong number of errors reported
	"extensions/enotify/encodeurl.svtest: :encodeurl variable size limit UTF-8":       true, // fail: variable 'd' not 3996 bytes long (3999)
	"extensions/enotify/errors.svtest: Invalid mailto URI (FIXME: count only)":        true, // fail: wrong number of errors reported
	"extensions/enotify/errors.svtest: Invalid :options argument (FIXME: count only)": true, // fail: wrong number of errors reported
	"extensions/extlists/errors.svtest: Compile errors":                               true, // fail: wrong number of errors reported
	"extensions/imap4flags/errors.svtest: Invalid Syntax":                             true, // fail: wrong number of errors reported
	"extensions/imap4flags/multiscript.svtest: Internal Flags":                        true, // fail: \answered flag not stored for message
	"extensions/include/errors.svtest: Global Namespace":                              true, // fail: wrong number of errors reported
	"extensions/mime/errors.svtest: Limits - include":                                 true, // fail: script run should have failed
	"extensions/relational/errors.svtest: Syntax errors":                              true, // fail: wrong number of errors reported
	"extensions/variables/errors.svtest: Limits (FIXME: count only)":                  true, // fail: wrong number of errors reported
	"failures/fuzz1.svtest: Flag changes between stores":                              true, // fail: no message in folder "Uninteiesting" with index 0
	"failures/fuzz2.svtest: sometest":                                                 true, // fail: no message in folder " .Folder" with index 1
	"failures/mailbox-bad-utf8.svtest: Mailbox parameter with bad UTF-8":              true, // fail: no message in folder "I\x9bBOX" with index 0
}
