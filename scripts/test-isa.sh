#!/usr/bin/env bash
# The tests of every ISA-specific path (tests/test_isa: the core suite with its GEMM tiles, lane sums and
# vector normals, the autodiff suite with its xsimd kernels, plus the dense layer, the fused dense head and
# the networks in SIMD lanes of the models suite) built for each x86-64 ISA level the code specialises:
# x86-64-v2 (SSE4.2), x86-64-v3 (AVX2 + FMA) and x86-64-v4 (AVX-512F/BW/DQ/VL), each in its own portable
# release build (build-isa-LEVEL, or $WGFLOW_ISA_BUILD_DIR-LEVEL). Why: CI runs on whatever CPU the
# machine has, and a -march=native build compiles only that CPU's paths; an ISA-specific break (a kernel
# that fails to compile or computes wrong on another level) would otherwise land unseen. Every level is
# compiled; a level is run where this CPU can execute it (glibc's own hwcaps check), and reported as
# "compiled, not run" where it cannot.
# Prints one line per level and ends with "N passed, M failed" (a level that fails to build counts as one
# failure). Usage: scripts/test-isa.sh [LEVEL...]   (default: x86-64-v2 x86-64-v3 x86-64-v4)
set -uo pipefail
cd "$(dirname "$0")/.."
prefix=${WGFLOW_ISA_BUILD_DIR:-build-isa}
levels=("$@")
[ ${#levels[@]} -eq 0 ] && levels=(x86-64-v2 x86-64-v3 x86-64-v4)
scripts/install-deps.sh build || exit 1

# The levels this CPU runs, as the dynamic loader reports them ("x86-64-v3 (supported, searched)").
loader=$(ls /lib64/ld-linux-x86-64.so.2 2>/dev/null || true)
supported=$([ -n "$loader" ] && "$loader" --help 2>/dev/null | awk '/\(supported/ { print $1 }')

passed=0 failed=0 summary=()
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
