#!/usr/bin/env bash
# The Python package as a user installs it (README "From Python"): `pip install .` through meson-python
# (pyproject.toml) into a fresh virtual environment that sees Debian's numpy, then used from another
# folder. Checks, each one case of the "N passed, M failed" summary:
#   - pip builds and installs it (the package alone: pyproject.toml's meson options);
#   - `import wgflow` outside the checkout finds the installed package, with its extension inside it;
#   - a DLE flow on the double well and an MLP ensemble with predictions run from the installed package;
#   - the extension is portable: no AVX (ymm) or AVX-512 (zmm) instructions, which -march=native would
#     put there on the machines CI runs on (-Dportable=true in pyproject.toml).
# 48 s on 2 idle cores (the extension's five files and the harness compiled; 2.5 minutes beside other
# builds). Run by .ci/run; WGFLOW_PIP_DIR names the scratch folder (default: a new temporary one, removed after).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/install-deps.sh build || exit 1
work=${WGFLOW_PIP_DIR:-$(mktemp -d)}
mkdir -p "$work"
cleanup=()
[ -z "${WGFLOW_PIP_DIR:-}" ] && cleanup+=("$work")
# meson-python 0.12 writes this file into the source folder and leaves it: removed unless it was there.
native_file=$root/.mesonpy-native-file.ini
[ -e "$native_file" ] || cleanup+=("$native_file")
trap 'rm -rf "${cleanup[@]}"' EXIT
leg=pip
source scripts/lib.sh || exit 1  # check NAME COMMAND...: one case

venv=$work/venv
install() {
  /usr/bin/python3 -m venv --system-site-packages "$venv" || return 1
  local start=$SECONDS
  # No build isolation: Debian's meson-python, meson, pybind11 and numpy, nothing downloaded.
  "$venv/bin/python" -m pip install --no-build-isolation --no-deps --no-cache-dir "$root" >"$work/pip.log" 2>&1 ||
    { cat "$work/pip.log"; return 1; }
  echo "[pip] pip install . took $((SECONDS - start)) s"
}

installed() {
  (cd "$work" && "$venv/bin/python" - "$venv") <<'EOF'
import os, sys
import wgflow
here = os.path.dirname(wgflow.__file__)
assert here.startswith(sys.argv[1]), f"wgflow imported from {here}, not the environment {sys.argv[1]}"
assert any(f.startswith("_wgflow.") for f in os.listdir(here)), f"no extension module in {here}"
EOF
}

runs() {
  (cd "$work" && "$venv/bin/python" -) <<'EOF'
import numpy as np
import wgflow
loss = wgflow.double_well()
prior = wgflow.GaussianPrior.isotropic(1, 1.0)
flow = wgflow.deep_langevin_ensemble(loss, prior, prior.sample(200, seed=1), lambda_=1.0, eta=1e-3, seed=7)
flow.run(500)
assert flow.steps_taken == 500 and np.all(np.isfinite(flow.particles))
assert (flow.particles < -0.5).any() and (flow.particles > 0.2).any(), "both wells should hold particles"
X = np.linspace(-3, 3, 60)
net = wgflow.NetworkPotential(X, np.sin(X), hidden=[16], activation="tanh", batch_size=60, seed=0)
rule = wgflow.Initializer.kaiming(1.0, 1.0)
ensemble = wgflow.deep_ensemble(net, rule.sample(net, 4, seed=0), eta=5e-2)
before = np.mean([net.loss_on(p, X, np.sin(X)) for p in ensemble.particles])
ensemble.run(300)
after = np.mean([net.loss_on(p, X, np.sin(X)) for p in ensemble.particles])
assert after < 0.5 * before, (before, after)
pred = wgflow.predict(ensemble, np.linspace(-1, 1, 5))
assert pred["members"].shape == (4, 5, 1)
EOF
}

portable() {
  local so n
  so=$(ls "$venv"/lib/python3*/site-packages/wgflow/_wgflow.*.so) || return 1
  n=$(objdump -d "$so" | grep -cE '%[yz]mm')
  [ "$n" -eq 0 ] || { echo "$so holds $n AVX/AVX-512 instructions: built with -march=native?"; return 1; }
}

check "pip install . (meson-python)" install
check "import wgflow from the environment" installed
check "flows run from the installed package" runs
check "the extension is portable (no -march=native)" portable
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
