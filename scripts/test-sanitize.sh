#!/usr/bin/env bash
# The test suites under AddressSanitizer and UndefinedBehaviorSanitizer, in their own build directory
# ($WGFLOW_SAN_BUILD_DIR, default build-san). Any report fails the run: UBSan is built with
# -fno-sanitize-recover=all and both run with halt_on_error=1, so a suite that trips one dies and counts as
# failed. Ends with the same "N passed, M failed" line as scripts/test.sh. Builds only what the chosen
# suites run. Arguments name the suites to build and run (core, autodiff, data, models, flows, analysis,
# experiments, numpy_round_trip, python, mpi-1, mpi-2, mpi-3, layers: `meson test --list`); none means all.
# Usage: scripts/test-sanitize.sh [SUITE...]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
builddir=${WGFLOW_SAN_BUILD_DIR:-build-san}
scripts/install-deps.sh build || exit 1

# Optimisation level ($WGFLOW_SAN_OPT, default -O0): for the suites CI runs, compiling is the cost, not
# running. The autodiff suite on 2 cores: -O1 -g1 builds in 340 s and runs in 13 s, -O0 -g1 builds in
# 173 s and runs in 84 s (-O2 -g doubles -O1's compile time). The flows suite, whose statistical tests
# take many steps, wants -O1 (183 s at -O1 on 16 cores). -g1 keeps line tables for the reports' stack traces.
opt=${WGFLOW_SAN_OPT:--O0}
# shellcheck disable=SC2054  # address,undefined is meson's list, one argument
options=(-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=plain
         "-Dcpp_args=$opt -g1 -fno-sanitize-recover=all -fno-omit-frame-pointer")
# -march=native ties the build to this CPU, as in scripts/build.sh: reconfigure from scratch if it, or the
# optimisation level, changed.
cpu="$( (grep -m1 'model name' /proc/cpuinfo; grep -m1 '^flags' /proc/cpuinfo) | md5sum | cut -c1-16) $opt"
if [ -f "$builddir/build.ninja" ] && [ "$(cat "$builddir/.wgflow-cpu" 2>/dev/null)" != "$cpu" ]; then
  meson setup --wipe "$builddir" "${options[@]}" >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
elif [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" "${options[@]}" >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
fi
echo "$cpu" > "$builddir/.wgflow-cpu"

# The chosen suites' executables and the programs they run (a test's `depends`: the experiments suite runs
# the experiment programs, and without them failed 25 of its 35 cases), as ninja targets (paths relative to
# the build directory); a test's command from outside it (mpirun for the mpi suites) is not built.
targets=$(meson introspect "$builddir" --tests --targets | python3 -c '
import json, os, sys
root, wanted = os.path.abspath(sys.argv[1]), set(sys.argv[2:])
info = json.load(sys.stdin)
tests = [t for t in info["tests"] if not wanted or t["name"] in wanted]
missing = wanted - {t["name"] for t in tests}
if missing: sys.exit("no such test suite: " + " ".join(sorted(missing)))
files = {t["id"]: t["filename"] for t in info["targets"]}
paths = {t["cmd"][0] for t in tests} | {f for t in tests for d in t["depends"] for f in files.get(d, [])}
built = {os.path.relpath(p, root) for p in paths if os.path.abspath(p).startswith(root + os.sep)}
print(" ".join(sorted(built)))' "$builddir" "$@") ||
  { echo "0 passed, 1 failed"; exit 1; }
# shellcheck disable=SC2086
ninja -C "$builddir" $targets || { echo "0 passed, 1 failed"; exit 1; }

export ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# The ranks mpirun starts (the experiments suite's runs under mpirun, the mpi suites) also report Open MPI's
# own allocations as leaks (about 100 a rank): they get scripts/lsan-open-mpi.supp, and the slow unwinder,
# without which a stack stops at the first Open MPI frame, short of the library a suppression names. Open
# MPI hands mca_base_env_list's variables to the processes it launches; single processes keep the above.
export OMPI_MCA_mca_base_env_list="ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0;LSAN_OPTIONS=suppressions=$PWD/scripts/lsan-open-mpi.supp:print_suppressions=0"
# The sanitised suites run 2-4x slower than the release ones: stretch meson's per-suite timeouts. Two at a
# time: CI's three take 41, 39 and 15 s one after another on 2 cores.
meson test -C "$builddir" --no-rebuild --print-errorlogs --num-processes 2 --timeout-multiplier 4 "$@"
status=$?
if [ $# -gt 0 ]; then exec scripts/test-summary.sh "$builddir" "$status" $#; fi
exec scripts/test-summary.sh "$builddir" "$status"
