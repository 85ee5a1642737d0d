"""Bad arrays, bad results from Python and diverging flows raise Python exceptions naming what is wrong,
never crash."""
import re

import numpy as np
import pytest

import wgflow


def test_bad_arrays_are_refused_with_names_and_shapes():
    loss = wgflow.double_well(2)
    with pytest.raises(wgflow.ShapeError, match=r"initial_particles: expected shape \(rows, 2\), got \(3, 1\)"):
        wgflow.deep_ensemble(loss, np.zeros((3, 1)))
    with pytest.raises(wgflow.ShapeError, match=r"initial_particles: expected a 2-D array, got shape \(2, 2, 2\)"):
        wgflow.deep_ensemble(loss, np.zeros((2, 2, 2)))
    with pytest.raises(wgflow.ShapeError, match="initial_particles: expected a real"):
        wgflow.deep_ensemble(loss, np.array([["a", "b"]]))
    with pytest.raises(wgflow.ShapeError, match="initial_particles"):
        wgflow.deep_ensemble(loss, np.zeros((0, 2)))
    flow = wgflow.deep_ensemble(loss, np.zeros((3, 2)))
    with pytest.raises(wgflow.ShapeError, match=r"particles: expected shape \(3, 2\), got \(4, 2\)"):
        flow.particles = np.zeros((4, 2))
    with pytest.raises(wgflow.Error, match="not finite"):
        wgflow.deep_ensemble(loss, np.array([[np.nan, 0.0]]))
    with pytest.raises(wgflow.ShapeError, match="X and y"):
        wgflow.NetworkPotential(np.zeros((5, 1)), np.zeros(4))
    with pytest.raises(wgflow.Error, match="unknown"):
        wgflow.NetworkPotential(np.zeros((5, 1)), np.zeros(5), likelihood="huber")


def test_bad_optimiser_settings_are_refused_where_the_optimiser_is_made():
    with pytest.raises(wgflow.Error, match="Sgd: learning rate must be positive and finite, got nan"):
        wgflow.sgd(float("nan"))
    with pytest.raises(wgflow.Error, match="Adam: learning rate must be positive and finite, got -1"):
        wgflow.adam(-1)
    with pytest.raises(wgflow.Error, match=re.escape("Momentum: mu must lie in [0, 1), got 2")):
        wgflow.momentum(0.1, 2)


def test_non_finite_data_is_refused_naming_the_entry_not_reported_later_as_a_divergence():
    X, y = np.linspace(-1, 1, 5), np.zeros(5)
    with pytest.raises(wgflow.DataError, match=re.escape("inputs X (5x1) has a non-finite entry at row 2, column 0 (nan)")):
        wgflow.NetworkPotential(np.where(np.arange(5) == 2, np.nan, X), y, hidden=[3])
    with pytest.raises(wgflow.DataError, match=re.escape("targets Y (5x1) has a non-finite entry at row 4, column 0 (inf)")):
        wgflow.NetworkPotential(X, np.where(np.arange(5) == 4, np.inf, y), hidden=[3])
    net = wgflow.NetworkPotential(X, y, hidden=[3])
    flow = wgflow.deep_ensemble(net, wgflow.Initializer.kaiming().sample(net, 2, seed=0))
    with pytest.raises(wgflow.DataError, match=re.escape("predict: inputs X (2x1) has a non-finite entry at row 1")):
        wgflow.predict(flow, np.array([0.0, np.nan]))


def test_diverging_flow_raises_naming_step_particle_and_term():
    # l(t) = -t^4: the gradient flow blows up in finite time
    def explode(theta):
        with np.errstate(over="ignore"):  # the overflow is the point: the flow must name it
            return -np.sum(theta**4, axis=1), -4 * theta**3

    loss = wgflow.python_potential(explode, dim=1, name="quartic")
    flow = wgflow.deep_ensemble(loss, np.array([[0.5], [3.0]]), eta=0.5)
    with pytest.raises(wgflow.Error, match=r"DE: step \d+, particle 1") as info:
        flow.run(100)
    assert "potential energy" in str(info.value) or "not finite" in str(info.value)
    # the built-in path: a huge step on the MLP
    X = np.linspace(-1, 1, 20)
    net = wgflow.NetworkPotential(X, 1e3 * X, hidden=[4], batch_size=20)
    flow = wgflow.deep_ensemble(net, wgflow.Initializer.kaiming().sample(net, 3, seed=0), eta=1e3)
    with pytest.raises(wgflow.Error, match=r"DE: step \d+, particle \d+"):
        flow.run(100)


def test_a_nan_loss_with_finite_gradients_stops_the_flow_naming_the_particle():
    # before, the flow ran on and mean_loss was NaN with no error
    def nan_for_the_second(theta):
        values = 0.5 * np.sum(theta**2, axis=1)
        values[1] = np.nan
        return values, theta.copy()

    flow = wgflow.deep_ensemble(wgflow.python_potential(nan_for_the_second, dim=2), np.ones((3, 2)))
    with pytest.raises(wgflow.Error, match=re.escape(
            "DE: step 0, particle 1: the value of term 'potential energy' is not finite (nan), its gradient finite")):
        flow.step()
    assert flow.steps_taken == 0
    np.testing.assert_array_equal(flow.particles, np.ones((3, 2)))


def test_bad_python_results_raise():
    def wrong_shape(theta):
        return np.zeros(len(theta)), np.zeros((len(theta), 5))
    flow = wgflow.deep_ensemble(wgflow.python_potential(wrong_shape, dim=2), np.zeros((3, 2)))
    with pytest.raises(wgflow.Error, match=r"gradients must have shape \(3, 2\), got \(3, 5\)"):
        flow.step()

    def not_a_tuple(theta):
        return 1.0
    flow = wgflow.deep_ensemble(wgflow.python_potential(not_a_tuple, dim=2), np.zeros((3, 2)))
    with pytest.raises(wgflow.Error, match="must return a tuple"):
        flow.step()

    def raises(theta):
        raise ValueError("user bug")
    flow = wgflow.deep_ensemble(wgflow.python_potential(raises, dim=2), np.zeros((3, 2)))
    with pytest.raises(wgflow.Error, match="ValueError: user bug"):
        flow.step()
    assert flow.steps_taken == 0

    def nan_gradient(theta):
        return np.zeros(len(theta)), np.full_like(theta, np.nan)
    flow = wgflow.deep_ensemble(wgflow.python_potential(nan_gradient, dim=2, name="nan"), np.zeros((3, 2)))
    with pytest.raises(wgflow.Error, match=r"step 0, particle 0.*nan"):
        flow.step()


def test_callback_exception_propagates():
    flow = wgflow.deep_ensemble(wgflow.double_well(), np.zeros((2, 1)))

    def stop(f):
        raise KeyError("from the callback")
    with pytest.raises(KeyError, match="from the callback"):
        flow.run(5, stop)
    assert flow.steps_taken == 1


def test_bad_settings_raise():
    prior = wgflow.GaussianPrior.isotropic(1, 1.0)
    with pytest.raises(wgflow.Error, match="distance"):
        wgflow.svgd(wgflow.double_well(), prior, prior.sample(3), distance="manhattan")
    with pytest.raises(wgflow.Error, match="every"):
        wgflow.deep_ensemble(wgflow.double_well(), prior.sample(3)).run(3, lambda f: None, every=0)
    with pytest.raises(wgflow.Error, match="NetworkPotential"):
        wgflow.deep_repulsive_langevin_ensemble(wgflow.double_well(), prior, prior.sample(3), kernel_inputs=[[0.0]])


def test_negative_or_oversized_counts_and_seeds_are_refused_by_name():
    prior = wgflow.GaussianPrior.isotropic(1, 1.0)
    start = prior.sample(3)
    X = np.linspace(-1, 1, 4)
    net = wgflow.NetworkPotential(X, X, hidden=[2])
    flow = wgflow.deep_ensemble(net, wgflow.Initializer.kaiming().sample(net, 2))
    calls = {  # every count, size, step and seed argument of the bindings
        "n": [lambda v: flow.run(v), lambda v: prior.sample(v), lambda v: wgflow.Rng().normals(v),
              lambda v: wgflow.Initializer.kaiming().sample(1, v)],
        "every": [lambda v: flow.run(1, lambda f: None, v)],
        "seed": [lambda v: wgflow.deep_ensemble(wgflow.double_well(), start, seed=v),
                 lambda v: wgflow.deep_langevin_ensemble(wgflow.double_well(), prior, start, seed=v),
                 lambda v: wgflow.deep_repulsive_langevin_ensemble(wgflow.double_well(), prior, start, seed=v),
                 lambda v: wgflow.svgd(wgflow.double_well(), prior, start, seed=v),
                 lambda v: wgflow.mean_field_vi(wgflow.double_well(), prior, start, seed=v),
                 lambda v: wgflow.NetworkPotential(X, X, seed=v), lambda v: prior.sample(2, v),
                 lambda v: wgflow.Initializer.kaiming().sample(1, 2, v), lambda v: wgflow.Rng(v),
                 lambda v: wgflow.Rng.stream(v, 0), lambda v: flow.predictive_samples(1, v),
                 lambda v: wgflow.predict(flow, X, seed=v)],
        "a": [lambda v: wgflow.Rng.stream(0, v)],
        "b": [lambda v: wgflow.Rng.stream(0, 0, v)],
        "per_member": [lambda v: flow.predictive_samples(v), lambda v: wgflow.predict(flow, X, v)],
        "dim": [lambda v: wgflow.double_well(v), lambda v: wgflow.neg_abs_sin(v),
                lambda v: wgflow.GaussianPrior.isotropic(v, 1.0), lambda v: wgflow.python_potential(print, dim=v)],
        "prior_samples": [lambda v: wgflow.deep_repulsive_langevin_ensemble(wgflow.double_well(), prior, start, prior_samples=v)],
        "interaction_batch": [lambda v: wgflow.deep_repulsive_langevin_ensemble(wgflow.double_well(), prior, start,
                                                                                interaction_batch=v)],
        "interaction_prior_batch": [lambda v: wgflow.deep_repulsive_langevin_ensemble(
            wgflow.double_well(), prior, start, interaction_prior_batch=v)],
        "samples": [lambda v: wgflow.mean_field_vi(wgflow.double_well(), prior, start, samples=v)],
        "batch_size": [lambda v: wgflow.NetworkPotential(X, X, batch_size=v)],
        "hidden[1]": [lambda v: wgflow.NetworkPotential(X, X, hidden=[3, v])],
        "step": [lambda v: net.value_and_gradient(np.zeros(net.dim), v)],
        "at_step": [lambda v: wgflow.check_gradient(net, np.zeros((1, net.dim)), at_step=v)],
        "estimated_steps": [lambda v: wgflow.Bandwidth.median(v)],
        "split": [lambda v: wgflow.load_uci("/nonexistent", v)],
    }
    for name, uses in calls.items():
        for use in uses:
            with pytest.raises(wgflow.Error, match=re.escape(f"{name}: expected a non-negative integer, got -1")):
                use(-1)
            with pytest.raises(wgflow.Error, match=re.escape(f"{name}: expected an integer of at most {2**64 - 1}, got {2**64}")):
                use(2**64)
            with pytest.raises(TypeError):  # a float is no count: pybind11's signature error, as for any wrong type
                use(2.0)
    # numpy's integer scalars are integers; the largest seed is a seed
    assert prior.sample(np.int64(2), seed=np.uint64(2**64 - 1)).shape == (2, 1)
    assert flow.predictive_samples(np.int32(1)).shape == (2, net.dim)


def test_ctrl_c_stops_a_long_run():
    import os
    import signal
    import threading
    flow = wgflow.deep_ensemble(wgflow.double_well(), np.zeros((2, 1)), eta=1e-6)
    timer = threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        flow.run(10**9)
    timer.join()
    assert 0 < flow.steps_taken < 10**9


def test_bad_class_labels_are_refused():
    # The labels size the output layer: a bad one is refused before a network is built from it.
    X = np.zeros((4, 1))
    for labels, bad in (([0, 1, -1, 2], "y[2] = -1"), ([0, 1.5, 1, 0], "y[1] = 1.5"),
                        ([0, np.nan, 1, 0], "y[1] = nan"), ([0, 1e15, 1, 0], "y[1] = 1000000000000000")):
        with pytest.raises(wgflow.DataError, match=re.escape(bad)):
            wgflow.NetworkPotential(X, labels, likelihood="softmax_cross_entropy")
    with pytest.raises(wgflow.ShapeError, match=r"one column, got shape \(4, 2\)"):
        wgflow.NetworkPotential(X, np.zeros((4, 2)), likelihood="softmax_cross_entropy")
    with pytest.raises(wgflow.ShapeError, match="no rows"):
        wgflow.NetworkPotential(np.zeros((0, 1)), np.zeros(0), likelihood="softmax_cross_entropy")
    net = wgflow.NetworkPotential(X, [0, 2, 1, 2], hidden=[3], likelihood="softmax_cross_entropy")
    assert net.num_model_params == (1 * 3 + 3) + (3 * 3 + 3)  # three classes: outputs 0, 1, 2


def test_bad_layouts_are_refused_by_name():
    rule = wgflow.Initializer.kaiming()
    for bad in (-1, 0, 2.5, "3", None, True):
        with pytest.raises(wgflow.ShapeError, match="layout: expected a Potential or a positive dimension J, got"):
            rule.sample(bad, 2)
        with pytest.raises(wgflow.ShapeError, match="layout"):
            wgflow.GaussianPrior.from_initializer(rule, bad)
    assert rule.sample(3, 2).shape == (2, 3)
    assert wgflow.GaussianPrior.from_initializer(rule, wgflow.double_well(4)).dim == 4


def test_save_checkpoint_never_replaces_a_file_or_folder_of_the_users(tmp_path):
    flow = wgflow.deep_ensemble(wgflow.double_well(2), np.zeros((3, 2)))
    (tmp_path / "results").write_text("precious")
    with pytest.raises(wgflow.Error, match="refusing to replace .*results, which is not a checkpoint folder"):
        flow.save_checkpoint(str(tmp_path / "results"))
    assert (tmp_path / "results").read_text() == "precious"
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "notes.txt").write_text("precious")
    with pytest.raises(wgflow.Error, match=r"\(it holds notes.txt\)"):
        flow.save_checkpoint(str(tmp_path / "project"))
    assert (tmp_path / "project" / "notes.txt").read_text() == "precious"
    flow.save_checkpoint(str(tmp_path / "checkpoint"))
    flow.save_checkpoint(str(tmp_path / "checkpoint"))  # a checkpoint is replaced
    assert sorted(p.name for p in (tmp_path / "checkpoint").iterdir()) == ["manifest.json", "particles.npy"]


def test_a_callback_that_returns_neither_none_nor_a_truth_value_is_named():
    flow = wgflow.deep_ensemble(wgflow.double_well(2), np.zeros((3, 2)))
    with pytest.raises(TypeError, match="run\\(\\): the callback returned 'x'; return None or True to go on, False to stop"):
        flow.run(5, lambda f: "x")
    assert flow.steps_taken == 1
    flow.run(5, lambda f: np.bool_(f.steps_taken < 3))  # numpy's bools count
    assert flow.steps_taken == 3
