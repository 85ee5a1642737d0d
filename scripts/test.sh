#!/usr/bin/env bash
# The test command: installs missing packages, builds, runs every test suite, and ends with the line
# "N passed, M failed" (doctest test cases over all suites; a suite that crashes counts as failed).
set -uo pipefail
cd "$(dirname "$0")/.."
builddir=${WGFLOW_BUILD_DIR:-build}
scripts/install-deps.sh build || exit 1
scripts/build.sh "$@" || { echo "0 passed, 1 failed"; exit 1; }

meson test -C "$builddir" --print-errorlogs --num-processes 1
status=$?
log="$builddir/meson-logs/testlog.txt"
read -r passed failed summaries < <(awk '
  /\[doctest\] test cases:/ { n++; for (i = 1; i <= NF; i++) { if ($i == "passed") p += $(i-1); if ($i == "failed") f += $(i-1) } }
  END { print p+0, f+0, n+0 }' "$log")
suites=$(meson introspect "$builddir" --tests | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
crashed=$(( suites - summaries ))  # a suite that died before printing its summary
[ "$crashed" -gt 0 ] && failed=$(( failed + crashed ))
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
