# SPDX-License-Identifier: GPL-2.0
# User entry points. The kernel build reads ./Kbuild, not this file.
#
#   make setup   install dependencies, fetch and patch linux-source-7.3
#   make         build the kernel Image and our modules (incremental)
#   make test    host tests + KUnit in QEMU (VHE, nVHE, protected) + style
#   make run     boot the patched kernel, load the modules, show them working
#   make test-debug  make test on a second kernel build with KASAN
#   make bench   VMID pinning costs under QEMU -icount (deterministic)
#   make clean   remove our module build output (the kernel build is kept)
#   make modules  the 3 production modules (no test code) against KDIR=
#                 (default: the running kernel's build tree on arm64, else
#                 the cache kernel), into MO= (default: the cache's
#                 modules-<kernelrelease>/)
#   make install  [DESTDIR= KERNELRELEASE=] to lib/modules/<release>/updates/,
#                 softdep in etc/modprobe.d/kvm-smmu-vmid.conf, then depmod
#   make deb      kvm-smmu-vmid-modules-<release>_<version>_arm64.deb (cache deb/)
#   make modprobe-test  QEMU: the .deb installed by dpkg, loaded by modprobe
#   make check-series   each patch of patches/ builds on its own, checkpatch, sparse

.PHONY: all setup build test test-debug bench run clean distclean help
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

run:
	@bash ci/run.sh

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
	@sed -n '2,20p' Makefile | sed 's/^# \{0,1\}//'
