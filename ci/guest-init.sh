#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# /init of the test initramfs (busybox). The host reads the console:
# every line this script prints starts with "KSV:".
# Not run on the host: ci/initramfs.sh installs it as /init; ksv.mode= on
# the kernel command line (ci/qemu.sh MODE) picks what it does.
/bin/busybox --install -s /bin
. /lib/ksv-guest.sh
guest_mounts
export PATH=/bin:/sbin:/usr/bin

mode=test override=0 rollovers=0 modules=1 max_pins= kunit=1 btm= realvmm_bench=0
seeds=1 steps=300 soak=0 procs=1 secs=60 migrate=100
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	ksv.mode=*) mode=${arg#ksv.mode=};;
	ksv.override=*) override=${arg#ksv.override=};;
	ksv.rollovers=*) rollovers=${arg#ksv.rollovers=};;
	ksv.modules=*) modules=${arg#ksv.modules=};;
	ksv.max_pins=*) max_pins=${arg#ksv.max_pins=};;
	ksv.btm=*) btm=${arg#ksv.btm=};;
	ksv.realvmm_bench=1) realvmm_bench=1;;
	ksv.seeds=*) seeds=${arg#ksv.seeds=};;
	ksv.steps=*) steps=${arg#ksv.steps=};;
	ksv.soak=1) soak=1;;
	ksv.procs=*) procs=${arg#ksv.procs=};;
	ksv.secs=*) secs=${arg#ksv.secs=};;
	ksv.migrate=*) migrate=${arg#ksv.migrate=};;
	kunit.enable=0) kunit=0;;
	esac
done
say() { echo "KSV: $*"; }
# The test build's modules create the VMs their KUnit tests take only when
# asked, and only boots that run KUnit ask: a boot without KUnit has no VM
# (the virt-off boot needs none).
test_vms() { [ "$kunit" = 1 ] && echo test_vms=1; }
OURS=/lib/modules/ksv

# Load one of our modules: its KUnit suites run now, with the modules
# before it in $OURS/order loaded (smmu_v3_btm needs kvm_vmid_pin).
# The kernel log of a load is replayed from dmesg, prefixed "KSV-KMSG: ":
# on the console, printk output can arrive after insmod has returned.
load() {
	m=$1
	args=
	# TEST ONLY: QEMU's SMMUv3 has no BTM; the test build of smmu_v3_btm
	# can treat it as if it had, so that the BTM-in-use path runs.
	if [ "$m" = smmu_v3_btm ] && [ "$override" = 1 ]; then
		args=test_assume_btm=1
		say "TEST OVERRIDE: insmod smmu_v3_btm $args (QEMU's SMMU treated as having IDR0.HYP; C still requires IDR0.BTM)"
	fi
	[ "$m" = kvm_vmid_pin ] && [ -n "$max_pins" ] && args="$args max_pins=$max_pins"
	args="$args $(test_vms)"
	say "BEGIN $m"
	dmesg -c >/dev/null
	if insmod $OURS/$m.ko $args; then say "insmod $m ok"; else say "insmod $m FAILED rc=$?"; fi
	dmesg | sed 's/^\[[ 0-9.]*\] /KSV-KMSG: /'
	say "END $m"
}
unload() {
	if rmmod $1; then say "rmmod $1 ok"; else say "rmmod $1 FAILED"; fi
}
state() {
	for f in /sys/kernel/debug/*/state; do
		case "$f" in */kvm_vmid_pin/*|*/smmu_v3_btm/*)
			sed "/^$/d; s|^|KSV: $(basename $(dirname $f))/$(basename $f): |" $f;;
		esac
	done
}

# The end-to-end vSMMU test (ci/guest/vsmmu/, ksv-vsmmu) on QEMU's edu device.
# The real pin module, then ksv_badbtm (a BTM module that answers wrongly,
# test-only) before arm_smmu_v3 probes the SMMU at QEMU virt's address.
badbtm_setup() {
	say "kernel $(uname -r): $(dmesg | grep -m1 -o "kvm \[1\]: .*mode.*")"
	load kvm_vmid_pin
	if insmod $OURS/test/ksv_badbtm.ko base=0x09050000; then say "insmod ksv_badbtm ok"; fi
	if modprobe arm_smmu_v3; then say "modprobe arm_smmu_v3 ok"; else say "modprobe arm_smmu_v3 FAILED"; fi
}
e2e() {
	say "BEGIN e2e"
	dmesg -c >/dev/null
	ra=
	[ "$rollovers" -gt 0 ] && ra="--rollovers $rollovers"
	# Both then move vCPU threads inside their stage-2 faults, ksv.migrate=
	# VMs a round (migrate.c: the reproducer of known-issues.md's WARN).
	[ "$1" = reserve ] && set -- kvm && ra="--reserve-rollover --migrate-faults $migrate"
	[ "$1" = vmfile ] && set -- upstream && ra="--vm-file pristine --migrate-faults $migrate"
	# ksv.btm=yes|no: the guest-stage-1 BTM test, expecting that the
	# guest's TLBI reaches the SMMU (QEMU's SMMU has BTM) or not.
	[ -n "$btm" ] && ra="$ra --btm $btm"
	# Kernel messages on the console could cut into the program's lines:
	# keep them off the console and replay them from dmesg afterwards.
	dmesg -n 1
	/bin/ksv-vsmmu --expect $1 $ra
	say "ksv-vsmmu exit $?"
	dmesg -n 7
	# Our modules' lines, and every kernel splat whole (to its end marker).
	replay_splats 'smmu|ksv_canwbs|kvm_vmid_pin'
	state
	say "END e2e"
}

case "$mode" in
probefail)
	# An SMMU probe that fails after the device reset (a test helper took
	# the SMMU's IOMMU sysfs name, so iommu_device_sysfs_add() fails) must
	# give smmu_v3_btm back its record and the module reference that the
	# reset took with BTM in use (QEMU's SMMU has BTM: KSV_BTM=1).
	for m in $(cat $OURS/order); do load $m; done
	say "BEGIN probefail"
	dmesg -c >/dev/null
	if insmod $OURS/test/ksv_iommu_name.ko name=smmu3.0x0000000009050000; then
		say "the SMMU's IOMMU name is taken"
	fi
	if modprobe arm_smmu_v3; then say "modprobe arm_smmu_v3 ok"; fi
	dmesg | sed 's/^\[[ 0-9.]*\] /KSV-KMSG: /'
	say "smmu_v3_btm refcnt after the failed probe: $(cat /sys/module/smmu_v3_btm/refcnt)"
	say "kvm_vmid_pin refcnt after the failed probe: $(cat /sys/module/kvm_vmid_pin/refcnt)"
	sed "/^$/d; s/^/KSV: debugfs smmu_v3_btm\/state: /" /sys/kernel/debug/smmu_v3_btm/state
	rmmod arm_smmu_v3
	rmmod ksv_iommu_name
	if rmmod smmu_v3_btm; then say "rmmod smmu_v3_btm ok"; else say "rmmod smmu_v3_btm FAILED"; fi
	say "END probefail"
	unload kvm_vmid_pin
	;;
random)
	# Seeded random sequences of the uapi (ci/guest/vsmmu/random.c), one
	# run per seed, each of ksv.procs= VMM processes at once; ksv.soak=1:
	# while another process forces KVM rollovers without pause.
	say "kernel $(uname -r): $(dmesg | grep -m1 -o "kvm \[1\]: .*mode.*")"
	for m in $(cat $OURS/order); do load $m; done
	if modprobe arm_smmu_v3; then say "modprobe arm_smmu_v3 ok"; else say "modprobe arm_smmu_v3 FAILED"; fi
	say "BEGIN random"
	dmesg -n 1
	r0=$(sed -n 's/^rollovers: //p' /sys/kernel/debug/kvm_vmid_pin/state)
	bg=
	if [ "$soak" = 1 ]; then
		(while :; do /bin/ksv-vsmmu --force-rollovers 1 --mark > /dev/null; done) &
		bg=$!
	fi
	t0=$(cut -d. -f1 /proc/uptime)
	for s in $(echo $seeds | tr , ' '); do
		/bin/ksv-vsmmu --expect kvm --random $s --steps $steps --procs $procs
		say "ksv-vsmmu exit $?"
	done
	[ -n "$bg" ] && kill $bg && wait $bg 2>/dev/null
	say "random: $(( $(cut -d. -f1 /proc/uptime) - t0 )) s, $(( $(sed -n 's/^rollovers: //p' /sys/kernel/debug/kvm_vmid_pin/state) - r0 )) KVM rollovers meanwhile"
	dmesg -n 7
	replay_splats
	state
	say "END random"
	kmemleak_report
	;;
failnth)
	# The kernel's fault injection (FAILSLAB, FAIL_PAGE_ALLOC, fail-nth):
	# the insmod of each of our modules (when there are any), then, with
	# them loaded and the SMMU probed, each ioctl of this series' paths
	# (ci/guest/vsmmu/failnth.c), then upstream's iommufd_fail_nth.
	say "kernel $(uname -r): $(dmesg | grep -m1 -o "kvm \[1\]: .*mode.*")"
	expect=upstream
	say "BEGIN failnth"
	dmesg -n 1
	for m in $(cat $OURS/order); do
		expect=kvm
		/bin/ksv-vsmmu --expect kvm --fail-nth-insmod $OURS/$m.ko
		if insmod $OURS/$m.ko; then say "insmod $m ok"; else say "insmod $m FAILED"; fi
	done
	if modprobe arm_smmu_v3; then say "modprobe arm_smmu_v3 ok"; else say "modprobe arm_smmu_v3 FAILED"; fi
	/bin/ksv-vsmmu --expect $expect --fail-nth
	say "ksv-vsmmu exit $?"
	t0=$(cut -d. -f1 /proc/uptime)
	/bin/iommufd_fail_nth 2>&1 | grep -E '^(not ok|# Totals|# FAILED)|timeout|terminated' | sed 's/^/KSV: fail_nth: /'
	say "iommufd_fail_nth took $(( $(cut -d. -f1 /proc/uptime) - t0 )) s"
	dmesg -n 7
	replay_splats
	say "END failnth"
	kmemleak_report
	;;
probesweep)
	# The kernel's fault injection on arm_smmu_v3's load and the SMMU's
	# probe with BTM, our modules loaded (ci/guest/vsmmu/probe.c).
	say "kernel $(uname -r): $(dmesg | grep -m1 -o "kvm \[1\]: .*mode.*")"
	for m in $(cat $OURS/order); do load $m; done
	say "BEGIN failnth"
	dmesg -n 1
	t0=$(cut -d. -f1 /proc/uptime)
	/bin/ksv-vsmmu --expect kvm --fail-nth-probe \
		/lib/modules/$(uname -r)/kernel/drivers/iommu/arm/arm-smmu-v3/arm_smmu_v3.ko
	say "ksv-vsmmu exit $?"
	say "the probe's sweep took $(( $(cut -d. -f1 /proc/uptime) - t0 )) s"
	dmesg -n 7
	replay_splats
	state
	say "END failnth"
	kmemleak_report
	;;
realvmm)
	# Debian's QEMU 11.1 with an accelerated vSMMU and a Linux guest
	# (ci/realvmm/): with our modules (ksv.modules=1, BTM), without them,
	# or on the unpatched kernel (its initramfs has no module of ours).
	. /lib/ksv-realvmm.sh
	realvmm_main
	;;
vmfile)
	# The unpatched kernel (ci/build-pristine.sh): what a VMM sees when it
	# closes the VM fd with a device open, without the series.
	say "kernel $(uname -r): $(dmesg | grep -m1 -o "kvm \[1\]: .*mode.*")"
	if modprobe arm_smmu_v3; then say "modprobe arm_smmu_v3 ok"; else say "modprobe arm_smmu_v3 FAILED"; fi
	e2e vmfile
	;;
reserve)
	# A VMID rollover caused by a reservation with no VM alive (booted
	# with kvm.enable_virt_at_load=0: EL2 is torn down between VMs).
	say "kernel $(uname -r): $(dmesg | grep -m1 -o "kvm \[1\]: .*mode.*")"
	for m in $(cat $OURS/order); do load $m; done
	if modprobe arm_smmu_v3; then say "modprobe arm_smmu_v3 ok"; else say "modprobe arm_smmu_v3 FAILED"; fi
	e2e reserve
	unload kvm_vmid_pin
	;;
reserve-loop)
	# The reserve test and the moved stage-2 faults (mode reserve) again
	# and again for ksv.secs= seconds, with kvm.enable_virt_at_load=0,
	# while two busy loops keep both CPUs contended, so that the VMs' vCPU
	# threads are also preempted and migrate at random (make soak: the hunt
	# for the mark_page_dirty_in_slot WARN, Documentation/known-issues.md).
	# The boot check fails on any WARN.
	say "kernel $(uname -r): $(dmesg | grep -m1 -o "kvm \[1\]: .*mode.*")"
	for m in $(cat $OURS/order); do load $m; done
	if modprobe arm_smmu_v3; then say "modprobe arm_smmu_v3 ok"; else say "modprobe arm_smmu_v3 FAILED"; fi
	say "BEGIN reserve-loop"
	dmesg -c >/dev/null
	dmesg -n 1
	(while :; do :; done) & h1=$!
	(while :; do :; done) & h2=$!
	t0=$(cut -d. -f1 /proc/uptime) runs=0 bad=0
	while [ $(( $(cut -d. -f1 /proc/uptime) - t0 )) -lt "$secs" ]; do
		/bin/ksv-vsmmu --expect kvm --reserve-rollover --migrate-faults $migrate > /tmp/reserve.out 2>&1 || {
			bad=$((bad + 1)); grep -a 'FAIL' /tmp/reserve.out | head -n 3; }
		runs=$((runs + 1))
	done
	kill $h1 $h2
	wait $h1 $h2 2>/dev/null
	say "reserve-loop: $runs runs ($runs rollovers by reservation, each after 120 VMs and with EL2 torn down, $((runs * 2 * migrate)) VMs with $((runs * 2 * migrate * 16)) vCPU threads moved inside a stage-2 fault) in $(( $(cut -d. -f1 /proc/uptime) - t0 )) s, $bad failed, $(dmesg | grep -c 'WARNING:') WARNs"
	dmesg -n 7
	replay_splats
	state
	say "END reserve-loop"
	kmemleak_report
	;;
e2e)
	# Upstream behaviour, for comparison: without our modules, or with them
	# but without BTM (QEMU's SMMU without its btm property).
	say "kernel $(uname -r): $(dmesg | grep -m1 -o "kvm \[1\]: .*mode.*")"
	if [ "$modules" = 1 ]; then
		for m in $(cat $OURS/order); do
			if insmod $OURS/$m.ko; then say "insmod $m ok"; else say "insmod $m FAILED"; fi
		done
	else
		say "our modules are not loaded"
	fi
	if modprobe arm_smmu_v3; then say "modprobe arm_smmu_v3 ok"; else say "modprobe arm_smmu_v3 FAILED"; fi
	state
	e2e upstream
	if [ "$modules" = 1 ]; then
		for m in $(sed '1!G;h;$!d' $OURS/order); do unload $m; done
	fi
	kmemleak_report
	;;
badmods)
	# Test-only modules that answer wrongly (kunit/helpers/ksv_bad*.c):
	# C must enforce what must hold whatever they say. A BTM module that
	# always asks for BTM and offers VMID 7 for everything, on an SMMU
	# without BTM and with the real pin module loaded (so that BTM could
	# be held): CR2.PTM must stay set and the VMM see upstream behaviour.
	# Then a pin module that returns wrong indices: KVM must refuse them.
	badbtm_setup
	e2e upstream
	say "BEGIN badmods"
	dmesg -c >/dev/null
	say "ksv_badbtm refcnt $(cat /sys/module/ksv_badbtm/refcnt) (1 or more: the SMMU holds it, BTM is on)"
	if rmmod ksv_badbtm; then say "rmmod ksv_badbtm ok"; else say "rmmod ksv_badbtm FAILED"; fi
	unload kvm_vmid_pin
	insmod $OURS/test/ksv_badpin.ko && rmmod ksv_badpin
	dmesg | sed 's/^\[[ 0-9.]*\] /KSV-KMSG: /'
	say "END badmods"
	kmemleak_report
	;;
badbtm)
	# The same BTM module that answers wrongly, on QEMU's SMMU with BTM and
	# the real pin module: the SMMU runs with BTM (held by both modules),
	# and a vSMMU must not take the VMID 7 it offers.
	badbtm_setup
	say "BEGIN badbtm"
	dmesg -c >/dev/null
	dmesg -n 1
	/bin/ksv-vsmmu --expect kvm --bad-vmid
	say "ksv-vsmmu exit $?"
	dmesg -n 7
	for c in use_btm vmid_get vmid_put remove; do
		say "ksv_badbtm $c calls: $(cat /sys/module/ksv_badbtm/parameters/${c}_calls)"
	done
	# It unregisters while the SMMU runs with BTM: refused, or the driver
	# would be left holding a module whose ops it no longer reaches.
	echo 1 > /sys/module/ksv_badbtm/parameters/try_unregister
	say "ksv_badbtm unregistering while held: $(cat /sys/module/ksv_badbtm/parameters/unregister_ret)"
	dmesg | sed 's/^\[[ 0-9.]*\] /KSV-KMSG: /'
	say "END badbtm"
	kmemleak_report
	;;
test)
	say "kernel $(uname -r): $(dmesg | grep -m1 -o "kvm \[1\]: .*mode.*")"
	for m in $(cat $OURS/order); do load $m; done
	# The SMMU driver probes after smmu_v3_btm: its hooks decide CR2.
	pins() { sed -n 's/^pins: //p' /sys/kernel/debug/kvm_vmid_pin/state; }
	p0=$(pins)
	say "BEGIN arm-smmu-v3-test"
	dmesg -c >/dev/null
	if modprobe arm-smmu-v3-test; then say "modprobe arm-smmu-v3-test ok"; else say "modprobe arm-smmu-v3-test FAILED"; fi
	# The SMMU's reset asks KVM whether it can pin; it must not take a VMID.
	say "kvm_vmid_pin pins taken by the SMMU probe: $(( $(pins) - p0 ))"
	dmesg | sed 's/^\[[ 0-9.]*\] /KSV-KMSG: /'
	say "END arm-smmu-v3-test"
	state
	unload arm_smmu_v3_test 2>/dev/null || rmmod arm-smmu-v3-test
	e2e kvm
	# arm_smmu_v3 stays: an IOMMU driver in use cannot be unloaded.
	for m in $(sed '1!G;h;$!d' $OURS/order); do
		if grep -q 'btm_in_use: yes' /sys/kernel/debug/smmu_v3_btm/state 2>/dev/null; then
			# An SMMU runs with BTM (CR2.PTM cleared): it holds both
			# modules, so unloading either must fail.
			if rmmod $m 2>/dev/null; then
				say "rmmod $m ok (UNEXPECTED: an SMMU runs with BTM)"
			else
				say "rmmod $m refused while an SMMU runs with BTM"
			fi
			continue
		fi
		unload $m
	done
	kmemleak_report
	;;
iommufd)
	# Upstream iommufd selftests on the patched iommufd, our modules loaded.
	say "BEGIN iommufd-selftest"
	echo 64 > /proc/sys/vm/nr_hugepages
	for m in $(cat $OURS/order); do
		if insmod $OURS/$m.ko; then say "insmod $m ok"; else say "insmod $m FAILED"; fi
	done
	/bin/iommufd 2>&1 | grep -E '^(not ok|# Totals|# FAILED|ok [0-9]+ .*# SKIP)' | sed 's/^/KSV: selftest: /'
	for m in $(sed '1!G;h;$!d' $OURS/order); do unload $m; done
	say "END iommufd-selftest"
	;;
protected)
	# kvm-arm.mode=protected: the pin module must refuse to load.
	# Kernel messages stay off the console (a printk can land inside one
	# of our lines there, as it once did in "BEGIN protected") and are
	# replayed from dmesg below.
	dmesg -n 1
	say "BEGIN protected"
	dmesg -c >/dev/null
	if insmod $OURS/kvm_vmid_pin.ko; then
		say "insmod kvm_vmid_pin ok (UNEXPECTED)"; rmmod kvm_vmid_pin
	else
		say "insmod kvm_vmid_pin refused"
	fi
	# A driver asking for a VM's VMID gets -EOPNOTSUPP from KVM itself.
	/bin/ksv-demo --pin-only
	dmesg | sed 's/^\[[ 0-9.]*\] /KSV-KMSG: /'
	say "END protected"
	dmesg -n 7
	;;
vsmmubench)
	# One guest page invalidation, with BTM and without (ksv-vsmmu --bench).
	for m in $(cat $OURS/order); do insmod $OURS/$m.ko || say "insmod $m FAILED"; done
	modprobe arm_smmu_v3 || say "modprobe arm_smmu_v3 FAILED"
	dmesg -n 1
	/bin/ksv-vsmmu --expect kvm --bench | sed 's/^KSV: e2e: bench: /KSV: bench: /'
	;;
bench)
	if insmod $OURS/kvm_vmid_pin.ko bench=1 max_pins=65535; then
		dmesg | grep 'kvm_vmid_pin: bench:' | sed 's/^.*bench: /KSV: bench: /'
		rmmod kvm_vmid_pin
	else
		say "insmod kvm_vmid_pin bench=1 FAILED"
	fi
	;;
run)
	say "$(dmesg | grep -m1 -o 'kvm \[1\]: .*mode initialized.*')"
	for m in $(cat $OURS/order); do
		args=$(test_vms)
		if [ "$m" = smmu_v3_btm ] && [ "$override" = 1 ]; then
			args="$args test_assume_btm=1"
			say "TEST OVERRIDE: smmu_v3_btm $args: QEMU's SMMUv3 is treated as having IDR0.HYP (C still requires IDR0.BTM)"
		fi
		if insmod $OURS/$m.ko $args; then say "loaded $m $args"; else say "insmod $m FAILED"; fi
		dmesg | grep "$m: " | grep -v -e '# ' -e 'ok [0-9]' -e 'KTAP' | sed 's/^\[[ 0-9.]*\] /KSV:   dmesg: /'
		[ -r /sys/kernel/debug/$m/state ] && sed "/^$/d; s/^/KSV:   debugfs $m\/state: /" /sys/kernel/debug/$m/state
	done
	if modprobe arm_smmu_v3; then say "loaded arm_smmu_v3 (after smmu_v3_btm)"; else say "modprobe arm_smmu_v3 FAILED"; fi
	dmesg | grep -e 'arm-smmu-v3 .*features' -e '[0-9a-f]*\.smmuv3: smmu_v3_btm: ' | sed 's/^\[[ 0-9.]*\] /KSV:   dmesg: /'
	sed "/^$/d; s/^/KSV:   debugfs smmu_v3_btm\/state: /" /sys/kernel/debug/smmu_v3_btm/state
	[ -x /bin/ksv-demo ] && /bin/ksv-demo
	# A real vSMMU for QEMU's edu device: the VM's pinned VMID in the STE
	# (QEMU's SMMU trace shows it), DMA before and after a forced rollover,
	# the lifetimes and the release.
	say "vsmmu: the end-to-end vSMMU program (ci/guest/vsmmu/, ksv-vsmmu):"
	say "BEGIN e2e"
	dmesg -n 1
	/bin/ksv-vsmmu --expect kvm --rollovers 1 ${btm:+--btm $btm}
	say "ksv-vsmmu exit $?"
	dmesg -n 7
	say "END e2e"
	sed "/^$/d; s/^/KSV:   debugfs kvm_vmid_pin\/state: /" /sys/kernel/debug/kvm_vmid_pin/state
	rmmod arm_smmu_v3 2>/dev/null
	for m in $(sed '1!G;h;$!d' $OURS/order); do
		if rmmod $m 2>/dev/null; then say "unloaded $m"
		elif grep -q 'btm_in_use: yes' /sys/kernel/debug/smmu_v3_btm/state 2>/dev/null; then
			say "rmmod $m refused: the SMMU runs with BTM, and holds it, until it is removed"
		else say "rmmod $m FAILED"; fi
	done
	;;
esac
# Keep the power-off messages off the console: they could land on the
# same line as DONE.
dmesg -n 1
say "DONE"
poweroff -f
