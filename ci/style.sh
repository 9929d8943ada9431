#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Style checks: rustfmt (kernel rules), clippy (CLIPPY=1 build), checkpatch.
# Prints one "ok"/"FAIL" line per check and "COUNTS <passed> <failed>".
set -uo pipefail
. "$(dirname "$0")/env.sh"
ok=0 bad=0
res() { if [ "$1" = 0 ]; then ok=$((ok+1)); echo "  ok    $2"; else bad=$((bad+1)); echo "  FAIL  $2"; fi; }

files=$(find "$TOP/rust" -name '*.rs')
rustfmt --edition 2021 --config-path "$KSRC/.rustfmt.toml" --check $files > "$LOGDIR/rustfmt.log" 2>&1
r=$?; [ $r = 0 ] || head -n 40 "$LOGDIR/rustfmt.log"
res $r "rustfmt --check (kernel .rustfmt.toml)"

(cd "$TOP/host" && cargo fmt --check) > "$LOGDIR/cargofmt.log" 2>&1
r=$?; [ $r = 0 ] || head -n 20 "$LOGDIR/cargofmt.log"
res $r "cargo fmt --check (host tests)"

mkdir -p "$CACHE/modules-clippy$SUFFIX"
"${KMAKE[@]}" M="$TOP" MO="$CACHE/modules-clippy$SUFFIX" CLIPPY=1 KBUILD_EXTRA_WARN= modules > "$LOGDIR/clippy.log" 2>&1
r=$?
if [ $r = 0 ] && grep -qE '^(warning|error)' "$LOGDIR/clippy.log"; then r=1; fi
[ $r = 0 ] || grep -E -A8 '^(warning|error)' "$LOGDIR/clippy.log" | head -n 60
res $r "CLIPPY=1 module build without warnings"

pats=$(ls "$TOP"/patches/*.patch 2>/dev/null)
if [ -n "$pats" ]; then
	# From the kernel tree: run inside our git tree, checkpatch reviews the
	# .patch files themselves as changed files.
	(cd "$KSRC" && scripts/checkpatch.pl --strict --terse $pats) > "$LOGDIR/checkpatch.log" 2>&1
	r=$?; [ $r = 0 ] || grep -E 'ERROR|WARNING|CHECK' "$LOGDIR/checkpatch.log" | head -n 20
	res $r "checkpatch.pl --strict on patches/ ($(echo $pats | wc -w) patches)"
fi
echo "COUNTS $ok $bad"
