#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Make $KSRC = pristine linux-source-7.3 + patches/ (in patches/series order).
# $KSRC is a git repository whose tag "base" is the pristine tree, so a
# changed series is re-applied with "git am" and only touched files change.
# Run alone: bash ci/apply-patches.sh (make setup and ci/build.sh call it).
set -euo pipefail
. "$(dirname "$0")/env.sh"

if ! git -C "$KSRC" rev-parse -q --verify base >/dev/null 2>&1; then
	if [ -d "$CACHE/pristine" ]; then
		rm -rf "$KSRC"
		mv "$CACHE"/pristine/linux-source-7.3 "$KSRC"
		rmdir "$CACHE/pristine"
	fi
	[ -f "$KSRC/Makefile" ] || die "no unpacked kernel source; run 'make setup'"
	log "creating the kernel git tree (one time, ~2 min)"
	rm -rf "$KSRC/.git"
	git -C "$KSRC" init -q
	git -C "$KSRC" config core.checkStat minimal
	git -C "$KSRC" add -f -A .
	git -C "$KSRC" -c user.name=setup -c user.email=setup@localhost commit -q -m "$KVER_PKG $(cat "$CACHE/$KVER_PKG.version")"
	git -C "$KSRC" tag base
fi

series=$TOP/patches/series
[ -f "$series" ] || die "patches/series is missing"
want=$( (cat "$series"; sed -e '/^#/d' -e '/^[[:space:]]*$/d' "$series" | while read -r p; do cat "$TOP/patches/$p"; done) | sha256sum | cut -d' ' -f1)
have=$(cat "$CACHE/patches.stamp" 2>/dev/null || true)
if [ "$want" = "$have" ] && [ -z "$(git -C "$KSRC" status --porcelain --untracked-files=no)" ]; then
	log "patches up to date ($(git -C "$KSRC" rev-list --count base..HEAD) applied)"
	exit 0
fi

git -C "$KSRC" am --abort >/dev/null 2>&1 || true
git -C "$KSRC" reset -q --hard base
n=0
sed -e '/^#/d' -e '/^[[:space:]]*$/d' "$series" | while read -r p; do
	f=$TOP/patches/$p
	[ -f "$f" ] || die "patches/series names $p, which does not exist"
	if ! git -C "$KSRC" apply --check "$f" 2>"$LOGDIR/apply.err"; then
		echo "error: patch $p does not apply to $KVER_PKG:" >&2
		sed 's/^/  /' "$LOGDIR/apply.err" >&2
		git -C "$KSRC" apply --check -v "$f" 2>&1 | grep -E 'Checking patch|Hunk|error' | sed 's/^/  /' >&2 || true
		exit 1
	fi
	git -C "$KSRC" am -q --committer-date-is-author-date "$f" || die "git am failed on $p"
	echo "    applied $p"
done
echo "$want" > "$CACHE/patches.stamp"
log "patches applied: $(git -C "$KSRC" rev-list --count base..HEAD)"
