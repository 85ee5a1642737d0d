#!/usr/bin/env bash
# wgflow as a library others build on (template/, README "Build on wgflow"): installs the library into a
# stage folder and builds the template experiment against it through pkg-config, then again with wgflow as
# a meson subproject. Checks, each one case of the "N passed, M failed" summary:
#   - the install holds the headers, libwgflow.a and wgflow.pc, and builds nothing but the library;
#   - every installed header compiles from the stage alone (one translation unit including them all);
#   - the template, built against the stage: its outputs written, and a run stopped at half its steps and
#     resumed from the checkpoint giving the uninterrupted run's predictions byte for byte;
#   - the template with wgflow as a subproject: none of wgflow's tests, experiments or benchmarks among its
#     targets, and the same outputs.
# Run by .ci/run; WGFLOW_TEMPLATE_DIR names the scratch folder (default: a new temporary one, removed after).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/install-deps.sh build || exit 1
work=${WGFLOW_TEMPLATE_DIR:-$(mktemp -d)}
[ -z "${WGFLOW_TEMPLATE_DIR:-}" ] && trap 'rm -rf "$work"' EXIT
mkdir -p "$work"
stage=$work/stage
leg=template
source scripts/lib.sh || exit 1  # check NAME COMMAND...: one case

# --- The template's run: outputs, then checkpoint and resume against the uninterrupted run. ---
run_template() {  # run_template BUILD_DIR LABEL
  local exe=$1/robust_regression out=$work/out-$2
  rm -rf "$out"
  "$exe" --out "$out/full" --steps 200 --particles 8 --points 40 --checkpoint-every 50 >"$out.log" 2>&1 || { cat "$out.log"; return 1; }
  local f
  for f in data.csv predictions.csv meta.json config.toml; do
    [ -s "$out/full/$f" ] || { echo "$2: $f not written"; return 1; }
  done
  python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$out/full/meta.json" || return 1
  # Stopped at step 100 (as if killed after its checkpoint), then resumed to 200.
  "$exe" --out "$out/resumed" --steps 100 --particles 8 --points 40 --checkpoint-every 50 >>"$out.log" 2>&1 &&
    "$exe" --out "$out/resumed" --steps 200 --particles 8 --points 40 --checkpoint-every 50 --resume >>"$out.log" 2>&1 ||
    { cat "$out.log"; return 1; }
  [ "$(grep -c 'resumed at step 100 from' "$out.log")" -eq 2 ] || { echo "$2: the flows did not resume at step 100"; return 1; }
  cmp "$out/full/predictions.csv" "$out/resumed/predictions.csv" || { echo "$2: the resumed run differs"; return 1; }
}

# --- The template with wgflow as a subproject: it needs no install, so it builds from the start, beside
# the install and the build against it (each build compiles one program: side by side, they use both
# cores). Its check comes last. ---
build_subproject() {
  cp -r template "$work/subproject"
  mkdir -p "$work/subproject/subprojects"
  ln -s "$root" "$work/subproject/subprojects/wgflow"
  meson setup "$work/subproject/build" "$work/subproject" --wrap-mode=forcefallback >"$work/setup-sub.log" 2>&1 ||
    { cat "$work/setup-sub.log"; return 1; }
  local targets
  targets=$(meson introspect --targets "$work/subproject/build" | python3 -c 'import json, sys; print(" ".join(sorted(t["name"] for t in json.load(sys.stdin) if t["type"] != "custom")))')
  [ "$targets" = "robust_regression wgflow" ] || { echo "the subproject build has more targets: $targets"; return 1; }
  ninja -C "$work/subproject/build" || return 1
  run_template "$work/subproject/build" subproject
}
build_subproject >"$work/subproject.out" 2>&1 &
subproject_job=$!

# --- The install (the README's scripts/install.sh): the library alone, into the stage. ---
install_library() {
  WGFLOW_INSTALL_BUILD_DIR=$work/build-lib scripts/install.sh "$stage" >"$work/install.log" 2>&1 ||
    { cat "$work/install.log"; return 1; }
  local targets
  targets=$(meson introspect --targets "$work/build-lib" | python3 -c 'import json, sys; print(" ".join(t["name"] for t in json.load(sys.stdin) if t["type"] != "custom"))')
  [ "$targets" = "wgflow" ] || { echo "the library build has targets beyond libwgflow: $targets"; return 1; }
  local f
  for f in include/wgflow/flows/flows.hpp include/wgflow/experiments/common/experiment.hpp lib/libwgflow.a \
           lib/pkgconfig/wgflow.pc; do
    [ -f "$stage/$f" ] || { echo "not installed: $f"; return 1; }
  done
}
check "install: headers, libwgflow.a and wgflow.pc, nothing else built" install_library
export PKG_CONFIG_PATH=$stage/lib/pkgconfig

headers_compile() {
  (cd "$stage/include" && find wgflow -name '*.hpp' | sort | sed 's/.*/#include <&>/') >"$work/all_headers.cpp"
  # shellcheck disable=SC2046
  c++ -std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic $(pkg-config --cflags wgflow) "$work/all_headers.cpp"
}
check "every installed header compiles from the stage alone" headers_compile

build_installed() {
  cp -r template "$work/installed"
  meson setup "$work/installed/build" "$work/installed" --wrap-mode=nofallback >"$work/setup-installed.log" 2>&1 ||
    { cat "$work/setup-installed.log"; return 1; }
  ninja -C "$work/installed/build" || return 1
  run_template "$work/installed/build" installed
}
check "template against the installed stage (pkg-config): outputs, checkpoint and resume" build_installed

finish_subproject() {
  local rc=0
  wait "$subproject_job" || rc=$?
  cat "$work/subproject.out"
  return "$rc"
}
check "template with wgflow as a subproject: no wgflow tests or programs built; outputs, checkpoint and resume" finish_subproject

echo "[doctest] test cases: $((passed + failed)) | $passed passed | $failed failed | 0 skipped"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
