#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Style checks: rustfmt (kernel rules), clippy (CLIPPY=1 build), checkpatch.
# Prints one "ok"/"FAIL" line per check and "COUNTS <passed> <failed>".
# Run alone: bash ci/style.sh, after make build (it needs the kernel tree).
set -uo pipefail
. "$(dirname "$0")/env.sh"
ok=0 bad=0
res() { if [ "$1" = 0 ]; then ok=$((ok+1)); echo "  ok    $2"; else bad=$((bad+1)); echo "  FAIL  $2"; fi; }

files=$(find "$TOP/rust" "$TOP/kunit" -name '*.rs')
rustfmt --edition 2021 --config-path "$KSRC/.rustfmt.toml" --check $files > "$LOGDIR/rustfmt.log" 2>&1
r=$?; [ $r = 0 ] || head -n 40 "$LOGDIR/rustfmt.log"
res $r "rustfmt --check (kernel .rustfmt.toml)"

(cd "$TOP/host" && cargo fmt --check) > "$LOGDIR/cargofmt.log" 2>&1
r=$?; [ $r = 0 ] || head -n 20 "$LOGDIR/cargofmt.log"
res $r "cargo fmt --check (host tests)"

# Clippy on both builds: production (make modules: no test code at all)
# and test (--cfg ksv_test: KUnit suites, overrides; and kunit/helpers/).
for kind in production test; do
	mo=$CACHE/modules-clippy-$kind$SUFFIX
	mkdir -p "$mo"
	prune_stale_ko "$mo"
	if [ $kind = test ]; then
		mkdir -p "$mo/kunit/helpers"
		{ "${KMAKE[@]}" M="$TOP" MO="$mo" CLIPPY=1 KBUILD_EXTRA_WARN= "${TESTFLAGS[@]}" modules &&
		  "${KMAKE[@]}" M="$TOP/kunit/helpers" MO="$mo/kunit/helpers" CLIPPY=1 KBUILD_EXTRA_WARN= modules; } \
			> "$LOGDIR/clippy-$kind.log" 2>&1
	else
		"${KMAKE[@]}" M="$TOP" MO="$mo" CLIPPY=1 KBUILD_EXTRA_WARN= modules > "$LOGDIR/clippy-$kind.log" 2>&1
	fi
	r=$?
	if [ $r = 0 ] && grep -qE '^(warning|error)' "$LOGDIR/clippy-$kind.log"; then r=1; fi
	[ $r = 0 ] || grep -E -A8 '^(warning|error)' "$LOGDIR/clippy-$kind.log" | head -n 60
	res $r "CLIPPY=1 $kind module build without warnings"
done

# The production build has no test parameters and no test modules.
prod=$CACHE/modules-clippy-production$SUFFIX
bad_parms=
for m in $KSV_MODULES; do
	p=$(modinfo -F parm "$prod/rust/$m.ko" 2>/dev/null | grep -iE 'test|bench' | cut -d: -f1)
	[ -z "$p" ] || bad_parms="$bad_parms $m.$p"
done
extra_ko=$(cd "$prod" && find . -name '*.ko' | grep -vE "^\./rust/($(echo $KSV_MODULES | tr ' ' '|'))\.ko$" | xargs)
r=0; [ -z "$bad_parms$extra_ko" ] && [ -f "$prod/rust/smmu_v3_btm.ko" ] || r=1
res $r "production build: no test parameters${bad_parms:+ (found:$bad_parms)}, no test modules${extra_ko:+ (found: $extra_ko)}"
r=1; modinfo -F parm "$CACHE/modules-clippy-test$SUFFIX/rust/smmu_v3_btm.ko" | grep -q test_assume_btm && r=0
res $r "test build: smmu_v3_btm has the test_assume_btm override (the check above can fail)"

pats=$(ls "$TOP"/patches/*.patch 2>/dev/null | grep -v '/0000-cover-letter.patch$')
if [ -n "$pats" ]; then
	# From the kernel tree: run inside our git tree, checkpatch reviews the
	# .patch files themselves as changed files.
	(cd "$KSRC" && scripts/checkpatch.pl --strict --terse $pats) > "$LOGDIR/checkpatch.log" 2>&1
	r=$?; [ $r = 0 ] || grep -E 'ERROR|WARNING|CHECK' "$LOGDIR/checkpatch.log" | head -n 20
	res $r "checkpatch.pl --strict on patches/ ($(echo $pats | wc -w) patches)"
fi
echo "COUNTS $ok $bad"
