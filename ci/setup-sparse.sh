#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# sparse for make check-series (C=1), built into $CACHE/sparse.
#
# Linux 7.3's scripts/checker-valid.sh needs __typeof_unqual__, which
# bookworm's sparse 0.6.4 lacks (the kernel then skips the check), and
# Debian's newer builds need a newer glibc. So the source of Debian sid's
# 0.6.5~rc1 is fetched through apt from the machine's own mirror, checked
# against its sha256, and only the sparse binary is built (about 20 s).
# Idempotent; prints one line.
# Run alone: bash ci/setup-sparse.sh (make setup calls it).
set -euo pipefail
. "$(dirname "$0")/env.sh"
VER=0.6.5~rc1
SHA=3ac8855ec7f3ab92f325be0f64347ccc2b10f8b4d7c2906783ee8e2bdab3f0de
S=$CACHE/sparse
if [ "$(cat "$S/stamp" 2>/dev/null)" = "$VER $SHA" ] && [ -x "$S/sparse" ]; then
	echo "sparse $VER in $S"
	exit 0
fi
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || die "cannot find the Debian mirror in /etc/apt/sources.list.d/debian.sources"
rm -rf "$S" && mkdir -p "$S/apt/lists/partial" "$S/src"
# A private apt configuration: the system's sources are not touched.
printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s sid main\n' "$mirror" > "$S/apt/sources.list"
APT=(-o Dir::Etc::sourcelist="$S/apt/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$S/apt/lists"
     -o APT::Sandbox::User=root)
apt-get "${APT[@]}" update -qq || die "apt-get update of sid's sources failed"
(cd "$S/src" && apt-get "${APT[@]}" source --download-only -qq "sparse=$VER-2") ||
	die "apt-get source --download-only sparse=$VER-2 failed"
tarball=$S/src/sparse_$VER.orig.tar.gz
echo "$SHA  $tarball" | sha256sum -c --quiet - || die "sparse_$VER.orig.tar.gz: sha256 mismatch"
tar -C "$S/src" -xzf "$tarball"
make -C "$S"/src/sparse-*/ -j"$(nproc)" sparse HAVE_LIBXML=no HAVE_SQLITE=no HAVE_GTK=no HAVE_LLVM=no \
	> "$S/build.log" 2>&1 || die "building sparse failed; see $S/build.log"
cp "$S"/src/sparse-*/sparse "$S/sparse"
rm -rf "$S/src" "$S/apt"
echo "$VER $SHA" > "$S/stamp"
echo "sparse $VER in $S"
