# SPDX-License-Identifier: GPL-2.0
# User entry points; "make help" prints the list below. The kernel build
# reads ./Kbuild, not this file. README.md and Documentation/ say more.
#
#   make setup          dependencies, both QEMUs (qemu/ and Debian's 11.1), kernel
#   make build          kernel Image and our modules, incrementally (= make)
#   make test           host tests, QEMU boots (KUnit, end to end), style
#   make test-debug     make test on a second kernel build with KASAN
#   make run            boot the patched kernel, show the modules working
#   make run-vmm        a real VMM: Debian's QEMU 11.1 and a Debian guest on it
#   make bench          VMID pinning costs under QEMU -icount (deterministic)
#   make soak           random uapi sequences for longer, rollovers forced meanwhile
#   make modules        the 2 production modules against KDIR= (into MO=)
#   make install        the modules and the softdep into [DESTDIR]/, depmod
#   make deb            kvm-smmu-vmid-modules-<release>_<version>_arm64.deb
#   make modprobe-test  QEMU: the .deb installed by dpkg, loaded by modprobe
#   make check-series   each patch of patches/, qemu/ builds alone, checkpatch
#   make clean          remove our module build output (keeps the kernel's)
#   make distclean      make clean, and the kernel build directories
#   make help           this list

.PHONY: all setup build test test-debug bench soak run run-vmm clean distclean help
.PHONY: modules install deb modprobe-test check-series

all: build

setup:
	@bash ci/setup.sh

build:
	@bash ci/build.sh

test:
	@bash ci/test.sh

test-debug:
	@KSV_FLAVOR=debug bash ci/test.sh

bench:
	@bash ci/bench.sh

soak:
	@bash ci/soak.sh

run:
	@bash ci/run.sh

run-vmm:
	@bash ci/run-vmm.sh

clean:
	@bash -c '. ci/env.sh; rm -rf "$$CACHE"/modules* "$$CACHE"/initramfs*.cpio.gz'
	@cd host && cargo clean -q

distclean: clean
	@bash -c '. ci/env.sh; rm -rf "$$CACHE"/build*'

modules:
	@KDIR='$(KDIR)' MO='$(MO)' bash ci/modules.sh

install:
	@KDIR='$(KDIR)' MO='$(MO)' DESTDIR='$(DESTDIR)' KERNELRELEASE='$(KERNELRELEASE)' bash ci/install.sh

deb: modules
	@KDIR='$(KDIR)' MO='$(MO)' KERNELRELEASE='$(KERNELRELEASE)' bash ci/deb.sh

modprobe-test:
	@bash ci/modprobe-test.sh

check-series:
	@bash ci/check-series.sh

help:
	@sed -n 's/^#   make/make/p' Makefile
