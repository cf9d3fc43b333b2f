# SPDX-License-Identifier: GPL-2.0-only
# flowsight: one non-recursive Makefile.  Everything is built into $(BUILD);
# BPF objects become skeletons there; -MMD -MP tracks header dependencies
# for both compilers and every object also depends on this Makefile.
#   make deps     install the Debian packages the project needs (idempotent)
#   make          build $(BUILD)/flowsight, libflowsight (.so, .a, .pc) and the plugins
#   make install  PREFIX=/usr/local DESTDIR=: command, library, headers, plugins, Python,
#                 man page, systemd unit, default configuration, logrotate file
#   make deb      a Debian package of all that (dpkg-deb), in $(BUILD)/
#   make test     build and run every test layer (tests/run_tests.sh)
#   make run      flowsight top on the default interface (a terminal), else live CSV
#   make demo     generate a demo capture and print its flows (offline engine)
#   make fuzz     libFuzzer targets with ASan+UBSan, FUZZ_SECONDS each (default 10)
#   make bench    benchmarks (tools/bench.sh, bench_top.py, bench_plugins.sh, bench_python.py); make bench-attr: attribution overhead
#   make bench-live   live capture: eBPF vs libpcap CPU and loss, TCP throughput (root)
#   make SANITIZE=1 ...   the same with ASan+UBSan, in build/san
#   make V=1      show the commands

ifeq ($(SANITIZE),1)
BUILD ?= build/san
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SAN_FLAGS :=
endif

CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
PKG_CONFIG ?= pkg-config
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

CFLAGS ?= -O2 -g
override CFLAGS += -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -fPIC -fvisibility=hidden $(SAN_FLAGS)
# libfixbuf's headers include glib's
SINK_CFLAGS := $(shell $(PKG_CONFIG) --cflags libfixbuf 2>/dev/null)
CPPFLAGS += -Iinclude -Iagent -I$(BUILD) -MMD -MP $(SINK_CFLAGS)
LDFLAGS += $(SAN_FLAGS)
LDLIBS := -lpcap -lndpi -lsodium -lbpf -lelf -lz -lm -lpthread -ldl -lfixbuf -lglib-2.0 -lcurl
# the command only: its metrics server (the library starts no listener) and top
CLI_LDLIBS := -lmicrohttpd $(shell $(PKG_CONFIG) --libs ncursesw 2>/dev/null || echo -lncursesw)

# Debian packages, checked by `make deps` (dpkg -s) and installed if missing.
DEB_PKGS := build-essential pkg-config clang llvm libpcap-dev libndpi-dev libndpi-bin \
	libbpf-dev bpftool libelf-dev zlib1g-dev libsodium-dev libclang-rt-14-dev python3 python3-numpy python3-cffi python3-pandas python3-sklearn \
	tcpreplay iproute2 time iputils-ping ethtool curl iperf3 netsniff-ng \
	qemu-system-x86 busybox-static util-linux libcap2-bin valgrind \
	libmicrohttpd-dev prometheus systemd systemd-container dpkg-dev groff-base man-db passwd \
	nginx-light apache2-utils libncurses-dev tmux tshark tcpdump \
	libfixbuf-dev libfixbuf-tools libcurl4-openssl-dev nfdump clickhouse-server

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# libflowsight is every stage but the command line (agent/cli/) and the
# plugins; the command is a client of it, linked statically and exporting
# the plugin API (fs_*) to the plugins it loads.
AGENT_SRCS := $(filter-out agent/plugins/%,$(wildcard agent/*/*.c))
AGENT_OBJS := $(patsubst agent/%.c,$(BUILD)/agent/%.o,$(AGENT_SRCS))
LIB_OBJS := $(filter-out $(BUILD)/agent/cli/%.o,$(AGENT_OBJS))
CLI_OBJS := $(filter $(BUILD)/agent/cli/%.o,$(AGENT_OBJS))
SONAME_MAJOR := 1
LIB_VERSION := 1.0.0
LIB_A := $(BUILD)/libflowsight.a
LIB_SO := $(BUILD)/libflowsight.so.$(LIB_VERSION)
PLUGIN_SRCS := $(wildcard agent/plugins/*.c)
PLUGINS := $(patsubst agent/plugins/%.c,$(BUILD)/plugins/%.so,$(PLUGIN_SRCS))
PREFIX ?= /usr/local
DESTDIR ?=
LIBDIR ?= $(PREFIX)/lib
# Debian's python3 reads /usr/lib/python3/dist-packages, and for a local
# prefix /usr/local/lib/python3.X/dist-packages (its own minor version)
PY3 := python$(or $(shell /usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null),3)
PYDIR ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/python3/dist-packages,$(PREFIX)/lib/$(PY3)/dist-packages)
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
MANDIR ?= $(PREFIX)/share/man
VERSION := $(shell sed -n 's/^\#define FLOWSIGHT_VERSION "\(.*\)"/\1/p' agent/api/session.c)
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
BPF_SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
BPF_TEST_SRCS := $(wildcard tests/bpf/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS)) \
	$(patsubst tests/bpf/%.c,$(BUILD)/tests/%,$(BPF_TEST_SRCS))
TOOL_BINS := $(BUILD)/mkpcap $(BUILD)/pcap_readloop $(BUILD)/bench_attr_tables

# Fuzzing: clang's libFuzzer with ASan+UBSan over every agent module.
FUZZ_BUILD := build/fuzz
FUZZ_SECONDS ?= 10
FUZZ_CFLAGS := -O1 -g -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -Iagent -I$(BUILD) $(SINK_CFLAGS) \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_OBJS := $(patsubst agent/%.c,$(FUZZ_BUILD)/agent/%.o,$(filter-out agent/cli/%,$(AGENT_SRCS)))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(wildcard tests/fuzz/fuzz_*.c))

.DELETE_ON_ERROR:
.SECONDARY: $(BPF_OBJS) $(BPF_SKELS) $(FUZZ_OBJS)
.PHONY: all deps test check bench clean help tools unit golden-update run demo bench-attr bench-live fuzz fuzz-build install uninstall plugins deb

all: $(BUILD)/flowsight $(LIB_SO) $(BUILD)/flowsight.pc $(PLUGINS) $(BUILD)/flowsight.8

help:
	@sed -n 's/^#   //p' Makefile

deps:
	@missing=""; for p in $(DEB_PKGS); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq >/dev/null && apt-get install -y -qq $$missing >/dev/null \
			|| { echo "make deps: apt-get install failed for:$$missing" >&2; exit 1; }; \
	fi

$(BUILD) $(BUILD)/agent $(BUILD)/tests $(BUILD)/tools:
	$(Q)mkdir -p $@

# BPF side: clang -target bpf, then a skeleton per object.
$(BUILD)/%.bpf.o: bpf/%.bpf.c vmlinux.h Makefile | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror -MMD -MP -Iinclude -I. -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o | $(BUILD)
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(BUILD)/agent/%.o: agent/%.c Makefile $(BPF_SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB_A): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIB_SO): $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) -shared $(LDFLAGS) -Wl,-soname,libflowsight.so.$(SONAME_MAJOR) $^ $(LDLIBS) -o $@
	$(Q)ln -sf libflowsight.so.$(LIB_VERSION) $(BUILD)/libflowsight.so.$(SONAME_MAJOR)
	$(Q)ln -sf libflowsight.so.$(SONAME_MAJOR) $(BUILD)/libflowsight.so

$(BUILD)/flowsight: $(CLI_OBJS) $(LIB_A) | $(BUILD)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -rdynamic $(CLI_OBJS) $(LIB_A) $(LDLIBS) $(CLI_LDLIBS) -o $@

# the pkg-config file for PREFIX/LIBDIR (written again by install, for its own)
PC_TEXT = printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$${prefix}/include' '' \
		'Name: flowsight' 'Description: NFStream flows with process attribution (libflowsight)' \
		'Version: $(LIB_VERSION)' 'Libs: -L$${libdir} -lflowsight' \
		'Libs.private: $(LDLIBS)' 'Cflags: -I$${includedir}'

$(BUILD)/flowsight.pc: Makefile | $(BUILD)
	$(Q)$(PC_TEXT) > $@

# The man page, from the option table that --help prints.
$(BUILD)/flowsight.8: $(BUILD)/flowsight
	$(call msg,MAN,$@)
	$(Q)$(BUILD)/flowsight --man > $@

# Plugins: shared objects resolving the plugin API in their host.
$(BUILD)/plugins/%.so: agent/plugins/%.c include/flowsight/plugin.h include/flowsight/flowsight.h $(wildcard agent/plugins/*.h) Makefile
	$(call msg,PLUGIN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -fPIC -shared -Iinclude $< -o $@

plugins: $(PLUGINS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS) Makefile | $(BUILD)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) -Itests $(CFLAGS) $(LDFLAGS) $< $(LIB_OBJS) $(LDLIBS) -o $@

# BPF_PROG_TEST_RUN fixture tests (root; they skip without it)
$(BUILD)/tests/%: tests/bpf/%.c $(LIB_OBJS) Makefile | $(BUILD)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) -Itests $(CFLAGS) $(LDFLAGS) $< $(LIB_OBJS) $(LDLIBS) -o $@

# attribution's userspace per connection, from the tables alone (make bench-attr)
$(BUILD)/bench_attr_tables: tools/bench_attr_tables.c $(LIB_OBJS) Makefile | $(BUILD)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $< $(LIB_OBJS) $(LDLIBS) -o $@

$(BUILD)/mkpcap: tools/mkpcap.c Makefile | $(BUILD)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $< -o $@

$(BUILD)/pcap_readloop: tools/pcap_readloop.c Makefile | $(BUILD)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $< -lpcap -o $@

tools: $(TOOL_BINS)
unit: $(UNIT_BINS)

test check: all $(UNIT_BINS) $(TOOL_BINS) $(FUZZ_BINS)
	$(Q)BUILD=$(BUILD) FUZZ_BUILD=$(FUZZ_BUILD) tests/run_tests.sh

# Rewrite the golden expectations that are produced by flowsight itself
# (help text); review the diff before committing.
golden-update: $(BUILD)/flowsight
	$(Q)$(BUILD)/flowsight --help > tests/golden/help.txt

# The main job: live capture on the default interface (the one of the
# default route, else the first interface that is up) with process
# attribution: flowsight top when standard output is a terminal (q quits),
# else the CSV stream; Ctrl-C stops it and flushes every flow.
run: $(BUILD)/flowsight
	$(Q)dev=$$(ip -o route show default 2>/dev/null | awk '{for(i=1;i<NF;i++) if ($$i=="dev") {print $$(i+1); exit}}'); \
	[ -n "$$dev" ] || dev=$$(ip -o link show up 2>/dev/null | awk -F': ' '$$2!="lo"{print $$2; exit}' | cut -d@ -f1); \
	[ -n "$$dev" ] || dev=lo; \
	if [ -t 1 ]; then \
		echo "flowsight: top on $$dev: traffic per process (q to quit)" >&2; \
		exec $(BUILD)/flowsight top -i $$dev --system-visibility-mode 2 $(RUN_ARGS); fi; \
	echo "flowsight: live capture on $$dev with process attribution (Ctrl-C to stop)" >&2; \
	exec $(BUILD)/flowsight -i $$dev --system-visibility-mode 2 --statistical-analysis $(RUN_ARGS)

# Demo: a two-file stream of synthetic TCP, UDP, ICMP, IPv6 and tunnelled
# traffic written by tools/mkpcap.c, read as one stream (offline engine).
DEMO_SCENARIOS := eth_tcp_handshake ipv6_tcp eth_udp eth_icmp eth_vlan gtp_u tzsp
demo: $(BUILD)/flowsight $(BUILD)/mkpcap
	$(Q)mkdir -p $(BUILD)/demo
	$(Q)for s in $(DEMO_SCENARIOS); do $(BUILD)/mkpcap $$s $(BUILD)/demo/$$s.pcap || exit 1; done
	$(Q)$(BUILD)/flowsight $(foreach s,$(DEMO_SCENARIOS),-r $(BUILD)/demo/$(s).pcap) \
		--statistical-analysis $(RUN_ARGS)

# Process attribution overhead (connections/s with and without the agent).
bench-attr: $(BUILD)/flowsight $(BUILD)/bench_attr_tables
	$(Q)FLOWSIGHT=$(BUILD)/flowsight python3 tools/bench_attr.py $(BENCH_ATTR_ARGS)
	$(Q)$(BUILD)/bench_attr_tables 5000 200000 180
	$(Q)$(BUILD)/bench_attr_tables 20000 200000 180

# Live capture cost (tools/bench_live.py): agent CPU per packet and loss with
# --capture ebpf and pcap on the same trafgen traffic, and iperf3 throughput
# with and without the eBPF agent, in namespaces it creates; runs as root.
bench-live: $(BUILD)/flowsight
	$(Q)if [ "$$(id -u)" -eq 0 ]; then root=; elif command -v sudo >/dev/null; then root=sudo; \
	else echo "make bench-live: needs root (network namespaces, BPF)" >&2; exit 1; fi; \
	$$root env FLOWSIGHT=$(BUILD)/flowsight python3 tools/bench_live.py $(BENCH_LIVE_ARGS)

bench: $(BUILD)/flowsight $(BUILD)/pcap_readloop $(PLUGINS) $(LIB_SO)
	$(Q)BUILD=$(BUILD) tools/bench.sh $(BENCH_ARGS)
	$(Q)FLOWSIGHT=$(BUILD)/flowsight python3 tools/bench_top.py $(BENCH_TOP_ARGS)
	$(Q)BUILD=$(BUILD) tools/bench_plugins.sh
	$(Q)BUILD=$(BUILD) /usr/bin/python3 tools/bench_python.py
	$(Q)FLOWSIGHT=$(BUILD)/flowsight python3 tools/bench_sinks.py
	$(Q)BUILD=$(BUILD) tools/bench_dataset.sh $(BENCH_ARGS)

# make install [PREFIX=/usr/local] [DESTDIR=]: the command, the library
# (shared and static), its headers and pkg-config file, the plugins, the
# Python package (PYDIR: where Debian's python3 finds it),
# the man page, the systemd unit and the logrotate file; the default
# configuration (SYSCONFDIR/flowsight/flowsight.conf) unless one is there.
install: all
	$(Q)install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBDIR)/pkgconfig \
		$(DESTDIR)$(PREFIX)/include/flowsight $(DESTDIR)$(LIBDIR)/flowsight/plugins \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)/flowsight \
		$(DESTDIR)$(SYSCONFDIR)/logrotate.d
	$(Q)install -m 0755 $(BUILD)/flowsight $(DESTDIR)$(PREFIX)/bin/flowsight
	$(Q)install -m 0644 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	$(Q)ln -sf libflowsight.so.$(LIB_VERSION) $(DESTDIR)$(LIBDIR)/libflowsight.so.$(SONAME_MAJOR)
	$(Q)ln -sf libflowsight.so.$(SONAME_MAJOR) $(DESTDIR)$(LIBDIR)/libflowsight.so
	$(Q)install -m 0644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	$(Q)install -m 0644 include/flowsight/*.h $(DESTDIR)$(PREFIX)/include/flowsight/
	$(Q)$(PC_TEXT) > $(DESTDIR)$(LIBDIR)/pkgconfig/flowsight.pc
	$(Q)for p in $(PLUGINS); do install -m 0755 $$p $(DESTDIR)$(LIBDIR)/flowsight/plugins/; done
	$(Q)if [ -d python/flowsight ]; then install -d $(DESTDIR)$(PYDIR)/flowsight; \
		install -m 0644 python/flowsight/*.py $(DESTDIR)$(PYDIR)/flowsight/; \
		printf '%s\n' '$(LIBDIR)' > $(DESTDIR)$(PYDIR)/flowsight/libdir.txt; fi
	$(Q)install -m 0644 $(BUILD)/flowsight.8 $(DESTDIR)$(MANDIR)/man8/flowsight.8
	$(Q)sed 's|@BINDIR@|$(PREFIX)/bin|g' packaging/flowsight.service.in > $(DESTDIR)$(UNITDIR)/flowsight.service
	$(Q)chmod 0644 $(DESTDIR)$(UNITDIR)/flowsight.service
	$(Q)install -m 0644 packaging/flowsight.logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/flowsight
	$(Q)[ -e $(DESTDIR)$(SYSCONFDIR)/flowsight/flowsight.conf ] || \
		install -m 0644 packaging/flowsight.conf $(DESTDIR)$(SYSCONFDIR)/flowsight/flowsight.conf

uninstall:
	$(Q)rm -f $(DESTDIR)$(PREFIX)/bin/flowsight $(DESTDIR)$(LIBDIR)/libflowsight.* \
		$(DESTDIR)$(LIBDIR)/pkgconfig/flowsight.pc $(DESTDIR)$(UNITDIR)/flowsight.service \
		$(DESTDIR)$(MANDIR)/man8/flowsight.8 $(DESTDIR)$(SYSCONFDIR)/logrotate.d/flowsight
	$(Q)rm -rf $(DESTDIR)$(PREFIX)/include/flowsight $(DESTDIR)$(LIBDIR)/flowsight \
		$(DESTDIR)$(PYDIR)/flowsight
	$(Q)conf=$(DESTDIR)$(SYSCONFDIR)/flowsight/flowsight.conf; \
	if [ -e $$conf ] && ! cmp -s $$conf packaging/flowsight.conf; then \
		echo "uninstall: $$conf kept (edited)"; \
	else rm -f $$conf; rmdir $(DESTDIR)$(SYSCONFDIR)/flowsight 2>/dev/null || true; fi

# make deb: `make install PREFIX=/usr` into a staging tree, the maintainer
# scripts of packaging/debian/ (the service's user, its state directory,
# purge), dependencies from dpkg-shlibdeps, then dpkg-deb.
DEB_ARCH = $(shell dpkg --print-architecture)
DEB_ROOT = $(BUILD)/deb/root
DEB_FILE = $(BUILD)/flowsight_$(VERSION)_$(DEB_ARCH).deb
deb: all
	$(call msg,DEB,$(DEB_FILE))
	$(Q)rm -rf $(BUILD)/deb && mkdir -p $(DEB_ROOT)/DEBIAN $(BUILD)/deb/shlibs/debian
	$(Q)$(MAKE) --no-print-directory install PREFIX=/usr SYSCONFDIR=/etc \
		PYDIR=/usr/lib/python3/dist-packages DESTDIR=$(abspath $(DEB_ROOT))
	$(Q)gzip -9n $(DEB_ROOT)/usr/share/man/man8/flowsight.8
	$(Q)install -d $(DEB_ROOT)/usr/share/doc/flowsight
	$(Q)printf '%s\n' 'flowsight, libflowsight: GPL-2.0-only (see the SPDX lines of the sources).' \
		> $(DEB_ROOT)/usr/share/doc/flowsight/copyright
	$(Q)install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm \
		$(DEB_ROOT)/DEBIAN/
	$(Q)install -m 0644 packaging/debian/conffiles $(DEB_ROOT)/DEBIAN/
	$(Q)printf 'Source: flowsight\n\nPackage: flowsight\nArchitecture: any\n' \
		> $(BUILD)/deb/shlibs/debian/control
	$(Q)deps=$$(cd $(BUILD)/deb/shlibs && dpkg-shlibdeps -O -e$(abspath $(DEB_ROOT))/usr/bin/flowsight \
		-e$(abspath $(DEB_ROOT))/usr/lib/libflowsight.so.$(LIB_VERSION) 2>/dev/null \
		| sed -n 's/^shlibs:Depends=//p'); \
	[ -n "$$deps" ] || { echo "make deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }; \
	size=$$(du -sk --exclude=DEBIAN $(DEB_ROOT) | cut -f1); \
	sed -e 's|@VERSION@|$(VERSION)|' -e 's|@ARCH@|$(DEB_ARCH)|' -e "s|@SIZE@|$$size|" \
		-e "s|@DEPENDS@|$$deps, passwd|" packaging/debian/control.in > $(DEB_ROOT)/DEBIAN/control
	$(Q)(cd $(DEB_ROOT) && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort \
		| xargs md5sum) > $(BUILD)/deb/md5sums && mv $(BUILD)/deb/md5sums $(DEB_ROOT)/DEBIAN/
	$(Q)dpkg-deb --root-owner-group -Zxz --build $(DEB_ROOT) $(DEB_FILE) >/dev/null
	$(Q)echo "$(DEB_FILE)"

clean:
	$(Q)rm -rf build

$(FUZZ_BUILD)/agent:
	$(Q)mkdir -p $@

$(FUZZ_BUILD)/agent/%.o: agent/%.c Makefile $(BPF_SKELS)
	$(call msg,FUZZCC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJS) Makefile
	$(call msg,FUZZLD,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -MMD -MP -fsanitize=fuzzer $< $(FUZZ_OBJS) $(LDLIBS) -o $@

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS) $(BUILD)/mkpcap
	$(Q)BUILD=$(BUILD) FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/run_fuzz.sh $(FUZZ_SECONDS)

-include $(AGENT_OBJS:.o=.d) $(BPF_OBJS:.o=.d) $(UNIT_BINS:=.d) $(FUZZ_OBJS:.o=.d) $(FUZZ_BINS:=.d)
