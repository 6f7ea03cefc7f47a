# ps — a parameter server as a toolkit of small Unix programs.
# make            build everything into build/
# make check      unit tests (C) and command-line tests (bats)
# make sanitize   the same build and tests with ASan+UBSan, in build-san/
# make bench      benchmarks; writes bench/RESULTS.md
# make deps       install the Debian packages the project needs (uses sudo if not root)
# make data       fetch and convert the SpamAssassin corpus (data/heart_scale is in git)
# make demo       train on SpamAssassin with a local cluster, next to liblinear

B        ?= build
CC       ?= cc
PKGS      = libevent msgpack yaml-0.1 libxxhash libcrypto
OPT      ?= -O2
CFLAGS   += -std=c11 -Wall -Wextra -Werror $(OPT) -g -D_GNU_SOURCE -Iinclude \
            $(shell pkg-config --cflags $(PKGS))
LDLIBS   += $(shell pkg-config --libs $(PKGS)) -lm -pthread
PREFIX   ?= /usr/local
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

DEBS = build-essential pkg-config libevent-dev libmsgpack-dev libyaml-dev libxxhash-dev \
       libreadline-dev bats bats-assert bats-support liblinear-tools jq expect ca-certificates \
       mandoc openssh-client openssh-server iproute2 libssl-dev

LIB_SRC  = $(wildcard lib/*.c)
LIB_OBJ  = $(LIB_SRC:lib/%.c=$(B)/lib/%.o)
PROGS    = $(patsubst bin/%.c,$(B)/%,$(wildcard bin/*.c))
UNIT     = $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test_*.c))
# the scripts make install installs, but for one that runs a program of the same name
# from the build directory: the program is installed instead
SCRIPTS  = $(filter-out $(PROGS:$(B)/%=scripts/%),scripts/ps-local $(wildcard scripts/ps-launch))

all: $(PROGS) $(UNIT)

$(B)/lib/%.o: lib/%.c $(wildcard include/ps/*.h) | $(B)/lib
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/libps.a: $(LIB_OBJ)
	ar rcs $@ $^

$(B)/%: bin/%.c $(B)/libps.a $(wildcard include/ps/*.h)
	$(CC) $(CFLAGS) -o $@ $< $(B)/libps.a $(LDLIBS)

# the interactive shell of ps-ctl; no other program needs readline
$(B)/ps-ctl: LDLIBS += -lreadline

$(B)/tests/%: tests/unit/%.c tests/unit/unit.h $(B)/libps.a | $(B)/tests
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(B)/libps.a $(LDLIBS)

$(B)/lib $(B)/tests:
	mkdir -p $@

check: all data
	@for t in $(UNIT); do echo "unit: $$t"; $$t || exit 1; done
	PS_BUILD=$(B) bats tests

sanitize:
	$(MAKE) B=build-san OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
		check

bench: all
	scripts/ps-benchmark $(B)

deps:
	$(SUDO) apt-get update
	$(SUDO) apt-get install -y $(DEBS)
	command -v npm >/dev/null || $(SUDO) apt-get install -y npm

data: data/spam/train.svm

data/spam/train.svm: scripts/fetch-spam $(B)/ps-tokenize
	PS_BUILD=$(B) scripts/fetch-spam data/spam

demo: all data
	PS_BUILD=$(B) scripts/ps-demo data/spam

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(SCRIPTS) $(DESTDIR)$(PREFIX)/bin
	install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 644 man/*.7 $(DESTDIR)$(PREFIX)/share/man/man7

clean:
	rm -rf build build-san

.PHONY: all check sanitize bench deps data demo install clean
.SECONDARY:
