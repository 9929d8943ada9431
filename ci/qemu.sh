#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot the test kernel: qemu.sh NAME CPU SMP MODE TIMEOUT [extra cmdline]
# The console goes to $LOGDIR/boot-NAME.log; exit 124 on timeout.
set -uo pipefail
. "$(dirname "$0")/env.sh"
name=$1 cpu=$2 smp=$3 mode=$4 tmo=$5
shift 5
log=$LOGDIR/boot-$name.log
mkdir -p "$LOGDIR"
timeout --foreground -k 5 "$tmo" qemu-system-aarch64 \
	-machine virt,virtualization=on,gic-version=3,iommu=smmuv3 \
	-cpu "$cpu" -smp "$smp" -m 2048 \
	-kernel "$KBUILD/arch/arm64/boot/Image" \
	-initrd "$INITRD" \
	-append "console=ttyAMA0 panic=-1 ksv.mode=$mode $*" \
	-nographic -no-reboot -nic none -monitor none -serial stdio ${KSV_QEMU_EXTRA:-} \
	< /dev/null > "$log" 2>&1
rc=$?
if [ $rc = 124 ] || [ $rc = 137 ]; then
	echo "error: boot '$name' timed out after ${tmo}s; last console lines:" >&2
	tail -n 25 "$log" >&2
	exit 124
fi
exit 0
