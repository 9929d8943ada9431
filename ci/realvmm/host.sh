# SPDX-License-Identifier: GPL-2.0
# The real VMM's part of the emulated host's /init (ksv.mode=realvmm),
# installed as /lib/ksv-realvmm.sh and sourced by ci/guest-init.sh, which
# defines say(), load(), kmemleak_report() and $OURS, $modules.
#
# Debian's qemu-system-aarch64 11.1, unmodified, runs Debian's cloud
# kernel with UEFI and ACPI, an accelerated vSMMU (-device
# arm-smmuv3,accel=on) and an NVMe controller of the outer QEMU assigned
# through vfio-pci and iommufd. (Not edu: QEMU 11.1's IORT gives each
# assigned device a reserved memory range that is not relaxable, so the
# guest kernel refuses to hand it to VFIO; the guest's own nvme driver
# maps its buffers with the DMA API instead, through the guest's stage 1.)
# The guest's program (ci/realvmm/l2io.c) takes one command at a
# time from this script through the guest's serial console (a FIFO on
# QEMU's stdin) and answers "L2: ..." lines (QEMU's stdout, a file).
# Every line for ci/check_boot.py starts with "KSV: real-vmm: "; checks
# are "KSV: real-vmm: CHECK <name> ok|FAIL <detail>", and the DMA and
# unmap windows are marked so that the outer QEMU's SMMU trace in them
# can be checked.
# Not run on the host: ci/realvmm/initramfs.sh installs it; run alone with
# make run-vmm.
RV=/realvmm
RV_LIB=$RV/root/usr/lib/aarch64-linux-gnu
RV_FAILED=0
rv_say() { echo "KSV: real-vmm: $*"; }
rv_check() { # name 0|1 detail
	if [ "$2" = 1 ]; then rv_say "CHECK $1 ok $3"; else rv_say "CHECK $1 FAIL $3"; RV_FAILED=$((RV_FAILED + 1)); fi
}
# Debian's QEMU through its own loader and libraries (no merged /usr here).
rv_qemu() { "$RV_LIB/ld-linux-aarch64.so.1" --library-path "$RV_LIB" "$RV/root/usr/bin/qemu-system-aarch64" "$@"; }

# What a VMM leaves behind: KVM's pins, vSMMU records, our modules'
# reference counts, VMs, VFIO cdevs open.
rv_state() {
	local p=/sys/kernel/debug/kvm_vmid_pin/state s=/sys/kernel/debug/smmu_v3_btm/state
	echo "pinned=$(sed -n 's/^pinned: //p' $p 2>/dev/null) refs=[$(sed -n 's/^vmid refs: *//p' $p 2>/dev/null)]" \
		"vsmmus=$(grep -c '^  vsmmu ' $s 2>/dev/null)" \
		"refcnt=$(cat /sys/module/kvm_vmid_pin/refcnt 2>/dev/null || echo -)/$(cat /sys/module/smmu_v3_btm/refcnt 2>/dev/null || echo -)" \
		"vms=$(ls -d /sys/kernel/debug/kvm/*-* 2>/dev/null | wc -l)"
}

# The guest's answers since the last command, without the console's CRs.
rv_out() { tail -n +"$RV_LINE" /tmp/l2out | tr -d '\r'; }
# Waits up to $2 s for a line matching $1 among them; prints it.
rv_wait() {
	local n=0
	while [ $n -lt "$2" ]; do
		if rv_out | grep -m1 -E "$1"; then return 0; fi
		kill -0 "$RV_PID" 2>/dev/null || { rv_out | grep -m1 -E "$1"; return; }
		sleep 1
		n=$((n + 1))
	done
	return 1
}
# Sends one command; prints the answer that matches $2 (timeout $3 s),
# then waits for the guest's next READY.
rv_cmd() {
	local ans
	RV_LINE=$(($(wc -l < /tmp/l2out) + 1))
	echo "$1" >&3
	ans=$(rv_wait "$2" "$3") || { echo "no answer to '$1' in $3 s"; return 1; }
	echo "$ans"
	rv_wait '^L2: READY' 30 > /dev/null
}

rv_start() { # label
	rm -f /tmp/l2in /tmp/l2out
	mkfifo /tmp/l2in
	: > /tmp/l2out
	rv_say "RUN-BEGIN $1"
	# The command line of Debian's QEMU 11.1 documentation for an
	# accelerated SMMUv3 with an assigned device (ACPI: it refuses DT).
	# exec: $! is QEMU itself, the process that is killed and waited for.
	(exec "$RV_LIB/ld-linux-aarch64.so.1" --library-path "$RV_LIB" "$RV/root/usr/bin/qemu-system-aarch64" \
		-accel kvm -machine virt,gic-version=3 -cpu host -smp 1 -m 512 \
		-display none -monitor none -serial stdio -nic none -no-reboot \
		-bios $RV/guest/QEMU_EFI.fd -kernel $RV/guest/Image -initrd $RV/guest/initrd.gz \
		-append "console=ttyAMA0 panic=-1 quiet" \
		-object iommufd,id=iommufd0 \
		${RV_NO_VIOMMU:--device arm-smmuv3,primary-bus=pcie.0,id=smmuv3.0,accel=on} \
		-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1 \
		-device vfio-pci,host="$RV_BDF",bus=rp0,iommufd=iommufd0 \
		-trace iommufd_backend_alloc_viommu -trace iommufd_backend_invalidate_cache \
		) < /tmp/l2in > /tmp/l2out 2>&1 &
	RV_PID=$!
	exec 3> /tmp/l2in
	RV_LINE=1
	RV_T0=$(cut -d' ' -f1 /proc/uptime)
}
# The guest's and QEMU's lines of a run, for the log.
rv_replay() { tr -d '\r' < /tmp/l2out | grep -E '^L2: |^qemu|iommufd_backend|error|warning' | sed 's/^/KSV: real-vmm: | /'; }
rv_end() { # label
	exec 3>&-
	rv_replay
	rv_say "RUN-END $1 (QEMU exit $RV_RC, $(awk -v t="$RV_T0" '{printf "%.0f", $1 - t}' /proc/uptime) s)"
}

# The vSMMU of QEMU's VM in smmu_v3_btm's debugfs: "<vmid> <vm name>".
rv_vsmmu() { sed -n 's/^  vsmmu [0-9]*: vmid \([0-9]*\) source kvm-pin (vm \(.*\))$/\1 \2/p' /sys/kernel/debug/smmu_v3_btm/state 2>/dev/null; }
rv_pinned() { sed -n 's/^vmid refs: *//p' /sys/kernel/debug/kvm_vmid_pin/state 2>/dev/null | tr ' ' '\n' | grep -q "^$1:"; }

# Guest I/O in a marked window: every IOTLB fill in it is the device's.
rv_io() { # label command expect-vmid
	local a inv0 inv1
	inv0=$(grep -c 'iommufd_backend_invalidate_cache .*(0)' /tmp/l2out)
	rv_say "DMA-BEGIN $1 expect-vmid=$3"
	a=$(rv_cmd "$2" "^L2: ${2%% *} (ok|FAIL)" 120)
	rv_say "DMA-END $1"
	inv1=$(grep -c 'iommufd_backend_invalidate_cache .*(0)' /tmp/l2out)
	rv_say "INVALIDATIONS $1 $((inv1 - inv0))"
	rv_check "real-vmm-dma-$1" "$(echo "$a" | grep -q "^L2: ${2%% *} ok" && echo 1 || echo 0)" "$a"
}

# A whole run: probe, VMID, DMA, (rollovers), quit or kill.
rv_run() { # quit|kill kind
	local end=$1 kind=$2 a vm vmid name b ok
	rv_start "$end"
	a=$(rv_wait '^L2: (setup|probe) FAIL|^L2: READY' 300)
	b=$(tr -d '\r' < /tmp/l2out | grep -m1 '^L2: probe ')
	ok=0
	echo "$b" | grep -q 'iommu smmu3\..* domain DMA' && echo "$a" | grep -q READY && ok=1
	rv_check real-vmm-probe $ok "the guest's arm-smmu-v3 probed the vSMMU; the NVMe controller is behind it, in a translated (DMA) domain: ${b#L2: probe } ($(awk -v t="$RV_T0" '{printf "%.0f", $1 - t}' /proc/uptime) s after QEMU started)"
	if [ $ok = 0 ]; then
		rv_wait '^L2: DONE' 60 > /dev/null
		kill -9 "$RV_PID" 2>/dev/null
		wait "$RV_PID"
		RV_RC=$?
		rv_end "$end"
		return
	fi
	vm=$(rv_vsmmu)
	vmid=${vm%% *} name=${vm#* }
	if [ "$kind" = series ]; then
		ok=0
		[ -n "$vm" ] && rv_pinned "$vmid" && [ "${name#kvm-}" = "$RV_PID" ] && ok=1
		rv_check real-vmm-vmid $ok "QEMU's vSMMU uses its VM's pinned VMID: vmid '$vmid' source kvm-pin, VM '$name' of QEMU pid $RV_PID, KVM pins [$(sed -n 's/^vmid refs: *//p' /sys/kernel/debug/kvm_vmid_pin/state)]"
	else
		ok=0
		[ -z "$vm" ] && ok=1
		rv_check real-vmm-vmid $ok "no KVM VMID for QEMU's vSMMU (upstream: the nest parent's VMID): '$vm'"
		vmid=upstream
	fi
	rv_io read-all read-all "$vmid"
	rv_io write-read "dma 5" "$vmid"
	if [ "$end" = kill ]; then
		RV_LINE=$(($(wc -l < /tmp/l2out) + 1))
		echo loop >&3
		a=$(rv_wait '^L2: loop 20 ' 120)
		kill -9 "$RV_PID"
		wait "$RV_PID"
		RV_RC=$?
		rv_say "killed QEMU during: $a"
		rv_end "$end"
		return
	fi
	if [ "$kind" = series ]; then
		a=$(/bin/ksv-vsmmu --force-rollovers 3 | grep 'CHECK forced-rollovers')
		vm=$(rv_vsmmu)
		rv_io after-rollovers "dma 7" "$vmid"
		ok=0
		echo "$a" | grep -q 'forced-rollovers ok' && [ "${vm%% *}" = "$vmid" ] && rv_pinned "$vmid" && ok=1
		rv_check real-vmm-rollovers $ok "${a#*forced-rollovers }; QEMU's vSMMU after them: vmid '${vm%% *}' (was $vmid), still pinned"
	fi
	a=$(rv_cmd quit '^L2: quit ok' 30)
	# The guest powers off; QEMU exits by itself.
	b=0
	while kill -0 "$RV_PID" 2>/dev/null && [ $b -lt 120 ]; do sleep 1; b=$((b + 1)); done
	kill -0 "$RV_PID" 2>/dev/null && kill -9 "$RV_PID"
	wait "$RV_PID"
	RV_RC=$?
	rv_end "$end"
}

# make bench: the trapped path's cost with the real VMM. One 4 KiB read
# is one DMA map and unmap in the guest; with the accelerated vSMMU the
# unmap's invalidation traps to QEMU (IOMMU_HWPT_INVALIDATE), without a
# vIOMMU the guest maps nothing. Under -icount shift=0 (ci/bench.sh) the
# guest's nanoseconds are the emulated host's instructions.
realvmm_bench() {
	local cfg a
	for cfg in accel-vsmmu no-viommu; do
		RV_NO_VIOMMU=
		[ $cfg = no-viommu ] && RV_NO_VIOMMU=" "
		rv_start bench-$cfg
		rv_wait '^L2: (setup|probe) FAIL|^L2: READY' 600 > /dev/null
		rv_cmd "bench 20" '^L2: bench (ok|FAIL)' 600 > /dev/null
		a=$(rv_cmd "bench 500" '^L2: bench (ok|FAIL)' 1200)
		rv_cmd quit '^L2: quit ok' 60 > /dev/null
		wait "$RV_PID"
		RV_RC=$?
		say "bench: real VMM, $cfg: ${a#L2: bench }"
		rv_end bench-$cfg
	done
}

realvmm_main() {
	local kind=upstream before after bdf d
	say "kernel $(uname -r): $(dmesg | grep -m1 -o "kvm \[1\]: .*mode.*")"
	if [ "$modules" = 1 ] && [ -s $OURS/order ]; then
		kind=series
		for m in $(cat $OURS/order); do load $m; done
	fi
	if modprobe arm_smmu_v3; then say "modprobe arm_smmu_v3 ok"; else say "modprobe arm_smmu_v3 FAILED"; fi
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat $d/vendor)" = 0x1b36 ] && [ "$(cat $d/device)" = 0x0010 ] && RV_BDF=${d##*/}
	done
	[ -n "$RV_BDF" ] || { rv_check real-vmm-setup 0 "no NVMe controller (1b36:0010): boot with ci/realvmm/qemu-args"; return; }
	modprobe vfio-pci
	[ -e /sys/bus/pci/devices/$RV_BDF/driver ] && echo "$RV_BDF" > /sys/bus/pci/devices/$RV_BDF/driver/unbind
	echo vfio-pci > /sys/bus/pci/devices/$RV_BDF/driver_override
	echo "$RV_BDF" > /sys/bus/pci/drivers_probe
	# TEST ONLY: QEMU's SMMUv3 has neither S2FWB nor CANWBS.
	insmod $OURS/test/ksv_canwbs.ko dev=$RV_BDF && say "ksv_canwbs: $RV_BDF marked CANWBS (test only)"
	rv_say "BEGIN $kind: Debian's QEMU $(rv_qemu --version | head -n1), guest $(cat $RV/guest/version)"
	if [ "$realvmm_bench" = 1 ]; then
		realvmm_bench
		rv_say "END $kind"
		return
	fi
	dmesg -c > /dev/null
	dmesg -n 1
	before=$(rv_state)
	rv_say "state before: $before"
	rv_run quit $kind
	after=$(rv_state)
	rv_check real-vmm-quit "$([ "$after" = "$before" ] && [ "$RV_RC" = 0 ] && echo 1 || echo 0)" \
		"QEMU exited $RV_RC after the guest powered off; state after: $after"
	if [ "$kind" = series ]; then
		rv_run kill $kind
		after=$(rv_state)
		rv_check real-vmm-kill "$([ "$after" = "$before" ] && [ "$RV_RC" = 137 ] && echo 1 || echo 0)" \
			"QEMU SIGKILLed mid-DMA (exit $RV_RC); state after: $after"
	fi
	dmesg -n 7
	replay_splats 'smmu|ksv_canwbs|kvm_vmid_pin|vfio|iommufd'
	rmmod ksv_canwbs
	rv_say "summary: $RV_FAILED check(s) failed"
	rv_say "END $kind"
	if [ "$kind" = series ]; then
		for m in $(sed '1!G;h;$!d' $OURS/order); do
			if grep -q 'btm_in_use: yes' /sys/kernel/debug/smmu_v3_btm/state 2>/dev/null; then
				if rmmod $m 2>/dev/null; then say "rmmod $m ok (UNEXPECTED: an SMMU runs with BTM)"
				else say "rmmod $m refused while an SMMU runs with BTM"; fi
			else
				unload $m
			fi
		done
	fi
	kmemleak_report
}
