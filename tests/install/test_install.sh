#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# libflowsight as an installed library: `make install DESTDIR=... PREFIX=/usr`
# puts the command, libflowsight.so.1 (soname) and .a, the headers, the
# pkg-config file and the plugins where they belong; a program built with
# `pkg-config --cflags --libs flowsight` against the installed copy, linked
# dynamically and statically, reads a capture through the public API and
# gets exactly the flows the installed command writes.  Runs unprivileged.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
MKPCAP=${MKPCAP:-$BUILD/mkpcap}
P=0 F=0 S=0
pass() { echo "PASS install/$1"; P=$((P + 1)); }
fail() { echo "FAIL install/$1: $2"; F=$((F + 1)); }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fs-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/root

if ! make -s install DESTDIR="$dest" PREFIX=/usr BUILD="$BUILD" >"$tmp/make.log" 2>&1; then
	fail make_install "$(tail -5 "$tmp/make.log")"
	echo "$P passed, $F failed, $S skipped"
	exit 1
fi

# what goes where
missing=
for f in usr/bin/flowsight usr/lib/libflowsight.so.1.0.0 usr/lib/libflowsight.so.1 \
	usr/lib/libflowsight.so usr/lib/libflowsight.a usr/include/flowsight/flowsight.h \
	usr/include/flowsight/plugin.h usr/lib/pkgconfig/flowsight.pc; do
	[ -e "$dest/$f" ] || missing="$missing $f"
done
[ -z "$missing" ] && pass files || fail files "missing:$missing"

soname=$(readelf -d "$dest/usr/lib/libflowsight.so.1.0.0" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = libflowsight.so.1 ] && pass soname || fail soname "soname '$soname'"

# only the public API is exported
bad=$(nm -D --defined-only "$dest/usr/lib/libflowsight.so.1.0.0" | awk '$2 == "T" && $3 !~ /^fs_/' |
	head -5)
[ -z "$bad" ] && pass exports_only_fs_api || fail exports_only_fs_api "$bad"

# a client built from the installed files only
cat >"$tmp/count.c" <<'C'
#include <flowsight/flowsight.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	struct fs_options o;
	struct fs_session *s;
	const char *files[] = { argv[1] };
	char err[256];
	unsigned long long n = 0, bytes = 0;
	struct fs_flow *f;

	(void)argc;
	fs_options_init(&o);
	o.files = files;
	o.n_files = 1;
	if (fs_session_new(&o, &s, err, sizeof(err)) || fs_session_start(s)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	while ((f = fs_session_next(s, -1))) {
		struct fs_value v;

		fs_flow_get_by_name(f, "bidirectional_bytes", &v);
		bytes += (unsigned long long)v.i;
		n++;
		fs_flow_free(f);
	}
	printf("%llu %llu\n", n, bytes);
	fs_session_free(s);
	return 0;
}
C
export PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=$dest/usr/lib/pkgconfig
if cc -o "$tmp/count" "$tmp/count.c" $(pkg-config --cflags --libs flowsight) 2>"$tmp/cc.log"; then
	pass pkg_config_build
else
	fail pkg_config_build "$(head -3 "$tmp/cc.log")"
fi
if cc -o "$tmp/count_static" "$tmp/count.c" $(pkg-config --cflags flowsight) \
	"$dest/usr/lib/libflowsight.a" $(pkg-config --static --libs-only-l flowsight | sed 's/-lflowsight//') \
	2>"$tmp/ccs.log"; then
	pass static_build
else
	fail static_build "$(head -3 "$tmp/ccs.log")"
fi

cap=$tmp/cap.pcap
if "$MKPCAP" multi_file "$cap" >/dev/null 2>&1; then
	want=$("$dest/usr/bin/flowsight" -r "$cap" -F jsonl 2>/dev/null |
		python3 -c 'import json,sys; r=[json.loads(l) for l in sys.stdin]; print(len(r), sum(x["bidirectional_bytes"] for x in r))')
	got=$(LD_LIBRARY_PATH=$dest/usr/lib "$tmp/count" "$cap" 2>&1)
	[ -n "$want" ] && [ "$got" = "$want" ] && pass dynamic_client_equals_command ||
		fail dynamic_client_equals_command "client '$got', command '$want'"
	got=$("$tmp/count_static" "$cap" 2>&1)
	[ "$got" = "$want" ] && pass static_client_equals_command ||
		fail static_client_equals_command "client '$got', command '$want'"
	ldd "$tmp/count" | grep -q "libflowsight.so.1 => $dest" 2>/dev/null ||
		LD_LIBRARY_PATH=$dest/usr/lib ldd "$tmp/count" | grep -q "libflowsight.so.1 => $dest" &&
		pass links_the_installed_soname || fail links_the_installed_soname "$(ldd "$tmp/count")"
else
	echo "SKIP install/clients: no mkpcap at $MKPCAP"
	S=$((S + 1))
fi

# uninstall keeps an edited configuration file and says so
conf="$dest/etc/flowsight/flowsight.conf"
echo "interface fsx0" >> "$conf"
said=$(make -s uninstall DESTDIR="$dest" PREFIX=/usr 2>&1)
if [ -f "$conf" ] && printf '%s' "$said" | grep -q "flowsight.conf kept (edited)"; then
	pass uninstall_keeps_edited_config
else
	fail uninstall_keeps_edited_config "conf $( [ -f "$conf" ] && echo kept || echo removed): $said"
fi
rm -f "$conf"

# uninstall leaves nothing of ours (the configuration file is the packaged one)
make -s install DESTDIR="$dest" PREFIX=/usr >/dev/null 2>&1
make -s uninstall DESTDIR="$dest" PREFIX=/usr >/dev/null 2>&1
left=$(find "$dest" -type f | head -5)
[ -z "$left" ] && pass uninstall || fail uninstall "left: $left"

echo "$P passed, $F failed, $S skipped"
[ "$F" -eq 0 ]
