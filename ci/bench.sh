#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make bench: VMID pinning costs under QEMU -icount (1 ns = 1 instruction),
# -cpu cortex-a57 (nVHE, 8-bit VMIDs) and -cpu max (VHE, 16-bit), one CPU
# each. Deterministic numbers. No SMMU trace (KSV_TRACE=0): nothing reads it,
# and its lines could cut the console lines read here.
# Run alone: make bench. Method and figures: Documentation/benchmarks.md.
set -euo pipefail
. "$(dirname "$0")/env.sh"
"$TOP/ci/build.sh" >/dev/null
"$TOP/ci/initramfs.sh"
# 8-bit VMIDs (-cpu cortex-a57, nVHE) and 16-bit (-cpu max, VHE).
for b in "bench:cortex-a57" "bench16:max"; do
	name=${b%%:*} cpu=${b#*:}
	log "benchmark: -cpu $cpu -smp 1 -icount shift=0 (numbers are instruction counts)"
	KSV_TRACE=0 KSV_QEMU_EXTRA="-icount shift=0,sleep=off" "$TOP/ci/qemu.sh" "$name" "$cpu" 1 bench 1200 kunit.enable=0
	grep -a 'KSV: bench:' "$LOGDIR/boot-$name.log" | sed 's/^.*KSV: bench: /  /'
	grep -q 'KSV: bench: rollovers per 600' "$LOGDIR/boot-$name.log" || die "benchmark did not complete; see $LOGDIR/boot-$name.log"
	# At the full budget one index is free a generation: nearly every new
	# VM rolls over (598 of 600 in the host model). Fewer rollovers mean
	# that VMs were given taken indices.
	full=$(grep -a 'KSV: bench: rollovers per 600 new VMs' "$LOGDIR/boot-$name.log" | tr -d '\r' |
		sed -n 's/.*, \([0-9]*\) with [0-9]* pins$/\1/p' | tail -n1)
	[ "${full:-0}" -ge 598 ] || die "only ${full:-no} rollovers per 600 new VMs at the full budget (want >= 598): a VM got a taken index?"
done
# The payoff: one guest page invalidation with BTM (QEMU's SMMUv3 with
# qemu/'s BTM, nVHE) and without it (what a VMM does for a trapped command).
log "benchmark: guest page invalidation, -cpu cortex-a57 -smp 1 -icount shift=0, SMMUv3 with BTM"
KSV_TRACE=0 KSV_BTM=1 KSV_QEMU_EXTRA="-icount shift=0,sleep=off" "$TOP/ci/qemu.sh" bench-btm cortex-a57 1 vsmmubench 1200 kunit.enable=0
grep -a 'KSV: bench:' "$LOGDIR/boot-bench-btm.log" | sed 's/^.*KSV: bench: /  /'
grep -q 'KSV: bench: one page invalidation without BTM' "$LOGDIR/boot-bench-btm.log" || die "benchmark did not complete; see $LOGDIR/boot-bench-btm.log"
# The trapped path with a real VMM: Debian's QEMU 11.1 and a Debian guest
# (ci/realvmm/), a 4 KiB NVMe read with the accelerated vSMMU (map, unmap,
# one trapped invalidation) and without a vIOMMU.
"$TOP/ci/realvmm/initramfs.sh" "$INITRD" "$CACHE/initramfs-realvmm.cpio.gz"
log "benchmark: a real VMM's trapped invalidation, -cpu cortex-a57 -smp 1 -icount shift=0"
KSV_TRACE=0 KSV_NVME=1 KSV_MEM=3072 KSV_INITRD=$CACHE/initramfs-realvmm.cpio.gz KSV_QEMU_EXTRA="-icount shift=0,sleep=off" \
	"$TOP/ci/qemu.sh" bench-vmm cortex-a57 1 realvmm 2400 kunit.enable=0 ksv.realvmm_bench=1
grep -a 'KSV: bench:' "$LOGDIR/boot-bench-vmm.log" | sed 's/^.*KSV: bench: /  /'
[ "$(grep -a -c 'KSV: bench: real VMM, .*: ok ' "$LOGDIR/boot-bench-vmm.log")" = 2 ] ||
	die "the real VMM's benchmark did not complete; see $LOGDIR/boot-bench-vmm.log"
