#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the test initramfs: busybox, the kernel's own modules, ours.
# Run alone: bash ci/initramfs.sh (after make), into $INITRD (ci/env.sh).
set -euo pipefail
. "$(dirname "$0")/env.sh"
out=$INITRD
rm -rf "$ROOTFS"
mkdir -p "$ROOTFS"/{bin,sbin,proc,sys,dev,tmp,etc,lib/modules/ksv}
cp "$CACHE/busybox.bin" "$ROOTFS/bin/busybox"
cp "$TOP/ci/guest-init.sh" "$ROOTFS/init"
cp "$TOP/ci/guest-lib.sh" "$ROOTFS/lib/ksv-guest.sh"
chmod +x "$ROOTFS/init"
"${KMAKE[@]}" -s modules_install INSTALL_MOD_PATH="$ROOTFS" INSTALL_MOD_STRIP=1 >/dev/null
: > "$ROOTFS/lib/modules/ksv/order"
for m in $KSV_MODULES; do
	cp "$MODOUT/rust/$m.ko" "$ROOTFS/lib/modules/ksv/"
	echo "$m" >> "$ROOTFS/lib/modules/ksv/order"
done
# Guest programs, static arm64 binaries (gcc-aarch64-linux-gnu): one per
# ci/guest/*.c, and one per directory (ci/guest/vsmmu/ is ksv-vsmmu).
mkdir -p "$CACHE/guest-bin"
guest_bin() { # binary name, sources...
	local bin=$CACHE/guest-bin/$1 s stale=
	shift
	[ -x "$bin" ] || stale=1
	for s in "$@" "$TOP"/ci/guest/ksv-util.h "$(dirname "$1")"/*.h; do
		[ -e "$s" ] && [ "$s" -nt "$bin" ] && stale=1
	done
	if [ -n "$stale" ]; then
		"${KMAKE[@]}" -s headers
		aarch64-linux-gnu-gcc -static -O2 -Wall -Werror -isystem "$KBUILD/usr/include" -o "$bin" "$@"
	fi
	cp "$bin" "$ROOTFS/bin/"
}
for src in "$TOP"/ci/guest/*.c; do guest_bin "$(basename "$src" .c)" "$src"; done
guest_bin ksv-vsmmu "$TOP"/ci/guest/vsmmu/*.c
# Test-only modules (kunit/helpers/): the demo and the CANWBS helper.
cp "$MODOUT"/kunit/helpers/kvm_vmid_pin_demo.ko "$ROOTFS/lib/modules/ksv/"
mkdir -p "$ROOTFS/lib/modules/ksv/test"
cp "$MODOUT"/kunit/helpers/ksv_canwbs.ko "$MODOUT"/kunit/helpers/ksv_iommu_name.ko \
	"$MODOUT"/kunit/helpers/ksv_reserve.ko "$MODOUT"/kunit/helpers/ksv_badpin.ko \
	"$MODOUT"/kunit/helpers/ksv_badbtm.ko "$ROOTFS/lib/modules/ksv/test/"
# Upstream iommufd selftests, static arm64, against this kernel's uapi.
st=$CACHE/selftests$SUFFIX
if [ ! -x "$st/iommufd" ] || [ "$KBUILD/vmlinux" -nt "$st/iommufd" ]; then
	"${KMAKE[@]}" -s headers
	mkdir -p "$st"
	make -s -C "$KSRC/tools/testing/selftests/iommu" CC=aarch64-linux-gnu-gcc \
		KHDR_INCLUDES="-isystem $KBUILD/usr/include" LDFLAGS=-static OUTPUT="$st" >/dev/null
fi
cp "$st/iommufd" "$st/iommufd_fail_nth" "$ROOTFS/bin/"
(cd "$ROOTFS" && find . | cpio -o -H newc --quiet | gzip -1) > "$out.tmp"
mv "$out.tmp" "$out"
