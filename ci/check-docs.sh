#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The README as the front door: every relative link of README.md (a
# Markdown link "](path)" that does not start with http or #) names a file
# that exists, and every Documentation/*.md is linked from README.md.
# Prints "  ok    README links: N documents", or one "  FAIL  ..." line per
# problem, and last "COUNTS <passed> <failed>" (as ci/style.sh does, for
# ci/test.sh's counts). Always exits 0: the counts carry the result.
# Run alone: bash ci/check-docs.sh (needs no build).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
readme=$TOP/README.md
ok=0 bad=0
fail() { bad=$((bad + 1)); echo "  FAIL  $*"; }

if [ ! -f "$readme" ]; then
	fail "README links: no README.md"
	echo "COUNTS $ok $bad"
	exit 0
fi

# The targets of the README's relative links, anchors and titles dropped.
links=()
while IFS= read -r target; do
	case "$target" in ''|http:*|https:*|mailto:*|'#'*) continue;; esac
	target=${target%% *}
	target=${target%%#*}
	[ -n "$target" ] && links+=("$target")
done < <(grep -o '](\([^)]*\))' "$readme" | sed 's/^](\(.*\))$/\1/' || true)

for target in ${links[@]+"${links[@]}"}; do
	[ -e "$TOP/$target" ] || fail "README links: $target does not exist"
done

n=0
for doc in "$TOP"/Documentation/*.md; do
	[ -e "$doc" ] || continue
	n=$((n + 1))
	rel=Documentation/$(basename "$doc")
	found=0
	for target in ${links[@]+"${links[@]}"}; do
		[ "${target#./}" = "$rel" ] && found=1 && break
	done
	[ $found = 1 ] || fail "README links: $rel is not linked from README.md"
done

if [ $bad = 0 ]; then
	ok=$((ok + 1))
	echo "  ok    README links: $n documents"
fi
echo "COUNTS $ok $bad"
exit 0
