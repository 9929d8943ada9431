#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make deb: kvm-smmu-vmid-modules-<kernelrelease>_<version>_arm64.deb from
# the modules built by make modules (same KDIR/MO/KERNELRELEASE), with
# dpkg-deb only. Written to $DEBDIR (default $CACHE/deb).
#   Version: $KSV_VERSION, default 0.1+git<commits>.<describe>[.dirty]
#   (0.1 outside a git checkout).
#   Depends: linux-image-<kernelrelease>, the name of Debian's image
#   package for a release (and of make bindeb-pkg's), or its -unsigned twin.
# Run alone: make deb [KDIR= MO= KERNELRELEASE=] (make modules first).
set -euo pipefail
. "$(dirname "$0")/modules.sh"
resolve_release
DEBDIR=${DEBDIR:-$CACHE/deb}
pkg=kvm-smmu-vmid-modules-$KREL
# Read-only git (no index refresh: another git may be running here).
if [ -z "${KSV_VERSION:-}" ] && d=$(GIT_OPTIONAL_LOCKS=0 git -C "$TOP" describe --always --dirty 2>/dev/null); then
	KSV_VERSION=0.1+git$(git -C "$TOP" rev-list --count HEAD).${d//-/.}
fi
ver=${KSV_VERSION:-0.1}
stage=$DEBDIR/stage-$KREL
rm -rf "$stage"
DESTDIR=$stage KERNELRELEASE=$KREL MO=$MO KSV_DEPMOD=no "$TOP/ci/install.sh" >/dev/null
# One package per kernel release, and several may be installed at once:
# the softdep goes to a per-release file in the packages' directory
# (/etc/modprobe.d stays the administrator's).
mkdir -p "$stage/lib/modprobe.d"
mv "$stage/etc/modprobe.d/kvm-smmu-vmid.conf" "$stage/lib/modprobe.d/kvm-smmu-vmid-$KREL.conf"
rm -r "$stage/etc"
doc=$stage/usr/share/doc/$pkg
mkdir -p "$doc" "$stage/DEBIAN"
cat > "$doc/README" <<DOC
kvm-smmu-vmid modules for Linux $KREL ($ver)

  /lib/modules/$KREL/updates/{$(echo $KSV_MODULES | tr ' ' ,)}.ko
  /lib/modprobe.d/kvm-smmu-vmid-$KREL.conf:
      softdep arm_smmu_v3 pre: $KSV_MODULES

modprobe (kmod) loads the two modules, in that order, whenever it loads
arm_smmu_v3, so that smmu_v3_btm decides BTM and the SMMU's VMIDs at SMMU
reset. See it in dmesg:
  smmu_v3_btm: <smmu>: <decision> (IDR0.BTM <0|1>, CR2.PTM <set|cleared>)
If arm_smmu_v3 is loaded from the initramfs, rebuild it after installing
(update-initramfs -u -k $KREL; the postinst does so if one exists).
Loaded after the SMMU probed, smmu_v3_btm changes nothing live.
Debugfs: kvm_vmid_pin/state, smmu_v3_btm/state.
The modules are not signed.
DOC
cat > "$doc/copyright" <<DOC
kvm-smmu-vmid kernel modules.
License: GPL-2.0 (see /usr/share/common-licenses/GPL-2).
DOC
for s in postinst postrm; do
	cat > "$stage/DEBIAN/$s" <<SCRIPT
#!/bin/sh
set -e
# depmod (and the initramfs, which may load arm_smmu_v3) for $KREL only.
case "\$1" in configure|remove|purge) ;; *) exit 0;; esac
if [ -f /lib/modules/$KREL/modules.builtin ]; then
	depmod $KREL
	if [ -x /usr/sbin/update-initramfs ] && [ -e /boot/initrd.img-$KREL ]; then
		update-initramfs -u -k $KREL || echo "$pkg: update-initramfs failed" >&2
	fi
fi
exit 0
SCRIPT
	chmod 0755 "$stage/DEBIAN/$s"
done
cat > "$stage/DEBIAN/control" <<CTRL
Package: $pkg
Source: kvm-smmu-vmid
Version: $ver
Architecture: arm64
Maintainer: ${DEBFULLNAME:-kvm-smmu-vmid developers} <${DEBEMAIL:-root@localhost}>
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: linux-image-$KREL | linux-image-$KREL-unsigned
Section: kernel
Priority: optional
Description: pinned KVM VMIDs for SMMUv3 stage 2 with BTM (Linux $KREL)
 Rust modules kvm_vmid_pin and smmu_v3_btm for a kernel with
 the kvm-smmu-vmid patches, and the modprobe softdep that loads them before
 arm_smmu_v3.
CTRL
(cd "$stage" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
deb=$DEBDIR/${pkg}_${ver}_arm64.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
rm -rf "$stage"
echo "$deb ($(stat -c %s "$deb") bytes)"
