# SPDX-License-Identifier: GPL-2.0
# Shell functions shared by the guest inits (ci/guest-init.sh,
# ci/guest-modprobe.sh); installed as /lib/ksv-guest.sh in the initramfs.
# The caller defines say() before it calls a function that prints.
# Not run alone: the guest inits source it (ci/initramfs.sh installs it).

# The filesystems every guest init needs.
guest_mounts() {
	mount -t proc proc /proc
	mount -t sysfs sys /sys
	mount -t devtmpfs dev /dev 2>/dev/null
	mount -t debugfs debugfs /sys/kernel/debug
	mount -t tmpfs tmp /tmp
	# Fault injection (kunit/test.config) reaches sleeping allocations too;
	# it stays off for every task that does not ask (fail-nth is 0).
	[ -w /sys/kernel/debug/failslab/ignore-gfp-wait ] &&
		echo N > /sys/kernel/debug/failslab/ignore-gfp-wait
}

# kmemleak reports an object only if it is 5 s old and unchanged since the
# previous scan: scan, wait, scan again, then print the reports.
# The kernel log, prefixed "KSV-KMSG: ": every splat whole (to its end
# marker), and the lines matching the extended regex $1 (none if empty).
replay_splats() {
	dmesg | awk -v also="${1:-}" '/WARNING:|BUG:|Oops|Call trace:/ { splat = 1 }
		splat || (also != "" && $0 ~ also) { print }
		/---\[ end trace/ { splat = 0 }' | sed 's/^\[[ 0-9.]*\] /KSV-KMSG: /'
}

kmemleak_report() {
	[ -w /sys/kernel/debug/kmemleak ] || return 0
	echo scan > /sys/kernel/debug/kmemleak
	sleep 6
	echo scan > /sys/kernel/debug/kmemleak
	say "kmemleak scanned"
	sed 's/^/KSV: kmemleak: /' /sys/kernel/debug/kmemleak
}
