#!/usr/bin/env bash
# Installs wgflow as a library for projects of one's own (template/, README "Build on wgflow"): the Debian
# packages it needs, then its headers under PREFIX/include/wgflow/, libwgflow.a (the experiment harness's
# compiled part) under PREFIX/lib/ and PREFIX/lib/pkgconfig/wgflow.pc. Builds only the library (none of
# the tests, experiments, benchmarks or the Python package) and without -march: the ISA is the using
# project's choice.
# Usage: scripts/install.sh [PREFIX]   (default /usr/local; WGFLOW_INSTALL_BUILD_DIR: default build-install)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(realpath -m "${1:-/usr/local}")
builddir=${WGFLOW_INSTALL_BUILD_DIR:-build-install}
scripts/install-deps.sh build
options=(--prefix="$prefix" --libdir=lib -Dtests=disabled -Dexperiments=disabled -Dbenchmarks=disabled -Dpython=disabled)
if [ -f "$builddir/build.ninja" ]; then
  meson setup --reconfigure "$builddir" "${options[@]}" >/dev/null
else
  meson setup "$builddir" "${options[@]}" >/dev/null
fi
mkdir -p "$prefix" 2>/dev/null || true
if [ -w "$prefix" ]; then
  meson install -C "$builddir" --quiet
else
  sudo meson install -C "$builddir" --quiet
fi
echo "wgflow installed in $prefix; build against it with PKG_CONFIG_PATH=$prefix/lib/pkgconfig (pkg-config wgflow)"
