#!/usr/bin/env bash
# Configures (once) and builds wgflow in $WGFLOW_BUILD_DIR (default: build). A build made with
# -march=native is tied to the CPU it was configured on: when the CPU changes, the build is wiped and
# reconfigured rather than reused (a folder configured by hand, without the CPU stamp, is left as it is).
# Extra arguments go to `meson setup` (e.g. -Dportable=true).
set -euo pipefail
cd "$(dirname "$0")/.."
builddir=${WGFLOW_BUILD_DIR:-build}
cpu=$( (grep -m1 'model name' /proc/cpuinfo; grep -m1 '^flags' /proc/cpuinfo) | md5sum | cut -c1-16)
if [ -f "$builddir/build.ninja" ] && [ -f "$builddir/.wgflow-cpu" ] && [ "$(cat "$builddir/.wgflow-cpu")" != "$cpu" ]; then
  echo "CPU differs from the one $builddir was configured for: reconfiguring from scratch"
  meson setup --wipe "$builddir" "$@" >/dev/null
elif [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" "$@" >/dev/null
fi
echo "$cpu" > "$builddir/.wgflow-cpu"
ninja -C "$builddir"
