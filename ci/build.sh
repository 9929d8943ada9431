#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make: build the kernel Image (+ its modules) and our modules, incrementally.
# Run alone: make (or make build).
set -euo pipefail
. "$(dirname "$0")/env.sh"
[ -d "$KSRC/.git" ] || die "no kernel source: run 'make setup' first"
mkdir -p "$LOGDIR"
"$TOP/ci/apply-patches.sh" >/dev/null
# Writes this flavor's config if it has none yet (make test-debug right
# after make setup), else checks it is current.
"$TOP/ci/config.sh" >/dev/null
start=$(date +%s)
log "kernel: Image and modules (log: $LOGDIR/kernel-build.log)"
if ! "${KMAKE[@]}" Image modules > "$LOGDIR/kernel-build.log" 2>&1; then
	grep -E 'error|Error' "$LOGDIR/kernel-build.log" | head -n 30 >&2
	die "kernel build failed; see $LOGDIR/kernel-build.log"
fi
log "modules: $KSV_MODULES"
mkdir -p "$MODOUT"
prune_stale_ko "$MODOUT"
"${MMAKE[@]}" modules
log "test-only modules: kunit/helpers/"
mkdir -p "$MODOUT/kunit/helpers"
"${HMAKE[@]}" modules
log "build took $(( $(date +%s) - start ))s"
