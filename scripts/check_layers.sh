#!/usr/bin/env bash
# The layering rules (README, "Development"): a file under src/ includes tieredlog headers only from
# its own folder or a lower one, and only src/store/ runs SQL on tieredlog's own tables. Layers,
# lowest first, are TL_LAYERS in the Makefile; src/tieredlog.c
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

# The second rule: SQL on tieredlog's own tables lives in src/store/ only. A statement that reads
# or writes a table of schema tieredlog (not a call of one of its functions) anywhere else fails
# the check; queries sent to a peer over libpq (PQexec*, PQsendQuery*) read the peer's tables
# through its own API and are not this node's catalog access.
sql_bad=$(grep -rnE '(FROM|INTO|UPDATE|JOIN|TABLE)[[:space:]]+tieredlog\.[a-z_]+([^a-z_(]|$)' src --include='*.c' \
	| grep -v '^src/store/' | grep -vE 'PQexec|PQsendQuery' || true)
if [ -n "$sql_bad" ]; then
	echo "check_layers: SQL on tieredlog's tables outside src/store/:"
	echo "$sql_bad"
	bad=1
else
	echo "check_layers: SQL on tieredlog's tables only in src/store/"
fi
exit "$bad"
