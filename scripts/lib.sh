# SPDX-License-Identifier: GPL-2.0
# Shared settings for rust-ion's scripts. Sourced, never run.
#
# Everything that is built or downloaded lives under $RUST_ION_CACHE, outside
# the work tree, keyed by what determines it.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${RUST_ION_CACHE:-$HOME/.cache/rust-ion}
KVER=7.3
ROOT=$CACHE/root-trixie
# Host tools mode: KDIR=/path/to/built/kernel uses the host's toolchain and
# skips the build root entirely.
NATIVE=${KDIR:+1}

# The kernel architecture and image of a flavour: qemu and debug are arm64
# (QEMU virt, TCG); x86 is x86_64 (KVM where usable, else TCG), tested so
# that the driver stays portable, and benchmarked where KVM is usable.
karch() { [ "$1" = x86 ] && echo x86_64 || echo arm64; }
kimage() { [ "$1" = x86 ] && echo arch/x86/boot/bzImage || echo arch/arm64/boot/Image; }

# KVM that runs a stock guest kernel: /dev/kvm usable and not kvm_pvm (a
# nested, paravirtual KVM that runs such a kernel through its instruction
# emulator, which stops on cmpxchg16b, xrstor and int3 before the kernel
# prints a line).
kvm_usable() { [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; }

log() { printf '[rust-ion] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# guest_dtb OUT MODE MACHINE...: QEMU virt's own device tree (dumpdtb of
# MACHINE) plus the heaps' reserved-memory nodes, and for MODE badnodes the
# nodes that cannot back a heap, as OUT/ion.dtb.
guest_dtb() {
	local out=$1 mode=$2
	shift 2
	inroot "$@" -machine dumpdtb="$out/virt.dtb" >/dev/null
	inroot dtc -q -I dtb -O dts -o "$out/virt.dts" "$out/virt.dtb"
	cat "$TOP/scripts/guest/ion-heaps.dtsi" >>"$out/virt.dts"
	if [ "$mode" = badnodes ]; then
		cat "$TOP/scripts/guest/ion-bad-heaps.dtsi" >>"$out/virt.dts"
	fi
	inroot dtc -q -I dts -O dtb -o "$out/ion.dtb" "$out/virt.dts"
}

# step NAME CMD...: run CMD, print what it did and how long it took.
step() {
	local name=$1 t0 rc=0
	shift
	t0=$(date +%s.%N)
	log "$name ..."
	# A subshell outside any conditional, so that set -e holds inside it.
	set +e
	(
		set -e
		"$@"
	)
	rc=$?
	set -e
	log "$name: $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)") s (rc=$rc)"
	return $rc
}

# The Debian mirror comes from the host's own apt configuration so that no
# host name is written into the repository.
debian_mirror() {
	cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
		awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}
		     /^deb / && $2 !~ /security/ {print $2; exit}' || true
}

# inroot CMD...: run CMD inside the trixie build root, in a private mount
# namespace so that no mount outlives it. The work tree and the cache are
# bound at the same paths, so paths mean the same inside and out.
inroot() {
	if [ -n "$NATIVE" ]; then
		"$@"
		return
	fi
	[ -n "${ROOT_BOOTSTRAP:-}" ] || [ -f "$ROOT/.rust-ion-stamp" ] ||
		die "no build root; run scripts/buildroot.sh"
	unshare --mount --fork --propagation private bash -c '
		set -e
		R=$1 top=$2 cache=$3 cwd=$4
		shift 4
		mount -t proc proc "$R/proc"
		mount --rbind /sys "$R/sys"
		mount --rbind /dev "$R/dev"
		for d in "$top" "$cache"; do
			mkdir -p "$R$d"
			mount --bind "$d" "$R$d"
		done
		exec chroot "$R" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
			PATH=/usr/lib/llvm-19/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			bash -c "cd \"\$0\" && exec \"\$@\"" "$cwd" "$@"
	' _ "$ROOT" "$TOP" "$CACHE" "$PWD" "$@"
}

# apt-get in the build root, one at a time: test.sh builds the later boots'
# kernels in the background, and Debian's packages are fetched there while
# a boot may fetch its own (apt-get update would pull the lists from under
# a download).
apt_get() {
	mkdir -p "$CACHE"
	(
		flock 8
		inroot apt-get "$@"
	) 8>"$CACHE/.apt.lock"
}

# The module with every heap, on the make command line of an external build
# (for a kernel that may not know the options): module.sh's builds and
# board_module's.
ION_RS_ALL="CONFIG_ION_RS=m CONFIG_ION_RS_HEAP_SYSTEM=y CONFIG_ION_RS_HEAP_SYSTEM_CONTIG=y
CONFIG_ION_RS_HEAP_CARVEOUT=y CONFIG_ION_RS_HEAP_CHUNK=y CONFIG_ION_RS_HEAP_CMA=y"

# rust-ion's module as a board builds it, from the sources in $1, against
# flavour $2's kernel, into $3: every heap, and no KUnit, whose suites would
# run at every insmod and make up two thirds of the module's text (162 KB
# against 57 KB). make bench builds both modules it compares so, and
# make icount its module.
board_module() {
	local src=$1 f=$2 mo=$3 build
	build=$("$TOP/scripts/kernel.sh" "$f") || return 1
	rm -rf "$mo" && mkdir -p "$mo"
	# shellcheck disable=SC2086 # a list of options
	inroot make -C "$build" ARCH="$(karch "$f")" LLVM=1 -j"$(nproc)" M="$src" MO="$mo" \
		$ION_RS_ALL CONFIG_ION_RS_KUNIT_TEST= modules >"$mo/build.log" 2>&1 || {
		tail -20 "$mo/build.log" >&2
		return 1
	}
	echo "$mo/ion_rs.ko"
}
