"""Potentials written in Python: one call per step for all particles (in every flow), the analytic
optimum of DLE, and the gradient checker on the user's values and gradients."""
import numpy as np
import pytest

import wgflow


def shifted_quadratic(m):
    """l(t) = |t - m|^2 / 2, for all particles at once."""
    def fn(theta):
        d = theta - m
        return 0.5 * np.sum(d * d, axis=1), d
    return fn


def test_dle_matches_analytic_optimum():
    # q* ∝ exp(-l / lambda) p with l(t) = (t - m)^2 / 2 and p = N(0, s2): Gaussian with precision
    # 1/lambda + 1/s2 and mean (m / lambda) / precision.
    m, lam, s2 = 2.0, 0.5, 1.0
    precision = 1 / lam + 1 / s2
    mean_star, var_star = (m / lam) / precision, 1 / precision
    # Euler-Maruyama's stationary variance at step eta (the drift's rate a = 1 + lambda / s2):
    eta = 5e-3
    a = 1 + lam / s2
    var_eta = var_star / (1 - eta * a / 2)
    loss = wgflow.python_potential(shifted_quadratic(m), dim=1, name="shifted quadratic")
    prior = wgflow.GaussianPrior.isotropic(1, s2)
    flow = wgflow.deep_langevin_ensemble(loss, prior, prior.sample(1000, seed=1), lambda_=lam, eta=eta, seed=5)
    flow.run(1000)
    snaps = wgflow.trajectory(flow, 1000, every=10)
    means = [s.mean() for s in snaps]
    variances = [s.var() for s in snaps]
    assert np.mean(means) == pytest.approx(mean_star, abs=0.03)
    assert np.mean(variances) == pytest.approx(var_eta, rel=0.05)


def test_python_potential_crosses_once_per_step():
    calls = []

    def fn(theta):
        calls.append(theta.shape)
        return 0.5 * np.sum(theta**2, axis=1), theta.copy()

    loss = wgflow.python_potential(fn, dim=3)
    init = np.random.default_rng(0).normal(size=(7, 3))
    flow = wgflow.deep_ensemble(loss, init, eta=0.1)
    flow.run(5)
    assert calls == [(7, 3)] * 5
    assert flow.mean_loss is not None
    # DE on l = |t|^2/2 shrinks each particle by (1 - eta) per step
    assert np.allclose(flow.particles, init * 0.9**5)


def test_python_potential_matches_builtin():
    # the built-in quadratic and the same potential in Python give the same DE trajectory
    A = np.eye(2)
    builtin = wgflow.quadratic([1.0, -1.0], A)
    python = wgflow.python_potential(shifted_quadratic(np.array([1.0, -1.0])), dim=2)
    init = np.random.default_rng(1).normal(size=(4, 2))
    a = wgflow.deep_ensemble(builtin, init, eta=0.05)
    b = wgflow.deep_ensemble(python, init, eta=0.05)
    a.run(20)
    b.run(20)
    assert np.allclose(a.particles, b.particles, atol=1e-12)


def test_gradient_checker_on_python_potential():
    good = wgflow.python_potential(shifted_quadratic(1.5), dim=2)
    theta = np.random.default_rng(2).normal(size=(3, 2))
    assert wgflow.check_gradient(good, theta)["ok"]

    def wrong(theta):
        v, g = shifted_quadratic(1.5)(theta)
        return v, 1.1 * g
    report = wgflow.check_gradient(wgflow.python_potential(wrong, dim=2), theta)
    assert not report["ok"]
    assert "does not match" in report["message"]
    with pytest.raises(AssertionError):
        wgflow.check_gradient(wgflow.python_potential(wrong, dim=2), theta, raise_on_failure=True)


def test_gradient_checker_on_builtin_potentials():
    from conftest import reference_problem
    potential, _, init = reference_problem()
    assert wgflow.check_gradient(potential, init[:2], tolerance=1e-5)["ok"]
    assert wgflow.check_gradient(wgflow.double_well(), np.array([[0.3], [-1.2]]))["ok"]


def test_per_particle_flows_cross_once_per_step():
    # A Python potential prefers batches: SVGD's potential energy and mean-field VI's objective call it
    # once per step, on all N particles (MFVI: all N x S draws).
    calls = []

    def fn(theta):
        calls.append(theta.shape)
        return shifted_quadratic(0.5)(theta)

    loss = wgflow.python_potential(fn, dim=2)
    prior = wgflow.GaussianPrior.isotropic(2, 1.0)
    init = prior.sample(6, seed=2)
    wgflow.svgd(loss, prior, init, lambda_=1.0).run(4)
    assert calls == [(6, 2)] * 4
    calls.clear()
    wgflow.mean_field_vi(loss, prior, init, samples=3, seed=1).run(4)
    assert calls == [(18, 2)] * 4


@pytest.mark.parametrize("method", ["svgd", "mean_field_vi"])
def test_per_particle_flows_match_builtin(method):
    # Each particle's value and gradient come out of the batch at its own row: the same trajectory as the
    # built-in quadratic, which the library evaluates particle by particle.
    m = np.array([0.5, -1.0])
    builtin = wgflow.quadratic(m, np.eye(2))
    python = wgflow.python_potential(shifted_quadratic(m), dim=2)
    prior = wgflow.GaussianPrior.isotropic(2, 1.0)
    init = prior.sample(6, seed=2)
    runs = []
    for loss in (builtin, python):
        if method == "svgd":
            flow = wgflow.svgd(loss, prior, init, lambda_=0.5)
        else:
            flow = wgflow.mean_field_vi(loss, prior, init, lambda_=0.5, samples=2, optimizer=wgflow.sgd(0.05), seed=4)
        flow.run(30)
        runs.append((np.array(flow.particles), flow.mean_loss))
    assert np.abs(runs[0][0][:, :2] - init).max() > 0.01  # the particles (means) moved
    assert np.allclose(runs[0][0], runs[1][0], rtol=0, atol=1e-12)
    assert runs[0][1] == pytest.approx(runs[1][1], abs=1e-12)
