#!/usr/bin/env bash
# Runs every fuzz target (func FuzzX(f *testing.F) in a _test.go file) for a
# short while each: scripts/fuzz.sh [DURATION], default 10s.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10s}

found=0
while IFS=: read -r file _ line; do
	name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$line")
	dir=./$(dirname "$file")
	echo "== $dir $name ($fuzztime)"
	go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "$dir"
	found=$((found + 1))
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' cmd lib tests 2>/dev/null | sort)

echo "== $found fuzz targets run"
