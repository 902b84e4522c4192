package sieve

// knownFailing lists the conformance tests ("file: test name") that fail
// today, with the reason. TestConformance fails on any other failure, and
// logs the entries that start passing. The goal is an empty list.
var knownFailing = map[string]bool{
	// field-value.sieve has one bad value (a NUL from ${hex:00}) and a BEL
	// that the file says is "not an error", yet the test wants two errors
	// before "compilation failed", the second matching "*value*Woah*invalid*".
	// Gannet reports the NUL once. Pigeonhole's current addheader source is
	// not available here to see where its other error comes from (the older
	// version of this test counted the BEL as the first error); reporting
	// the NUL twice would only be guessing at the count.
	"extensions/editheader/errors.svtest: Invalid field value": true,
	// compile.sieve wants 2 errors: Gannet gives one ("redirect :list"
	// without an address: Gannet cannot expand a list into recipients, so
	// RFC 6134's redirect to a list is not supported). Which second
	// error Pigeonhole reports is not known: an unknown list cannot be a
	// compile-time error there (basic.svtest compiles ":list" before its
	// lists are configured), so matching the count would be guessing.
	"extensions/extlists/errors.svtest: Compile errors": true,
}
