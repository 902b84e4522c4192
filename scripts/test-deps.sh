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
	[doveconf]=dovecot-imapd
	[postfix]=postfix
	[smtp-source]=postfix
	[mbsync]=isync
	[offlineimap]=offlineimap3
	[fetchmail]=fetchmail
	[mutt]=mutt
	[tmux]=tmux
	[haproxy]=haproxy
	[pebble]=pebble
	[sieve-connect]=sieve-connect
	# SpamAssassin's client and daemon, against Gannet's (tests/spamd_test.go).
	[spamc]=spamc
	[spamd]=spamd
	# Pyzor's client and server, against Gannet's Pyzor client (lib/spam).
	[pyzor]=pyzor
	[pyzord]=pyzor
)

# Python module -> Debian package: pyzord keeps its database with dbm.gnu.
declare -A python_need=(
	[dbm.gnu]=python3-gdbm
)

# Perl module -> Debian package: swaks does TLS and AUTH through these.
declare -A perl_need=(
	[Net::SSLeay]=libnet-ssleay-perl
	[IO::Socket::SSL]=libio-socket-ssl-perl
	[Authen::SASL]=libauthen-sasl-perl
)

missing=()
for cmd in "${!need[@]}"; do
	# postfix and smtp-source live in /usr/sbin, which a user's PATH may lack.
	if ! command -v "$cmd" >/dev/null 2>&1 && [[ ! -x /usr/sbin/$cmd ]]; then
		pkg=${need[$cmd]}
		[[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
	fi
done
for mod in "${!python_need[@]}"; do
	if ! python3 -c "import $mod" >/dev/null 2>&1; then
		pkg=${python_need[$mod]}
		[[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
	fi
done
for mod in "${!perl_need[@]}"; do
	if ! perl "-M$mod" -e1 >/dev/null 2>&1; then
		pkg=${perl_need[$mod]}
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
if [[ " ${missing[*]} " == *" postfix "* ]]; then
	# The tests run private Postfix instances (lib/postfixtest): the
	# package is to set up no system instance of its own.
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
