#!/usr/bin/env bash
# The layering of the library, checked from the includes: each folder may include only the folders below
# it (core <- autodiff, data <- models <- flows <- analysis <- experiments, bench). An upward include
# would tie a lower layer to one above it; this names each one and fails. The installed headers include
# each other by relative path (so they work from <prefix>/include/wgflow/ as from the checkout); each
# include is resolved to the top folder it lands in. A suite of the README's test command
# (tests/meson.build), reporting like the doctest suites: one case per layer.
set -uo pipefail
cd "$(dirname "$0")/.."
declare -A allowed=(
  [core]="core"
  [autodiff]="core autodiff"
  [data]="core data"
  [models]="core autodiff data models"
  [flows]="core autodiff data models flows"
  [analysis]="core autodiff data models flows analysis"
  [experiments/common]="core autodiff data models flows analysis experiments/common"
)
bad=0 ok=0
# The layer a header lands in: its top folder, or experiments/common for the experiment harness.
layer_of() {
  case "$1" in
    experiments/common/*) echo experiments/common ;;
    */*) echo "${1%%/*}" ;;
    *) echo "(outside the library: $1)" ;;
  esac
}
for layer in core autodiff data models flows analysis experiments/common; do
  before=$bad
  while IFS=: read -r file line include; do
    resolved=$(realpath -m --relative-to=. "$(dirname "$file")/$include")
    target=$(layer_of "$resolved")
    [[ " ${allowed[$layer]} " == *" $target "* ]] && continue
    echo "$file:$line: $layer/ includes $include ($resolved: not in a layer below it)"
    bad=$((bad + 1))
  done < <(grep -rnoE '#include "[^"]+"' "$layer" | sed -E 's/#include "([^"]+)"/\1/')
  [ "$before" -eq "$bad" ] && ok=$((ok + 1))
done
echo "[doctest] test cases: ${#allowed[@]} | $ok passed | $(( ${#allowed[@]} - ok )) failed | 0 skipped"
[ "$bad" -eq 0 ]
