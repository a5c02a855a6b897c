#!/usr/bin/env bash
# The layering rule (README, "Development"): a file under src/ includes tieredlog headers only from
# its own folder or a lower one. Layers, lowest first, are TL_LAYERS in the Makefile; src/tieredlog.c
# is above them all. Prints each include that points upward and exits 1 if there is any.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a layers <<<"$(make -s --no-print-directory -f Makefile tl-layers 2>/dev/null || true)"
if [ ${#layers[@]} -eq 0 ]; then
	echo "check_layers: cannot read TL_LAYERS from the Makefile" >&2
	exit 2
fi
declare -A rank
for i in "${!layers[@]}"; do rank[${layers[$i]}]=$i; done
bad=0
while IFS= read -r file; do
	dir=${file#src/}
	dir=${dir%%/*}
	if [ "$dir" = "tieredlog.c" ]; then
		mine=${#layers[@]}
	elif [ -n "${rank[$dir]+x}" ]; then
		mine=${rank[$dir]}
	else
		echo "$file: folder \"$dir\" is not a layer in the Makefile's TL_LAYERS"
		bad=1
		continue
	fi
	while IFS= read -r inc; do
		target=${inc%%/*}
		[ -n "${rank[$target]+x}" ] || continue	# PostgreSQL's or the system's header
		if [ "${rank[$target]}" -gt "$mine" ]; then
			echo "$file includes $inc: $target is above $dir"
			bad=1
		fi
	done < <(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]+"([^"]+)".*/\1/p' "$file")
done < <(find src -name '*.[ch]' | sort)
if [ "$bad" -eq 0 ]; then
	echo "check_layers: every include points to the same or a lower layer (${layers[*]})"
fi
exit "$bad"
