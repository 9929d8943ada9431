#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Debian's kmod for arm64 (modprobe/depmod that honour softdep; busybox's
# do not), downloaded and unpacked into $CACHE/kmod/root, not installed.
# Used by ci/modprobe-test.sh. Idempotent; prints one line.
# Run alone: bash ci/setup-kmod.sh (make setup calls it).
set -euo pipefail
. "$(dirname "$0")/env.sh"
K=$CACHE/kmod
# kmod:arm64 and what it depends on (checked below with dpkg-deb -f).
PKGS="kmod libkmod2 liblzma5 libzstd1 libssl3 libc6"
if [ "$(cat "$K/stamp" 2>/dev/null)" = "$PKGS" ] && [ -x "$K/root/bin/kmod" ]; then
	echo "kmod:arm64 $(cat "$K/version") in $K/root"
	exit 0
fi
rm -rf "$K" && mkdir -p "$K/debs"
(cd "$K/debs" && apt-get download -qq -o APT::Sandbox::User=root $(printf '%s:arm64 ' $PKGS)) ||
	die "apt-get download of $PKGS for arm64 failed (is the arm64 architecture added? see ci/setup.sh)"
for dep in $(dpkg-deb -f "$K"/debs/kmod_*.deb Depends | tr ',' '\n' | sed 's/ *(.*//; s/ //g'); do
	case " $PKGS " in *" $dep "*) ;; *) die "kmod:arm64 depends on $dep, which is not in PKGS";; esac
done
for d in "$K"/debs/*.deb; do dpkg -x "$d" "$K/root"; done
[ -x "$K/root/bin/kmod" ] || die "kmod:arm64 has no /bin/kmod"
dpkg-deb -f "$K"/debs/kmod_*.deb Version > "$K/version"
echo "$PKGS" > "$K/stamp"
echo "kmod:arm64 $(cat "$K/version") in $K/root"
