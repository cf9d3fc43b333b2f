#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Builds what tests/kernel/test_kernel.py boots: Debian 12's own kernel
# (6.1, fetched with apt-get download and unpacked under build/kernel/,
# never installed on the host) and a minimal initramfs with static busybox,
# build/flowsight with the shared libraries it loads, the two modules the
# eBPF capture needs on this kernel (sch_ingress for clsact, cls_bpf) and
# tests/kernel/init.sh as /init, and prog_stats (verified instructions of
# each loaded program).
#
# Everything is cached under build/kernel/: the kernel package is fetched
# once, the initramfs is rebuilt only when one of its inputs changed.
# Prints "KERNEL=path" and "INITRD=path" on success.  Exit status 3 means
# "cannot be had here" (no package, no busybox): the caller skips.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
FS=${FLOWSIGHT:-$BUILD/flowsight}
KDIR=$BUILD/kernel
BUSYBOX=${BUSYBOX:-/bin/busybox}

unavailable() {
	echo "unavailable: $*" >&2
	exit 3
}

# The kernel Debian 12 installs today: the metapackage's dependency, in
# its unsigned flavour (same image, no Secure Boot signature).
fetch_kernel() {
	local pkg

	ls "$KDIR"/deb/linux-image-*.deb >/dev/null 2>&1 && return 0
	command -v apt-cache >/dev/null || unavailable "no apt-cache"
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-6\.1\./ { print $2; exit }')
	[ -n "$pkg" ] || unavailable "apt-cache knows no linux-image-amd64 (run apt-get update)"
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
	local kver=$1 mod lib

	rm -rf "$STAGE"
	mkdir -p "$STAGE"/{bin,sbin,dev,proc,sys,tmp,run,etc,lib/modules}
	cp "$BUSYBOX" "$STAGE/bin/busybox"
	cp "$FS" "$STAGE/bin/flowsight"
	# its libraries (libbpf) are flowsight's, copied below
	cc -O2 -Wall -Wextra -Werror -o "$STAGE/bin/prog_stats" tests/kernel/prog_stats.c -lbpf
	# the dynamic loader and every library flowsight loads, at their paths
	for lib in $(ldd "$FS" | awk '/=> \// { print $3 } /^\t\/.*ld-linux/ { print $1 }'); do
		copy_in "$lib"
	done
	for mod in net/sched/sch_ingress.ko net/sched/cls_bpf.ko; do
		cp "$KDIR/root/lib/modules/$kver/kernel/$mod" "$STAGE/lib/modules/"
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
	local kver kernel sum

	[ -x "$BUSYBOX" ] && "$BUSYBOX" --list | grep -qx cpio ||
		unavailable "no static busybox at $BUSYBOX (make deps installs busybox-static)"
	# the guest has no shared libraries for it: the static build only
	ldd "$BUSYBOX" >/dev/null 2>&1 &&
		unavailable "$BUSYBOX is not static (make deps installs busybox-static)"
	[ -x "$FS" ] || unavailable "$FS not built"
	fetch_kernel
	unpack_kernel
	kernel=$(ls "$KDIR"/root/boot/vmlinuz-* | head -1)
	kver=${kernel##*/vmlinuz-}
	STAGE=$KDIR/initramfs
	INITRD=$KDIR/initramfs.cpio.gz
	# the inputs' digest decides whether the cached image is current
	sum=$(cat "$FS" "$BUSYBOX" tests/kernel/init.sh tests/kernel/build_image.sh \
		tests/kernel/prog_stats.c \
		$(ldd "$FS" | awk '/=> \// { print $3 }') | sha256sum | cut -d' ' -f1)
	if [ ! -e "$INITRD" ] || [ "$(cat "$INITRD.sum" 2>/dev/null)" != "$sum" ]; then
		stage_image "$kver"
		echo "$sum" >"$INITRD.sum"
	fi
	echo "KERNEL=$kernel"
	echo "INITRD=$INITRD"
	echo "KVER=$kver"
}

main
