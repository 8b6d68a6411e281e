# SPDX-License-Identifier: GPL-2.0
#
# Kbuild reads ./Kbuild for the module itself; this Makefile is the entry
# point for people.
#
#   make run      build what is missing, boot QEMU virt arm64, demo /dev/ion
#   make test     KUnit + kselftests on the debug, x86 and Debian kernels
#   make shell    an interactive shell in the VM
#   make bench    rust-ion against /dev/dma_heap/system, same boot
#   make profile  where a small allocation's time goes (function_graph)
#   make icount   instructions per allocate + close, per kernel function,
#                 rust-ion against the dma-heap (a QEMU plugin counts)
#
#   make module [KERNEL=debian|debian-16k]
#                 build ion_rs.ko for Debian's own arm64 kernel, from
#                 Debian's packages (default: the running kernel on arm64)
#   make module_install [KERNEL=...] [INSTALL_MOD_PATH=/]
#                 install it in /lib/modules/<release>/updates, then depmod
#   make symbols  the module's imported symbols: C, and Rust kernel crate
#
#   make modules KDIR=/path/to/kernel [ARCH=arm64 LLVM=1]
#                 build ion_rs.ko against a board's kernel (external module)

KDIR ?= /lib/modules/$(shell uname -r)/build
FLAVOUR ?= qemu

# A kernel that does not know CONFIG_ION_RS (a board's unpatched kernel)
# gets the options here. Add CONFIG_ION_RS_KUNIT_TEST=y if it has KUNIT=y.
ION_RS_CONFIG ?= CONFIG_ION_RS=m CONFIG_ION_RS_HEAP_SYSTEM=y \
	CONFIG_ION_RS_HEAP_SYSTEM_CONTIG=y CONFIG_ION_RS_HEAP_CARVEOUT=y \
	CONFIG_ION_RS_HEAP_CHUNK=y CONFIG_ION_RS_HEAP_CMA=y

modules modules_install clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(ION_RS_CONFIG) $@

# Debian's arm64 kernel: KERNEL=debian (4 KiB pages) or debian-16k. On an
# arm64 Debian machine it defaults to the running kernel's flavour.
KERNEL ?= $(shell scripts/board.sh default)

module:
	scripts/board.sh build $(KERNEL)

module_install:
	scripts/board.sh install $(KERNEL) $(INSTALL_MOD_PATH)

symbols:
	scripts/symbols.sh

run:
	scripts/run.sh $(FLAVOUR)

test:
	scripts/test.sh

shell:
	scripts/vm.sh $(FLAVOUR) shell

bench:
	scripts/bench.sh

profile:
	scripts/profile.sh

icount:
	scripts/icount.sh

fmt:
	scripts/lint.sh --fix

.PHONY: modules modules_install clean run test shell bench profile icount fmt \
	module module_install symbols
