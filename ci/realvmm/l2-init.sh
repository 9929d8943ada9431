#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# /init of the real VMM's guest (ci/realvmm/): Debian's cloud kernel under
# Debian's QEMU 11.1 with an accelerated vSMMU and an assigned NVMe
# controller. It shows the guest's SMMU, the controller behind it and the
# kind of its IOMMU domain, then runs ksv-l2io, which takes its commands
# from the host's script on the serial console. Every line for the host
# starts with "L2: ".
# Not run on the host: the guest's /init (ci/realvmm/initramfs.sh).
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "L2: kernel $(uname -r)"
dmesg | grep -E 'arm-smmu-v3|nvme' | sed 's/^\[[ 0-9.]*\] /L2: dmesg: /'
n=0
while [ ! -b /dev/nvme0n1 ] && [ $n -lt 20 ]; do sleep 1; n=$((n + 1)); done
bdf=$(basename "$(readlink /sys/class/nvme/nvme0/device)")
if [ ! -b /dev/nvme0n1 ] || [ -z "$bdf" ]; then
	echo "L2: probe FAIL no NVMe namespace"
	dmesg | grep -i -E 'nvme|smmu|iommu' | tail -n 20 | sed 's/^\[[ 0-9.]*\] /L2: dmesg: /'
else
	d=/sys/bus/pci/devices/$bdf
	iommu=$(readlink $d/iommu)
	group=$(readlink $d/iommu_group)
	echo "L2: probe nvme0 $bdf iommu ${iommu##*/} group ${group##*/} domain $(cat $d/iommu_group/type)"
	stty -echo 2>/dev/null
	/bin/ksv-l2io /dev/nvme0n1
	echo "L2: ksv-l2io exit $?"
fi
echo "L2: DONE"
poweroff -f
