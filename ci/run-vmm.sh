#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make run-vmm: a real VMM on this series. The emulated host (nVHE, QEMU's
# SMMUv3 with BTM) runs the patched kernel with both modules; in it,
# Debian's QEMU 11.1, unmodified, runs Debian's cloud kernel with UEFI,
# ACPI, an accelerated vSMMU and an assigned NVMe controller
# (ci/realvmm/). Shows the guest's probe, its I/O, the VMID in the SMMU
# trace, and QEMU's exit giving everything back. About 2 minutes.
# Run alone: make run-vmm (after make setup).
set -euo pipefail
. "$(dirname "$0")/env.sh"
"$TOP/ci/build.sh" >/dev/null
"$TOP/ci/initramfs.sh"
"$TOP/ci/realvmm/initramfs.sh" "$INITRD" "$CACHE/initramfs-realvmm.cpio.gz"
log "booting Linux 7.3 + patches/ (nVHE, SMMUv3 with BTM); in it Debian's QEMU 11.1 and a Debian guest"
KSV_BTM=1 KSV_NVME=1 KSV_MEM=3072 KSV_INITRD=$CACHE/initramfs-realvmm.cpio.gz \
	"$TOP/ci/qemu.sh" run-vmm cortex-a57 2 realvmm 900 kunit.enable=0
log=$LOGDIR/boot-run-vmm.log
grep -q 'KSV: DONE' "$log" || die "the host did not finish; see $log"
grep -a -e 'KSV: real-vmm: ' -e 'KSV: kernel' -e 'KSV: rmmod' "$log" | grep -v -e '| iommufd_backend' -e '| L2: dmesg' -e '| L2: READY' -e 'iommufd_backend_invalidate' |
	sed 's/^.*KSV: \(real-vmm: \)\{0,1\}/  /'
log "QEMU's SMMU trace in the windows of the guest's I/O"
python3 "$TOP/ci/check_boot.py" "$KSRC" "$log" realvmm realvmm=series | tee "$LOGDIR/check-run-vmm.txt" |
	grep -e 'IOTLB' -e 'BTM' -e 'unmaps' -e FAIL | sed 's/^ *//; s/^/  /'
grep -q '^COUNTS [0-9]* 0$' "$LOGDIR/check-run-vmm.txt" || die "a real-VMM check failed; see $LOGDIR/check-run-vmm.txt"
