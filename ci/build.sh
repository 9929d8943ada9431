#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make: build the kernel Image (+ its modules) and our modules, incrementally.
set -euo pipefail
. "$(dirname "$0")/env.sh"
[ -f "$KBUILD/.config" ] || die "no kernel config: run 'make setup' first"
"$TOP/ci/apply-patches.sh" >/dev/null
"$TOP/ci/config.sh" >/dev/null
start=$(date +%s)
log "kernel: Image and modules (log: $LOGDIR/kernel-build.log)"
if ! "${KMAKE[@]}" Image modules > "$LOGDIR/kernel-build.log" 2>&1; then
	grep -E 'error|Error' "$LOGDIR/kernel-build.log" | head -n 30 >&2
	die "kernel build failed; see $LOGDIR/kernel-build.log"
fi
log "modules: $KSV_MODULES"
mkdir -p "$MODOUT"
"${MMAKE[@]}" modules
log "build took $(( $(date +%s) - start ))s"
