# nanohook: broker webhooks from outside the broker.
#
#   make            build nanohook, the test fixtures and the test sink
#   make test       unit tests, end-to-end tests (root), then the same under ASan+UBSan
#   make demo       a demo broker, a demo endpoint, nanohook between them
#   make fuzz       run every fuzz target for FUZZ_SECONDS each
#   make bench      the benchmark table
#
# BUILD selects the output folder; SAN=1 builds with ASan and UBSan.

BUILD   ?= build
SAN     ?=
CC      ?= gcc
CLANG   ?= clang
BPFTOOL ?= bpftool
FUZZ_SECONDS ?= 60

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

PKGS := libbpf libelf zlib libcurl libcjson capstone libdw gmp libcap libmicrohttpd openssl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN   := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-missing-field-initializers
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude -Iuser -I$(BUILD) $(PKG_CFLAGS)
LDLIBS += $(PKG_LIBS) -lpthread

ifneq ($(SAN),)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
BPF_SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))

USER_SRCS := $(filter-out user/main.c,$(wildcard user/*.c))
USER_OBJS := $(patsubst user/%.c,$(BUILD)/user/%.o,$(USER_SRCS))
LIB       := $(BUILD)/libnanohook.a

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(patsubst tests/tools/%.c,$(BUILD)/%,$(TOOL_SRCS))

# The NanoMQ stand-in, built the ways NanoMQ is shipped: -O0 (packages,
# Docker images), -O2, -O3 with frame pointers (NanoMQ's Release flags,
# which split some offsets across two instructions), and -O2 with DWARF
# (RelWithDebInfo).
FIXTURES := $(BUILD)/fixture/nmq_fixture-O0 $(BUILD)/fixture/nmq_fixture-O2 \
	    $(BUILD)/fixture/nmq_fixture-O3 $(BUILD)/fixture/nmq_fixture-O2g
# ... and stripped as the official .deb/.rpm are (`strip -p`, and only libc
# imports in .dynsym, so no -rdynamic): -O0s, -O2s, -O3s. Each keeps an
# unstripped twin (.sym) for tests that check what is recovered without it.
FIXTURES += $(BUILD)/fixture/nmq_fixture-O0s $(BUILD)/fixture/nmq_fixture-O2s \
	    $(BUILD)/fixture/nmq_fixture-O3s
STRIP ?= strip

FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))

.SECONDARY: $(BPF_OBJS)
.PHONY: all test unit e2e test-san fuzz fuzz-build fuzz-smoke demo bench clean deps install
all: $(BUILD)/nanohook $(TOOL_BINS) $(FIXTURES)

# Installs the Debian packages (fast when they are all there already).
deps:
	@scripts/install-deps.sh

$(BUILD)/bpf $(BUILD)/user $(BUILD)/tests $(BUILD)/fixture $(BUILD)/fuzz:
	mkdir -p $@

# --- BPF side -----------------------------------------------------------
# Compiled without the sanitizer flags whatever SAN says: BPF is its own target.
$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c bpf/*.h include/nh_record.h vmlinux/vmlinux.h | $(BUILD)/bpf
	@echo "  BPF     $@"
	@$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
		-Ivmlinux -Iinclude -Ibpf -c $< -o $@.tmp
	@$(BPFTOOL) gen object $@ $@.tmp
	@rm -f $@.tmp

$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	@echo "  SKEL    $@"
	@$(BPFTOOL) gen skeleton $< > $@

# --- userspace ----------------------------------------------------------
$(BUILD)/user/%.o: user/%.c $(wildcard user/*.h) include/nh_record.h $(BPF_SKELS) | $(BUILD)/user
	@echo "  CC      $@"
	@$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(USER_OBJS)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/nanohook: $(BUILD)/user/main.o $(LIB)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB) | $(BUILD)/tests
	@echo "  TEST    $@"
	@$(CC) $(CFLAGS) -DNH_SOURCE_DIR='"$(CURDIR)"' $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lcmocka

$(BUILD)/%: tests/tools/%.c $(LIB)
	@echo "  TOOL    $@"
	@$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lmicrohttpd -lmosquitto

# The fixture is never sanitized: it is the probed process and must look
# like a broker build, not an instrumented one.
FIXTURE_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -rdynamic -pthread
$(BUILD)/fixture/nmq_fixture-O0: tests/fixture/nmq_fixture.c tests/fixture/*.h | $(BUILD)/fixture
	$(CC) $(FIXTURE_CFLAGS) -O0 -o $@ $<
$(BUILD)/fixture/nmq_fixture-O2: tests/fixture/nmq_fixture.c tests/fixture/*.h | $(BUILD)/fixture
	$(CC) $(FIXTURE_CFLAGS) -O2 -o $@ $<
$(BUILD)/fixture/nmq_fixture-O3: tests/fixture/nmq_fixture.c tests/fixture/*.h | $(BUILD)/fixture
	$(CC) $(FIXTURE_CFLAGS) -O3 -fno-omit-frame-pointer -o $@ $<
$(BUILD)/fixture/nmq_fixture-O2g: tests/fixture/nmq_fixture.c tests/fixture/*.h | $(BUILD)/fixture
	$(CC) $(FIXTURE_CFLAGS) -O2 -g -o $@ $<
$(BUILD)/fixture/nmq_fixture-O0s.sym: tests/fixture/nmq_fixture.c tests/fixture/*.h | $(BUILD)/fixture
	$(CC) $(filter-out -rdynamic,$(FIXTURE_CFLAGS)) -O0 -o $@ $<
$(BUILD)/fixture/nmq_fixture-O2s.sym: tests/fixture/nmq_fixture.c tests/fixture/*.h | $(BUILD)/fixture
	$(CC) $(filter-out -rdynamic,$(FIXTURE_CFLAGS)) -O2 -o $@ $<
$(BUILD)/fixture/nmq_fixture-O3s.sym: tests/fixture/nmq_fixture.c tests/fixture/*.h | $(BUILD)/fixture
	$(CC) $(filter-out -rdynamic,$(FIXTURE_CFLAGS)) -O3 -fno-omit-frame-pointer -o $@ $<
$(BUILD)/fixture/nmq_fixture-%s: $(BUILD)/fixture/nmq_fixture-%s.sym
	$(STRIP) -p -o $@ $<

# --- tests ----------------------------------------------------------------
$(UNIT_BINS): $(FIXTURES)
unit: $(UNIT_BINS)
	@scripts/run-tests.sh unit $(UNIT_BINS)

e2e: all
	@scripts/run-tests.sh e2e $(BUILD)

# The skeletons are named here so make keeps them (else they are
# intermediates, deleted after the build). UBSan must abort, not just
# print, or libFuzzer never sees undefined behaviour as a failure.
fuzz-build: $(BPF_SKELS) $(FUZZ_BINS)
$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_check.h $(USER_SRCS) $(wildcard user/*.h) include/nh_record.h \
		$(BPF_SKELS) | $(BUILD)/fuzz
	@echo "  FUZZ    $@"
	@$(CLANG) -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined \
		-Iinclude -Iuser -I$(BUILD) $(PKG_CFLAGS) -o $@ $< $(USER_SRCS) $(LDLIBS)

fuzz-smoke: fuzz-build
	@FUZZ_SEED=1 scripts/run-fuzz.sh 10 $(BUILD)
fuzz: fuzz-build
	@scripts/run-fuzz.sh $(FUZZ_SECONDS) $(BUILD)

# The whole suite: plain build, then sanitized build, then a short fuzz run.
test: deps
	@scripts/run-tests.sh reset
	$(MAKE) unit e2e
	$(MAKE) BUILD=build-san SAN=1 unit e2e
	$(MAKE) fuzz-smoke
	@scripts/run-tests.sh summary

demo: deps
	$(MAKE) all
	scripts/demo.sh $(BUILD)

bench: deps
	$(MAKE) all
	scripts/bench.sh $(BUILD)

clean:
	rm -rf build build-san

# --- install ----------------------------------------------------------------
# `sudo make install` puts nanohook where a locally built system daemon goes;
# DESTDIR stages it (packaging, tests). The example configuration is
# installed only where there is none: an existing one is never overwritten.
# The units name the installed binary and configuration.
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
UNITS      := nanohook.service nanohook@.service

.PHONY: install uninstall
install: $(BUILD)/nanohook
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR)
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/nanohook
	install -m 0755 $(BUILD)/nanohook $(DESTDIR)$(SBINDIR)/nanohook
	install -m 0644 doc/nanohook.8 $(DESTDIR)$(MANDIR)/man8/nanohook.8
	for u in $(UNITS); do \
		sed -e 's|/usr/local/sbin/|$(SBINDIR)/|g' -e 's|/etc/nanohook/|$(SYSCONFDIR)/nanohook/|g' \
			deploy/systemd/$$u >$(DESTDIR)$(UNITDIR)/$$u.tmp && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.tmp && \
		mv $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/nanohook/nanohook.conf ]; then \
		echo "  keeping $(DESTDIR)$(SYSCONFDIR)/nanohook/nanohook.conf"; \
	else \
		install -m 0640 deploy/nanohook.conf $(DESTDIR)$(SYSCONFDIR)/nanohook/nanohook.conf; \
	fi

# Leaves the configuration and /var/lib/nanohook (the spool) in place.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/nanohook $(DESTDIR)$(MANDIR)/man8/nanohook.8
	for u in $(UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$$u; done
