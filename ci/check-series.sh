#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make check-series: every patch of patches/ builds on its own.
# Applies the series one patch at a time to a scratch worktree of the
# pristine source (tag "base"), builds the objects each patch touches in a
# separate O= directory with the test config, and runs checkpatch --strict
# on each patch, and sparse (C=2, ci/setup-sparse.sh) on the .c files each
# patch touches, before and after it: a warning the patch adds fails it.
# Then the QEMU series the same way (ci/check-qemu-series.sh). Prints one
# ok/FAIL line per patch, with its added lines, and a summary.
# Run alone: make check-series.
set -uo pipefail
. "$(dirname "$0")/env.sh"
[ -f "$KBUILD/.config" ] || die "no kernel config: run 'make setup' first"
SPARSE=$CACHE/sparse/sparse
[ -x "$SPARSE" ] || die "no sparse in $CACHE/sparse: run 'make setup' first"
"$TOP/ci/apply-patches.sh" >/dev/null || die "patches/ does not apply"
src=$CACHE/series-src out=$CACHE/build-series
mkdir -p "$LOGDIR"
t0=$(date +%s)
git -C "$KSRC" worktree remove --force "$src" >/dev/null 2>&1 || rm -rf "$src"
git -C "$KSRC" worktree prune
git -C "$KSRC" worktree add -q --detach "$src" base || die "git worktree add failed"
mkdir -p "$out"
cp "$KBUILD/.config" "$out/.config"
SMAKE=(make -C "$src" O="$out" ARCH=arm64 LLVM=-19 -j"$(nproc)")
log "preparing $out (headers, Rust bindings; log: $LOGDIR/series-prepare.log)"
"${SMAKE[@]}" olddefconfig prepare > "$LOGDIR/series-prepare.log" 2>&1 || die "make prepare failed on the pristine tree"
# sparse's warnings for the given objects (those whose .c exists), as
# "file: message" (no line numbers, which patches move), sorted: those in
# their .c files and in the headers the patch touches ($phdrs). Not the
# others: make also checks files it rebuilds on the way (the vDSO), which
# the "before" run of a patch that adds its only .c file would not see.
sparse_warnings() {
	local o have=() files=()
	for o in "$@"; do [ -f "$src/${o%.o}.c" ] && have+=("$o") && files+=("$src/${o%.o}.c"); done
	[ ${#have[@]} = 0 ] && return 0
	"${SMAKE[@]}" C=2 CHECK="$SPARSE" "${have[@]}" 2>&1 |
		sed -nE 's/^([^ :]+):[0-9]+:[0-9]+: (warning|error): /\1: \2: /p' |
		grep -F -f <(printf '%s: \n' "${files[@]}" $phdrs) | sort || true
}
# Added C lines of a patch outside tests (not *-test.c, kunit, selftests,
# tools/), by file kind: "c" (.c), "h" (.h), and lines of documentation.
added_lines() { # patch
	awk '/^\+\+\+ b\// { f = substr($2, 3); next }
	     /^\+/ && !/^\+\+\+/ {
		if (f ~ /(-test|_test|kunit)[^\/]*\.c$/ || f ~ /^(tools|samples)\//) t++
		else if (f ~ /\.c$/) c++
		else if (f ~ /\.h$/) h++
		else d++ }
	     END { printf "+%d .c, +%d .h outside tests; +%d test, +%d other", c, h, t, d }' "$1"
}
ok=0 bad=0
while read -r p; do
	f=$TOP/patches/$p
	pobjs=$(sed -n 's|^+++ b/\(.*\)\.c$|\1.o|p' "$f" | grep -v '^tools/' | xargs)
	phdrs=$(sed -n "s|^+++ b/\(.*\.h\)$|$src/\1|p" "$f" | xargs)
	sparse_warnings $pobjs > "$LOGDIR/series-$p.sparse-before"
	git -C "$src" am -q --committer-date-is-author-date "$f" || { echo "  FAIL  $p: does not apply"; bad=$((bad+1)); break; }
	# The objects to build: every touched .c, plus the Rust bindings when a
	# header they include changes (rust/bindings/bindings_helper.h, or a
	# header under include/ or arch/arm64/include/).
	objs=$(git -C "$src" diff --name-only HEAD~1 HEAD | sed -n 's/\.c$/.o/p' | grep -v '^tools/' | xargs)
	hdrs=$(git -C "$src" diff --name-only HEAD~1 HEAD | grep -E '\.h$' | xargs)
	s=$(date +%s) r=0
	if [ -n "$objs" ]; then
		"${SMAKE[@]}" $objs > "$LOGDIR/series-$p.log" 2>&1 || r=1
	fi
	if [ -n "$hdrs" ] && [ $r = 0 ]; then
		"${SMAKE[@]}" prepare >> "$LOGDIR/series-$p.log" 2>&1 || r=1
	fi
	(cd "$src" && scripts/checkpatch.pl --strict --terse "$f") >> "$LOGDIR/series-$p.log" 2>&1 || r=2
	if [ $r = 0 ]; then
		sparse_warnings $objs > "$LOGDIR/series-$p.sparse-after"
		comm -13 "$LOGDIR/series-$p.sparse-before" "$LOGDIR/series-$p.sparse-after" > "$LOGDIR/series-$p.sparse-new"
		[ -s "$LOGDIR/series-$p.sparse-new" ] && { cat "$LOGDIR/series-$p.sparse-new" >> "$LOGDIR/series-$p.log"; r=3; }
	fi
	if [ $r = 0 ]; then
		ok=$((ok+1)); echo "  ok    $p builds on its own (${objs:-no .c}; $(( $(date +%s) - s ))s), checkpatch --strict and sparse clean; lines: $(added_lines "$f")"
	else
		bad=$((bad+1)); echo "  FAIL  $p: $(case $r in 1) echo build;; 2) echo checkpatch;; *) echo "sparse: $(wc -l < "$LOGDIR/series-$p.sparse-new") new warnings";; esac) (log: $LOGDIR/series-$p.log)"
		grep -E 'error|ERROR|WARNING|CHECK' "$LOGDIR/series-$p.log" | head -n 8 | sed 's/^/        /'
	fi
done < <(sed -e '/^#/d' -e '/^[[:space:]]*$/d' "$TOP/patches/series" | grep -v '^0000-')
git -C "$KSRC" worktree remove --force "$src" >/dev/null 2>&1
log "kernel series took $(( $(date +%s) - t0 ))s"
# The QEMU series (qemu/): each patch builds, QEMU's checkpatch.
log "QEMU series (qemu/, log: $LOGDIR/qemu-series-*.log)"
"$TOP/ci/check-qemu-series.sh" > "$LOGDIR/check-qemu-series.txt" 2>&1
grep -v ' passed, ' "$LOGDIR/check-qemu-series.txt"
q=$(tail -n 1 "$LOGDIR/check-qemu-series.txt" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p')
[ -n "$q" ] || q="0 1"
ok=$((ok + ${q% *})) bad=$((bad + ${q#* }))
log "check-series took $(( $(date +%s) - t0 ))s"
echo "$ok passed, $bad failed"
[ $bad = 0 ]
