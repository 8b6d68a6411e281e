#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# rustfmt (the kernel's .rustfmt.toml) and checkpatch on rust-ion's own
# sources, and dtschema on the binding and on the test guest's device tree;
# any finding fails. Needs an unpacked kernel source (kernel.sh).
#   scripts/lint.sh [--fix]      --fix reformats the Rust sources first
. "$(dirname "$0")/lib.sh"

SRC=${KDIR:-$("$TOP/scripts/kernel.sh" --unpack)}
[ -e "$SRC/source" ] && SRC=$(readlink -f "$SRC/source")
cd "$TOP"
rs=$(find . -name '*.rs' -not -path './.git/*' | sort)
# Not scripts/tbcount.c: a QEMU plugin, in QEMU's API and types.
c=$(find . \( -name '*.c' -o -name '*.h' \) -not -path './.git/*' \
	-not -path ./scripts/tbcount.c | sort)
[ "${1:-}" = --fix ] && inroot rustfmt --edition 2021 --config-path "$SRC/.rustfmt.toml" $rs
inroot rustfmt --check --edition 2021 --config-path "$SRC/.rustfmt.toml" $rs
inroot perl "$SRC/scripts/checkpatch.pl" --no-tree --quiet --strict --terse \
	--ignore FILE_PATH_CHANGES,SPDX_LICENSE_TAG -f $c Documentation/ion.rst

# The binding, and the guest's device tree against it (dtschema, from the
# build root): the same dumpdtb + dtsi the VM boots with.
bindings=$TOP/Documentation/devicetree/bindings
inroot dt-doc-validate "$bindings/rust-ion.yaml"
out=$CACHE/out/lint
mkdir -p "$out"
guest_dtb "$out" test qemu-system-aarch64 -M virt -cpu max -smp 2 -m 1G -nographic -net none
inroot dt-mk-schema -j "$bindings" >"$out/schema.json"
inroot dt-validate -s "$out/schema.json" -l rust-ion "$out/ion.dtb" >"$out/dt-validate.log" 2>&1 || true
if [ -s "$out/dt-validate.log" ]; then
	cat "$out/dt-validate.log" >&2
	exit 1
fi
# And the check can fail: the bad-node device tree must be refused for each
# node that breaks the binding (the others break only what the driver
# checks, and the bad-node boot tests those).
guest_dtb "$out" badnodes qemu-system-aarch64 -M virt -cpu max -smp 2 -m 1G -nographic -net none
inroot dt-validate -s "$out/schema.json" -l rust-ion "$out/ion.dtb" >"$out/dt-validate-bad.log" 2>&1 || true
for node in bad-nomap bad-reusable bad-id-range bad-no-region; do
	grep -q "ion.dtb: $node " "$out/dt-validate-bad.log" ||
		die "dt-validate did not refuse $node of ion-bad-heaps.dtsi"
done
