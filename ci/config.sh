#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Write the test kernel config: Kconfig defaults + kunit/test.config,
# then check that every option of the fragment really took effect.
# Run alone: bash ci/config.sh (KSV_FLAVOR=debug: the KASAN build's);
# make setup and ci/build.sh call it.
set -euo pipefail
. "$(dirname "$0")/env.sh"
mkdir -p "$KBUILD" "$LOGDIR"
frag=$LOGDIR/config.fragment
cat $FRAGMENTS > "$frag"
want=$(sha256sum "$frag" | cut -d' ' -f1)
if [ "$(cat "$KBUILD/.fragment.stamp" 2>/dev/null)" = "$want" ] && [ -f "$KBUILD/.config" ]; then
	log "kernel config up to date"
	exit 0
fi
log "writing kernel config from $(echo $FRAGMENTS | xargs -n1 basename | xargs)"
sed -e '/^#/d' -e '/^$/d' "$frag" > "$KBUILD/.config"
"${KMAKE[@]}" -s olddefconfig
bad=0
while IFS= read -r line; do
	case "$line" in ''|'#'*) continue;; esac
	if ! grep -qx -- "$line" "$KBUILD/.config"; then
		echo "error: config option '$line' did not survive olddefconfig" >&2
		bad=1
	fi
done < "$frag"
[ $bad = 0 ] || die "kernel config incomplete (missing dependency or toolchain; for RUST see 'make -C $KSRC rustavailable')"
echo "$want" > "$KBUILD/.fragment.stamp"
# The config changed: modules built against the old one would be refused.
rm -rf "$MODOUT"
log "kernel config written"
