// Package expr is Gannet's small expression language: the conditions of
// the spam rules ([[spam.rule]], lib/spam) and, later, Sieve's eval. An
// expression is compiled once (Compile) into a Program that is then run
// many times (Program.Eval) against an Env, the caller's window onto its
// data, which gives the values of the names the expression uses.
//
// # Values
//
// A value is null, a boolean (true, false), a number (a float64: 3, 0.5,
// 1e6), a string ("..." with the escapes \" \\ \n \r \t \xHH \uHHHH, or raw
// between '...' or `...`, where a backslash is a backslash: handy for
// regular expressions) or a list ([1, "a", x]). As a condition, null,
// false, 0, "" and [] are false, anything else true.
//
// # Grammar
//
//	expr    = or
//	or      = and { ("or" | "||") and }
//	and     = not { ("and" | "&&") not }
//	not     = ("not" | "!") not | compare
//	compare = sum [ compop sum ]
//	compop  = "==" | "!=" | "<" | "<=" | ">" | ">=" | "contains" | "matches"
//	        | "startswith" | "endswith" | "in"
//	sum     = product { ("+" | "-") product }
//	product = unary { ("*" | "/" | "%") unary }
//	unary   = "-" unary | primary
//	primary = number | string | "true" | "false" | "null" | name
//	        | name "(" [ expr { "," expr } ] ")" | "(" expr ")"
//	        | "[" [ expr { "," expr } ] "]"
//	name    = letter { letter | digit }    (letter includes "_")
//
// Comparisons do not chain (a < b < c is an error); "not" takes a whole
// comparison: not subject contains "x" is not (subject contains "x").
//
// # Operators
//
//   - + - * / % on numbers (division by zero is an error); + also joins
//     two strings.
//   - == and != compare any two values; values of different kinds are
//     different (1 != "1", true != 1). < <= > >= compare two numbers or
//     two strings (byte-wise).
//   - and, or (also &&, ||) short-circuit and give a boolean; not (!)
//     negates.
//   - a contains b, a startswith b, a endswith b: string tests; with a list
//     on the left, true when some string of the list passes.
//   - a matches re: the RE2 regular expression re (see regexp/syntax)
//     matches somewhere in a, or in some string of a list a; anchor it with
//     ^ and $ and make it case-insensitive with (?i). A literal pattern is
//     compiled once, by Compile.
//   - a in b: a equals an element of the list b, or a is a substring of the
//     string b.
//   - The string tests and matches are false on null (an absent header).
//
// # Functions
//
// Besides those of the Env, every program can call:
//
//	lower(s)      s in lower case (each string of a list too)
//	upper(s)      s in upper case
//	trim(s)       s without leading and trailing white space
//	len(x)        characters of a string, elements of a list, 0 for null
//	count(s, t)   non-overlapping occurrences of t in s (or in a list's strings)
//	caps(s)       the share of upper-case letters among the letters of s, 0..1
//
// # Bounds
//
// A source is at most MaxLength bytes, nests at most MaxDepth levels and
// its regular expressions are at most MaxRegexp bytes each; strings built
// by + are at most 1 MiB. Errors give the byte column (*Error).
//
// # Speed
//
// Eval walks the compiled tree without allocating unless the program
// builds a string or list; an Env that implements Lowerer serves
// lower(name) from a cache. Signatures let Compile check names, argument
// counts and operand kinds before anything runs.
package expr
