#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make setup: install every dependency and prepare the patched kernel tree.
# Idempotent: on a prepared machine it only checks stamps and returns.
# Run alone: make setup (as root).
set -euo pipefail
. "$(dirname "$0")/env.sh"
mkdir -p "$CACHE" "$LOGDIR"

# arm64 packages (busybox, libcap for the iommufd selftests) need the
# architecture first.
dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64; apt-get update -qq; }
PKGS="clang-19 lld-19 llvm-19 libclang-19-dev qemu-system-arm flex bison bc
      libelf-dev libssl-dev cpio kmod python3 make git gcc
      gcc-aarch64-linux-gnu libc6-dev-arm64-cross libcap-dev:arm64"
BINDGEN_VER=0.72.1

need_install=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need_install="$need_install $p"
done
if [ -n "$need_install" ]; then
	log "installing Debian packages:$need_install"
	apt-get update -qq || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o=Dpkg::Use-Pty=0 --no-install-recommends $need_install \
		|| die "apt-get install failed for:$need_install"
fi
# Add a Debian suite from the machine's own mirror (no host named here).
add_suite() { # suite
	local mirror
	mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	[ -n "$mirror" ] || die "cannot find the Debian mirror in /etc/apt/sources.list.d/debian.sources"
	log "adding $1 ($mirror) as an apt source"
	printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
		"$mirror" "$1" > "/etc/apt/sources.list.d/$1.sources"
	apt-get update -qq || die "apt-get update with $1 failed"
}

# QEMU 10 from bookworm-backports: its virt machine has a nested SMMUv3
# (stage 1 + stage 2), which the end-to-end vSMMU test needs. Bookworm's
# 7.2 has stage 1 only. Backports sit at priority 100: only QEMU moves.
QEMU_MIN=10.0
qemu_ver() { dpkg-query -W -f='${Version}' qemu-system-arm 2>/dev/null | sed 's/^[0-9]*://'; }
if ! dpkg --compare-versions "$(qemu_ver)" ge "$QEMU_MIN"; then
	if ! apt-cache policy qemu-system-arm 2>/dev/null | grep -q 'bpo12'; then
		add_suite bookworm-backports
	fi
	log "installing qemu-system-arm >= $QEMU_MIN from bookworm-backports"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o=Dpkg::Use-Pty=0 --no-install-recommends \
		-t bookworm-backports qemu-system-arm || die "apt-get install -t bookworm-backports qemu-system-arm failed"
	dpkg --compare-versions "$(qemu_ver)" ge "$QEMU_MIN" ||
		die "qemu-system-arm $(qemu_ver) is older than $QEMU_MIN (the nested SMMUv3 needs it)"
fi
log "qemu-system-arm $(qemu_ver)"
for t in clang-19:clang-19 ld.lld-19:lld-19 llvm-ar-19:llvm-19 qemu-system-aarch64:qemu-system-arm \
	 flex:flex bison:bison bc:bc cpio:cpio depmod:kmod python3:python3 \
	 aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu; do
	command -v "${t%%:*}" >/dev/null || die "'${t%%:*}' is missing: install the Debian package ${t#*:}"
done
# checkpatch's SPDX check needs ply and GitPython (in the Python that runs it).
python3 -c 'import ply, git' 2>/dev/null || python3 -m pip install -q --root-user-action=ignore ply GitPython ||
	die "python modules for checkpatch: pip install ply GitPython"

# Rust: rust-src for the kernel's core build, bindgen for the bindings.
command -v rustup >/dev/null || die "rustup missing: install the Rust toolchain with rustup"
rustup component list --installed | grep -q '^rust-src' || { log "adding rust-src"; rustup component add rust-src; }
if ! bindgen --version 2>/dev/null | grep -q "$BINDGEN_VER"; then
	log "installing bindgen-cli $BINDGEN_VER"
	cargo install --locked bindgen-cli --version "$BINDGEN_VER"
fi

# arm64 busybox for the initramfs: downloaded and unpacked, not installed.
BB=$CACHE/busybox.bin
if [ ! -x "$BB" ]; then
	rm -rf "$CACHE/busybox" && mkdir -p "$CACHE/busybox"
	(cd "$CACHE/busybox" && apt-get download -qq busybox-static:arm64 \
		&& dpkg -x busybox-static_*_arm64.deb .) || die "could not fetch busybox-static:arm64"
	for b in usr/bin/busybox bin/busybox; do
		[ -x "$CACHE/busybox/$b" ] && cp "$CACHE/busybox/$b" "$BB" && break
	done
	[ -x "$BB" ] || die "busybox-static:arm64 provided no busybox binary"
fi

"$TOP/ci/check-host-config.sh"
"$TOP/ci/setup-kmod.sh"
"$TOP/ci/setup-sparse.sh"
"$TOP/ci/setup-qemu.sh"
"$TOP/ci/setup-realvmm.sh"

# Kernel source from trixie-backports. Only this one package is downloaded;
# backports sit at apt priority 100, so nothing else gets upgraded.
if [ ! -f "$CACHE/$KVER_PKG.version" ]; then
	if ! apt-cache policy "$KVER_PKG" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
		add_suite trixie-backports
	fi
	rm -rf "$CACHE/dl" && mkdir -p "$CACHE/dl"
	(cd "$CACHE/dl" && apt-get download -qq "$KVER_PKG") || die "apt-get download $KVER_PKG failed"
	deb=$(ls "$CACHE"/dl/${KVER_PKG}_*.deb)
	dpkg-deb -f "$deb" Version > "$CACHE/$KVER_PKG.version.tmp"
	dpkg -x "$deb" "$CACHE/dl/x"
	rm -rf "$CACHE/pristine" && mkdir -p "$CACHE/pristine"
	tar -C "$CACHE/pristine" -xf "$CACHE"/dl/x/usr/src/$KVER_PKG.tar.*
	rm -rf "$CACHE/dl"
	mv "$CACHE/$KVER_PKG.version.tmp" "$CACHE/$KVER_PKG.version"
fi
log "kernel source: $KVER_PKG $(cat "$CACHE/$KVER_PKG.version")"

"$TOP/ci/apply-patches.sh"
"$TOP/ci/config.sh"
log "setup done ($(cat "$CACHE/$KVER_PKG.version"))"
