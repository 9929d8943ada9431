#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the test initramfs: busybox, the kernel's own modules, ours.
set -euo pipefail
. "$(dirname "$0")/env.sh"
out=$INITRD
rm -rf "$ROOTFS"
mkdir -p "$ROOTFS"/{bin,sbin,proc,sys,dev,tmp,etc,lib/modules/ksv}
cp "$CACHE/busybox.bin" "$ROOTFS/bin/busybox"
cp "$TOP/ci/guest-init.sh" "$ROOTFS/init"
chmod +x "$ROOTFS/init"
"${KMAKE[@]}" -s modules_install INSTALL_MOD_PATH="$ROOTFS" INSTALL_MOD_STRIP=1 >/dev/null
: > "$ROOTFS/lib/modules/ksv/order"
for m in $KSV_MODULES; do
	cp "$MODOUT/rust/$m.ko" "$ROOTFS/lib/modules/ksv/"
	echo "$m" >> "$ROOTFS/lib/modules/ksv/order"
done
[ -d "$CACHE/guest-bin" ] && cp -a "$CACHE"/guest-bin/. "$ROOTFS/bin/"
(cd "$ROOTFS" && find . | cpio -o -H newc --quiet | gzip -1) > "$out.tmp"
mv "$out.tmp" "$out"
