#!/usr/bin/env bash
# The tests of every ISA-specific path (tests/test_isa: the core suite with its GEMM tiles, lane sums and
# vector normals, the autodiff suite's ops with their xsimd kernels, plus the dense layer, the fused dense
# head, the likelihoods' losses in lanes and the networks in SIMD lanes of the models suite) built for
# each x86-64 ISA level the code specialises: x86-64-v2 (SSE4.2), x86-64-v3 (AVX2 + FMA) and x86-64-v4
# (AVX-512F/BW/DQ/VL), each in its own portable release build (build-isa-LEVEL, or
# $WGFLOW_ISA_BUILD_DIR-LEVEL). Why: CI runs on whatever CPU the machine has, and a -march=native build
# compiles only that CPU's paths; an ISA-specific break (a kernel that fails to compile or computes wrong
# on another level) would otherwise land unseen. Every level is compiled; a level is run where this CPU
# can execute it (glibc's own hwcaps check), and reported as "compiled, not run" where it cannot.
# Without arguments it builds the levels of the machines CI runs on (x86-64-v3: AMD Zen 3; x86-64-v4: AMD
# Zen 5, Intel Sapphire Rapids) except this CPU's own: the README's test command builds every suite with
# -march=native, which takes that level's paths (the same xsimd arch) and runs these tests on them. On the
# 2-core Zen 5 machine the three legs took 209 + 230 + 263 s of .ci/run's 41 minutes; the v4 leg repeated
# the native suites, and x86-64-v2 is no CI machine's level (the pip leg's portable extension still runs
# code without FMA). Name levels to build and run exactly those, e.g. scripts/test-isa.sh x86-64-v2.
# Prints one line per level and ends with "N passed, M failed" (a level that fails to build counts as one
# failure). Usage: scripts/test-isa.sh [LEVEL...]   (default: x86-64-v3 x86-64-v4 but this CPU's)
set -uo pipefail
cd "$(dirname "$0")/.."
prefix=${WGFLOW_ISA_BUILD_DIR:-build-isa}
levels=("$@")
scripts/install-deps.sh build || exit 1

# The levels this CPU runs, as the dynamic loader reports them ("x86-64-v3 (supported, searched)").
loader=$(ls /lib64/ld-linux-x86-64.so.2 2>/dev/null || true)
supported=$([ -n "$loader" ] && "$loader" --help 2>/dev/null | awk '/\(supported/ { print $1 }')

passed=0 failed=0 summary=()
if [ ${#levels[@]} -eq 0 ]; then
  own=$(grep -E '^x86-64-v[234]$' <<<"$supported" | sort | tail -n 1)
  for level in x86-64-v3 x86-64-v4; do
    if [ "$level" = "$own" ]; then
      summary+=("ISA leg $level: this CPU's own level, tested by the -march=native suites (scripts/test.sh)")
    else
      levels+=("$level")
    fi
  done
fi
for level in "${levels[@]}"; do
  case "$level" in x86-64-v2 | x86-64-v3 | x86-64-v4) ;; *) echo "unknown ISA level: $level" >&2; exit 2 ;; esac
  dir="$prefix-$level"
  start=$SECONDS
  echo "== ISA leg $level: building $dir/tests/test_isa"
  if ! { { [ -f "$dir/build.ninja" ] || meson setup "$dir" -Dportable=true "-Dcpp_args=-march=$level" >/dev/null; } &&
         ninja -C "$dir" tests/test_isa; }; then
    failed=$((failed + 1))
    summary+=("ISA leg $level: build FAILED ($((SECONDS - start)) s)")
    continue
  fi
  if ! grep -qx "$level" <<<"$supported"; then
    summary+=("ISA leg $level: compiled, not run: this CPU lacks $level ($((SECONDS - start)) s)")
    continue
  fi
  log=$(mktemp)
  "$dir/tests/test_isa" --no-intro=true 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  read -r p f < <(awk '/\[doctest\] test cases:/ {
      for (i = 1; i <= NF; i++) { if ($i == "passed") p = $(i-1); if ($i == "failed") f = $(i-1) } }
    END { print p + 0, f + 0 }' "$log")
  rm -f "$log"
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1  # died before its summary
  passed=$((passed + p)) failed=$((failed + f))
  summary+=("ISA leg $level: $p passed, $f failed ($((SECONDS - start)) s)")
done
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
