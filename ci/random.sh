#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# One boot of the random uapi sequences (ci/guest/vsmmu/random.c): repeats
# a seed that failed in make test or make soak, or runs others.
# Run alone: KSV_SEED=N [KSV_STEPS=300] [KSV_PROCS=1] [KSV_SOAK=1] [KSV_CPU=cortex-a57]
# bash ci/random.sh (after make; KSV_SEED may list seeds: 1,2,3; KSV_PROCS:
# VMM processes at once, each with its own edu device).
set -euo pipefail
. "$(dirname "$0")/env.sh"
seeds=${KSV_SEED:?KSV_SEED= the seed (or seeds, comma-separated)}
steps=${KSV_STEPS:-300} cpu=${KSV_CPU:-cortex-a57} procs=${KSV_PROCS:-1}
n=$(tr ',' '\n' <<<"$seeds" | grep -c .)
"$TOP/ci/build.sh" >/dev/null
"$TOP/ci/initramfs.sh"
log "random uapi sequences: seeds $seeds, $steps steps each, $procs VMM(s), -cpu $cpu${KSV_SOAK:+, rollovers forced meanwhile}"
edu=$procs
[ "$procs" = 1 ] || edu=$((procs + 1))	# and the steady VMM's
KSV_EDU=$edu KSV_TRACE=btm KSV_BTM=1 "$TOP/ci/qemu.sh" random "$cpu" 2 random "${KSV_TIMEOUT:-1800}" \
	kunit.enable=0 ksv.seeds="$seeds" ksv.steps="$steps" ksv.procs="$procs" ${KSV_SOAK:+ksv.soak=1}
python3 "$TOP/ci/check_boot.py" "$KSRC" "$LOGDIR/boot-random.log" random random="$n" | tee "$LOGDIR/check-random.txt"
grep -q '^COUNTS [0-9]* 0$' "$LOGDIR/check-random.txt"
