# ps — a parameter server as a toolkit of small Unix programs.
# make            build everything into build/
# make check      unit tests (C), make fuzz, and command-line tests (bats)
# make sanitize   the same build and tests with ASan+UBSan, in build-san/
# make fuzz       each libFuzzer target (tests/fuzz/) for FUZZ_SECONDS (30), in build-fuzz/
# make bench      benchmarks; writes bench/RESULTS.md
# make bench-quality  test quality and time against liblinear on SpamAssassin and
#                 Fashion-MNIST; writes bench/QUALITY.md
# make deps       install the Debian packages the project needs (uses sudo if not root)
# make data       fetch and convert the SpamAssassin corpus (data/heart_scale is in git)
# make demo       train on SpamAssassin with a local cluster, next to liblinear

B        ?= build
CC       ?= cc
PKGS      = libevent msgpack yaml-0.1 libxxhash nettle
OPT      ?= -O2
CFLAGS   += -std=c11 -Wall -Wextra -Werror $(OPT) -g -D_GNU_SOURCE -Iinclude \
            $(shell pkg-config --cflags $(PKGS))
LDLIBS   += $(shell pkg-config --libs $(PKGS)) -lm -pthread
PREFIX   ?= /usr/local
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

DEBS = build-essential pkg-config libevent-dev libmsgpack-dev libyaml-dev libxxhash-dev \
       libreadline-dev bats bats-assert bats-support liblinear-tools jq expect ca-certificates \
       mandoc openssh-client openssh-server iproute2 nettle-dev clang dataset-fashion-mnist

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

# the fuzzers after the unit tests (not again in make sanitize: they have ASan and UBSan)
CHECK_FUZZ ?= fuzz

check: all data
	@for t in $(UNIT); do echo "unit: $$t"; $$t || exit 1; done
	$(if $(CHECK_FUZZ),$(MAKE) $(CHECK_FUZZ))
	PS_BUILD=$(B) bats tests

sanitize:
	$(MAKE) B=build-san OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
		CHECK_FUZZ= check

# libFuzzer targets, tests/fuzz/fuzz_*.c: the library built again with clang, coverage
# hooks, ASan and UBSan, in $(FB)/. make fuzz runs each for FUZZ_SECONDS from its seeds
# (tests/fuzz/corpus/NAME) and what earlier runs found ($(FB)/corpus/NAME), and fails
# on any crash, leak, timeout or sanitizer report, kept in $(FB)/crashes/.
# make fuzz-NAME runs one; make fuzz-seeds writes the frame and map seeds again.
FB           = build-fuzz
FUZZ_CC     ?= clang
FUZZ_SECONDS ?= 30
FUZZ         = frame map libsvm conf hosts
FUZZ_CFLAGS  = -std=c11 -Wall -Wextra -Werror -O1 -g -fno-omit-frame-pointer -D_GNU_SOURCE \
               -Iinclude $(shell pkg-config --cflags $(PKGS)) \
               -fsanitize=address,undefined -fno-sanitize-recover=all
# the longest input: a frame of a few KB (the decoder's limits are unit-tested); a map
# is 32 KB of slot table
FUZZ_LEN     = 4096
FUZZ_LEN_map = 40000

$(FB)/lib/%.o: lib/%.c $(wildcard include/ps/*.h) | $(FB)/lib
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FB)/libps.a: $(LIB_SRC:lib/%.c=$(FB)/lib/%.o)
	ar rcs $@ $^

$(FB)/fuzz_%: tests/fuzz/fuzz_%.c $(FB)/libps.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FB)/libps.a $(LDLIBS)

$(FB)/lib:
	mkdir -p $@

fuzz: $(FUZZ:%=fuzz-%)

fuzz-%: $(FB)/fuzz_%
	@mkdir -p $(FB)/corpus/$* $(FB)/crashes
	@echo "fuzz: $* for $(FUZZ_SECONDS) s (log: $(FB)/fuzz-$*.log)"
	@$< -max_total_time=$(FUZZ_SECONDS) -max_len=$(or $(FUZZ_LEN_$*),$(FUZZ_LEN)) \
	    -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
	    -artifact_prefix=$(FB)/crashes/$*- $(FB)/corpus/$* tests/fuzz/corpus/$* \
	    >$(FB)/fuzz-$*.log 2>&1 || { tail -n 60 $(FB)/fuzz-$*.log; \
	    echo "fuzz: $* FAILED; the input is in $(FB)/crashes/"; exit 1; }
	@awk '/^Done /{ runs = $$2 } /^stat::average_exec_per_sec:/{ rate = $$2 } \
	    /cov: /{ for (i = 1; i < NF; i++) if ($$i == "cov:") cov = $$(i + 1) } \
	    END { printf "fuzz: $*: %s runs, %s exec/s, %s edges, no findings\n", \
	    runs, rate, cov }' $(FB)/fuzz-$*.log

fuzz-seeds: $(B)/fuzz-seeds
	$(B)/fuzz-seeds tests/fuzz/corpus

$(B)/fuzz-seeds: tests/fuzz/seeds.c $(B)/libps.a | $(B)/tests
	$(CC) $(CFLAGS) -o $@ $< $(B)/libps.a $(LDLIBS)

bench: all
	scripts/ps-benchmark $(B)

# Fashion-MNIST (Debian's dataset-fashion-mnist, from make deps) as a binary task
data/fashion/train.svm: scripts/fetch-fashion
	scripts/fetch-fashion data/fashion

bench-quality: all data data/fashion/train.svm
	PS_BUILD=$(B) scripts/ps-quality --out bench/QUALITY.md

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
	rm -rf build build-san $(FB)

.PHONY: all check sanitize fuzz fuzz-seeds bench bench-quality deps data demo install clean
.SECONDARY:
