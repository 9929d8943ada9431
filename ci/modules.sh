#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make modules: build the two production modules (no --cfg ksv_test) against a
# prepared kernel build tree.
#   KDIR  the tree (default: /lib/modules/$(uname -r)/build on an arm64
#         host, else the cache kernel build $KBUILD)
#   MO    output directory (default: $CACHE/modules-<kernelrelease>)
# The tree is checked first: everything missing is listed, one line each.
# Sourced by ci/install.sh and ci/deb.sh for resolve_tree only.
# Run alone: make modules [KDIR= MO=]. Host use: Documentation/host.md.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

# Sets KDIR (absolute), KREL, MO and TREE (the make arguments for the tree).
# The release to install for: $KERNELRELEASE (then MO defaults to the
# cache's modules-<release>), else that of the tree (resolve_tree).
resolve_release() {
	if [ -n "${KERNELRELEASE:-}" ]; then
		KREL=$KERNELRELEASE MO=${MO:-$CACHE/modules-$KERNELRELEASE}
	else
		resolve_tree
	fi
}

resolve_tree() {
	if [ -z "${KDIR:-}" ]; then
		KDIR=$KBUILD
		if [ "$(uname -m)" = aarch64 ] && [ -d "/lib/modules/$(uname -r)/build" ]; then
			KDIR=/lib/modules/$(uname -r)/build
		fi
	fi
	[ -d "$KDIR" ] || die "KDIR=$KDIR: no such directory"
	KDIR=$(cd "$KDIR" && pwd -P)
	[ -f "$KDIR/include/config/kernel.release" ] ||
		die "KDIR=$KDIR is not a prepared kernel tree (no include/config/kernel.release): run 'make modules_prepare' in it"
	KREL=$(cat "$KDIR/include/config/kernel.release")
	MO=${MO:-$CACHE/modules-$KREL}
	# An O= build directory (like $KBUILD) has a 'source' link and a
	# Makefile that includes the source's; a distro tree is used directly.
	if [ -L "$KDIR/source" ] && grep -q '^include ' "$KDIR/Makefile" 2>/dev/null; then
		TREE=(-C "$(readlink -f "$KDIR/source")" O="$KDIR")
	else
		TREE=(-C "$KDIR")
	fi
}

# The tree's value of a config option ("" if unset).
kconf() { sed -n "s/^$1=//p" "$KDIR/include/config/auto.conf" 2>/dev/null | tr -d '"'; }

# Prints one line per missing thing; returns non-zero if anything is missing.
check_tree() {
	local miss=() src sym symfile= want have
	src=$KDIR
	[ -L "$KDIR/source" ] && src=$(readlink -f "$KDIR/source")
	[ -f "$KDIR/include/config/auto.conf" ] || miss+=("include/config/auto.conf (the tree is not configured and prepared)")
	[ "$(kconf CONFIG_ARM64)" = y ] || miss+=("CONFIG_ARM64=y (this is not an arm64 kernel)")
	[ "$(kconf CONFIG_MODULES)" = y ] || miss+=("CONFIG_MODULES=y")
	[ "$(kconf CONFIG_RUST)" = y ] || miss+=("CONFIG_RUST=y")
	[ "$(kconf CONFIG_KVM)" = y ] || miss+=("CONFIG_KVM=y")
	[ "$(kconf CONFIG_ARM_SMMU_V3)" = m ] ||
		miss+=("CONFIG_ARM_SMMU_V3=m (is '$(kconf CONFIG_ARM_SMMU_V3)': the SMMU must probe after smmu_v3_btm loads)")
	case "$(kconf CONFIG_IOMMUFD)" in y|m) ;; *) miss+=("CONFIG_IOMMUFD=y or m");; esac
	# The patches: their headers in the source, their exports in the build.
	for f in include/linux/arm-smmu-v3-btm.h; do
		[ -f "$src/$f" ] || miss+=("$f in $src (patches/ not applied)")
	done
	grep -q 'arm-smmu-v3-btm.h' "$src/rust/bindings/bindings_helper.h" 2>/dev/null ||
		miss+=("the hook headers in rust/bindings/bindings_helper.h (patches/ not applied)")
	if [ -f "$KDIR/Module.symvers" ]; then symfile=Module.symvers
	elif [ -f "$KDIR/System.map" ]; then symfile=System.map; fi
	for sym in kvm_arm_vmid_pin kvm_arm_vmid_pin_register arm_smmu_btm_register; do
		[ -n "$symfile" ] || break
		grep -qw "$sym" "$KDIR/$symfile" || miss+=("$sym in $symfile (patches/ not applied to this kernel)")
	done
	# Rust: the kernel crate built, by the same rustc; bindgen as recorded.
	if [ "$(kconf CONFIG_RUST)" = y ]; then
		[ -f "$KDIR/rust/libkernel.rmeta" ] || miss+=("rust/libkernel.rmeta (run 'make modules_prepare' in the tree)")
		want=$(kconf CONFIG_RUSTC_VERSION_TEXT) have=$(${RUSTC:-rustc} --version 2>/dev/null | head -n1 || true)
		[ "$want" = "$have" ] || miss+=("rustc '$want' (the tree's CONFIG_RUSTC_VERSION_TEXT); found '${have:-none}'")
		want=$(kconf CONFIG_BINDGEN_VERSION_TEXT) have=$(${BINDGEN:-bindgen} --version 2>/dev/null | head -n1 || true)
		[ "$want" = "$have" ] || miss+=("bindgen '$want' (the tree's CONFIG_BINDGEN_VERSION_TEXT); found '${have:-none}'")
	fi
	[ ${#miss[@]} = 0 ] && return 0
	for m in "${miss[@]}"; do echo "missing: $m" >&2; done
	return 1
}

main() {
	resolve_tree
	log "kernel tree $KDIR ($KREL)"
	check_tree || die "$KDIR cannot build the modules (see the lines above)"
	[ "$(kconf CONFIG_MODULE_SIG_FORCE)" = y ] &&
		echo "warning: CONFIG_MODULE_SIG_FORCE=y: sign the modules (scripts/sign-file) or they will not load" >&2
	# The tree's compiler: clang-built (LLVM=-<major>) or gcc (cross prefix).
	local tc=() warn=()
	[ "$(uname -m)" = aarch64 ] || tc+=(ARCH=arm64)
	if [ "$(kconf CONFIG_CC_IS_CLANG)" = y ]; then
		local major
		major=$(kconf CONFIG_CLANG_VERSION | cut -c1-2)
		if command -v "clang-$major" >/dev/null; then tc+=(LLVM=-"$major"); else tc+=(LLVM=1); fi
	elif [ "$(uname -m)" != aarch64 ]; then
		tc+=(CROSS_COMPILE=aarch64-linux-gnu-)
	fi
	if [ ! -f "$KDIR/Module.symvers" ]; then
		echo "note: no Module.symvers in $KDIR (only modules_prepare ran): modpost cannot check our imports, building with KBUILD_MODPOST_WARN=1" >&2
		warn=(KBUILD_MODPOST_WARN=1)
	fi
	mkdir -p "$MO"
	prune_stale_ko "$MO"
	log "modules: $KSV_MODULES -> $MO"
	# Nothing from our make's command line (KERNELRELEASE, KRUSTFLAGS...)
	# may reach kbuild: this is the production build.
	if ! env -u KERNELRELEASE -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u KSV_TEST -u KRUSTFLAGS \
		make "${TREE[@]}" "${tc[@]}" "${warn[@]}" -j"$(nproc)" M="$TOP" MO="$MO" modules 2>&1 | tee "$MO/build.log"; then
		die "module build failed; see $MO/build.log"
	fi
	for m in $KSV_MODULES; do
		[ -f "$MO/rust/$m.ko" ] || die "$MO/rust/$m.ko was not built"
		echo "  $MO/rust/$m.ko ($(modinfo -F vermagic "$MO/rust/$m.ko"))"
	done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	main "$@"
fi
