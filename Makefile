# sios - GNU make build.  `make`, `make check`, `make demo`, `make install`.
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
DESTDIR ?=
BUILD   ?= build
SAN     ?= 0
CC      ?= cc
PKGS     = libwebsockets libuv libcjson libcrypto

VERSION := $(shell sed -n 's/^\#define SIOS_VERSION_STRING "\(.*\)"/\1/p' include/sios.h)
SOVER   := 0

# Redis support: on when hiredis is installed, unless WITH_REDIS=0. It is
# reported (sios_features(), features= in sios.pc) only when the Redis code
# is actually compiled in.
# It needs hiredis and msgpack-c (Debian: libhiredis-dev, libmsgpack-dev).
WITH_REDIS ?= $(shell pkg-config --exists hiredis msgpack 2>/dev/null && echo 1 || echo 0)
ifeq ($(wildcard lib/redis/*.c),)
override WITH_REDIS := 0
endif
ifeq ($(WITH_REDIS),1)
PKGS    += hiredis msgpack
REDIS_PC = hiredis msgpack
FEATURES = redis tls
else
REDIS_PC =
FEATURES = tls
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

OPT      ?= -O2
EXTRA_CFLAGS ?=
WARN     = -Wall -Wextra -Werror
CFLAGS_LIB = -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) -fPIC -fvisibility=hidden \
	-DSIOS_BUILDING -DSIOS_WITH_REDIS=$(WITH_REDIS) -Iinclude -Ilib $(PKG_CFLAGS) $(EXTRA_CFLAGS)
CFLAGS_APP = -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) -Iinclude $(PKG_CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lpthread

ifeq ($(SAN),1)
# float-cast-overflow is not part of gcc's -fsanitize=undefined: named on its own
SANFLAGS = -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined,float-cast-overflow
# the debug build also checks that calls come from the loop thread
CFLAGS_LIB += $(SANFLAGS) -DSIOS_THREAD_CHECKS
CFLAGS_APP += $(SANFLAGS)
LDFLAGS += $(SANFLAGS)
endif

LIB_SRCS := $(wildcard lib/*.c lib/util/*.c lib/loop/*.c lib/engine/*.c lib/protocol/*.c \
	lib/core/*.c lib/adapter/*.c lib/presence/*.c lib/queue/*.c)
ifeq ($(WITH_REDIS),1)
LIB_SRCS += $(wildcard lib/redis/*.c)
else
LIB_SRCS := $(filter-out lib/adapter/redis%,$(LIB_SRCS))
endif
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
HDRS     := include/sios.h $(wildcard lib/*/*.h)

EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
UNIT     := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
PROGS    := $(patsubst tests/progs/%.c,$(BUILD)/progs/%,$(wildcard tests/progs/*.c))
# fuzz harnesses: with a plain driver here (make check runs each over its
# corpus); with libFuzzer under `make fuzz`
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZERS  := $(FUZZ_NAMES:%=$(BUILD)/fuzz/%)

SO      = $(BUILD)/libsios.so.$(VERSION)
SONAME  = libsios.so.$(SOVER)
AR_LIB  = $(BUILD)/libsios.a

.PHONY: all lib examples check check-fast demo deps install uninstall clean bench bench-quick bench-bin fuzz

# the benchmark tools (built with everything: a test drives them)
BENCH_BIN = $(BUILD)/bench/loadgen $(BUILD)/bench/bench_server $(BUILD)/bench/floor_server

all: lib examples $(UNIT) $(PROGS) $(FUZZERS) $(BENCH_BIN)

lib: $(SO) $(AR_LIB)

$(BUILD)/%.o: %.c $(HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_LIB) -c $< -o $@

$(SO): $(LIB_OBJS) lib/sios.map
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=lib/sios.map \
		-Wl,--no-undefined $(LDFLAGS) -o $@ $(LIB_OBJS) $(LDLIBS_ALL)
	ln -sf libsios.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $(BUILD)/libsios.so

$(AR_LIB): $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $(LIB_OBJS)

# examples and tests link the static library: no LD_LIBRARY_PATH needed
$(BUILD)/examples/%: examples/%.c $(AR_LIB) include/sios.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_APP) $(LDFLAGS) -o $@ $< $(AR_LIB) $(LDLIBS_ALL)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/tap.h $(AR_LIB) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_LIB) $(LDFLAGS) -o $@ $< $(AR_LIB) $(LDLIBS_ALL)

$(BUILD)/fuzz/%: tests/fuzz/fuzz_%.c tests/fuzz/driver.c $(AR_LIB) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_LIB) $(LDFLAGS) -o $@ $< tests/fuzz/driver.c $(AR_LIB) $(LDLIBS_ALL)

$(BUILD)/progs/%: tests/progs/%.c $(AR_LIB) include/sios.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_APP) $(LDFLAGS) -o $@ $< $(AR_LIB) $(LDLIBS_ALL)

examples: $(EXAMPLES)

deps:
	@tools/deps.sh

# Everything, then again under AddressSanitizer + UBSan; one summary line.
check: deps
	$(MAKE) all
	$(MAKE) all BUILD=build/san SAN=1 OPT=-O1
	/usr/bin/python3 tests/run.py --build build --build build/san

check-fast: all
	/usr/bin/python3 tests/run.py --build build

# The chat example on 127.0.0.1:$(PORT), with only what it needs installed
# (tools/deps.sh demo: the build dependencies and socket.io-client).
PORT = 3000
demo:
	@tools/deps.sh demo
	$(MAKE) examples
	@echo "sios demo: a chat on http://127.0.0.1:$(PORT)/ (Ctrl-C stops it)"
	$(BUILD)/examples/chat --port $(PORT)

# how the benchmark tools are built (make bench uses the optimised build)

$(BUILD)/bench/loadgen: bench/loadgen.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -g $(WARN) -o $@ $< -lm

# the floor: the bench contract served by a bare epoll loop, no library
$(BUILD)/bench/floor_server: bench/floor_server.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) -o $@ $< -lcrypto

$(BUILD)/bench/bench_server: bench/bench_server.c $(AR_LIB) include/sios.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_APP) -o $@ $< $(AR_LIB) $(LDLIBS_ALL)

bench-bin: $(BENCH_BIN)

# libFuzzer (clang) on each harness for FUZZ_TIME seconds (default 60),
# starting from its corpus in tests/fuzz/corpus; what it finds is kept in
# build/fuzz-clang/corpus/<harness>, crashes as build/fuzz-clang/crash-*.
FUZZ_TIME ?= 60
FUZZ_BUILD = build/fuzz-clang
fuzz:
	@tools/deps.sh fuzz
	$(MAKE) $(FUZZ_BUILD)/libsios.a BUILD=$(FUZZ_BUILD) CC=clang SAN=1 OPT=-O1 \
		EXTRA_CFLAGS=-fsanitize=fuzzer-no-link
	@mkdir -p $(FUZZ_BUILD)/fuzz
	@set -e; for h in $(FUZZ_NAMES); do \
		clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined,float-cast-overflow \
			-DSIOS_WITH_REDIS=$(WITH_REDIS) -Iinclude -Ilib $(PKG_CFLAGS) -o $(FUZZ_BUILD)/fuzz/$$h tests/fuzz/fuzz_$$h.c \
			$(FUZZ_BUILD)/libsios.a $(LDLIBS_ALL); \
	done
	@set -e; for h in $(FUZZ_NAMES); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$h; \
		echo "== fuzz $$h for $(FUZZ_TIME) s"; \
		if ! (cd $(FUZZ_BUILD) && ./fuzz/$$h corpus/$$h ../../tests/fuzz/corpus/$$h \
			-max_total_time=$(FUZZ_TIME) -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
			-print_final_stats=1 > fuzz-$$h.log 2>&1); then \
			tail -50 $(FUZZ_BUILD)/fuzz-$$h.log; echo "fuzz $$h: FAILED"; exit 1; \
		fi; \
		tail -12 $(FUZZ_BUILD)/fuzz-$$h.log; \
	done

bench: deps
	@tools/bench-deps.sh
	$(MAKE) lib bench-bin
	/usr/bin/python3 bench/run.py --reps 3

bench-quick: deps
	@tools/bench-deps.sh
	$(MAKE) lib bench-bin
	/usr/bin/python3 bench/run.py --quick

# What install puts where. Every man3 page is installed, and for each further
# function a page documents (its .Nm lines) a one-line ".so" page, so that
# `man sios_server_run` finds sios_server_new(3). uninstall removes exactly
# these files (of this version) and leaves the directories, which may have
# existed before and may hold other packages' files.
MAN3       = $(wildcard man/*.3)
MAN7       = $(wildcard man/*.7)
MAN3_NAMES = $(sort $(notdir $(MAN3)) \
	$(addsuffix .3,$(shell sed -n 's/^\.Nm \(sios_[a-z_0-9]*\).*/\1/p' $(MAN3))))

install: $(SO) $(AR_LIB)
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(LIBDIR)/pkgconfig \
		$(DESTDIR)$(PREFIX)/share/man/man3 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 644 include/sios.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libsios.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libsios.so
	install -m 644 $(AR_LIB) $(DESTDIR)$(LIBDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@FEATURES@|$(FEATURES)|' -e 's|@REDIS_PC@|$(REDIS_PC)|' pkgconfig/sios.pc.in \
	    > $(DESTDIR)$(LIBDIR)/pkgconfig/sios.pc
	for f in $(MAN3); do \
		install -m 644 $$f $(DESTDIR)$(PREFIX)/share/man/man3/; \
		for n in $$(sed -n 's/^\.Nm \(sios_[a-z_0-9]*\).*/\1/p' $$f); do \
			[ "$$n.3" = "$$(basename $$f)" ] || \
			echo ".so man3/$$(basename $$f)" > $(DESTDIR)$(PREFIX)/share/man/man3/$$n.3; \
		done; \
	done
	for f in $(MAN7); do install -m 644 $$f $(DESTDIR)$(PREFIX)/share/man/man7/; done

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/sios.h \
		$(DESTDIR)$(LIBDIR)/libsios.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
		$(DESTDIR)$(LIBDIR)/libsios.so $(DESTDIR)$(LIBDIR)/libsios.a \
		$(DESTDIR)$(LIBDIR)/pkgconfig/sios.pc
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/share/man/man3/,$(MAN3_NAMES)) \
		$(addprefix $(DESTDIR)$(PREFIX)/share/man/man7/,$(notdir $(MAN7)))

clean:
	rm -rf build
