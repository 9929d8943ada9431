#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make run: boot the patched kernel at EL2 with an emulated SMMUv3, load
# our modules and show what they report.
# Run alone: make run (KSV_CPU= for another -cpu than cortex-a57).
set -euo pipefail
. "$(dirname "$0")/env.sh"
"$TOP/ci/build.sh" >/dev/null
"$TOP/ci/initramfs.sh"
# cortex-a57: nVHE with 8-bit VMIDs, so the demo can force a real rollover.
cpu=${KSV_CPU:-cortex-a57}
log "booting Linux 7.3 + patches/ in QEMU (-cpu $cpu, KVM at EL2, SMMUv3)"
# Module KUnit suites stay quiet here: make test runs them.
# QEMU's SMMUv3 with broadcast TLB maintenance (qemu/, KSV_BTM=1): on this
# nVHE host smmu_v3_btm turns BTM on by itself, and the vSMMU program shows
# a guest's own TLBI moving its device's translation (ksv.btm=yes).
KSV_BTM=1 KSV_QEMU_EXTRA="-device pci-testdev" "$TOP/ci/qemu.sh" run "$cpu" 2 run 300 kunit.enable=0 ksv.btm=yes
grep -a 'KSV:' "$LOGDIR/boot-run.log" | sed 's/^.*KSV: /  /' | grep -v -e '^  DONE$' -e '^ *$' -e '^  BEGIN' -e '^  END'
grep -q 'KSV: DONE' "$LOGDIR/boot-run.log" || die "the guest did not finish; see $LOGDIR/boot-run.log"
log "QEMU's SMMU trace: the VMID each DMA's IOTLB fills carried (the STE's S2VMID)"
python3 "$TOP/ci/check_boot.py" "$KSRC" "$LOGDIR/boot-run.log" run e2e=kvm btm-e2e=yes |
	grep -e 'IOTLB' -e 'BTM' -e FAIL | sed 's/^ *//; s/^/  /'
grep -aq 'KSV: e2e: CHECK .* FAIL' "$LOGDIR/boot-run.log" && die "a vSMMU check failed; see $LOGDIR/boot-run.log"
exit 0
