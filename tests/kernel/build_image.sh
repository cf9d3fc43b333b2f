#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Builds what tests/kernel/test_kernel.py boots for one kernel of the matrix:
# a Debian 12 kernel (fetched with apt-get download and unpacked under
# build/kernel/SERIES/, never installed on the host) and a minimal initramfs
# with static busybox, build/flowsight with the shared libraries it loads,
# the two modules the eBPF capture needs (sch_ingress for clsact, cls_bpf)
# when the kernel has them as modules, tests/kernel/init.sh as /init, and
# the guest's tools: prog_stats (verified instructions of each loaded
# program) and kprobe_fentry (can kprobes and fentry attach here).
#
#   build_image.sh [SERIES]    SERIES: 6.1 (default) or 6.12
#
# The package is the one Debian 12 installs today for that series, in its
# unsigned flavour (same image, no Secure Boot signature): the dependency of
# the series' metapackage, linux-image-amd64 for 6.1 (bookworm's own
# kernel) and linux-image-6.12-amd64 for 6.12 (bookworm-security), which
# always depends on the newest upload of the plain amd64 flavour (not rt,
# not cloud).
#
# Everything is cached under build/kernel/SERIES/: the kernel package is
# fetched once, the initramfs is rebuilt only when one of its inputs changed.
# Prints "KERNEL=path", "INITRD=path", "KVER=release" and "PKG=package" on
# success.  Exit status 3 means "cannot be had here" (no package, no
# busybox): the caller skips.
set -eu
cd "$(dirname "$0")/../.."
SERIES=${1:-6.1}
BUILD=${BUILD:-build}
FS=${FLOWSIGHT:-$BUILD/flowsight}
KDIR=$BUILD/kernel/$SERIES
BUSYBOX=${BUSYBOX:-/bin/busybox}

unavailable() {
	echo "unavailable: $*" >&2
	exit 3
}

case $SERIES in
6.1) META=linux-image-amd64 ;;
6.12) META=linux-image-6.12-amd64 ;;
*) echo "build_image.sh: unknown kernel series '$SERIES' (6.1 or 6.12)" >&2; exit 2 ;;
esac

# The 6.1 cache used to be build/kernel/ itself: move its package and
# unpacked tree to build/kernel/6.1/ rather than fetch them again.
migrate_cache() {
	local old=$BUILD/kernel

	[ "$SERIES" = 6.1 ] && [ -d "$old/deb" ] && [ ! -e "$KDIR" ] || return 0
	mkdir -p "$KDIR"
	mv "$old/deb" "$KDIR/deb"
	[ ! -d "$old/root" ] || mv "$old/root" "$KDIR/root"
	rm -rf "$old/initramfs" "$old/initramfs.cpio.gz" "$old/initramfs.cpio.gz.sum" \
		"$old/serial.log"
}

# The package the series' metapackage depends on, unsigned.
fetch_kernel() {
	local pkg

	ls "$KDIR"/deb/linux-image-*.deb >/dev/null 2>&1 && return 0
	command -v apt-cache >/dev/null || unavailable "no apt-cache"
	pkg=$(apt-cache depends "$META" 2>/dev/null |
		awk -v pfx="linux-image-$SERIES." \
			'$1 == "Depends:" && index($2, pfx) == 1 { print $2; exit }')
	[ -n "$pkg" ] || unavailable "apt-cache knows no $META depending on a $SERIES kernel" \
		"(run apt-get update; 6.12 comes from bookworm-security)"
	mkdir -p "$KDIR/deb"
	(cd "$KDIR/deb" && apt-get download -q "$pkg-unsigned" >/dev/null 2>&1 ||
		apt-get download -q "$pkg" >/dev/null 2>&1) ||
		unavailable "apt-get download $pkg-unsigned failed"
}

unpack_kernel() {
	local deb

	deb=$(ls "$KDIR"/deb/linux-image-*.deb | head -1)
	if [ ! -e "$KDIR/root/.unpacked" ] || [ "$deb" -nt "$KDIR/root/.unpacked" ]; then
		rm -rf "$KDIR/root"
		mkdir -p "$KDIR/root"
		dpkg-deb -x "$deb" "$KDIR/root"
		touch "$KDIR/root/.unpacked"
	fi
}

# Copies FILE into the image at the same path, following symlinks.
copy_in() {
	local dst=$STAGE$1

	mkdir -p "$(dirname "$dst")"
	cp -L "$1" "$dst"
}

stage_image() {
	local kver=$1 mod lib mdir

	rm -rf "$STAGE"
	mkdir -p "$STAGE"/{bin,sbin,dev,proc,sys,tmp,run,etc,lib/modules}
	cp "$BUSYBOX" "$STAGE/bin/busybox"
	cp "$FS" "$STAGE/bin/flowsight"
	# its libraries (libbpf) are flowsight's, copied below
	cc -O2 -Wall -Wextra -Werror -o "$STAGE/bin/prog_stats" tests/kernel/prog_stats.c -lbpf
	cc -O2 -Wall -Wextra -Werror -o "$STAGE/bin/kprobe_fentry" tests/kernel/kprobe_fentry.c \
		-lbpf
	# the dynamic loader and every library flowsight loads, at their paths
	for lib in $(ldd "$FS" | awk '/=> \// { print $3 } /^\t\/.*ld-linux/ { print $1 }'); do
		copy_in "$lib"
	done
	# modules in load order; one built into this kernel is not needed
	mdir=$KDIR/root/lib/modules/$kver
	for mod in net/sched/sch_ingress.ko net/sched/cls_bpf.ko; do
		if [ -e "$mdir/kernel/$mod" ]; then
			cp "$mdir/kernel/$mod" "$STAGE/lib/modules/"
			echo "${mod##*/}" >>"$STAGE/lib/modules/load"
		elif [ -e "$mdir/kernel/$mod.xz" ]; then
			"$BUSYBOX" xzcat "$mdir/kernel/$mod.xz" >"$STAGE/lib/modules/${mod##*/}"
			echo "${mod##*/}" >>"$STAGE/lib/modules/load"
		else
			grep -qx "kernel/$mod" "$mdir/modules.builtin" ||
				{ echo "build_image.sh: $kver has no $mod" >&2; exit 1; }
		fi
	done
	echo "root:x:0:0:root:/:/bin/sh" >"$STAGE/etc/passwd"
	echo "root:x:0:" >"$STAGE/etc/group"
	cp tests/kernel/init.sh "$STAGE/init"
	chmod 755 "$STAGE/init" "$STAGE/bin/busybox"
	(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort |
		"$BUSYBOX" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -1 >"$INITRD.tmp"
	mv "$INITRD.tmp" "$INITRD"
}

main() {
	local kver kernel sum deb

	[ -x "$BUSYBOX" ] && "$BUSYBOX" --list | grep -qx cpio ||
		unavailable "no static busybox at $BUSYBOX (make deps installs busybox-static)"
	# the guest has no shared libraries for it: the static build only
	ldd "$BUSYBOX" >/dev/null 2>&1 &&
		unavailable "$BUSYBOX is not static (make deps installs busybox-static)"
	[ -x "$FS" ] || unavailable "$FS not built"
	migrate_cache
	fetch_kernel
	unpack_kernel
	kernel=$(ls "$KDIR"/root/boot/vmlinuz-* | head -1)
	kver=${kernel##*/vmlinuz-}
	deb=$(ls "$KDIR"/deb/linux-image-*.deb | head -1)
	STAGE=$KDIR/initramfs
	INITRD=$KDIR/initramfs.cpio.gz
	# the inputs' digest decides whether the cached image is current
	sum=$( (echo "$kver"; cat "$FS" "$BUSYBOX" tests/kernel/init.sh tests/kernel/build_image.sh \
		tests/kernel/prog_stats.c tests/kernel/kprobe_fentry.c \
		$(ldd "$FS" | awk '/=> \// { print $3 }')) | sha256sum | cut -d' ' -f1)
	if [ ! -e "$INITRD" ] || [ "$(cat "$INITRD.sum" 2>/dev/null)" != "$sum" ]; then
		stage_image "$kver"
		echo "$sum" >"$INITRD.sum"
	fi
	echo "KERNEL=$kernel"
	echo "INITRD=$INITRD"
	echo "KVER=$kver"
	deb=${deb##*/}
	echo "PKG=${deb%%_*}"
}

main
