#!/usr/bin/env bash
# Prints the closing line "N passed, M failed" of a `meson test` run in BUILD_DIR (doctest test cases
# summed over all suites; a suite that died before printing its summary counts as one failure) and
# exits non-zero if anything failed. Shared by scripts/test.sh and scripts/test-sanitize.sh.
# Usage: scripts/test-summary.sh BUILD_DIR MESON_TEST_EXIT_STATUS [NUMBER_OF_SUITES_RUN (default: all)]
set -uo pipefail
builddir=$1
status=$2
log="$builddir/meson-logs/testlog.txt"
read -r passed failed summaries < <(awk '
  /\[doctest\] test cases:/ { n++; for (i = 1; i <= NF; i++) { if ($i == "passed") p += $(i-1); if ($i == "failed") f += $(i-1) } }
  END { print p+0, f+0, n+0 }' "$log" 2>/dev/null || echo 0 0 0)
suites=${3:-$(meson introspect "$builddir" --tests | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')}
crashed=$(( suites - summaries ))  # a suite that died before printing its summary
[ "$crashed" -gt 0 ] && failed=$(( failed + crashed ))
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
