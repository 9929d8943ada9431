#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make install: the modules built by make modules into
# $DESTDIR/lib/modules/$KERNELRELEASE/updates/, the softdep that loads them
# before the SMMU driver into $DESTDIR/etc/modprobe.d/kvm-smmu-vmid.conf,
# then depmod if the kernel's own modules are there.
#   KERNELRELEASE  default: the release of KDIR (see ci/modules.sh)
#   MO             default: $CACHE/modules-$KERNELRELEASE
# Run alone: make install [KDIR= MO= DESTDIR= KERNELRELEASE=].
set -euo pipefail
. "$(dirname "$0")/modules.sh"
resolve_release
DESTDIR=${DESTDIR:-}
[ -z "$DESTDIR" ] || { mkdir -p "$DESTDIR" && DESTDIR=$(cd "$DESTDIR" && pwd -P); }
moddir=$DESTDIR/lib/modules/$KREL
for m in $KSV_MODULES; do
	ko=$MO/rust/$m.ko
	[ -f "$ko" ] || die "$ko is missing: run 'make modules' first"
	vm=$(modinfo -F vermagic "$ko")
	[ "${vm%% *}" = "$KREL" ] || die "$ko is for kernel '${vm%% *}', not '$KREL'"
done
install -d "$moddir/updates" "$DESTDIR/etc/modprobe.d"
for m in $KSV_MODULES; do
	install -m 0644 "$MO/rust/$m.ko" "$moddir/updates/"
	echo "  $moddir/updates/$m.ko"
done
# modprobe loads "pre:" modules one after the other, in this order, before
# arm_smmu_v3: smmu_v3_btm must be there when the SMMU is reset.
conf=$DESTDIR/etc/modprobe.d/kvm-smmu-vmid.conf
cat > "$conf" <<CONF
# kvm-smmu-vmid: load the VMID pinning and SMMUv3 BTM modules
# before the SMMUv3 driver, which decides BTM and VMIDs at SMMU reset.
softdep arm_smmu_v3 pre: $KSV_MODULES
CONF
chmod 0644 "$conf"
echo "  $conf"
if [ "${KSV_DEPMOD:-yes}" = no ]; then
	:
elif [ -d "$moddir/kernel" ] && [ -f "$moddir/modules.builtin" ]; then
	depmod -b "${DESTDIR:-/}" "$KREL"
	echo "  depmod -b ${DESTDIR:-/} $KREL: $(grep -c '^updates/' "$moddir/modules.dep") modules in updates/"
else
	echo "  depmod skipped: $moddir has no kernel/ and modules.builtin (the kernel's own modules are not installed there); run 'depmod $KREL' on the target"
fi
