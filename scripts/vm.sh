#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the guest's userspace and initramfs, boot QEMU virt arm64.
#   scripts/vm.sh FLAVOUR MODE   (MODE: run, test, shell, bench, badnodes,
#                                 direct)
# Prints the console log's path on stdout (not for shell).
. "$(dirname "$0")/lib.sh"

flavour=${1:?usage: vm.sh qemu|debug|x86|debian16k run|test|shell|bench}
mode=${2:?usage: vm.sh qemu|debug|x86|debian16k run|test|shell|bench}
# debian16k is Debian's own arm64 16 KiB-page kernel, not one built here:
# its vmlinuz and modules from Debian's packages, and ion_rs.ko built and
# installed the way the README tells a board's owner (make module and
# make module_install with KERNEL=debian-16k), into a staging root. The
# selftests are built against the same source's arm64 uapi headers, which
# `make headers` installs without a configuration, let alone a kernel.
if [ "$flavour" = debian16k ]; then
	KB=$("$TOP/scripts/debian.sh" arm64-16k)
	DEB=$(dirname "$KB")
	REL=$(basename "$DEB")
	STAGE=$CACHE/out/debian16k/stage
	rm -rf "$STAGE"
	make -s -C "$TOP" module KERNEL=debian-16k >&2
	make -s -C "$TOP" module_install KERNEL=debian-16k INSTALL_MOD_PATH="$STAGE" >&2
	BUILD=$CACHE/headers/arm64
	mkdir -p "$BUILD"
	ln -sfn "$("$TOP/scripts/kernel.sh" --unpack)" "$BUILD/source"
else
	BUILD=$("$TOP/scripts/kernel.sh" "$flavour")
	# bench.sh and icount.sh bring the module as a board builds it
	# (RUST_ION_KO); make test's builds and checks are not theirs to run.
	[ -n "${RUST_ION_KO:-}" ] || MOD=$("$TOP/scripts/module.sh" "$flavour" "$BUILD")
fi
# RUST_ION_OUT names another output directory, so that a second run of the
# same flavour (a soak beside a test) does not write over the first's log.
OUT=$CACHE/out/${RUST_ION_OUT:-$flavour}
mkdir -p "$OUT"

# The selftests build and install as the kselftest target they are, from
# the kernel tree's own tools/testing/selftests/Makefile, together with the
# kernel's dmabuf-heaps selftest: run_kselftest.sh, its runner and
# kselftest-list.txt go to the guest's /kselftest, which runs each program
# of TEST_GEN_PROGS through the runner. In the kernel tree,
# tools/testing/selftests/ion is a directory of links to this work tree's
# files, so that its "include ../lib.mk" finds the kernel's (a link to the
# directory would resolve outside the tree). Static arm64 (or x86_64)
# binaries against this kernel's uapi headers (KHDR_INCLUDES); ion_test and
# ion_fuzz also for 32-bit ARM, linked against Debian's armhf glibc as a
# board's 32-bit programs are.
userspace() {
	local src ksft inst=$OUT/tests/kselftest cross=aarch64-linux-gnu- cross32=arm-linux-gnueabihf-
	src=$(readlink -f "$BUILD/source")
	ksft=$src/tools/testing/selftests/ion
	[ "$flavour" = x86 ] && cross= cross32=
	mkdir -p "$ksft" "$OUT/tests/ksft32"
	find "$ksft" -maxdepth 1 -type l -delete
	ln -s "$TOP"/tools/testing/selftests/ion/* "$ksft"/
	inroot make -s -C "$src" O="$BUILD" ARCH="$(karch "$flavour")" LLVM=1 headers
	rm -rf "$inst"
	inroot make -s -C "$src/tools/testing/selftests" TARGETS="ion dmabuf-heaps" install \
		O="$OUT/tests/ksft-build" KSFT_INSTALL_PATH="$inst" ARCH="$(karch "$flavour")" \
		CROSS_COMPILE="$cross" KHDR_INCLUDES="-isystem $BUILD/usr/include" \
		ION_UAPI="$TOP/uapi" USERLDFLAGS=-static
	# The programs that TEST_GEN_PROGS does not run, in the guest's groups.
	rm -rf "$OUT"/tests/{selftests,robust,bin,faces,direct}
	mkdir -p "$OUT"/tests/{selftests,robust,bin,faces,direct}
	cp "$inst/ion/ion_unload_test" "$OUT/tests/selftests/"
	cp "$inst/ion/ion_insmod_walk" "$OUT/tests/robust/"
	cp "$inst"/ion/{ion_tool,ion_bench} "$OUT/tests/bin/"
	cp "$inst/ion/ion_dma_heap_test" "$inst/ion/ion_cgroup_test" "$OUT/tests/faces/"
	cp "$inst/ion/ion_vivid_test" "$OUT/tests/direct/"
	[ -n "$cross32" ] || return 0
	inroot make -s -C "$ksft" CROSS_COMPILE="$cross32" OUTPUT="$OUT/tests/ksft32" \
		ION_UAPI="$TOP/uapi" "$OUT/tests/ksft32/ion_test" "$OUT/tests/ksft32/ion_fuzz"
	# The compat ABI's functional test runs on Debian's kernel (and the
	# qemu kernel); under the debug kernel's checkers the compat paths get
	# ion_fuzz32, which keeps the debug boot (the long pole of a warm
	# make test) 40 s shorter.
	[ "$flavour" = debug ] || cp "$OUT/tests/ksft32/ion_test" "$OUT/tests/selftests/ion_test32"
	cp "$OUT/tests/ksft32/ion_fuzz" "$OUT/tests/robust/ion_fuzz32"
}

# The guest's busybox: arm64 from the build root; amd64 fetched beside it.
busybox() {
	if [ "$flavour" != x86 ]; then
		echo "$ROOT/usr/bin/busybox"
		return
	fi
	local d=$CACHE/busybox-amd64
	if [ ! -x "$d/usr/bin/busybox" ]; then
		mkdir -p "$d"
		(cd "$d" && apt_get download -qq -o APT::Sandbox::User=root busybox-static:amd64 >&2)
		inroot sh -c "dpkg-deb -x '$d'/busybox-static_*_amd64.deb '$d'"
	fi
	echo "$d/usr/bin/busybox"
}

# Debian's trinity (arm64) and the C library it links, for the debug guest.
# The debug kernel's manifest (scripts/manifest.txt) expects it: a package
# that cannot be fetched stops the run here, with the reason.
trinity_into() {
	local r=$1 d=$CACHE/trinity-arm64
	[ "$flavour" = x86 ] && return 0
	if [ ! -x "$d/usr/bin/trinity" ]; then
		rm -rf "$d"
		mkdir -p "$d"
		(cd "$d" && apt_get download -qq -o APT::Sandbox::User=root \
			trinity:arm64 libc6:arm64 >&2) ||
			die "trinity: apt-get download trinity:arm64 libc6:arm64 failed; the $flavour kernel's robustness run needs it (is a Debian mirror configured in apt?)"
		inroot sh -c "for p in '$d'/*.deb; do dpkg-deb -x \"\$p\" '$d'; done"
	fi
	mkdir -p "$r/lib/aarch64-linux-gnu" "$r/etc"
	cp "$d/usr/bin/trinity" "$r/bin/"
	cp -L "$d"/usr/lib/ld-linux-aarch64.so.1 "$r/lib/"
	cp -L "$d"/usr/lib/aarch64-linux-gnu/lib{c,m}.so.6 "$r/lib/aarch64-linux-gnu/"
	echo 'root:x:0:0::/:/bin/sh' >"$r/etc/passwd"
	echo 'nobody:x:65534:65534::/:/bin/false' >>"$r/etc/passwd"
	echo 'root:x:0:' >"$r/etc/group"
	echo 'nogroup:x:65534:' >>"$r/etc/group"
	install -m 0755 "$TOP/scripts/guest/ion_trinity" "$r/bin/"
}

# Debian's own vgem and vivid, and every module they need, uncompressed (the
# guest's insmod does not decompress), in an order that loads: each module
# after what it depends on (modules.dep). Their names, in that order, go
# to /lib/modules/debian/order.
debian_modules() {
	local r=$1 mods=$DEB/modules/usr/lib/modules/$REL
	mkdir -p "$r/lib/modules/debian"
	awk -v want="vgem vivid" '
		function base(p) { sub(/.*\//, "", p); sub(/\.ko(\.[a-z]+)?$/, "", p); return p }
		function visit(m,   n, d, i) {
			if (seen[m]++) return
			n = split(deps[m], d, " ")
			for (i = n; i >= 1; i--) visit(d[i])
			print path[m]
		}
		{ sub(/:$/, "", $1); m = base($1); path[m] = $1
		  for (i = 2; i <= NF; i++) deps[m] = deps[m] " " base($i); }
		END { n = split(want, w, " "); for (i = 1; i <= n; i++) visit(w[i]) }
	' "$mods/modules.dep" >"$r/lib/modules/debian/paths"
	grep -q vgem "$r/lib/modules/debian/paths" && grep -q vivid "$r/lib/modules/debian/paths" ||
		die "Debian's $REL has no vgem or vivid module"
	: >"$r/lib/modules/debian/order"
	while read -r p; do
		local b=${p##*/}
		b=${b%.xz}
		b=${b%.zst}
		b=${b%.gz}
		case $p in
		*.xz) xz -dc "$mods/$p" >"$r/lib/modules/debian/$b" ;;
		*.zst) zstd -qdc "$mods/$p" >"$r/lib/modules/debian/$b" ;;
		*.gz) gzip -dc "$mods/$p" >"$r/lib/modules/debian/$b" ;;
		*) cp "$mods/$p" "$r/lib/modules/debian/$b" ;;
		esac
		echo "$b" >>"$r/lib/modules/debian/order"
	done <"$r/lib/modules/debian/paths"
	rm "$r/lib/modules/debian/paths"
}

initramfs() {
	local r=$OUT/initramfs
	rm -rf "$r"
	mkdir -p "$r"/{bin,sbin,proc,sys,dev,tmp,lib/modules,tests}
	cp "$(busybox)" "$r/bin/busybox"
	for a in sh mount insmod rmmod dmesg poweroff reboot sed cat echo sleep ls setsid \
		grep head cut tr mkdir stat chmod timeout tail; do
		ln -s busybox "$r/bin/$a"
	done
	install -m 0755 "$TOP/scripts/guest/init" "$r/init"
	install -m 0755 "$TOP/scripts/guest/check-bad-nodes" "$r/bin/"
	install -m 0755 "$TOP/scripts/guest/ion_profile" "$r/bin/"
	if [ "$flavour" != x86 ]; then
		# Debian's armhf C library, for the dynamically linked 32-bit tests.
		mkdir -p "$r/lib/arm-linux-gnueabihf"
		cp -L "$ROOT"/usr/arm-linux-gnueabihf/lib/ld-linux-armhf.so.3 "$r/lib/"
		cp -L "$ROOT"/usr/arm-linux-gnueabihf/lib/lib{c,m}.so.6 "$r/lib/arm-linux-gnueabihf/"
	fi
	if [ "$flavour" = debian16k ]; then
		cp "$STAGE/lib/modules/$REL/updates/ion_rs.ko" "$r/lib/modules/"
		debian_modules "$r"
	else
		cp "${RUST_ION_KO:-$MOD/ion_rs.ko}" "$r/lib/modules/"
	fi
	# bench.sh's before/after comparison: another build, run after this one.
	[ -n "${RUST_ION_BEFORE_KO:-}" ] && cp "$RUST_ION_BEFORE_KO" "$r/lib/modules/ion_rs_before.ko"
	cp -r "$OUT/tests/kselftest" "$r/kselftest"
	cp "$OUT"/tests/bin/* "$r/bin/"
	cp "$OUT"/tests/selftests/* "$r/tests/"
	mkdir -p "$r/faces" "$r/direct"
	cp "$OUT"/tests/faces/* "$r/faces/"
	cp "$OUT"/tests/direct/* "$r/direct/"
	if [ -n "$robust" ]; then
		mkdir -p "$r/robust"
		cp "$OUT"/tests/robust/* "$r/robust/"
		trinity_into "$r"
	fi
	inroot sh -c "cd '$r' && find . | cpio -o -H newc --quiet | gzip -1 >'$OUT/initramfs.cpio.gz'"
}

# The debug kernel also runs stress, fault injection and fuzzing.
robust=
[ "$flavour" = debug ] && [ "$mode" = test ] && robust=1
[ -n "${RUST_ION_ROBUST:-}" ] && [ "$mode" != run ] && robust=1
# One userspace build at a time: make test boots two kernels at once, and
# the selftests build in the kernel source's tools/ (links made afresh).
mkdir -p "$CACHE/out"
exec 8>"$CACHE/out/.userspace.lock"
flock 8
step "build guest userspace" userspace >&2
flock -u 8
step "pack initramfs" initramfs

mem=1G
[ "$flavour" = debug ] && mem=2G
[ "$flavour" = debian16k ] && mem=2G
# RUST_ION_SMP: make icount counts on one vCPU.
common=(-smp "${RUST_ION_SMP:-2}" -m "$mem" -nographic -no-reboot -net none)
machine=(qemu-system-aarch64 -M virt -cpu max "${common[@]}")
# make icount's instruction counter (a TCG plugin, with its arguments).
[ -n "${RUST_ION_QEMU_PLUGIN:-}" ] && machine+=(-plugin "$RUST_ION_QEMU_PLUGIN")
console=ttyAMA0
if [ "$flavour" = x86 ]; then
	# KVM where it can run a stock kernel (see kvm_usable), else TCG: slow,
	# but the same driver and tests on a second architecture.
	if kvm_usable; then
		machine=(qemu-system-x86_64 -enable-kvm -cpu host "${common[@]}")
	else
		machine=(qemu-system-x86_64 -accel tcg -cpu max "${common[@]}")
	fi
	console=ttyS0
fi

# QEMU's own device tree for this machine, plus the heaps' reserved memory.
devicetree() {
	guest_dtb "$OUT" "$mode" "${machine[@]}"
}
dtb=()
if [ "$flavour" != x86 ]; then
	step "device tree with reserved-memory heaps" devicetree
	dtb=(-dtb "$OUT/ion.dtb")
fi

# The tests make DMA bounce (swiotlb=force) so that cache maintenance is
# observable; the benchmark does not, to measure what hardware would do.
# Debian's kernel has no KUnit, which is what needs the bouncing, and its
# boot runs vivid, which needs DMA to reach memory directly.
bounce=swiotlb=force
[ -n "${RUST_ION_NO_SWIOTLB:-}" ] && bounce=
[ "$flavour" = debian16k ] && bounce=
# The direct boot: DMA reaches memory directly, as most board devices do,
# and V4L2's vivid imports buffers with its dma-contig allocator (HDMI in
# and out, looped). vivid writes frames through the CPU behind its own
# mapping, which only a direct mapping keeps coherent. KUnit ran in the
# test boot of this kernel (it needs swiotlb=force), so it is off here.
if [ "$mode" = direct ]; then
	bounce="kunit.enable=0 vivid.n_devs=1 vivid.allocators=1 vivid.node_types=0x101"
	bounce="$bounce vivid.num_inputs=1 vivid.input_types=3 vivid.num_outputs=1"
	bounce="$bounce vivid.output_types=1 vivid.ccs_cap_mode=0 vivid.ccs_out_mode=0"
fi
# KUnit runs rust-ion's suites only: the kernel's own Rust suites queue
# work on the deprecated system_wq at boot, and its warning is printed once
# per boot, which would hide a use of it by rust-ion (the console check
# fails on that warning).
cma=64M
# x86 has no device tree: its CMA heap and the carved-out carveout share
# the default area, each big enough for the kernel's dma-heap selftest
# (32 x 1 MiB at once).
[ "$flavour" = x86 ] && cma=128M
# Every kernel message at warning level and above goes to the console as it
# happens (loglevel=5: levels 0-4), so that report.py judges each one even
# if no dmesg dump follows; the log buffer (8 MiB) is large enough that a
# whole boot never wraps it, and the guest checks that it did not.
append="console=$console cma=$cma panic=-1 loglevel=5 log_buf_len=${RUST_ION_LOG_BUF:-8M} $bounce"
append="$append rust_ion.mode=$mode kunit.filter_glob=rust_ion*"
# The heaps the guest must find (ion_test's expected_heaps): the test
# device tree's on arm64; on x86, which has no device tree, the carveout is
# carved out of CMA, as on a board without the node, so that the carveout
# variants run there too.
heaps=dt
margs=${RUST_ION_ARGS:-}
if [ "$flavour" = x86 ]; then
	heaps=x86
	[ "$mode" = test ] && margs=carveout_cma_mb=40${margs:+,$margs}
fi
# RUST_ION_ARGS: more module parameters, comma-separated (kunit_warn=1
# makes a KUnit case WARN: a red run).
[ -n "$margs" ] && append="$append rust_ion.args=$margs"
append="$append rust_ion.heaps=$heaps rust_ion.rounds=${RUST_ION_BENCH_ROUNDS:-1} ${RUST_ION_APPEND:-}"
# RUST_ION_BENCH_ARGS=-q: options for ion_bench, comma-separated.
[ -n "${RUST_ION_BENCH_ARGS:-}" ] && append="$append rust_ion.bench=$RUST_ION_BENCH_ARGS"
if [ -n "$robust" ]; then
	append="$append rust_ion.robust=1 rust_ion.seed=${RUST_ION_SEED:-1}"
	[ -n "${RUST_ION_SOAK:-}" ] && append="$append rust_ion.soak=1"
fi
kernel=$BUILD/$(kimage "$flavour")
[ "$flavour" = debian16k ] && kernel=$DEB/binary/usr/lib/modules/$REL/vmlinuz
qemu=("${machine[@]}" "${dtb[@]}" -kernel "$kernel"
	-initrd "$OUT/initramfs.cpio.gz" -append "$append")

if [ "$mode" = shell ]; then
	inroot "${qemu[@]}"
	exit 0
fi
log=$OUT/console-$mode.log
# A hung guest fails the run: QEMU is killed after the timeout.
# Five minutes for the boots that take two at most alone, as make test
# runs two VMs at once.
tmo=${RUST_ION_VM_TIMEOUT:-300}
[ "$flavour" = debug ] && tmo=${RUST_ION_VM_TIMEOUT:-900}
[ -n "${RUST_ION_SOAK:-}" ] && [ -n "$robust" ] && tmo=${RUST_ION_VM_TIMEOUT:-4800}
# A KVM internal error stops the guest without ending QEMU: end it at once.
boot() {
	inroot timeout -k 5 "$tmo" "${qemu[@]}" </dev/null >"$log" 2>&1 &
	local pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		if grep -aq 'KVM internal error' "$log"; then
			pkill -f -- "-initrd $OUT/initramfs.cpio.gz" || true
			wait "$pid" || true
			log "the guest stopped on a KVM internal error"
			return 1
		fi
		sleep 1
	done
	wait "$pid"
}
step "boot $flavour kernel ($mode)" boot || log "QEMU exited non-zero (timeout is ${tmo} s)"
echo "$log"
