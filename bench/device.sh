#!/usr/bin/env bash
# Issue 23's targets on a lent 16-core machine, in one prepared call: strong scaling at N = 1000 on pinned
# core sets 1, 2, 4, 8 and 16 (target 3), the 16-core steps against the H200 anchor (target 4), DRLE / DE
# and the parameter-space interaction on 16 threads (target 2). The lent machine (the device tool: 16 Xeon
# cores beside a GPU) has no Debian packages, no xtensor and no TBB headers, so the programs are built here,
# portable, and travel with libtbb; there, only bash, taskset and python3 (for bench/compare.py) are used.
#
#   bench/device.sh kit               here: build build-device/kit (18 MiB; 4-6 minutes on the 2-core Zen 5)
#   bench/device.sh run [OPTIONS]     there: measure, and write results.jsonl, log.txt and summary.txt
#                                     (compare.py's tables and targets) to $OUT, or --out DIR
#
# The device call:  run(command: "bench/device.sh run", carry: ["build-device/kit"], timeout_s: 420)
# It also runs here, on the cores this machine has, which is how to try the kit before spending device time:
# `bench/device.sh run --out /tmp/device-try` took 46 s on 2 cores (core sets 1 and 2, the peer included);
# the five sets on 16 cores should take about 2 minutes, well inside the timeout.
#
# The kit holds three builds of bench_peak, bench_flows and bench_interaction: -march=sapphirerapids (what
# -march=native gives on issue 23's Xeon: its GEMM takes the 6 x 4 tile), -march=x86-64-v4 (any AVX-512
# machine) and -march=x86-64-v3 (AVX2, for a lent CPU without AVX-512, as many GPU hosts have). `run` takes
# the first that the CPU's flags allow and whose bench_peak runs, and says which.
#
# run options:
#   --cores LIST      pinned core sets 0..c-1, one per entry (default 1,2,4,8,16; entries above the
#                     machine's cores are dropped)
#   --particles LIST  bench_flows' N (default 100,1000: target 1's cells on the lent CPU come free)
#   --min-time S      seconds per figure (default 0.5)
#   --rounds R        the whole sweep R times (default 1); compare.py pairs the figures round by round
#   --out DIR         where the results go (default $OUT, else build-device/results)
#   --no-peers        without the PyTorch peers (by default bench/torch_reference.py runs beside the
#                     programs on the most threads, where python3 imports torch, and the flow steps in
#                     float32 on the GPU where it sees one: compare.py's GPU table and target 4's rows)
set -euo pipefail
cd "$(dirname "$0")/.."

kit=build-device/kit
programs=(bench_peak bench_flows bench_interaction)
variants=(sapphirerapids x86-64-v4 x86-64-v3)

build_kit() {
  scripts/install-deps.sh build > /dev/null
  rm -rf "$kit"
  mkdir -p "$kit/lib"
  for march in "${variants[@]}"; do
    local dir=build-device/$march
    [ -f "$dir/build.ninja" ] || meson setup "$dir" --buildtype=release -Dportable=true "-Dcpp_args=-march=$march" \
      -Dtests=disabled -Dexperiments=disabled -Dpython=disabled -Dmpi=disabled > /dev/null
    ninja -C "$dir" "${programs[@]/#/bench/}" > "$dir/kit-build.log" \
      || { echo "device.sh: the $march build failed; see $dir/kit-build.log" >&2; exit 1; }
    mkdir -p "$kit/$march"
    for p in "${programs[@]}"; do cp "$dir/bench/$p" "$kit/$march/"; done
  done
  # The one library the programs take from outside the C++ runtime and glibc (the lent machine's GCC 13
  # runtime and glibc 2.39 are newer than Debian 12's, which the programs need).
  local tbb
  tbb=$(ldd "$kit/${variants[0]}/bench_flows" | awk '/libtbb\.so/ { print $3 }')
  [ -n "$tbb" ] || { echo "device.sh: bench_flows does not link libtbb?" >&2; exit 1; }
  cp -L "$tbb" "$kit/lib/"
  local dirty=""
  git diff --quiet HEAD || dirty=", uncommitted changes"
  echo "kit: $(du -sh "$kit" | cut -f1) in $kit ($(git rev-parse --short HEAD)$dirty)"
  git rev-parse HEAD > "$kit/commit"
  echo "device call: run(command: \"bench/device.sh run\", carry: [\"$kit\"], timeout_s: 420)"
}

run_kit() {
  fail() { echo "device.sh run: $1" >&2; exit "${2:-2}"; }  # exit 2: a usage error
  local cores=1,2,4,8,16 particles=100,1000 min_time=0.5 rounds=1 out=${OUT:-build-device/results} peers=1
  while [ $# -gt 0 ]; do
    case "$1" in
      --cores) cores=${2-}; shift $(($# > 1 ? 2 : 1)) ;;
      --particles) particles=${2-}; shift $(($# > 1 ? 2 : 1)) ;;
      --min-time) min_time=${2-}; shift $(($# > 1 ? 2 : 1)) ;;
      --rounds) rounds=${2-}; shift $(($# > 1 ? 2 : 1)) ;;
      --out) out=${2-}; shift $(($# > 1 ? 2 : 1)) ;;
      --no-peers) peers=0; shift ;;
      *) fail "unknown option $1 (see bench/device.sh's header)" ;;
    esac
  done
  [[ "$rounds" =~ ^[1-9][0-9]*$ ]] || fail "--rounds wants a positive integer, got '$rounds'"
  [[ "$particles" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || fail "--particles wants positive integers, comma-separated, got '$particles'"
  seconds() { [[ "$1" =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)$ ]] && awk -v t="$1" 'BEGIN { exit !(t > 0 && t <= 3600) }'; }
  seconds "$min_time" || fail "--min-time wants seconds in (0, 3600], got '$min_time'"
  [ -n "$out" ] || fail "--out wants a folder"
  [ -d "$kit/lib" ] || fail "no kit at $kit: build it with 'bench/device.sh kit' and carry it"
  export LD_LIBRARY_PATH=$PWD/$kit/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

  # GCC's sapphirerapids takes AVX512-FP16 and AMX with it: the CPU must list them (Zen 5 runs most of that
  # build, but is not the machine it is tuned for), and the build's bench_peak must run.
  local bin=""
  for march in "${variants[@]}"; do
    if [ "$march" = sapphirerapids ]; then
      grep -qw avx512_fp16 /proc/cpuinfo || continue
      grep -qw amx_tile /proc/cpuinfo || continue
    fi
    if "$kit/$march/bench_peak" --threads 1 --min-time 0.01 > /dev/null 2>&1; then bin=$kit/$march; break; fi
  done
  [ -n "$bin" ] || fail "no build of the kit runs on this CPU (no AVX2?)" 1

  local n sets=()
  n=$(nproc)
  for c in ${cores//,/ }; do
    [[ "$c" =~ ^[1-9][0-9]*$ ]] || fail "--cores wants positive integers, got '$c'"
    [ "$c" -le "$n" ] && sets+=("$c")
  done
  [ ${#sets[@]} -gt 0 ] || fail "no core set of '$cores' fits the $n cores here"
  local pin=taskset
  command -v taskset > /dev/null || { pin=""; echo "no taskset here: the runs are not pinned"; }
  pinned() {  # pinned C PROGRAM ARGS...: PROGRAM (a kit program, or a command) on cores 0..C-1 with C threads
    local c=$1 p=$2
    shift 2
    [ -x "$bin/$p" ] && p=$bin/$p
    if [ -n "$pin" ]; then taskset -c "0-$((c - 1))" "$p" "$@" --threads "$c"; else "$p" "$@" --threads "$c"; fi
  }
  # The peer: the PyTorch there (pip's, with oneDNN), on the same workloads at the most threads.
  source bench/machine.sh
  local torch_py=""
  if [ "$peers" = 1 ]; then
    torch_py=$(torch_python)
    [ -n "$torch_py" ] || echo "no PyTorch here: no peer figures"
  fi

  mkdir -p "$out"
  local results=$out/results.jsonl log=$out/log.txt top=${sets[-1]}
  : > "$results"
  : > "$log"
  {
    machine_line "$top"
    echo "Build: $bin (commit $(cat "$kit/commit" 2>/dev/null || echo unknown)); core sets: ${sets[*]}"
    # Whether the cores are SMT siblings or NUMA nodes apart: it changes what 16 threads can gain.
    if command -v lscpu > /dev/null; then
      lscpu | grep -E '^(Thread|Core|Socket|NUMA node)' | tr -s ' ' | paste -sd ';' || true
    fi
    echo "Load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
  } | tee -a "$log"
  machine_json before "$top" "$results"
  local common=(--min-time "$min_time" --json "$results")
  for round in $(seq 1 "$rounds"); do
    [ "$rounds" = 1 ] || echo "== round $round of $rounds" | tee -a "$log"
    for c in "${sets[@]}"; do
      echo "== cores 0-$((c - 1)), $c threads" | tee -a "$log"
      pinned "$c" bench_peak --json "$results" | tee -a "$log"
      pinned "$c" bench_flows --particles "$particles" --only flow_step "${common[@]}" | tee -a "$log"
    done
    # Target 2's parameter-space interaction, on the most threads and on one (its share of peak).
    for c in $(printf '%s\n' 1 "$top" | sort -un); do
      pinned "$c" bench_interaction --only interaction/drle "${common[@]}" | tee -a "$log"
    done
    if [ -n "$torch_py" ]; then
      pinned "$top" "$torch_py" bench/torch_reference.py --particles "$particles" --only flow_step "${common[@]}" \
        | tee -a "$log"
      pinned "$top" "$torch_py" bench/torch_reference.py --only interaction/drle "${common[@]}" | tee -a "$log"
      # The GPU peer of target 4 (float32, as the anchor), where this PyTorch sees a GPU.
      if "$torch_py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2> /dev/null; then
        pinned "$top" "$torch_py" bench/torch_reference.py --device cuda --particles "$particles" --only flow_step \
          --dtype float32 "${common[@]}" | tee -a "$log"
      fi
    fi
    pinned "$top" bench_peak --json "$results" | tee -a "$log"  # compare.py takes the best probe
  done
  echo "Load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$log"
  machine_json after "$top" "$results"
  python3 bench/compare.py "$results" | tee "$out/summary.txt"
}

case "${1:-}" in
  kit) build_kit ;;
  run) shift; run_kit "$@" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 2 ;;
esac
