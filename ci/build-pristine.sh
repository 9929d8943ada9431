#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the unpatched kernel (the kernel tree's tag "base") with the test
# kernel's config, and its initramfs, for the one boot that shows what the
# series changes for a VMM without it: e2e-pristine, closing the VM fd
# with a device open (ci/guest/vsmmu/vmfile.c). Its own source work tree
# and O= directory, so both kernels stay incremental. Run after ci/build.sh
# and ci/initramfs.sh (it takes their config and guest programs).
# Run alone: bash ci/build-pristine.sh (make test calls it).
set -euo pipefail
. "$(dirname "$0")/env.sh"
PSRC=$CACHE/linux-pristine
PBUILD=$CACHE/build-pristine
PMOD=$CACHE/modules-pristine
PROOT=$CACHE/rootfs-pristine
PINITRD=$CACHE/initramfs-pristine.cpio.gz
PMAKE=(make -C "$PSRC" O="$PBUILD" ARCH=arm64 LLVM=-19 -j"$(nproc)")
[ -f "$KBUILD/.config" ] || die "no $KBUILD/.config: run ci/build.sh first"
# A work tree of $KSRC; made again if $KSRC was made again (its
# worktree records are then gone).
if ! git -C "$PSRC" rev-parse -q --verify HEAD >/dev/null 2>&1; then
	log "pristine kernel: a work tree of $KSRC at tag base (one time)"
	rm -rf "$PSRC"
	git -C "$KSRC" worktree prune
	git -C "$KSRC" worktree add -q --detach "$PSRC" base
fi
[ "$(git -C "$PSRC" rev-parse HEAD)" = "$(git -C "$KSRC" rev-parse base)" ] ||
	git -C "$PSRC" checkout -q --detach base
[ -z "$(git -C "$PSRC" status --porcelain --untracked-files=no)" ] || die "$PSRC is modified"
mkdir -p "$PBUILD" "$PMOD" "$LOGDIR"
# The series adds no Kconfig option: the patched build's config applies.
if ! cmp -s "$KBUILD/.config" "$PBUILD/.config.patched"; then
	cp "$KBUILD/.config" "$PBUILD/.config"
	"${PMAKE[@]}" -s olddefconfig
	cp "$KBUILD/.config" "$PBUILD/.config.patched"
fi
start=$(date +%s)
log "pristine kernel: Image and modules (log: $LOGDIR/pristine-build.log)"
if ! "${PMAKE[@]}" Image modules > "$LOGDIR/pristine-build.log" 2>&1; then
	grep -E 'error|Error' "$LOGDIR/pristine-build.log" | head -n 30 >&2
	die "pristine kernel build failed; see $LOGDIR/pristine-build.log"
fi
# Of the test-only helpers, the CANWBS one (the others need the series).
"${PMAKE[@]}" M="$TOP/kunit/helpers" MO="$PMOD" obj-m=ksv_canwbs.o modules >> "$LOGDIR/pristine-build.log" 2>&1 ||
	die "ksv_canwbs.ko against the pristine kernel failed; see $LOGDIR/pristine-build.log"
log "pristine kernel took $(( $(date +%s) - start ))s"
# Its initramfs: busybox, the init, the kernel's modules, the VMM and
# upstream's iommufd_fail_nth, no module of ours.
rm -rf "$PROOT"
mkdir -p "$PROOT"/{bin,sbin,proc,sys,dev,tmp,etc,lib/modules/ksv/test}
cp "$CACHE/busybox.bin" "$PROOT/bin/busybox"
cp "$TOP/ci/guest-init.sh" "$PROOT/init"
cp "$TOP/ci/guest-lib.sh" "$PROOT/lib/ksv-guest.sh"
chmod +x "$PROOT/init"
"${PMAKE[@]}" -s modules_install INSTALL_MOD_PATH="$PROOT" INSTALL_MOD_STRIP=1 >/dev/null
: > "$PROOT/lib/modules/ksv/order"
cp "$CACHE/guest-bin/ksv-vsmmu" "$CACHE/selftests/iommufd_fail_nth" "$PROOT/bin/"
cp "$PMOD/ksv_canwbs.ko" "$PROOT/lib/modules/ksv/test/"
(cd "$PROOT" && find . | cpio -o -H newc --quiet | gzip -1) > "$PINITRD.tmp"
mv "$PINITRD.tmp" "$PINITRD"
