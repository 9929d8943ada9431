# SPDX-License-Identifier: GPL-2.0
# Common paths and flags, sourced by every script in ci/.
# Build output lives outside the git tree so that a fresh clone reuses it.
# Not run alone: sourced; ". ci/env.sh" in a shell gives $CACHE, $KSRC,
# $LOGDIR and the make commands the scripts use.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${KSV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvm-smmu-vmid}
KSRC=$CACHE/linux            # patched source tree (a git repo: base + patches/)
# KSV_FLAVOR=debug (make test-debug) adds kunit/debug.config (KASAN) and
# builds into separate directories, so both kernels stay incremental.
FLAVOR=${KSV_FLAVOR:-}
SUFFIX=${FLAVOR:+-$FLAVOR}
KBUILD=$CACHE/build$SUFFIX          # kernel O= directory
MODOUT=$CACHE/modules$SUFFIX        # out-of-tree module objects (MO=)
ROOTFS=$CACHE/rootfs$SUFFIX         # initramfs staging
INITRD=$CACHE/initramfs$SUFFIX.cpio.gz
FRAGMENTS="$TOP/kunit/test.config${FLAVOR:+ $TOP/kunit/$FLAVOR.config}"
LOGDIR=$CACHE/logs$SUFFIX
KVER_PKG=linux-source-7.3
# QEMU 10.0.2 with qemu/ applied (ci/setup-qemu.sh): its SMMUv3 has
# broadcast TLB maintenance under -global arm-smmuv3.btm=on, and is
# upstream's without it. KSV_QEMU= runs the boots on another QEMU
# (Debian's: KSV_QEMU=/usr/bin/qemu-system-aarch64).
QEMU=${KSV_QEMU:-$CACHE/qemu/build/qemu-system-aarch64}
export PATH=$HOME/.cargo/bin:$PATH
export LIBCLANG_PATH=/usr/lib/llvm-19/lib
KMAKE=(make -C "$KSRC" O="$KBUILD" ARCH=arm64 LLVM=-19 -j"$(nproc)")
# The test build: the two modules with --cfg ksv_test (KUnit suites and
# test-only parameters), and the test-only modules of kunit/helpers/. A
# production build (make modules, ci/modules.sh) passes neither.
TESTFLAGS=(KRUSTFLAGS="--cfg ksv_test")
MMAKE=("${KMAKE[@]}" M="$TOP" MO="$MODOUT" "${TESTFLAGS[@]}")
HMAKE=("${KMAKE[@]}" M="$TOP/kunit/helpers" MO="$MODOUT/kunit/helpers")

die() { echo "error: $*" >&2; exit 1; }
log() { echo "==> $*"; }
# Our modules, in load order.
KSV_MODULES="kvm_vmid_pin smmu_v3_btm"
# Removes from a module output directory the .ko of a module that Kbuild no
# longer builds (a module removed from the tree), so that no check or
# package picks up a stale one.
prune_stale_ko() { # MO
	local k
	for k in "$1"/rust/*.ko; do
		[ -e "$k" ] || continue
		case " $KSV_MODULES " in *" $(basename "$k" .ko) "*) ;; *) rm -f "$k" "${k%.ko}".{o,mod,mod.c,mod.o}; esac
	done
}
