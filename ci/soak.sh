#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make soak: the random uapi sequences (ci/guest/vsmmu/random.c) for
# longer, 3 VMM processes at once and a steady VMM that keeps its vIOMMU,
# while another process in the same host forces KVM rollovers without
# pause: nVHE (8-bit VMIDs, so rollovers happen) and VHE (16-bit; the VM
# churn without rollovers), with lockdep and kmemleak as always. QEMU's
# trace of the vCPUs' marked TLBIs shows the VMID every VM ran on.
# Beside the nVHE soak, the reserve test and the moved stage-2 faults
# (ci/guest/vsmmu/migrate.c) loop in a boot of their own.
# Prints steps per second and the rollovers per boot.
# Run alone: make soak (KSV_SOAK_SEEDS=, KSV_SOAK_STEPS=, KSV_SOAK_PROCS=).
set -euo pipefail
. "$(dirname "$0")/env.sh"
steps=${KSV_SOAK_STEPS:-5000} procs=${KSV_SOAK_PROCS:-3}
"$TOP/ci/build.sh" >/dev/null
"$TOP/ci/initramfs.sh"
fail=0
# Meanwhile, the reserve test and the moved stage-2 faults looped under
# load (the hunt for the mark_page_dirty_in_slot WARN,
# Documentation/known-issues.md).
secs=${KSV_SOAK_RESERVE_SECS:-600}
log "soak reserve-loop: the reserve test and the moved stage-2 faults looped for $secs s of guest time, both CPUs contended, beside the nVHE soak"
KSV_TRACE=0 KSV_BTM=1 "$TOP/ci/qemu.sh" reserve-loop cortex-a57 2 reserve-loop $((secs * 3 + 300)) \
	kunit.enable=0 kvm.enable_virt_at_load=0 ksv.max_pins=252 ksv.secs="$secs" &
rl=$!
for b in "soak:cortex-a57:${KSV_SOAK_SEEDS:-$(seq -s, 1 10)}:" "soak-vhe:max:${KSV_SOAK_SEEDS:-$(seq -s, 101 105)}:ksv.override=1"; do
	IFS=: read -r name cpu seeds extra <<<"$b"
	n=$(tr ',' '\n' <<<"$seeds" | grep -c .)
	log "soak $name: -cpu $cpu, $n seeds of $procs VMM processes x $steps steps and a steady VMM, rollovers forced meanwhile"
	t0=$(date +%s)
	KSV_EDU=$((procs + 1)) KSV_TRACE=btm KSV_BTM=1 "$TOP/ci/qemu.sh" "$name" "$cpu" 2 random 3600 \
		kunit.enable=0 ksv.seeds="$seeds" ksv.steps="$steps" ksv.procs="$procs" ksv.soak=1 $extra
	python3 "$TOP/ci/check_boot.py" "$KSRC" "$LOGDIR/boot-$name.log" random random="$n" > "$LOGDIR/check-$name.txt" || true
	grep -v '^COUNTS' "$LOGDIR/check-$name.txt" | grep -v '^  ok    random uapi sequence random-' || true
	total=$(grep -ao 'CHECK random-[0-9]* ok [0-9]* steps in [0-9.]*s' "$LOGDIR/boot-$name.log" |
		awk '{s += $4; t += $7 + 0} END {printf "%d steps in %.0f s of guest time: %.0f steps/s", s, t, s / t}')
	echo "  $name: $total; boot $(( $(date +%s) - t0 )) s"
	grep -q '^COUNTS [0-9]* 0$' "$LOGDIR/check-$name.txt" || fail=1
done
wait $rl || fail=1
python3 "$TOP/ci/check_boot.py" "$KSRC" "$LOGDIR/boot-reserve-loop.log" reserve-loop reserve-loop > "$LOGDIR/check-reserve-loop.txt" || true
grep -v '^COUNTS' "$LOGDIR/check-reserve-loop.txt" || true
grep -q '^COUNTS [0-9]* 0$' "$LOGDIR/check-reserve-loop.txt" || fail=1
[ $fail = 0 ] || die "a soak check failed; see $LOGDIR/check-soak*.txt, check-reserve-loop.txt"
