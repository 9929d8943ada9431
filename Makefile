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

.PHONY: all setup build test test-debug bench run clean distclean help

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

help:
	@sed -n '2,11p' Makefile | sed 's/^# *//'
