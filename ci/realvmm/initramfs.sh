#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The emulated host's initramfs for a realvmm boot: a test initramfs
# (ci/initramfs.sh, or ci/build-pristine.sh's) with the real VMM appended
# as a second cpio archive (the kernel unpacks both):
#   /realvmm/root/     Debian's QEMU 11.1 and its libraries (ci/setup-realvmm.sh)
#   /realvmm/guest/    UEFI firmware, Debian's cloud kernel, and the guest's
#                      initramfs: busybox, ci/realvmm/l2-init.sh as /init,
#                      ksv-l2io (ci/realvmm/l2io.c)
#   /realvmm/disk.img  the assigned NVMe's disk is on the outer QEMU (made
#                      here as $CACHE/realvmm/disk.img: block i holds
#                      l2io.c's fill(i))
#   /lib/ksv-realvmm.sh  ci/realvmm/host.sh, sourced by the host's /init
# Run alone: bash ci/realvmm/initramfs.sh BASE.cpio.gz OUT.cpio.gz [BASE2 OUT2 ...]
set -euo pipefail
. "$(dirname "$0")/../env.sh"
R=$CACHE/realvmm
[ -x "$R/root/usr/bin/qemu-system-aarch64" ] || die "no real VMM in $R: run 'make setup' (ci/setup-realvmm.sh)"
P=$R/payload
rm -rf "$P" "$R/l2"
# The NVMe disk: 256 blocks of 4 KiB, block i = fill(i) of l2io.c.
python3 -c '
import sys
out = bytearray()
for b in range(256):
    out += bytes(((b * 37 + i * 13 + (i >> 8) + 1) & 0xff) for i in range(4096))
sys.stdout.buffer.write(out)' > "$R/disk.img"
mkdir -p "$P/realvmm/guest" "$P/lib" "$R/l2"/{bin,proc,sys,dev}
# The guest's initramfs.
bin=$CACHE/guest-bin/ksv-l2io
if [ ! -x "$bin" ] || [ "$TOP/ci/realvmm/l2io.c" -nt "$bin" ]; then
	aarch64-linux-gnu-gcc -static -O2 -Wall -Werror -o "$bin" "$TOP/ci/realvmm/l2io.c"
fi
cp "$bin" "$CACHE/busybox.bin" "$R/l2/bin/"
mv "$R/l2/bin/busybox.bin" "$R/l2/bin/busybox"
cp "$TOP/ci/realvmm/l2-init.sh" "$R/l2/init"
chmod +x "$R/l2/init"
(cd "$R/l2" && find . | cpio -o -H newc --quiet | gzip -1) > "$P/realvmm/guest/initrd.gz"
cp "$R/guest/Image" "$R/guest/QEMU_EFI.fd" "$P/realvmm/guest/"
sed -n 's/.*, guest //p' "$R/version" > "$P/realvmm/guest/version"
cp -a "$R/root" "$P/realvmm/root"
cp "$TOP/ci/realvmm/host.sh" "$P/lib/ksv-realvmm.sh"
(cd "$P" && find . | cpio -o -H newc --quiet | gzip -1) > "$R/payload.cpio.gz"
while [ $# -ge 2 ]; do
	cat "$1" "$R/payload.cpio.gz" > "$2.tmp"
	mv "$2.tmp" "$2"
	shift 2
done
rm -rf "$P" "$R/l2"
