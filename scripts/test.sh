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
exec scripts/test-summary.sh "$builddir" "$status"
