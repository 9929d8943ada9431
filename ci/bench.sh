#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make bench: VMID pinning costs under QEMU -icount (1 ns = 1 instruction),
# -cpu cortex-a57 (nVHE, 8-bit VMIDs), one CPU. Deterministic numbers.
set -euo pipefail
. "$(dirname "$0")/env.sh"
"$TOP/ci/build.sh" >/dev/null
"$TOP/ci/initramfs.sh"
log "benchmark: -cpu cortex-a57 -smp 1 -icount shift=0 (numbers are instruction counts)"
KSV_QEMU_EXTRA="-icount shift=0,sleep=off" "$TOP/ci/qemu.sh" bench cortex-a57 1 bench 600 kunit.enable=0
grep -a 'KSV: bench:' "$LOGDIR/boot-bench.log" | sed 's/^.*KSV: bench: /  /'
grep -q 'KSV: bench: rollover ratio' "$LOGDIR/boot-bench.log" || die "benchmark did not complete; see $LOGDIR/boot-bench.log"
