#!/usr/bin/env bash
# The layering of the library, checked from the includes: each folder may include only the folders below
# it (core <- autodiff, data <- models <- flows <- analysis <- experiments, bench). An upward include
# would tie a lower layer to one above it; this names each one and fails. A suite of the README's test
# command (tests/meson.build), reporting like the doctest suites: one case per layer.
set -uo pipefail
cd "$(dirname "$0")/.."
declare -A allowed=(
  [core]="core"
  [autodiff]="core autodiff"
  [data]="core data"
  [models]="core autodiff data models"
  [flows]="core autodiff data models flows"
  [analysis]="core autodiff data models flows analysis"
)
bad=0 ok=0
for layer in core autodiff data models flows analysis; do
  before=$bad
  while IFS=: read -r file line include; do
    target=${include%%/*}
    [[ " ${allowed[$layer]} " == *" $target "* ]] && continue
    echo "$file:$line: $layer/ includes $include (a layer above it)"
    bad=$((bad + 1))
  done < <(grep -rnoE '#include "[a-z_]+/[^"]+"' "$layer" | sed -E 's/#include "([^"]+)"/\1/')
  [ "$before" -eq "$bad" ] && ok=$((ok + 1))
done
echo "[doctest] test cases: ${#allowed[@]} | $ok passed | $(( ${#allowed[@]} - ok )) failed | 0 skipped"
[ "$bad" -eq 0 ]
