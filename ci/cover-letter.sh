#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Refresh patches/0000-cover-letter.patch: its prose is written by hand;
# the subject's numbering, and the shortlog and diffstat after the prose,
# are regenerated from the kernel tree's series (base..HEAD), laid out as
# git format-patch --cover-letter does. Called by ci/format-patches.sh.
# Run alone: bash ci/cover-letter.sh, after editing the cover letter's prose.
set -euo pipefail
. "$(dirname "$0")/env.sh"
f=$TOP/patches/0000-cover-letter.patch
n=$(git -C "$KSRC" rev-list --count base..HEAD)
author=$(git -C "$KSRC" log -1 --format='%an' HEAD)
tmp=$f.tmp
{
	# Headers and prose, up to the shortlog ("Author (N):").
	awk -v n="$n" -v w="${#n}" -v who="$author" '
		/^Subject: / && !done_subj {
			sub(/^Subject: \[[^]]*\] */, "")
			printf "Subject: [RFC PATCH v4 %0*d/%d] %s\n", w, 0, n, $0
			done_subj = 1; next }
		index($0, who " (") == 1 && /\([0-9]+\):$/ { exit }
		{ print }' "$f"
	git -C "$KSRC" shortlog base..HEAD
	git -C "$KSRC" diff --stat=78 --summary base HEAD

} > "$tmp"
mv "$tmp" "$f"
