#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A minimal qemu-system-aarch64 10.0.2 with qemu/ applied (broadcast TLB
# maintenance in the emulated SMMUv3), built into $CACHE/qemu/build.
#
# The source is Debian's bookworm-backports orig tarball, fetched through
# apt from the machine's own mirror and checked against its sha256 (that
# version's .dsc answers 404, so "apt-get source" cannot be used). The
# patched tree is a git repository whose tag "base" is the pristine source,
# as for the kernel: a changed series re-applies with "git am" and the
# build is incremental. Idempotent; prints a few lines.
# Run alone: bash ci/setup-qemu.sh (make setup calls it).
set -euo pipefail
. "$(dirname "$0")/env.sh"
VER=10.0.2
DEBVER=1:10.0.2+ds-2+deb13u1~bpo12+1
TARBALL=qemu_$VER+ds.orig.tar.xz
SHA=0901da33844a331bf8b3602b9c1fbd178e60b737c8e3ade678255bd090c9b9f1
Q=$CACHE/qemu
SRC=$Q/src BLD=$Q/build
mkdir -p "$Q" "$LOGDIR"

# Build tools: meson >= 1.5 and pycotap come from bookworm-backports
# (added by ci/setup.sh for QEMU's binary package).
PKGS="ninja-build pkg-config python3-venv bzip2 libglib2.0-dev zlib1g-dev libfdt-dev"
BPO="meson python3-pycotap"
need=
for p in $PKGS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need="$need $p"; done
if [ -n "$need" ]; then
	log "installing QEMU build dependencies:$need"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o=Dpkg::Use-Pty=0 --no-install-recommends $need ||
		> "$LOGDIR/qemu-apt.log" 2>&1 || die "apt-get install failed for:$need; see $LOGDIR/qemu-apt.log"
fi
if ! dpkg --compare-versions "$(dpkg-query -W -f='${Version}' meson 2>/dev/null || echo 0)" ge 1.5 ||
	! dpkg-query -W -f='${Status}' python3-pycotap 2>/dev/null | grep -q 'ok installed'; then
	log "installing $BPO from bookworm-backports"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o=Dpkg::Use-Pty=0 --no-install-recommends \
		-t bookworm-backports $BPO > "$LOGDIR/qemu-apt.log" 2>&1 ||
		die "apt-get install -t bookworm-backports $BPO failed; see $LOGDIR/qemu-apt.log"
fi

# The pristine source, once.
if ! git -C "$SRC" rev-parse -q --verify base >/dev/null 2>&1; then
	mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	[ -n "$mirror" ] || die "cannot find the Debian mirror in /etc/apt/sources.list.d/debian.sources"
	A=$Q/apt
	rm -rf "$A" && mkdir -p "$A/lists/partial"
	# A private apt configuration for the Sources index: the system's
	# sources are not touched.
	printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s bookworm-backports main\n' \
		"$mirror" > "$A/sources.list"
	APT=(-o Dir::Etc::sourcelist="$A/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$A/lists"
	     -o APT::Sandbox::User=root)
	apt-get "${APT[@]}" update -qq || die "apt-get update of bookworm-backports' sources failed"
	dir=$(apt-cache "${APT[@]}" showsrc qemu 2>/dev/null |
		awk -v v="$DEBVER" '/^Version:/ {ok = ($2 == v)} ok && /^Directory:/ {print $2; exit}' || true)
	[ -n "$dir" ] || die "qemu $DEBVER is not in bookworm-backports' Sources index"
	if ! echo "$SHA  $Q/$TARBALL" | sha256sum -c --quiet - >/dev/null 2>&1; then
		log "downloading $TARBALL"
		/usr/lib/apt/apt-helper -o APT::Sandbox::User=root download-file "$mirror/$dir/$TARBALL" "$Q/$TARBALL" "SHA256:$SHA" \
			>/dev/null || die "downloading $TARBALL failed"
	fi
	echo "$SHA  $Q/$TARBALL" | sha256sum -c --quiet - || die "$TARBALL: sha256 mismatch"
	rm -rf "$SRC" "$Q/unpack" && mkdir -p "$Q/unpack"
	tar --no-same-owner -C "$Q/unpack" -xJf "$Q/$TARBALL"
	mv "$Q"/unpack/qemu-* "$SRC" && rmdir "$Q/unpack"
	rm -f "$Q/$TARBALL"
	rm -rf "$A"
	# The +ds tarball drops the EDK2 blobs that pc-bios/meson.build lists;
	# valid empty .bz2 files do, since no blob is built or installed.
	for f in $(sed -n "s/^ *'\(edk2-.*\.fd\)',$/\1/p" "$SRC/pc-bios/meson.build"); do
		[ -e "$SRC/pc-bios/$f.bz2" ] || bzip2 < /dev/null > "$SRC/pc-bios/$f.bz2"
	done
	git -C "$SRC" init -q
	git -C "$SRC" config core.checkStat minimal
	git -C "$SRC" add -f -A .
	git -C "$SRC" -c user.name=setup -c user.email=setup@localhost commit -q -m "qemu $DEBVER orig"
	git -C "$SRC" tag base
fi

# qemu/ applied (qemu/series order), re-applied only when it changed.
series=$TOP/qemu/series
want=$( (cat "$series"; sed -e '/^#/d' -e '/^[[:space:]]*$/d' "$series" | while read -r p; do cat "$TOP/qemu/$p"; done) |
	sha256sum | cut -d' ' -f1)
if [ "$want" != "$(cat "$Q/patches.stamp" 2>/dev/null || true)" ] ||
	[ -n "$(git -C "$SRC" status --porcelain --untracked-files=no)" ]; then
	git -C "$SRC" am --abort >/dev/null 2>&1 || true
	git -C "$SRC" reset -q --hard base
	while read -r p; do
		git -C "$SRC" am -q --committer-date-is-author-date "$TOP/qemu/$p" || die "qemu/$p does not apply to QEMU $VER"
	done < <(sed -e '/^#/d' -e '/^[[:space:]]*$/d' "$series")
	echo "$want" > "$Q/patches.stamp"
fi
log "QEMU $VER: $(git -C "$SRC" rev-list --count base..HEAD) patches of qemu/ applied"

# Configure once (the device list is ours), then build the one binary.
# Debian's python3, which has the Debian meson and pycotap (a python3 of
# another install first in PATH would not).
DEVS=$SRC/configs/devices/aarch64-softmmu/ksv.mak
printf 'CONFIG_ARM_VIRT=y\nCONFIG_EDU=y\nCONFIG_PCI_TESTDEV=y\nCONFIG_NVME_PCI=y\nCONFIG_SPDM_SOCKET=y\n' > "$Q/ksv.mak"
cmp -s "$Q/ksv.mak" "$DEVS" 2>/dev/null || cp "$Q/ksv.mak" "$DEVS"
if [ ! -f "$BLD/build.ninja" ]; then
	log "configuring QEMU (log: $LOGDIR/qemu-configure.log)"
	rm -rf "$BLD" && mkdir -p "$BLD"
	(cd "$BLD" && "$SRC/configure" --target-list=aarch64-softmmu --without-default-features \
		--without-default-devices --with-devices-aarch64=ksv --enable-tcg --enable-fdt=system \
		--disable-docs --disable-user --disable-download --disable-install-blobs --disable-debug-info \
		--disable-werror --python=/usr/bin/python3) > "$LOGDIR/qemu-configure.log" 2>&1 || die "QEMU configure failed; see $LOGDIR/qemu-configure.log"
fi
t0=$(date +%s)
ninja -C "$BLD" qemu-system-aarch64 > "$LOGDIR/qemu-build.log" 2>&1 || {
	tail -n 30 "$LOGDIR/qemu-build.log" >&2; die "building qemu-system-aarch64 failed; see $LOGDIR/qemu-build.log"; }
log "qemu-system-aarch64 built in $(( $(date +%s) - t0 ))s: $BLD/qemu-system-aarch64"
