"""Shared fixtures: the package (from the build tree, see run_pytest.py) and the C++ reference program."""
import os
import subprocess

import numpy as np
import pytest

import wgflow


@pytest.fixture(scope="session")
def cpp_reference():
    """Runs python/tests/cpp_reference (built beside the module): returns a function
    run(method, out, steps, resume=None) -> the final particles it wrote."""
    path = os.environ.get("WGFLOW_CPP_REFERENCE")
    if not path or not os.path.exists(path):
        pytest.fail("WGFLOW_CPP_REFERENCE does not name the built cpp_reference program (run through meson test)")

    def run(method, out, steps, resume=None):
        args = [path, method, str(out), str(steps)] + ([str(resume)] if resume else [])
        subprocess.run(args, check=True, capture_output=True, text=True)
        return np.loadtxt(os.path.join(out, "particles.txt"), ndmin=2)
    return run


def reference_problem():
    """The MLP problem of cpp_reference.cpp, rebuilt from Python: data that are exact binary fractions."""
    i = np.arange(24)
    X = (i / 8.0).reshape(-1, 1)
    y = (i % 5) / 4.0 - 0.5
    potential = wgflow.NetworkPotential(X, y, hidden=[8], activation="tanh", batch_size=10, seed=3)
    rule = wgflow.Initializer.kaiming(1.0, 1.0)
    prior = wgflow.GaussianPrior.from_initializer(rule, potential)
    init = rule.sample(potential, 5, seed=3)
    return potential, prior, init


def reference_flow(method):
    """The flow of cpp_reference METHOD, built from Python with the same settings."""
    potential, prior, init = reference_problem()
    if method == "dle":
        return wgflow.deep_langevin_ensemble(potential, prior, init, lambda_=0.1, eta=0.05, seed=11)
    return wgflow.deep_ensemble(potential, init, eta=0.05, seed=3)
