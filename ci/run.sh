#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make run: boot the patched kernel at EL2 with an emulated SMMUv3, load
# our modules and show what they report.
set -euo pipefail
. "$(dirname "$0")/env.sh"
"$TOP/ci/build.sh" >/dev/null
"$TOP/ci/initramfs.sh"
# cortex-a57: nVHE with 8-bit VMIDs, so the demo can force a real rollover.
cpu=${KSV_CPU:-cortex-a57}
log "booting Linux 7.3 + patches/ in QEMU (-cpu $cpu, KVM at EL2, SMMUv3)"
# Module KUnit suites stay quiet here: make test runs them.
# QEMU's SMMUv3 has no BTM: the test-only override (ksv.override=1, a
# parameter of the test build of smmu_v3_btm) lets the BTM path run.
KSV_QEMU_EXTRA="-device pci-testdev" "$TOP/ci/qemu.sh" run "$cpu" 2 run 300 kunit.enable=0 ksv.override=1
grep -a 'KSV:' "$LOGDIR/boot-run.log" | sed 's/^.*KSV: /  /' | grep -v -e '^  DONE$' -e '^ *$' -e '^  BEGIN' -e '^  END'
grep -q 'KSV: DONE' "$LOGDIR/boot-run.log" || die "the guest did not finish; see $LOGDIR/boot-run.log"
log "QEMU's SMMU trace: the VMID each DMA's IOTLB fills carried (the STE's S2VMID)"
python3 "$TOP/ci/check_boot.py" "$KSRC" "$LOGDIR/boot-run.log" run e2e=kvm | grep -e 'IOTLB' -e FAIL | sed 's/^ *//; s/^/  /'
grep -aq 'KSV: e2e: CHECK .* FAIL' "$LOGDIR/boot-run.log" && die "a vSMMU check failed; see $LOGDIR/boot-run.log"
exit 0
