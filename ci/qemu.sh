#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot the test kernel: qemu.sh NAME CPU SMP MODE TIMEOUT [extra cmdline]
# KSV_BTM=1: the SMMUv3 emulates broadcast TLB maintenance (qemu/). Every
# boot traces the broadcast invalidations that reach its IOTLB, so that
# "nothing reached the SMMU" without the property can fail too.
# KSV_IMAGE=, KSV_INITRD=: another kernel and initramfs (ci/build-pristine.sh).
# KSV_MEM=: the guest's memory in MB (2048). KSV_TRACE=0: no SMMU trace;
# KSV_TRACE=btm: only the broadcast invalidations, to $LOGDIR/trace-NAME.log.
# KSV_EDU=N: N edu devices
# (1), one per VMM process of the random sequences (ksv.procs=).
# KSV_NVME=1: an NVMe controller on the disk of ci/realvmm/initramfs.sh
# (for the real VMM's guest; its writes go to a temporary overlay).
# The console goes to $LOGDIR/boot-NAME.log; exit 124 on timeout.
# Run alone: Documentation/testing.md, "Running one boot alone".
set -uo pipefail
. "$(dirname "$0")/env.sh"
name=$1 cpu=$2 smp=$3 mode=$4 tmo=$5
shift 5
log=$LOGDIR/boot-$name.log
mkdir -p "$LOGDIR"
# QEMU >= 10: the virt machine's SMMUv3 nests (stage 1 + stage 2). edu
# (PCI 1234:11e8) is a DMA engine for the end-to-end vSMMU test; the SMMU
# trace events show the VMID of every IOTLB fill and invalidation (on
# stderr, so in the same log as the console, in order).
[ -x "$QEMU" ] || die "no $QEMU: run 'make setup'"
# KSV_TRACE=0: no trace, for boots that do not read it (its lines would
# only cut into the console's).
trace=()
edu=()
for _ in $(seq "${KSV_EDU:-1}"); do edu+=(-device edu); done
if [ "${KSV_TRACE:-1}" = btm ]; then
	# To a file of its own: many lines, which would cut into the console's.
	rm -f "$LOGDIR/trace-$name.log"
	trace=(-trace "enable=smmuv3_btm_inval,file=$LOGDIR/trace-$name.log")
elif [ "${KSV_TRACE:-1}" != 0 ]; then
	trace=(-trace smmu_iotlb_insert -trace smmuv3_range_inval -trace smmu_iotlb_inv_vmid
	       -trace smmu_iotlb_inv_all -trace 'smmuv3_cmdq_tlbi_*' -trace smmuv3_record_event
	       -trace smmuv3_btm_inval)
fi
timeout --foreground -k 5 "$tmo" "$QEMU" \
	-machine virt,virtualization=on,gic-version=3,iommu=smmuv3 \
	"${edu[@]}" \
	${trace[@]+"${trace[@]}"} \
	${KSV_BTM:+-global arm-smmuv3.btm=on} \
	${KSV_NVME:+-drive file=$CACHE/realvmm/disk.img,if=none,id=nvm,format=raw,snapshot=on -device nvme,serial=ksv0,drive=nvm} \
	-cpu "$cpu" -smp "$smp" -m "${KSV_MEM:-2048}" \
	-kernel "${KSV_IMAGE:-$KBUILD/arch/arm64/boot/Image}" \
	-initrd "${KSV_INITRD:-$INITRD}" \
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
