#!/usr/bin/env bash
# Runs wgflow's benchmarks and their PyTorch twins side by side and prints the ratios, each figure's share
# of the cores' peak multiply-add rate and the targets of issue 23 (bench/compare.py).
#
#   bench/run.sh [--threads N] [--min-time S] [--rounds R] [--quick] [--build DIR] [--out DIR] [--only NAME]
#
#   --threads N   threads for both sides (default: all cores); the flow steps at N = 100 and 1000 are also
#                 run at 1 and 2 threads (issue 23's targets 1-3)
#   --min-time S  seconds of measurement per figure (default 1); --quick: 0.05 and 3 runs, random_batch
#                 only up to N = 10^4 (a smoke test)
#   --rounds R    measure everything R times over (default 1), each round wgflow then PyTorch per workload;
#                 the tables give the median over rounds of each round's ratio, and its range
#   --build DIR   meson build directory (default build-bench; configured if missing, release)
#   --out DIR     where the JSON lines and the log go (default BUILD/bench-results/<date>)
#   --only NAME   only the workloads whose name starts with NAME: a group (flow_step, mlp, interaction,
#                 step/, random_batch, lanes, gemm) or one workload (flow_step/DRLE)
#
# Without PyTorch the wgflow half still runs; install it with `scripts/install-deps.sh bench`
# (Debian's python3-torch). The figures are medians; the machine's load is printed, since a loaded
# machine makes every figure slower and the ratios noisier.
set -euo pipefail
cd "$(dirname "$0")/.."

threads=$(nproc)
min_time=1
min_runs=5
rounds=1
build="build-bench"
out=""
only=""
rb_particles=1000,10000,100000  # random_batch: N = 10^5 takes minutes and about 4 GB
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=${2-}; shift $(($# > 1 ? 2 : 1)) ;;
    --min-time) min_time=${2-}; shift $(($# > 1 ? 2 : 1)) ;;
    --rounds) rounds=${2-}; shift $(($# > 1 ? 2 : 1)) ;;
    --quick) min_time=0.05; min_runs=3; rb_particles=1000,10000; shift ;;
    --build) build=${2-}; shift $(($# > 1 ? 2 : 1)) ;;
    --out) out=${2-}; shift $(($# > 1 ? 2 : 1)) ;;
    --only) only=${2-}; shift $(($# > 1 ? 2 : 1)) ;;
    -h|--help) sed -n '/^set -euo/q;2,$p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
# The flags the programs would refuse only after the machine line: refused here, before anything runs.
usage_error() { echo "run.sh: $1 (see --help)" >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || usage_error "--rounds wants a positive integer, got '$rounds'"
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || usage_error "--threads wants a positive integer, got '$threads'"
seconds() { [[ "$1" =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)$ ]] && awk -v t="$1" 'BEGIN { exit !(t > 0 && t <= 3600) }'; }
seconds "$min_time" || usage_error "--min-time wants seconds in (0, 3600], got '$min_time'"
[ -n "$build" ] || usage_error "--build wants a folder"
# Configure before anything is written under the build directory (meson wants it empty or its own).
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release > /dev/null
out=${out:-$build/bench-results/$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$out"
results="$out/results.jsonl"
: > "$results"
common=(--min-time "$min_time" --min-runs "$min_runs" --json "$results")
wants() { [ -z "$only" ] || [[ "$1" == "$only"* ]] || [[ "$only" == "$1"* ]]; }
# The --only a group's programs get: the group's name, or the user's --only where it is narrower.
only_for() { if [ -n "$only" ] && [[ "$only" == "$1"* ]]; then echo "$only"; else echo "$1"; fi; }

# The machine, stated beside every table (and as a JSON line, so that compare.py states it too).
source bench/machine.sh
machine_line "$threads"
echo "Load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Results: $results"
machine_json before "$threads" "$results"

# Build the benchmark programs (release, -march=native: the project's defaults).
targets=(bench/bench_peak bench/bench_flows bench/bench_mlp bench/bench_interaction bench/bench_random_batch
         bench/bench_lanes)
grep -q 'bench/bench_gemm:' "$build/build.ninja" && targets+=(bench/bench_gemm) \
  || echo "OpenBLAS not found: no GEMM comparison (scripts/install-deps.sh bench installs libopenblas-dev)"
ninja -C "$build" "${targets[@]}" > "$out/build.log"

# PyTorch: the first Python that imports it (bench/machine.sh).
torch_py=$(torch_python)
[ -n "$torch_py" ] || echo "PyTorch is not installed: running the wgflow half only. Install it with" \
  "'scripts/install-deps.sh bench' (Debian's python3-torch), then rerun."
torch_ref() { [ -n "$torch_py" ] && "$torch_py" bench/torch_reference.py "$@"; return 0; }

# wgflow then PyTorch, workload by workload, so that both see the same machine state.
run_pair() {  # run_pair PROGRAM THREADS [ARGS...]: bench_X and torch_reference.py on the same workload
  local program=$1 thr=$2
  shift 2
  "$build/bench/$program" --threads "$thr" "${common[@]}" "$@" | tee -a "$out/log.txt"
  torch_ref --threads "$thr" "${common[@]}" "$@" | tee -a "$out/log.txt"
}
peak() {  # the cores' peak FMA rate, on one thread and on all used: compare.py reads the targets against it
  for thr in $(printf '%s\n' 1 "$threads" | sort -un); do
    "$build/bench/bench_peak" --threads "$thr" --json "$results" | tee -a "$out/log.txt"
  done
}
measure() {  # one round of every workload asked for, between two peak probes: compare.py takes the best,
  peak       # so that another tenant's burst must cover both to lower it
  if wants flow_step; then
    run_pair bench_flows "$threads" --particles 5,100,1000 --only "$(only_for flow_step)"
    for thr in 1 2; do  # N = 100 and 1000 at 1 and 2 threads beside PyTorch (share of peak, scaling)
      [ "$thr" = "$threads" ] || run_pair bench_flows "$thr" --particles 100,1000 --only "$(only_for flow_step)"
    done
    # The 2-thread speedup target: alternating 1- and 2-thread blocks in one process.
    "$build/bench/bench_flows" --threads 2 --scaling --particles 100 --only "$(only_for flow_step)" \
      "${common[@]}" | tee -a "$out/log.txt"
  fi
  wants mlp && run_pair bench_mlp "$threads" --only "$(only_for mlp)"
  wants interaction && run_pair bench_interaction "$threads" --only "$(only_for interaction)"
  wants step/ && run_pair bench_interaction "$threads" --only "$(only_for step/)"
  if wants random_batch; then  # no PyTorch twin: the exact interaction beside it is the reference
    "$build/bench/bench_random_batch" --threads "$threads" --particles "$rb_particles" "${common[@]}" \
      --only "$(only_for random_batch)" | tee -a "$out/log.txt"
  fi
  if wants lanes; then  # no peer: the kernels alone, one group on one thread, against that thread's peak
    "$build/bench/bench_lanes" --threads 1 "${common[@]}" --only "$(only_for lanes)" | tee -a "$out/log.txt"
  fi
  if wants gemm && [ -x "$build/bench/bench_gemm" ]; then
    for thr in 1 "$threads"; do
      "$build/bench/bench_gemm" --square --threads "$thr" --min-time "$min_time" --json "$results" | tee -a "$out/log.txt"
      [ "$thr" = "$threads" ] && break
    done
    torch_ref --threads "$threads" --min-time "$min_time" --min-runs "$min_runs" --json "$results" --only gemm \
      | tee -a "$out/log.txt"
  fi
  peak
}
for round in $(seq 1 "$rounds"); do
  [ "$rounds" = 1 ] || echo "== round $round of $rounds (load average $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$out/log.txt"
  measure
done

echo "Load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
machine_json after "$threads" "$results"
echo
python3 bench/compare.py "$results" | tee "$out/summary.txt"
