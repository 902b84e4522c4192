#!/bin/sh
# verify.sh [BINDIR]: run systemd-analyze verify on every Gannet unit in this
# directory and exit non-zero on any error or warning.
#
# systemd-analyze checks that each ExecStart= program exists, so the units are
# checked from a copy: with BINDIR, /usr/local/bin/ is replaced by it (the
# built programs must be there); without, each Gannet program is replaced by
# /bin/true, its arguments kept. Documentation=man: pages are not looked up
# (they are checked by the man page tests).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
bindir=${1:-}
command -v systemd-analyze >/dev/null 2>&1 || {
	echo "verify.sh: systemd-analyze not found (apt-get install systemd)" >&2
	exit 2
}
if [ -n "$bindir" ]; then
	bindir=$(cd "$bindir" && pwd)
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

n=0
for f in "$here"/*.service "$here"/*.socket "$here"/*.timer "$here"/*.target; do
	[ -e "$f" ] || continue
	if [ -n "$bindir" ]; then
		sed "s|/usr/local/bin/|$bindir/|g" "$f" >"$tmp/$(basename "$f")"
	else
		sed -E 's|^(Exec[A-Za-z]*=[-@:+!]*)/usr/local/bin/[^ ]+|\1/bin/true|' "$f" >"$tmp/$(basename "$f")"
	fi
	n=$((n + 1))
done
if [ "$n" -eq 0 ]; then
	echo "verify.sh: no units in $here" >&2
	exit 1
fi

# Our copies first, then the system's units (network.target, sockets.target...).
out=$(cd "$tmp" && SYSTEMD_UNIT_PATH="$tmp:" SYSTEMD_LOG_COLOR=0 \
	systemd-analyze verify --man=no ./*.service ./*.socket ./*.timer ./*.target 2>&1) || {
	printf '%s\n' "$out" >&2
	echo "verify.sh: systemd-analyze verify failed" >&2
	exit 1
}
if [ -n "$out" ]; then
	printf '%s\n' "$out" >&2
	echo "verify.sh: systemd-analyze verify reported the above" >&2
	exit 1
fi
echo "verify.sh: $n units verified"
