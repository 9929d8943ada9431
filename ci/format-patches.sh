#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Regenerate patches/ from the kernel git tree ($KSRC, base..HEAD).
# Blank context lines are written as empty lines (which git am accepts, as
# GNU diff --suppress-blank-empty does), so no line ends in whitespace and
# checkpatch is clean wherever it is run from.
# Run alone: bash ci/format-patches.sh, after committing in $KSRC
# (~/.cache/kvm-smmu-vmid/linux; Documentation/design.md).
set -euo pipefail
. "$(dirname "$0")/env.sh"
# The cover letter (0000-cover-letter.patch) is written by hand and kept;
# ci/cover-letter.sh refreshes its numbering, shortlog and diffstat.
find "$TOP/patches" -name '*.patch' ! -name '0000-cover-letter.patch' -delete
git -C "$KSRC" format-patch -q --no-signature --subject-prefix="RFC PATCH v4" -o "$TOP/patches" base..HEAD
find "$TOP/patches" -name '*.patch' ! -name '0000-cover-letter.patch' -exec sed -i 's/^ $//' {} +
{
	printf '# Patch series against Debian linux-source-7.3 (7.3.4-1~bpo13+1).\n'
	printf '# One file name per line, applied in order by ci/apply-patches.sh.\n'
	ls "$TOP"/patches/*.patch | xargs -n1 basename | grep -v '^0000-cover-letter'
} > "$TOP/patches/series"
"$TOP/ci/cover-letter.sh"
# The kernel tree is the series: record it as applied, so that
# apply-patches.sh does not reset and re-apply it (which would touch every
# patched file and rebuild much of the kernel).
want=$( (cat "$TOP/patches/series"; sed -e '/^#/d' -e '/^[[:space:]]*$/d' "$TOP/patches/series" |
	while read -r p; do cat "$TOP/patches/$p"; done) | sha256sum | cut -d' ' -f1)
echo "$want" > "$CACHE/patches.stamp"
