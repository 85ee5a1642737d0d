#!/usr/bin/env bash
# Reproduces the paper's toy figures (paper.md §3) and the two-moons classification in one command: installs
# missing packages, builds, runs every figure program, plots, and writes <out>/report.md, one PASS/FAIL line
# per expected outcome.
#
#   scripts/reproduce.sh                quick mode: every program's --quick (same qualitative results; 8-9 s of
#                                       programs and plots on 2 cores, build excluded)
#   scripts/reproduce.sh --full         the paper's exact settings (85 s on 2 cores)
#   scripts/reproduce.sh --out DIR      output folder (default: results)
#   scripts/reproduce.sh --uci PATH     also run the UCI table (default: $UCI_DATA) if
#                                       $WGFLOW_BUILD_DIR/experiments/uci_regression is built
#   scripts/reproduce.sh --no-build     skip installing and building: use the binaries already built
# The build folder is $WGFLOW_BUILD_DIR (default: build), as for scripts/build.sh. Exits non-zero if a
# program fails or any line of the report is FAIL.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }
mode=quick
out=results
uci=${UCI_DATA:-}
build=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --full) mode=full ;;
    --quick) mode=quick ;;
    --no-build) build=no ;;
    --out) out=${2:?--out needs a folder}; shift ;;
    --uci) uci=${2:?--uci needs a path}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "reproduce.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
builddir=${WGFLOW_BUILD_DIR:-build}
flag=""
[ "$mode" = quick ] && flag=--quick

if [ "$build" = yes ]; then
  scripts/install-deps.sh figures
  scripts/build.sh
fi
# The plots need the Debian python3-matplotlib: prefer a python3 on PATH that has it (a pyenv or venv
# python may not), else the system's.
py=python3
for candidate in python3 /usr/bin/python3; do
  if "$candidate" -c 'import matplotlib, numpy' 2>/dev/null; then py=$candidate; break; fi
done

mkdir -p "$out"
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
start=$EPOCHREALTIME
for name in optimal_q toy_gmm sin_landscape regression_1d classification; do
  echo "== $name ($mode)"
  t0=$EPOCHREALTIME
  "$builddir/experiments/$name" $flag --out "$out/$name"
  "$py" experiments/plot/$name.py "$out/$name"
  echo "$name: $(elapsed "$t0") s" | tee -a "$out/timing.txt.new"
done
mv "$out/timing.txt.new" "$out/timing.txt"
total=$(elapsed "$start")
echo "figures: $total s (programs and plots, build excluded)"

if [ -n "$uci" ]; then
  if [ -x "$builddir/experiments/uci_regression" ]; then
    echo "== uci_regression ($mode)"
    "$builddir/experiments/uci_regression" $flag --data "$uci" --out "$out/uci"
    if [ -f experiments/plot/uci_table.py ]; then "$py" experiments/plot/uci_table.py "$out/uci"; fi
  else
    echo "reproduce.sh: $builddir/experiments/uci_regression is not built; skipping the UCI table" >&2
  fi
fi

"$py" scripts/report.py "$out" --mode "$mode" --seconds "$total"
