#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make modprobe-test: the production modules as a user gets them. make
# modules (no --cfg ksv_test) into its own MO, make install into staging roots,
# make deb; then a QEMU boot of the test kernel that installs the .deb with
# dpkg and runs "modprobe arm_smmu_v3" alone with Debian's kmod: the softdep
# must load kvm_vmid_pin and smmu_v3_btm first, in that order.
# Prints one "  ok    ..."/"  FAIL  ..." line per check, last
# "COUNTS <passed> <failed>". Logs: $LOGDIR/modprobe-*.
#   --host-tree  also build the modules against a second, separately
#                configured tree ($CACHE/build-host: arm64 defconfig +
#                kunit/host.config, modules_prepare only; minutes of CPU).
# Run alone: make modprobe-test, or bash ci/modprobe-test.sh --host-tree.
set -euo pipefail
. "$(dirname "$0")/env.sh"
P=0 F=0
ok() { echo "  ok    $1"; P=$((P + 1)); }
bad() { echo "  FAIL  $1${2:+: $2}"; F=$((F + 1)); }
chk() { local what=$1; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi; }
fatal() { bad "$@"; echo "COUNTS $P $F"; exit 1; }
mkdir -p "$LOGDIR"
KREL=$(cat "$KBUILD/include/config/kernel.release" 2>/dev/null) || fatal "no kernel build in $KBUILD: run make build"
IMAGE=$KBUILD/arch/arm64/boot/Image
[ -f "$IMAGE" ] || fatal "no kernel Image in $KBUILD: run make build"
# Own directories, per flavor (KSV_FLAVOR=debug: the KASAN kernel).
MOP=$CACHE/modules-prod$SUFFIX   # production build against $KBUILD
R=$CACHE/rootfs-modprobe$SUFFIX
RD=$CACHE/initramfs-modprobe$SUFFIX.cpio.gz

# No compiler or modpost warning, nothing of the test build. Without the
# tree's Module.symvers (modules_prepare only), modpost cannot resolve our
# imports: those warnings are expected and only counted.
production_checks() { # MO tag
	local mo=$1 tag=$2 w n=0
	w=$(grep -i 'warning' "$mo/build.log" || true)
	if grep -q 'Module.symvers is missing' <<< "$w"; then
		n=$(grep -c 'undefined!\|unresolved symbol' <<< "$w" || true)
		w=$(grep -v -e 'Module.symvers is missing' -e 'KBUILD_MODPOST_WARN' -e 'undefined!' -e 'unresolved symbol' <<< "$w" || true)
		echo "  note  $tag: no Module.symvers (modules_prepare only): $n modpost warnings on unresolved imports, expected"
	fi
	if [ -z "$w" ]; then ok "$tag: no compiler or modpost warning"
	else bad "$tag: no compiler or modpost warning" "$(echo "$w" | head -n 3)"; fi
	chk "$tag: no test-only parameter (smmu_v3_btm test_assume_btm, kvm_vmid_pin bench)" \
		bash -c "! modinfo -F parm '$mo/rust/smmu_v3_btm.ko' '$mo/rust/kvm_vmid_pin.ko' | grep -e test_assume_btm -e '^bench'"
	chk "$tag: no test-only module (kvm_vmid_pin_demo, ksv_canwbs, ksv_iommu_name)" \
		bash -c "for f in '$mo/kunit/helpers/kvm_vmid_pin_demo.ko' '$mo/kunit/helpers/ksv_canwbs.ko' '$mo/kunit/helpers/ksv_iommu_name.ko' '$mo/rust/kvm_vmid_pin_demo.ko'; do [ ! -e \$f ] || exit 1; done"
}

host_tree() {
	local H=$CACHE/build-host t
	local HM=(make -C "$KSRC" O="$H" ARCH=arm64 LLVM=-19 -j"$(nproc)")
	local hl=$LOGDIR/modprobe-host-tree.log
	if [ ! -f "$H/.config" ] || [ "$TOP/kunit/host.config" -nt "$H/.config" ]; then
		{ "${HM[@]}" defconfig &&
			"$KSRC/scripts/kconfig/merge_config.sh" -m -O "$H" "$H/.config" "$TOP/kunit/host.config" &&
			"${HM[@]}" olddefconfig; } > "$hl" 2>&1 || fatal "host tree: defconfig + kunit/host.config" "see $hl"
	fi
	local lost
	lost=$(grep -v -e '^#' -e '^$' "$TOP/kunit/host.config" | grep -vxF -f "$H/.config" || true)
	if [ -z "$lost" ]; then ok "host tree: every kunit/host.config option survives olddefconfig"
	else bad "host tree: every kunit/host.config option survives olddefconfig" "$(echo $lost)"; fi
	chk "host tree: CONFIG_KUNIT is not set" grep -qx '# CONFIG_KUNIT is not set' "$H/.config"
	t=$(date +%s)
	"${HM[@]}" modules_prepare >> "$hl" 2>&1 || fatal "host tree: modules_prepare" "see $hl"
	ok "host tree: modules_prepare ($(( $(date +%s) - t ))s)"
	t=$(date +%s)
	rm -rf "$CACHE/modules-host"
	if KDIR=$H MO=$CACHE/modules-host "$TOP/ci/modules.sh" > "$LOGDIR/modprobe-host-modules.log" 2>&1; then
		ok "make modules KDIR=$H ($(( $(date +%s) - t ))s, from scratch)"
		production_checks "$CACHE/modules-host" "host tree build"
	else
		bad "make modules KDIR=$H" "$(tail -n 5 "$LOGDIR/modprobe-host-modules.log")"
	fi
}
[ "${1:-}" = --host-tree ] && host_tree

# 1. make modules against the cache kernel, into its own MO.
t=$(date +%s)
if KDIR=$KBUILD MO=$MOP "$TOP/ci/modules.sh" > "$LOGDIR/modprobe-modules.log" 2>&1; then
	ok "make modules KDIR=$KBUILD MO=$MOP ($(( $(date +%s) - t ))s)"
else
	fatal "make modules KDIR=$KBUILD" "$(tail -n 5 "$LOGDIR/modprobe-modules.log")"
fi
production_checks "$MOP" "production build"

# 2. The guest's root: busybox from ci/initramfs.sh, this kernel's modules,
#    Debian's kmod (with its libraries and the arm64 loader), the .deb.
[ -d "$ROOTFS" ] || "$TOP/ci/initramfs.sh" > "$LOGDIR/modprobe-initramfs.log" 2>&1 ||
	fatal "ci/initramfs.sh (for the busybox root)" "see $LOGDIR/modprobe-initramfs.log"
rm -rf "$R"
cp -a "$ROOTFS" "$R"
rm -rf "$R"/lib/modules/* "$R"/bin/iommufd "$R"/bin/ksv-*
"${KMAKE[@]}" -s modules_install INSTALL_MOD_PATH="$R" INSTALL_MOD_STRIP=1 > /dev/null
"$TOP/ci/setup-kmod.sh" > "$LOGDIR/modprobe-kmod.log" || fatal "ci/setup-kmod.sh" "$(cat "$LOGDIR/modprobe-kmod.log")"
K=$CACHE/kmod/root
cp "$K/bin/kmod" "$R/bin/kmod"
for t in modprobe depmod insmod rmmod lsmod modinfo; do ln -sf ../bin/kmod "$R/sbin/$t"; done
cp -L "$K/lib/ld-linux-aarch64.so.1" "$R/lib/"
queue=("$K/bin/kmod")
while [ ${#queue[@]} -gt 0 ]; do
	for lib in $(readelf -d "${queue[0]}" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		[ -e "$R/lib/$lib" ] && continue
		src=$K/lib/aarch64-linux-gnu/$lib
		[ -e "$src" ] || src=$K/usr/lib/aarch64-linux-gnu/$lib
		[ -e "$src" ] || fatal "kmod:arm64 needs $lib, not in $K"
		cp -L "$src" "$R/lib/$lib"
		queue+=("$R/lib/$lib")
	done
	queue=("${queue[@]:1}")
done
mkdir -p "$R/etc/modprobe.d" "$R/var/lib/dpkg/info" "$R/pkg"
: > "$R/var/lib/dpkg/status"
cp "$TOP/ci/guest-modprobe.sh" "$R/init"
cp "$TOP/ci/guest-lib.sh" "$R/lib/ksv-guest.sh"
chmod +x "$R/init"

# 3. make install: into an empty root (depmod skipped, says why), and into
#    a root with the kernel's modules (depmod runs, finds ours).
D=$CACHE/destdir-test$SUFFIX
rm -rf "$D"
out=$(DESTDIR=$D/empty KERNELRELEASE=$KREL MO=$MOP "$TOP/ci/install.sh" 2>&1) || fatal "make install DESTDIR=$D/empty" "$out"
echo "$out" > "$LOGDIR/modprobe-install.log"
chk "make install into an empty DESTDIR: the modules and the conf" \
	ls "$D/empty/lib/modules/$KREL/updates/"{kvm_vmid_pin,smmu_v3_btm}.ko "$D/empty/etc/modprobe.d/kvm-smmu-vmid.conf"
chk "make install into an empty DESTDIR: depmod skipped, saying why" grep -q 'depmod skipped: .*kernel' <<< "$out"
mkdir -p "$D/full/lib/modules" && cp -a "$R/lib/modules/$KREL" "$D/full/lib/modules/"
out=$(DESTDIR=$D/full KERNELRELEASE=$KREL MO=$MOP "$TOP/ci/install.sh" 2>&1) || fatal "make install DESTDIR=$D/full" "$out"
echo "$out" >> "$LOGDIR/modprobe-install.log"
chk "make install into a DESTDIR with the kernel's modules: depmod lists updates/*.ko" \
	test "$(grep -c '^updates/.*\.ko:' "$D/full/lib/modules/$KREL/modules.dep")" = "$(wc -w <<< "$KSV_MODULES")"
chk "the conf says: softdep arm_smmu_v3 pre: $KSV_MODULES" \
	grep -qx "softdep arm_smmu_v3 pre: $KSV_MODULES" "$D/full/etc/modprobe.d/kvm-smmu-vmid.conf"

# 4. make deb.
rm -rf "$CACHE/deb-modprobe-test$SUFFIX"
DEB=$(DEBDIR=$CACHE/deb-modprobe-test$SUFFIX KERNELRELEASE=$KREL MO=$MOP "$TOP/ci/deb.sh" 2> "$LOGDIR/modprobe-deb.log") ||
	fatal "make deb" "$(cat "$LOGDIR/modprobe-deb.log")"
DEB=${DEB%% (*}
dpkg-deb -I "$DEB" > "$LOGDIR/modprobe-deb.log"
dpkg-deb -c "$DEB" >> "$LOGDIR/modprobe-deb.log"
chk "make deb: $(basename "$DEB")" test "$(dpkg-deb -f "$DEB" Package Architecture Depends | tr '\n' ' ')" = \
	"Package: kvm-smmu-vmid-modules-$KREL Architecture: arm64 Depends: linux-image-$KREL | linux-image-$KREL-unsigned "
chk ".deb holds the modules, the softdep and the README" bash -c "dpkg-deb -c '$DEB' | grep -c \
	-e 'lib/modules/$KREL/updates/[a-z_3]*\.ko\$' -e 'lib/modprobe.d/kvm-smmu-vmid-$KREL.conf\$' \
	-e 'usr/share/doc/kvm-smmu-vmid-modules-$KREL/README\$' | grep -qx 4"
cp "$DEB" "$R/pkg/"
(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) > "$RD.tmp" && mv "$RD.tmp" "$RD"

# 5. Boot (the machine of ci/qemu.sh; edu gives the SMMU a PCI device).
log=$LOGDIR/boot-modprobe.log
t=$(date +%s)
timeout --foreground -k 5 300 "$QEMU" \
	-machine virt,virtualization=on,gic-version=3,iommu=smmuv3 -device edu \
	-cpu cortex-a57 -smp 2 -m 2048 -kernel "$IMAGE" -initrd "$RD" \
	-append "console=ttyAMA0 panic=-1 kunit.enable=0" \
	-nographic -no-reboot -nic none -monitor none -serial stdio < /dev/null > "$log" 2>&1 ||
	bad "QEMU boot" "timed out or failed; last lines: $(tail -n 5 "$log")"
echo "  (boot $(( $(date +%s) - t ))s, console: $log)"
sed -i 's/\r$//' "$log"

# 6. What the guest saw.
python3 "$TOP/ci/check_boot.py" "$KSRC" "$log" modprobe > "$LOGDIR/check-modprobe.txt" || true
c=$(grep '^COUNTS' "$LOGDIR/check-modprobe.txt" | tail -n1 || true)
grep -v '^COUNTS' "$LOGDIR/check-modprobe.txt"
set -- ${c#COUNTS }
P=$((P + ${1:-0})) F=$((F + ${2:-1}))
sec() { sed -n "/KSV: BEGIN $1\$/,/KSV: END $1\$/p" "$log" | sed -n 's/^.*\(KSV\(-KMSG\)\{0,1\}: \)/\1/p'; }
bb=$(sec busybox-softdep | grep -o 'busybox modprobe [^ ]* softdep.*' || echo 'busybox: no result')
echo "  note  $bb"
chk "kmod's modprobe honours softdep" grep -q 'KSV: kmod modprobe honours softdep' "$log"
chk "dpkg -i of the .deb in the guest" grep -q 'KSV: dpkg -i .* ok' "$log"
chk "kmod's depmod in the guest" grep -qx 'KSV: depmod ok' "$log"
chk "depmod in the guest: modules.dep lists our $(wc -w <<< "$KSV_MODULES") modules in updates/" \
	test "$(sec install | grep -c 'KSV: modules.dep: updates/')" = "$(wc -w <<< "$KSV_MODULES")"
order=$(sec install | sed -n 's|^KSV: show-depends: insmod .*/\([^/]*\)\.ko.*|\1|p' | tr '\n' ' ' || true)
chk "modprobe --show-depends arm_smmu_v3: $order" test "$order" = "$KSV_MODULES arm_smmu_v3 "
chk "modprobe arm_smmu_v3 ok" grep -q 'KSV: modprobe arm_smmu_v3 ok' "$log"
# The first kernel line of each module, in the order of the kernel log.
seen=$(sec modprobe | sed -n 's/^KSV-KMSG: \(kvm_vmid_pin\|smmu_v3_btm\): .*/\1/p; s/^KSV-KMSG: arm-smmu-v3 .*/arm_smmu_v3/p' |
	awk '!s[$0]++' | tr '\n' ' ' || true)
chk "load order in dmesg: $seen" test "$seen" = "$KSV_MODULES arm_smmu_v3 "
lm=$(sec modprobe | sed -n 's/^KSV: loaded (newest first): //p' | tr ' ' '\n' | grep -xE "arm_smmu_v3|${KSV_MODULES// /|}" | tr '\n' ' ' || true)
chk "/proc/modules, newest first: $lm" test "$lm" = "arm_smmu_v3 smmu_v3_btm kvm_vmid_pin "
d=$(sec modprobe | grep -o '[0-9a-f]*\.smmuv3: smmu_v3_btm: .*' | head -n1 || true)
chk "the SMMU probed with smmu_v3_btm's decision: ${d:-none}" grep -q 'no BTM in IDR0: upstream behaviour (IDR0.BTM 0, CR2.PTM set)' <<< "$d"
echo "  note  $(sec unload | grep -o 'modprobe -r arm_smmu_v3 .*' || echo 'modprobe -r arm_smmu_v3: no result')"
r=$(sec unload | grep -o 'modprobe -r [a-z0-9_ ]*\(ok\|FAILED\)$\|modprobe -r: none.*' | grep -v arm_smmu_v3 | tail -n1 || true)
chk "${r:-modprobe -r of our modules: no result}" grep -q ' ok$\|none of our' <<< "$r"
left=$(sec unload | sed -n 's/^KSV: loaded: //p' | tail -n1 | tr ' ' '\n' | grep -xE "${KSV_MODULES// /|}" | tr '\n' ' ' || true)
chk "none of our modules left loaded${left:+ ($left)}" test -z "$left"
echo "COUNTS $P $F"
[ "$F" = 0 ]
