#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make test: host tests, the QEMU boots (KUnit, the end-to-end VMMs, the
# real VMM), the modprobe test, the iommufd selftests, style and the
# documents' links. Ends with one line "N passed, N failed".
# Alone: make test (after make setup); one boot alone: see
# Documentation/testing.md.
set -uo pipefail
. "$(dirname "$0")/env.sh"
mkdir -p "$LOGDIR"
PASS=0 FAIL=0
add() { PASS=$((PASS + $1)); FAIL=$((FAIL + $2)); }
counts() { local c; c=$(grep '^COUNTS' "$1" | tail -n1); add ${c#COUNTS }; grep -v '^COUNTS' "$1"; }
t0=$(date +%s)

log "host tests (cargo test)"
if (cd "$TOP/host" && cargo test --release) > "$LOGDIR/cargo-test.log" 2>&1; then :; else
	tail -n 30 "$LOGDIR/cargo-test.log"; fi
hp=$(grep -o 'test result: .*' "$LOGDIR/cargo-test.log" | sed -n 's/.* \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' |
	awk '{p+=$1; f+=$2} END {print p+0, f+0}')
grep -q 'test result' "$LOGDIR/cargo-test.log" || hp="0 1"
echo "  host: ${hp% *} passed, ${hp#* } failed"
add $hp
# The boot checker's own parsing (a console line cut by QEMU's trace).
python3 "$TOP/ci/test_check_boot.py" > "$LOGDIR/checker-test.log" 2>&1 || tail -n 30 "$LOGDIR/checker-test.log"
cp=$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\} .*/\1/p' "$LOGDIR/checker-test.log")
cf=$(sed -n 's/^FAILED (\(.*\))$/\1/p' "$LOGDIR/checker-test.log" | tr ', ' '\n\n' | sed -n 's/^[a-z]*=//p' |
	awk '{n+=$1} END {print n+0}')
[ -n "$cp" ] && [ "$cp" -gt 0 ] || { cp=1; cf=1; }
echo "  boot checker: $((cp - cf)) passed, $cf failed"
add $((cp - cf)) "$cf"

log "build"
if ! "$TOP/ci/build.sh"; then
	echo "0 passed, $((FAIL + 1)) failed"
	exit 1
fi
if ! "$TOP/ci/initramfs.sh"; then
	echo "$PASS passed, $((FAIL + 1)) failed"
	exit 1
fi
# The unpatched kernel, for the e2e-pristine boot (not in make test-debug).
if [ -z "$FLAVOR" ] && ! "$TOP/ci/build-pristine.sh"; then
	echo "$PASS passed, $((FAIL + 1)) failed"
	exit 1
fi
# The real VMM (Debian's QEMU 11.1 and its guest) appended to both.
RVI=$CACHE/initramfs$SUFFIX-realvmm.cpio.gz
RVP=$CACHE/initramfs-pristine-realvmm.cpio.gz
rv_args=("$INITRD" "$RVI")
[ -z "$FLAVOR" ] && rv_args+=("$CACHE/initramfs-pristine.cpio.gz" "$RVP")
if ! "$TOP/ci/realvmm/initramfs.sh" "${rv_args[@]}"; then
	echo "$PASS passed, $((FAIL + 1)) failed"
	exit 1
fi

# Boots run two or more at a time: much of a TCG boot's time is the guest
# waiting (timers, DMA), so 2 cores take them in about half the time. Each
# boot writes its own console log; results are checked and printed in a
# fixed order.
declare -A PIDS EXPS STARTS
start() { # name cpu smp mode timeout expects... -- extra cmdline
	local name=$1 cpu=$2 smp=$3 mode=$4 tmo=$5; shift 5
	local exp=() extra=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do exp+=("$1"); shift; done
	[ $# -gt 0 ] && shift && extra=("$@")
	log "boot $name: -cpu $cpu -smp $smp ${extra[*]:-}"
	EXPS[$name]="$mode ${exp[*]}"
	STARTS[$name]=$(date +%s)
	"$TOP/ci/qemu.sh" "$name" "$cpu" "$smp" "$mode" "$tmo" "${extra[@]}" > "$LOGDIR/qemu-$name.txt" 2>&1 &
	PIDS[$name]=$!
}
finish() { # name
	local name=$1
	wait "${PIDS[$name]}" || cat "$LOGDIR/qemu-$name.txt"
	log "boot $name: results"
	# shellcheck disable=SC2086 # EXPS holds words without spaces
	python3 "$TOP/ci/check_boot.py" "$KSRC" "$LOGDIR/boot-$name.log" ${EXPS[$name]} > "$LOGDIR/check-$name.txt"
	counts "$LOGDIR/check-$name.txt"
	echo "  ($(( $(date +%s) - STARTS[$name] ))s, console: $LOGDIR/boot-$name.log)"
}

# The upstream iommufd selftests take ~3 minutes under TCG: rerun them only
# when something they exercise changed (kernel, our modules, the test).
key=$(cat "$KBUILD/arch/arm64/boot/Image" "$MODOUT/rust/kvm_vmid_pin.ko" "$MODOUT/rust/smmu_v3_btm.ko" \
	"$CACHE/selftests$SUFFIX/iommufd" "$TOP/ci/guest-init.sh" "$TOP/ci/check_boot.py" | sha256sum | cut -c1-16)

SUITES=(kvm_vmid_pin=kvm_vmid_pin smmu_v3_btm=smmu_v3_btm
	arm-smmu-v3-test=arm-smmu-v3-kunit-test)
# KSV_BTM=1: QEMU's SMMUv3 emulates BTM (qemu/, -global arm-smmuv3.btm=on),
# so smmu_v3_btm decides BTM by itself on an nVHE host. The VHE boot also
# has the test-only override (ksv.override=1): with VHE, BTM needs
# IDR0.HYP, which QEMU does not model; the override assumes IDR0.HYP only,
# and C clears CR2.PTM only where the SMMU has IDR0.BTM. nVHE has 8-bit KVM VMIDs, so it also forces
# real rollovers under a live vIOMMU, and runs the guest-stage-1 BTM test
# (ksv.btm=yes: the guest's own TLBI must move the device's translation).
KSV_BTM=1 start vhe max 4 test 600 "${SUITES[@]}" btm=in-use e2e=kvm -- ksv.override=1
KSV_BTM=1 start nvhe cortex-a57 2 test 600 "${SUITES[@]}" btm=emulated e2e=kvm btm-e2e=yes -- ksv.rollovers=3 ksv.btm=yes
finish vhe
finish nvhe
# A rollover caused by a device's VMID reservation while no VM exists and
# EL2 is torn down (nVHE, kvm.enable_virt_at_load=0): no WARN, no crash.
# Then vCPU threads moved inside their stage-2 faults (migrate.c).
# The cap is raised to the whole budget: 120 VMs plus the default cap's
# 128 reservations stay inside one 8-bit generation.
KSV_BTM=1 start virt-off cortex-a57 2 reserve 300 e2e=reserve -- kunit.enable=0 kvm.enable_virt_at_load=0 ksv.max_pins=252
# Upstream behaviour for comparison, on the SMMUv3 without BTM (the
# property off): our modules (no BTM, so nothing changes), and no modules
# at all. The guest-stage-1 test then shows the device keeping its stale
# translation after the guest's TLBI (ksv.btm=no): the check can fail.
# Two test-only modules that answer wrongly (kunit/helpers/ksv_bad*.c)
# show what C enforces whatever a module says.
start badmods cortex-a57 2 badmods 300 e2e=upstream btm-e2e=no badmods=yes -- kunit.enable=0 ksv.btm=no
KSV_BTM=1 start badbtm cortex-a57 2 badbtm 300 badbtm=yes -- kunit.enable=0
start e2e-nobtm cortex-a57 2 e2e 300 btm=upstream e2e=upstream btm-e2e=no -- kunit.enable=0 ksv.modules=1 ksv.btm=no
start e2e-upstream cortex-a57 2 e2e 300 e2e=upstream btm-e2e=no -- kunit.enable=0 ksv.modules=0 ksv.btm=no
start protected max 2 protected 300 refused=kvm_vmid_pin -- kvm-arm.mode=protected
# An SMMU probe that fails after its reset gives back what smmu_v3_btm
# lent it (its record and the module reference).
KSV_BTM=1 start probefail cortex-a57 2 probefail 300 probefail=smmu -- kunit.enable=0
# Without the series (the unpatched kernel, no module of ours): what a VMM
# sees when it closes the VM fd with a device open, with and without a
# vIOMMU; the e2e boots above show the same with the series. Then, as in
# the virt-off boot, vCPU threads moved inside their stage-2 faults.
pristine=()
if [ -z "$FLAVOR" ]; then
	KSV_IMAGE=$CACHE/build-pristine/arch/arm64/boot/Image KSV_INITRD=$CACHE/initramfs-pristine.cpio.gz \
		start e2e-pristine cortex-a57 2 vmfile 300 e2e=vmfile -- kunit.enable=0 kvm.enable_virt_at_load=0
	pristine=(e2e-pristine)
fi
log "modprobe test: make modules/install/deb, the .deb installed and loaded by modprobe in QEMU"
"$TOP/ci/modprobe-test.sh" > "$LOGDIR/modprobe-test.txt" 2>&1 &
modprobe_pid=$!
for b in virt-off e2e-nobtm e2e-upstream badmods badbtm protected probefail "${pristine[@]}"; do finish $b; done
wait $modprobe_pid
log "modprobe test: results"
counts "$LOGDIR/modprobe-test.txt"

# The kernel's fault injection on this series' paths (insmod of each
# module, each ioctl) and upstream's iommufd_fail_nth, with the series on
# an SMMU with BTM, and on the unpatched kernel (ci/guest/vsmmu/failnth.c).
KSV_TRACE=0 KSV_BTM=1 start failnth cortex-a57 2 failnth 1500 failnth=series -- kunit.enable=0
fn_boots=(failnth)
if [ -z "$FLAVOR" ]; then
	KSV_TRACE=0 KSV_IMAGE=$CACHE/build-pristine/arch/arm64/boot/Image KSV_INITRD=$CACHE/initramfs-pristine.cpio.gz \
		start failnth-pristine cortex-a57 2 failnth 1500 failnth=upstream -- kunit.enable=0
	fn_boots+=(failnth-pristine)
fi
for b in "${fn_boots[@]}"; do finish $b; done
# Seeded random sequences of the uapi (ci/guest/vsmmu/random.c), on nVHE
# while another process forces KVM rollovers, and on VHE (16-bit VMIDs,
# the override). After the fault-injection boots: iommufd_fail_nth's
# harness gives each test 30 s, which a loaded machine can exceed. A
# failing seed prints the command that repeats it; make soak runs longer
# ones.
# Meanwhile the fault injection on arm_smmu_v3's load and the SMMU's probe
# with BTM (ci/guest/vsmmu/probe.c), and on the unpatched kernel: one task
# each, which takes minutes.
KSV_TRACE=0 KSV_BTM=1 start probesweep cortex-a57 2 probesweep 1500 failnth=probe -- kunit.enable=0
ps_boots=(probesweep)
if [ -z "$FLAVOR" ]; then
	KSV_TRACE=0 KSV_IMAGE=$CACHE/build-pristine/arch/arm64/boot/Image KSV_INITRD=$CACHE/initramfs-pristine.cpio.gz \
		start probesweep-pristine cortex-a57 2 probesweep 1500 failnth=probe-upstream -- kunit.enable=0
	ps_boots+=(probesweep-pristine)
fi
KSV_EDU=4 KSV_TRACE=btm KSV_BTM=1 start random cortex-a57 2 random 900 random=5 -- kunit.enable=0 ksv.seeds=1,2,3,4,5 ksv.steps=2000 ksv.procs=3 ksv.soak=1
KSV_EDU=4 KSV_TRACE=btm KSV_BTM=1 start random-vhe max 2 random 900 random=2 -- kunit.enable=0 ksv.override=1 ksv.seeds=11,12 ksv.steps=2000 ksv.procs=3
for b in random random-vhe "${ps_boots[@]}"; do finish $b; done

# A real VMM: Debian's QEMU 11.1, unmodified, runs Debian's cloud kernel
# with an accelerated vSMMU and an assigned NVMe controller (ci/realvmm/):
# with our modules and BTM (nVHE, 8-bit VMIDs: forced rollovers under it),
# without them, and on the unpatched kernel. After the boots above: each
# runs a guest in its guest, and its timeouts are the guest's own.
KSV_BTM=1 KSV_NVME=1 KSV_MEM=3072 KSV_INITRD=$RVI start realvmm cortex-a57 2 realvmm 900 realvmm=series -- kunit.enable=0
KSV_NVME=1 KSV_MEM=3072 KSV_INITRD=$RVI start realvmm-nomods cortex-a57 2 realvmm 600 realvmm=upstream -- kunit.enable=0 ksv.modules=0
rv_boots=(realvmm realvmm-nomods)
if [ -z "$FLAVOR" ]; then
	KSV_IMAGE=$CACHE/build-pristine/arch/arm64/boot/Image KSV_NVME=1 KSV_MEM=3072 KSV_INITRD=$RVP \
		start realvmm-pristine cortex-a57 2 realvmm 600 realvmm=upstream -- kunit.enable=0
	rv_boots+=(realvmm-pristine)
fi
for b in "${rv_boots[@]}"; do finish $b; done

if [ -n "$FLAVOR" ]; then
	log "iommufd selftests: run by plain make test only"
elif [ -f "$LOGDIR/check-iommufd.$key.txt" ]; then
	log "iommufd selftests: unchanged inputs ($key), result of the last run:"
	counts "$LOGDIR/check-iommufd.$key.txt"
else
	# Alone: its fork tests are timing-sensitive on a loaded machine.
	start iommufd max 2 iommufd 1500 selftest=233
	finish iommufd
	# Cache a passing result only: a failure is retried next time.
	grep -q '^COUNTS [0-9]* 0$' "$LOGDIR/check-iommufd.txt" &&
		cp "$LOGDIR/check-iommufd.txt" "$LOGDIR/check-iommufd.$key.txt"
fi

# QEMU's emulated BTM needs TCG (qemu/ patch 3): under another
# accelerator (qtest here; KVM or HVF in use) the CPUs' TLBIs never reach
# QEMU, so btm=on must fail realize rather than advertise IDR0.BTM.
out=$(timeout 20 "$QEMU" -machine virt,iommu=smmuv3 -accel qtest -qtest null -nic none \
	-global arm-smmuv3.btm=on -display none -monitor none -serial none -S 2>&1)
rc=$?
if [ $rc != 0 ] && [ $rc != 124 ] && grep -q 'btm=on needs TCG' <<<"$out"; then
	echo "  ok    QEMU refuses btm=on without TCG (-accel qtest)"; add 1 0
else
	echo "  FAIL  QEMU refuses btm=on without TCG (-accel qtest): exit $rc: $out"; add 0 1
fi

log "style"
"$TOP/ci/style.sh" > "$LOGDIR/style.txt"
counts "$LOGDIR/style.txt"
log "documents"
"$TOP/ci/check-docs.sh" > "$LOGDIR/check-docs.txt"
counts "$LOGDIR/check-docs.txt"

log "make test took $(( $(date +%s) - t0 ))s"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
