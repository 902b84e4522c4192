#!/usr/bin/env bash
# Installs what the tests need when it is missing: Debian packages through
# apt-get when running as root; otherwise says what to install and fails.
set -euo pipefail

# command the tests run -> Debian package that provides it
declare -A need=(
	[man]=man-db
	[systemd-analyze]=systemd
	[systemd-socket-activate]=systemd
	[swaks]=swaks
	[python3]=python3
	[opendkim]=opendkim
	[opendkim-genkey]=opendkim-tools
)

missing=()
for cmd in "${!need[@]}"; do
	if ! command -v "$cmd" >/dev/null 2>&1; then
		pkg=${need[$cmd]}
		[[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
	fi
done

if ((${#missing[@]} == 0)); then
	exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
	echo "test-deps: missing ${missing[*]}; install with:" >&2
	echo "  sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "test-deps: missing ${missing[*]} and there is no apt-get to install them with" >&2
	exit 1
fi

echo "test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
