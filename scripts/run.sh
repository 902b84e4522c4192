#!/usr/bin/env bash
# make run: a Gannet to try out, on loopback ports, with its state in ./var.
#
# Writes var/gannet.toml (once; edit it freely afterwards), creates the domain
# example.test and the account demo@example.test with a random password
# (once), starts every daemon that is implemented, prints how to connect, and
# stops them all on Ctrl-C. Running it again reuses var/ as it is.
#
# Environment: GANNET_BIN (where the programs are; default ./bin),
# GANNET_VAR (the state directory; default ./var), GANNET_RUN_ONCE=1 (set up,
# then exit without starting daemons: for tests).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${GANNET_BIN:-$root/bin}
var=${GANNET_VAR:-$root/var}
domain=example.test
demo=demo@$domain

# The daemons to start, one per line. Issues 3-8 add them as they come:
# smtpd and queued (3, 4), imapd (5), spamd (6), sieved (8), jmapd later.
daemons=(
	smtpd
	queued
	imapd
	spamd
	sieved
)

# How to reach each daemon (printed for those started).
declare -A reach=(
	[smtpd]="SMTP 127.0.0.1:2525 (swaks --server 127.0.0.1:2525 --to $demo), submission 127.0.0.1:2587 (STARTTLS, AUTH as $demo), submissions 127.0.0.1:2465 (TLS), LMTP 127.0.0.1:2424"
	[queued]="delivers what smtpd queues (queuectl --config $var/gannet.toml list shows the queue)"
	[imapd]="IMAP 127.0.0.1:2143 (STARTTLS), IMAPS 127.0.0.1:2993; log in as $demo"
	[jmapd]="JMAP and HTTP on http://127.0.0.1:8080/"
	[sieved]="ManageSieve 127.0.0.1:4190 (sieve-connect -s 127.0.0.1 -p 4190 -u $demo)"
	[spamd]="SPAMD 127.0.0.1:7783 (spamc -d 127.0.0.1 -p 7783 < message)"
)

# Listeners on loopback, high ports (no root needed, no clash with a real
# mail server on the machine).
listeners='
[[smtpd.listener]]
name = "smtp"
address = "127.0.0.1:2525"

[[smtpd.listener]]
name = "submission"
address = "127.0.0.1:2587"

[[smtpd.listener]]
name = "submissions"
address = "127.0.0.1:2465"

[[smtpd.listener]]
name = "lmtp"
address = "127.0.0.1:2424"

[[imapd.listener]]
name = "imap"
address = "127.0.0.1:2143"

[[imapd.listener]]
name = "imaps"
address = "127.0.0.1:2993"

[[jmapd.listener]]
name = "http"
address = "127.0.0.1:8080"

[[sieved.listener]]
name = "sieve"
address = "127.0.0.1:4190"

[[spamd.listener]]
name = "spamd"
address = "127.0.0.1:7783"
'

say() { printf '%s\n' "$*"; }

if [[ ! -x $bin/userctl ]]; then
	say "run: $bin/userctl is missing; building"
	make -C "$root" -s build
fi

mkdir -p "$var"
var=$(cd "$var" && pwd)
config=$var/gannet.toml
userctl() { "$bin/userctl" --config "$config" "$@"; }

if [[ -e $config ]]; then
	say "Using $config as it is."
else
	cat >"$config" <<TOML
# Written by \`make run\` (scripts/run.sh) for trying Gannet out; every key
# not set here has its default: see man/gannet.toml.5.md and
# contrib/gannet.toml.

[server]
hostname = "mx.$domain"
state_dir = "$var"
# Keep the change-feed sockets here, away from a real /run/gannet.
runtime_dir = "$var/run"

[log]
level = "info"
$listeners
TOML
	say "Wrote $config."
fi
userctl config check >/dev/null

if userctl domain list --json | grep -q "\"$domain\""; then
	say "Domain $domain exists."
else
	userctl domain add "$domain"
	say "Added domain $domain."
fi

set +e
userctl user show "$demo" >/dev/null 2>&1
status=$?
set -e
case $status in
0)
	say "Account $demo exists; its password is unchanged."
	say "  (to set a new one: $bin/userctl --config $config user passwd $demo)"
	;;
67) # no such user
	password=$(head -c 15 /dev/urandom | base64 | tr '+/' '-_')
	printf '%s\n' "$password" | userctl user add --password-stdin --name "Demo User" "$demo"
	say "Added account $demo with password: $password"
	;;
*)
	userctl user show "$demo" # say what is wrong
	exit 1
	;;
esac

if [[ ${GANNET_RUN_ONCE:-} == 1 ]]; then
	exit 0
fi

if ((${#daemons[@]} == 0)); then
	say ""
	say "No daemon is implemented yet (issues 3-8 bring them), so nothing listens."
	say "The store is ready; try:"
	say "  $bin/userctl --config $config user list"
	exit 0
fi

pids=()
stop() {
	trap - INT TERM EXIT
	if ((${#pids[@]} > 0)); then
		say ""
		say "Stopping ${daemons[*]}..."
		kill -TERM "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
	fi
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for d in "${daemons[@]}"; do
	"$bin/$d" --config "$config" &
	pids+=($!)
done

say ""
say "Running (logs below); log in as $demo with its password:"
for d in "${daemons[@]}"; do
	say "  $d: ${reach[$d]:-see its man page}"
done
say "The certificate is self-signed, for mx.$domain. Ctrl-C stops them all."

# Wait until one stops on its own (then stop the rest) or Ctrl-C.
set +e
wait -n "${pids[@]}"
status=$?
set -e
say "run: a daemon exited with status $status; stopping the others."
exit "$status"
