#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# rustfmt (the kernel's .rustfmt.toml) and checkpatch on rust-ion's own
# sources; any finding fails. Needs an unpacked kernel source (kernel.sh).
#   scripts/lint.sh [--fix]      --fix reformats the Rust sources first
. "$(dirname "$0")/lib.sh"

SRC=${KDIR:-$(ls -d "$CACHE"/src/linux-source-"$KVER"_* | tail -n1)}
[ -e "$SRC/source" ] && SRC=$(readlink -f "$SRC/source")
cd "$TOP"
rs=$(find . -name '*.rs' -not -path './.git/*' | sort)
c=$(find . \( -name '*.c' -o -name '*.h' \) -not -path './.git/*' | sort)
[ "${1:-}" = --fix ] && inroot rustfmt --edition 2021 --config-path "$SRC/.rustfmt.toml" $rs
inroot rustfmt --check --edition 2021 --config-path "$SRC/.rustfmt.toml" $rs
inroot perl "$SRC/scripts/checkpatch.pl" --no-tree --quiet --strict --terse \
	--ignore FILE_PATH_CHANGES,SPDX_LICENSE_TAG -f $c Documentation/ion.rst
