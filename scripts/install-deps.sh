#!/usr/bin/env bash
# Installs the Debian 12 packages wgflow needs, if any are missing. Usage:
#   scripts/install-deps.sh build     compiler, meson, xtensor, xsimd, TBB, doctest, CLI11, nlohmann-json,
#                                     python3 with numpy (the tests read saved particles back with numpy),
#                                     Open MPI (flows and programs over ranks, and their tests under mpirun),
#                                     pybind11, python3-dev and pytest (the Python package wgflow and its tests),
#                                     python3-mesonpy, pip and patchelf (`pip install .` of the package: pyproject.toml)
#   scripts/install-deps.sh figures   the above plus python3-matplotlib (plots)
#   scripts/install-deps.sh bench     the above plus OpenBLAS (the GEMM peer) and python3-torch (the benchmark peer)
set -euo pipefail

build=(g++ meson ninja-build pkg-config libxtensor-dev libxsimd-dev xtl-dev libtbb-dev doctest-dev
       libcli11-dev nlohmann-json3-dev python3 python3-numpy libopenmpi-dev openmpi-bin
       pybind11-dev python3-dev python3-pytest python3-mesonpy python3-pip patchelf)
figures=(python3-matplotlib)
bench=(libopenblas-dev python3-torch)

case "${1:-build}" in
  build) wanted=("${build[@]}") ;;
  figures) wanted=("${build[@]}" "${figures[@]}") ;;
  bench) wanted=("${build[@]}" "${figures[@]}" "${bench[@]}") ;;
  *) echo "usage: $0 [build|figures|bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing missing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
