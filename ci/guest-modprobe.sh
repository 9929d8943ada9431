#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# /init of the modprobe test initramfs (ci/modprobe-test.sh): install the
# .deb in /pkg as a user would, then "modprobe arm_smmu_v3" alone with
# Debian's kmod; the softdep must load our modules first. Every line for
# the host starts with "KSV:"; kernel messages are kept off the console and
# replayed from dmesg, prefixed "KSV-KMSG: ", so they cannot cut into ours.
# Not run on the host: ci/modprobe-test.sh makes it the /init of its
# initramfs and boots it (run that alone: make modprobe-test).
/bin/busybox --install -s /bin
. /lib/ksv-guest.sh
guest_mounts
# kmod's modprobe and depmod are in /sbin. This busybox runs its own
# applets before anything in PATH, so kmod's are called by their path.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
say() { echo "KSV: $*"; }
# mark NAME: a line in the kernel log; kmsg [NAME]: the log (since NAME).
mark() { echo "ksv-mark: $1" > /dev/kmsg; }
kmsg() {
	if [ -n "${1:-}" ]; then dmesg | sed -n "/ksv-mark: $1\$/,\$p"; else dmesg; fi |
		sed 's/^\[[ 0-9.]*\] /KSV-KMSG: /'
}
loaded() { cut -d' ' -f1 /proc/modules | tr '\n' ' '; }
krel=$(uname -r)
dmesg -n 1
say "kernel $krel, $(/sbin/modprobe -V | head -n1)"

# Does busybox's modprobe honour softdep? rng_core and efivarfs are two
# unrelated modules of the test kernel that load anywhere.
say "BEGIN busybox-softdep"
echo 'softdep rng_core pre: efivarfs' > /etc/modprobe.d/zz-softdep-probe.conf
softdep() { # modprobe-command: honours/ignores, from what it loaded
	"$@" rng_core >/dev/null
	if ! grep -q '^rng_core ' /proc/modules; then echo "cannot-tell(no-rng_core)"
	elif grep -q '^efivarfs ' /proc/modules; then echo honours
	else echo ignores; fi
}
s=$(softdep busybox modprobe)
say "busybox modprobe $s softdep: 'softdep rng_core pre: efivarfs', 'busybox modprobe rng_core' loaded: $(loaded)"
rmmod rng_core; rmmod efivarfs 2>/dev/null
s=$(softdep /sbin/modprobe)
say "kmod modprobe $s softdep: 'modprobe rng_core' loaded: $(loaded)"
rmmod rng_core; rmmod efivarfs 2>/dev/null
rm /etc/modprobe.d/zz-softdep-probe.conf
say "END busybox-softdep"

say "BEGIN install"
deb=$(ls /pkg/*.deb)
# busybox dpkg runs the postinst (depmod); the kernel image package the
# .deb depends on is not in this root filesystem.
if dpkg -i -F depends "$deb"; then say "dpkg -i $(basename "$deb") ok"; else say "dpkg -i FAILED"; fi
# The postinst runs "depmod" under /bin/sh, here busybox, whose applet
# wins: only kmod's depmod writes the binary index kmod's modprobe reads.
if grep -q updates/kvm_vmid_pin /lib/modules/$krel/modules.dep.bin; then s=; else s=" not"; fi
say "after the postinst, modules.dep.bin does$s list updates/kvm_vmid_pin.ko"
if /sbin/depmod; then say "depmod ok"; else say "depmod FAILED"; fi
say "dpkg -l: $(dpkg -l | grep kvm-smmu-vmid | tr -s ' ')"
for f in /lib/modules/$krel/updates/*.ko /lib/modprobe.d/kvm-smmu-vmid*.conf; do
	say "file: $f"
done
grep -h '^softdep' /lib/modprobe.d/*.conf /etc/modprobe.d/*.conf 2>/dev/null | sed 's/^/KSV: conf: /'
grep '^updates/' /lib/modules/$krel/modules.dep | sed 's/^/KSV: modules.dep: /'
say "modprobe --show-depends arm_smmu_v3:"
/sbin/modprobe --show-depends arm_smmu_v3 | sed 's/^/KSV: show-depends: /'
say "END install"

say "BEGIN modprobe"
mark modprobe
if /sbin/modprobe arm_smmu_v3; then say "modprobe arm_smmu_v3 ok"; else say "modprobe arm_smmu_v3 FAILED"; fi
say "loaded (newest first): $(loaded)"
kmsg modprobe
sed "/^$/d; s/^/KSV: smmu_v3_btm\/state: /" /sys/kernel/debug/smmu_v3_btm/state 2>/dev/null
say "END modprobe"

say "BEGIN unload"
mark unload
# An IOMMU driver with devices behind it is not expected to unload.
if out=$(/sbin/modprobe -r arm_smmu_v3 2>&1); then
	say "modprobe -r arm_smmu_v3 ok"
else
	say "modprobe -r arm_smmu_v3 refused: $out"
fi
say "loaded: $(loaded)"
# Had arm_smmu_v3 gone, kmod could have removed its pre-softdeps with it.
ours=
for m in smmu_v3_btm kvm_vmid_pin; do
	grep -q "^$m " /proc/modules && ours="$ours $m"
done
if [ -z "$ours" ]; then
	say "modprobe -r: none of our modules left"
elif /sbin/modprobe -r $ours; then
	say "modprobe -r$ours ok"
else
	say "modprobe -r$ours FAILED"
fi
say "loaded: $(loaded)"
kmsg unload
say "END unload"

kmemleak_report
# Everything the kernel said, for the splat checks.
say "BEGIN dmesg"
kmsg
say "END dmesg"
dmesg -n 1
say "DONE"
poweroff -f
