#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make soak: the random uapi sequences (ci/guest/vsmmu/random.c) for
# longer, while another process in the same host forces KVM rollovers
# without pause: nVHE (8-bit VMIDs, so rollovers happen) and VHE (16-bit;
# the VM churn without rollovers), with lockdep and kmemleak as always.
# Prints steps per second and the rollovers per boot.
# Run alone: make soak (KSV_SOAK_SEEDS=, KSV_SOAK_STEPS= to change it).
set -euo pipefail
. "$(dirname "$0")/env.sh"
steps=${KSV_SOAK_STEPS:-5000}
"$TOP/ci/build.sh" >/dev/null
"$TOP/ci/initramfs.sh"
fail=0
for b in "soak:cortex-a57:${KSV_SOAK_SEEDS:-$(seq -s, 1 20)}:" "soak-vhe:max:${KSV_SOAK_SEEDS:-$(seq -s, 101 110)}:ksv.override=1"; do
	IFS=: read -r name cpu seeds extra <<<"$b"
	n=$(tr ',' '\n' <<<"$seeds" | grep -c .)
	log "soak $name: -cpu $cpu, $n seeds of $steps steps, rollovers forced meanwhile"
	t0=$(date +%s)
	KSV_TRACE=0 KSV_BTM=1 "$TOP/ci/qemu.sh" "$name" "$cpu" 2 random 3600 kunit.enable=0 ksv.seeds="$seeds" \
		ksv.steps="$steps" ksv.soak=1 $extra
	python3 "$TOP/ci/check_boot.py" "$KSRC" "$LOGDIR/boot-$name.log" random random="$n" > "$LOGDIR/check-$name.txt" || true
	grep -v '^COUNTS' "$LOGDIR/check-$name.txt" | grep -v '^  ok    random uapi sequence random-' || true
	total=$(grep -ao 'CHECK random-[0-9]* ok [0-9]* steps in [0-9.]*s' "$LOGDIR/boot-$name.log" |
		awk '{s += $4; t += $7 + 0} END {printf "%d steps in %.0f s of guest time: %.0f steps/s", s, t, s / t}')
	echo "  $name: $total; boot $(( $(date +%s) - t0 )) s"
	grep -q '^COUNTS [0-9]* 0$' "$LOGDIR/check-$name.txt" || fail=1
done
[ $fail = 0 ] || die "a soak check failed; see $LOGDIR/check-soak*.txt"
