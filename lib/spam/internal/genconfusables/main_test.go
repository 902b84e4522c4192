package main

import (
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

const sample = `# confusables.txt
# Date: 2022-08-26, 16:49:08 GMT
# Version: 15.0.0
0430 ;	0061 ;	MA	# ( а → a ) CYRILLIC SMALL LETTER A → LATIN SMALL LETTER A
006D ;	0072 006E ;	MA	# ( m → rn ) LATIN SMALL LETTER M → LATIN SMALL LETTER R, LATIN SMALL LETTER N

0031 ;	006C ;	MA	# ( 1 → l ) DIGIT ONE → LATIN SMALL LETTER L
`

func TestGenerate(t *testing.T) {
	tb, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if tb.version != "15.0.0" || tb.date != "2022-08-26" || len(tb.maps) != 3 {
		t.Fatalf("table %+v", tb)
	}
	// Sorted by source.
	if tb.maps[0].from != '1' || tb.maps[1].from != 'm' || tb.maps[1].to != "rn" || tb.maps[2].from != 0x430 {
		t.Errorf("maps %+v", tb.maps)
	}
	src, err := tb.generate("spam")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.ParseFile(token.NewFileSet(), "t.go", src, 0); err != nil {
		t.Fatalf("generated code does not parse: %v\n%s", err, src)
	}
	for _, want := range []string{`confusablesVersion = "15.0.0"`, "0x31, 0x6d, 0x430,", "1, 3, 4,", `"lrna"`} {
		if !strings.Contains(string(src), want) {
			t.Errorf("generated code lacks %q:\n%s", want, src)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{
		"",
		"0430 ; 0061\n",
		"XYZ ; 0061 ; MA\n",
		"0430 0431 ; 0061 ; MA\n",
		"0430 ; ; MA\n",
		"0430 ; 0061 ; MA\n0430 ; 0062 ; MA\n",
		"D800 ; 0061 ; MA\n",
	} {
		if _, err := parse(strings.NewReader(bad)); err == nil {
			t.Errorf("parse(%q) accepted it", bad)
		}
	}
}
