#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The QEMU half of make check-series: every patch of qemu/ builds on its
# own (qemu-system-aarch64, incrementally, in the cache's QEMU tree and
# build directory, one patch at a time from "base"), and QEMU's
# scripts/checkpatch.pl has no error on it. The tree is back at the whole
# series afterwards. Prints one ok/FAIL line per patch and a summary.
# Run alone: bash ci/check-qemu-series.sh (make check-series calls it).
set -uo pipefail
. "$(dirname "$0")/env.sh"
Q=$CACHE/qemu SRC=$CACHE/qemu/src BLD=$CACHE/qemu/build
[ -f "$BLD/build.ninja" ] || die "no QEMU build in $BLD: run 'make setup' first"
"$TOP/ci/setup-qemu.sh" >/dev/null || die "qemu/ does not apply or build"
t0=$(date +%s)
branch=$(git -C "$SRC" symbolic-ref -q --short HEAD || git -C "$SRC" rev-parse HEAD)
mapfile -t commits < <(git -C "$SRC" rev-list --reverse base..HEAD)
mapfile -t files < <(sed -e '/^#/d' -e '/^[[:space:]]*$/d' "$TOP/qemu/series")
[ ${#commits[@]} = ${#files[@]} ] || die "the QEMU tree has ${#commits[@]} patches, qemu/series ${#files[@]}"
ok=0 bad=0
for i in "${!commits[@]}"; do
	p=${files[$i]} log=$LOGDIR/qemu-series-$p.log s=$(date +%s) r=0
	git -C "$SRC" checkout -q --detach "${commits[$i]}" || { echo "  FAIL  $p: checkout"; bad=$((bad+1)); break; }
	ninja -C "$BLD" qemu-system-aarch64 > "$log" 2>&1 || r=1
	(cd "$SRC" && ./scripts/checkpatch.pl "$TOP/qemu/$p") >> "$log" 2>&1 || r=2
	warn=$(grep -c '^WARNING' "$log")
	if [ $r = 0 ]; then
		ok=$((ok+1))
		echo "  ok    qemu/$p builds on its own ($(( $(date +%s) - s ))s), checkpatch: 0 errors, $warn warnings$(
			[ "$warn" != 0 ] && grep -A1 '^WARNING' "$log" | head -n 1 | sed 's/^/ (/; s/$/)/')"
	else
		bad=$((bad+1))
		echo "  FAIL  qemu/$p: $([ $r = 1 ] && echo build || echo checkpatch) (log: $log)"
		grep -E 'error|ERROR' "$log" | head -n 5 | sed 's/^/        /'
	fi
done
git -C "$SRC" checkout -q "$branch"
ninja -C "$BLD" qemu-system-aarch64 > "$LOGDIR/qemu-series-final.log" 2>&1 || die "the whole QEMU series no longer builds"
log "QEMU check-series took $(( $(date +%s) - t0 ))s"
echo "$ok passed, $bad failed"
[ $bad = 0 ]
