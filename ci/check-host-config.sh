#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Fail if an option of kunit/host.config (the host kernel's needs) is not
# in kunit/test.config: what we ship must be what the tests ran.
# Usage: check-host-config.sh [HOST_CONFIG [TEST_CONFIG]]
# Run alone: bash ci/check-host-config.sh (make setup calls it).
set -euo pipefail
. "$(dirname "$0")/env.sh"
host=${1:-$TOP/kunit/host.config} test=${2:-$TOP/kunit/test.config}
n=0 bad=0
while IFS= read -r line; do
	case "$line" in ''|'#'*) continue;; esac
	n=$((n + 1))
	if ! grep -qx -- "$line" "$test"; then
		echo "error: $(basename "$host"): '$line' is not in $(basename "$test")" >&2
		bad=$((bad + 1))
	fi
done < "$host"
[ $bad = 0 ] || die "$bad of $n host.config options are not tested"
echo "$(basename "$host"): $n options, all in $(basename "$test")"
