# nanohook: broker webhooks from outside the broker.
#
#   make            build nanohook, the test fixtures and the test sink
#   make test       unit tests, end-to-end tests (root), then the same under ASan+UBSan
#   make demo       a demo broker, a demo endpoint, nanohook between them
#   make demo-nats  the same into a local NATS JetStream stream, printed as it fills
#   make fuzz       run every fuzz target for FUZZ_SECONDS each
#   make bench      the benchmark table
#   make image      the container image nanohook:local (podman or docker; no registry)
#   make image-test that image run for real against a broker (part of make test)
#
# BUILD selects the output folder; SAN=1 builds with ASan and UBSan; V=1
# shows every command.

BUILD   ?= build
SAN     ?=
CC      ?= gcc
CLANG   ?= clang
BPFTOOL ?= bpftool
FUZZ_SECONDS ?= 60

# A failed recipe leaves no half-written target behind to be taken as built.
.DELETE_ON_ERROR:

ifeq ($(V),1)
Q :=
else
Q := @
endif

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
# The probes read the broker's arguments by the x86-64 calling convention
# (one through pt_regs->r9) and vmlinux/ holds x86's types only: an arm64
# build would compile and read the wrong registers, so it does not build.
NEEDS_BUILD := $(filter-out clean deps image,$(or $(MAKECMDGOALS),all))
ifneq ($(NEEDS_BUILD),)
ifneq ($(ARCH),x86)
$(error nanohook builds for x86-64 only: the probes and vmlinux/vmlinux.h are x86-64's, and this is $(shell uname -m))
endif
endif

PKGS := libbpf libelf zlib libcurl libcjson capstone libdw gmp libcap libmicrohttpd openssl libnats
# Asked once, quietly; a missing package is named where it matters (below).
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ifneq ($(NEEDS_BUILD),)
ifeq ($(filter deps test demo demo-nats bench,$(MAKECMDGOALS)),)
PKG_MISSING := $(shell pkg-config --exists $(PKGS) 2>/dev/null || pkg-config --print-errors --exists $(PKGS) 2>&1 | head -3)
ifneq ($(PKG_MISSING),)
$(error missing build dependencies ($(PKG_MISSING)); run `sudo make deps` or scripts/install-deps.sh)
endif
endif
endif

WARN   := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-missing-field-initializers
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude -Iuser -I$(BUILD) $(PKG_CFLAGS)
# Each object's own header dependencies, written beside it by the compiler.
DEPFLAGS = -MMD -MP
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
# nanohook's sources, instrumented once for every fuzz target.
FUZZ_OBJS := $(patsubst user/%.c,$(BUILD)/fuzz/obj/%.o,$(USER_SRCS))
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fno-sanitize-recover=undefined \
	-Iinclude -Iuser -I$(BUILD) $(PKG_CFLAGS)

.SECONDARY: $(BPF_OBJS)
.PHONY: all test unit e2e test-san fuzz fuzz-build fuzz-smoke demo demo-nats bench clean deps install root \
	image image-test
all: $(BUILD)/nanohook $(TOOL_BINS) $(FIXTURES)

# Installs the Debian packages (fast when they are all there already).
deps:
	@scripts/install-deps.sh

$(BUILD)/bpf $(BUILD)/user $(BUILD)/tests $(BUILD)/fixture $(BUILD)/fuzz:
	mkdir -p $@

# --- BPF side -----------------------------------------------------------
# Compiled without the sanitizer flags whatever SAN says: BPF is its own target.
$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c vmlinux/vmlinux.h | $(BUILD)/bpf
	@echo "  BPF     $@"
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror $(DEPFLAGS) \
		-MT $@ -MF $(@:.o=.d) -Ivmlinux -Iinclude -Ibpf -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp
	$(Q)rm -f $@.tmp

$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	@echo "  SKEL    $@"
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# --- userspace ----------------------------------------------------------
# The skeletons are generated headers: every object waits for them (the
# dependency files only know about them after a first build).
$(BUILD)/user/%.o: user/%.c $(BPF_SKELS) | $(BUILD)/user
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(LIB): $(USER_OBJS)
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/nanohook: $(BUILD)/user/main.o $(LIB)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB) | $(BUILD)/tests
	@echo "  TEST    $@"
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) -DNH_SOURCE_DIR='"$(CURDIR)"' $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lcmocka

$(BUILD)/%: tests/tools/%.c $(LIB)
	@echo "  TOOL    $@"
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lmicrohttpd -lmosquitto

# The fixture is never sanitized: it is the probed process and must look
# like a broker build, not an instrumented one.
FIXTURE_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -rdynamic -pthread
$(BUILD)/fixture/nmq_fixture-O0: tests/fixture/nmq_fixture.c tests/fixture/*.h | $(BUILD)/fixture
	@echo "  FIXTURE $@"
	$(Q)$(CC) $(FIXTURE_CFLAGS) -O0 -o $@ $<
$(BUILD)/fixture/nmq_fixture-O2: tests/fixture/nmq_fixture.c tests/fixture/*.h | $(BUILD)/fixture
	@echo "  FIXTURE $@"
	$(Q)$(CC) $(FIXTURE_CFLAGS) -O2 -o $@ $<
$(BUILD)/fixture/nmq_fixture-O3: tests/fixture/nmq_fixture.c tests/fixture/*.h | $(BUILD)/fixture
	@echo "  FIXTURE $@"
	$(Q)$(CC) $(FIXTURE_CFLAGS) -O3 -fno-omit-frame-pointer -o $@ $<
$(BUILD)/fixture/nmq_fixture-O2g: tests/fixture/nmq_fixture.c tests/fixture/*.h | $(BUILD)/fixture
	@echo "  FIXTURE $@"
	$(Q)$(CC) $(FIXTURE_CFLAGS) -O2 -g -o $@ $<
$(BUILD)/fixture/nmq_fixture-O0s.sym: tests/fixture/nmq_fixture.c tests/fixture/*.h | $(BUILD)/fixture
	@echo "  FIXTURE $@"
	$(Q)$(CC) $(filter-out -rdynamic,$(FIXTURE_CFLAGS)) -O0 -o $@ $<
$(BUILD)/fixture/nmq_fixture-O2s.sym: tests/fixture/nmq_fixture.c tests/fixture/*.h | $(BUILD)/fixture
	@echo "  FIXTURE $@"
	$(Q)$(CC) $(filter-out -rdynamic,$(FIXTURE_CFLAGS)) -O2 -o $@ $<
$(BUILD)/fixture/nmq_fixture-O3s.sym: tests/fixture/nmq_fixture.c tests/fixture/*.h | $(BUILD)/fixture
	@echo "  FIXTURE $@"
	$(Q)$(CC) $(filter-out -rdynamic,$(FIXTURE_CFLAGS)) -O3 -fno-omit-frame-pointer -o $@ $<
$(BUILD)/fixture/nmq_fixture-%s: $(BUILD)/fixture/nmq_fixture-%s.sym
	@echo "  STRIP   $@"
	$(Q)$(STRIP) -p -o $@ $<

-include $(wildcard $(BUILD)/user/*.d $(BUILD)/bpf/*.d $(BUILD)/tests/*.d $(BUILD)/*.d)

# --- tests ----------------------------------------------------------------
# Unit tests read the fixtures and start the test sink.
$(UNIT_BINS): $(FIXTURES) $(TOOL_BINS)
unit: $(UNIT_BINS)
	@scripts/run-tests.sh unit $(UNIT_BINS)

e2e: all
	@NH_SAN=$(SAN) scripts/run-tests.sh e2e $(BUILD)

# The skeletons are named here so make keeps them (else they are
# intermediates, deleted after the build). UBSan must abort, not just
# print, or libFuzzer never sees undefined behaviour as a failure.
fuzz-build: $(BPF_SKELS) $(FUZZ_BINS)
$(BUILD)/fuzz/obj/%.o: user/%.c $(wildcard user/*.h) include/nh_record.h $(BPF_SKELS) | $(BUILD)/fuzz
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<
$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_check.h $(FUZZ_OBJS) | $(BUILD)/fuzz
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_OBJS) \
		$(LDLIBS)

fuzz-smoke: fuzz-build
	@FUZZ_SEED=1 scripts/run-fuzz.sh 10 $(BUILD)
fuzz: fuzz-build
	@scripts/run-fuzz.sh $(FUZZ_SECONDS) $(BUILD)

# The whole suite: plain build, then sanitized build, then a short fuzz run.
# It installs packages and attaches BPF probes, so it needs root.
test: root deps
	@scripts/run-tests.sh reset
	$(MAKE) unit e2e
	$(MAKE) BUILD=build-san SAN=1 unit e2e
	$(MAKE) fuzz-smoke
	$(MAKE) image-test
	@scripts/run-tests.sh summary

# The container image (deploy/Dockerfile), on a Debian base made with
# debootstrap and cached under $(BUILD)/image/.
image: root
	@scripts/image.sh $(BUILD)

# Builds the image, then runs it against real brokers (tests/image/); a
# skip, counted, where no container engine is installed.
image-test: root all
	@scripts/run-tests.sh image $(BUILD)

demo: root deps
	$(MAKE) all
	scripts/demo.sh $(BUILD)

demo-nats: root deps
	$(MAKE) all
	scripts/demo-nats.sh $(BUILD)

bench: root deps
	$(MAKE) all
	scripts/bench.sh $(BUILD)

root:
	@if [ "$$(id -u)" -ne 0 ]; then \
		echo "make $(or $(MAKECMDGOALS),test) needs root: it installs Debian packages and attaches BPF probes (sudo make $(or $(MAKECMDGOALS),test))" >&2; \
		exit 1; fi

# BUILD=dir cleans that folder only; the default cleans both stock ones.
clean:
ifeq ($(origin BUILD),command line)
	rm -rf $(BUILD)
else
	rm -rf build build-san
endif

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
