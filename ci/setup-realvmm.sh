#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The real VMM of the realvmm boots (ci/realvmm/), into $CACHE/realvmm:
#   root/   Debian's qemu-system-aarch64 11.1 (trixie-backports, arm64) and
#           the shared libraries it loads (from trixie), pruned to what its
#           ELF NEEDED entries reach; run through the packaged ld.so;
#   guest/  the guest's UEFI firmware (qemu-efi-aarch64) and kernel
#           (trixie's linux-image-cloud-arm64: ACPI, IORT, ARM_SMMU_V3=y,
#           BLK_DEV_NVME=y).
# The packages come through apt with a private configuration (signed
# indices of trixie and trixie-backports for arm64, an empty dpkg status;
# the system's sources are not touched), and are unpacked with dpkg -x: no
# maintainer script runs. The ROM packages (seabios, ipxe-qemu,
# qemu-system-data) are not needed by the aarch64 binary and are skipped.
# Idempotent (a stamp of the package versions); prints a few lines.
# Alone: bash ci/setup-realvmm.sh (after make setup).
set -euo pipefail
. "$(dirname "$0")/env.sh"
R=$CACHE/realvmm
QEMU_PKG=qemu-system-arm/trixie-backports
QEMU_WITH="qemu-system-common/trixie-backports qemu-system-data/trixie-backports"
SKIP="ipxe-qemu seabios qemu-system-data"
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || die "cannot find the Debian mirror in /etc/apt/sources.list.d/debian.sources"
A=$R/apt
mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/prefs.d"
: > "$A/status"
for s in trixie trixie-backports; do
	printf 'deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' "$mirror" "$s"
done > "$A/sources.list"
APT=(-o Dir::Etc::sourcelist="$A/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$A/lists"
     -o Dir::State::status="$A/status" -o Dir::Cache="$A/cache" -o Dir::Etc::preferences=/dev/null
     -o Dir::Etc::preferencesparts="$A/prefs.d" -o APT::Architecture=arm64 -o APT::Architectures::=arm64
     -o APT::Sandbox::User=root)
apt-get "${APT[@]}" update -qq || die "apt-get update of trixie and trixie-backports (arm64) failed"
# The closure as apt resolves it for an empty arm64 system, without
# recommends; the guest kernel is trixie's versioned image package (the
# metapackage's dependency; its own dependencies are not needed to boot it).
sim=$(apt-get "${APT[@]}" install -s --no-install-recommends $QEMU_PKG $QEMU_WITH 2>&1) ||
	die "apt cannot resolve $QEMU_PKG for arm64: $(tail -n 5 <<<"$sim")"
closure=$(awk '/^Inst / {gsub(/[()]/, "", $3); print $2 "=" $3}' <<<"$sim")
kimg=$(apt-cache "${APT[@]}" depends linux-image-cloud-arm64/trixie 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-arm64\)$/\1/p' | head -n1)
[ -n "$kimg" ] || die "cannot find trixie's linux-image-cloud-arm64 image package"
efi=qemu-efi-aarch64/trixie
want="$(echo $closure) $kimg $(apt-cache "${APT[@]}" policy qemu-efi-aarch64 | awk '/Candidate:/ {print $2}')"
if [ "$(cat "$R/stamp" 2>/dev/null)" = "$want" ] && [ -x "$R/root/usr/bin/qemu-system-aarch64" ] &&
   [ -f "$R/guest/Image" ]; then
	echo "real VMM: $(cat "$R/version") in $R"
	exit 0
fi
get=
for p in $closure; do case " $SKIP " in *" ${p%%=*} "*) ;; *) get="$get $p";; esac; done
log "real VMM: downloading $(wc -w <<<"$get") packages for arm64 (QEMU 11.1 and its libraries), $kimg, $efi"
rm -rf "$R/debs" "$R/x" "$R/root" "$R/guest"
mkdir -p "$R/debs" "$R/x" "$R/root" "$R/guest"
(cd "$R/debs" && apt-get "${APT[@]}" download -qq $get "$kimg" "$efi") || die "apt-get download for the real VMM failed"
size=$(du -sm "$R/debs" | cut -f1)
for d in "$R"/debs/*.deb; do
	case "$(basename "$d")" in linux-image-*|qemu-efi-aarch64_*) ;; *) dpkg -x "$d" "$R/x";; esac
done
# Prune: the binary, the loader and the libraries its NEEDED entries reach.
X=$R/x
bin=usr/bin/qemu-system-aarch64
libdir=usr/lib/aarch64-linux-gnu
[ -x "$X/$bin" ] || die "qemu-system-arm for arm64 has no $bin"
declare -A seen
queue=("$bin") files=("$bin" "$libdir/ld-linux-aarch64.so.1")
seen[ld-linux-aarch64.so.1]=1
while [ ${#queue[@]} -gt 0 ]; do
	f=${queue[0]} queue=("${queue[@]:1}")
	for n in $(llvm-readelf-19 -d "$X/$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		[ -n "${seen[$n]:-}" ] && continue
		seen[$n]=1
		[ -e "$X/$libdir/$n" ] || die "$f needs $n, which no package of the closure has"
		files+=("$libdir/$n") queue+=("$libdir/$n")
	done
done
(cd "$X" && cp -L --parents "${files[@]}" "$R/root/")
# Guest: firmware and kernel.
mkdir -p "$R/k"
dpkg -x "$R"/debs/qemu-efi-aarch64_*.deb "$R/k"
cp "$R/k/usr/share/qemu-efi-aarch64/QEMU_EFI.fd" "$R/guest/"
dpkg -x "$R"/debs/linux-image-*.deb "$R/k"
cp "$R"/k/boot/vmlinuz-* "$R/guest/Image"
grep -q '^CONFIG_BLK_DEV_NVME=y' "$R"/k/boot/config-* || die "$kimg has no built-in NVMe driver"
qv=$(dpkg-deb -f "$R"/debs/qemu-system-arm_*.deb Version)
kv=$(dpkg-deb -f "$R"/debs/linux-image-*.deb Version)
rm -rf "$R/x" "$R/k" "$R/debs"
echo "qemu-system-arm $qv ($(wc -w <<<"$get") packages, $size MB downloaded, $(du -sm "$R/root" | cut -f1) MB kept), guest $kimg $kv" > "$R/version"
echo "$want" > "$R/stamp"
echo "real VMM: $(cat "$R/version") in $R"
