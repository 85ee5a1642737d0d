"""Every preset reachable from Python with its settings as keywords; the Flow object's API."""
import numpy as np
import pytest

import wgflow
from conftest import reference_problem


def presets(potential, prior, init, net_inputs=None):
    return {
        "DE": wgflow.deep_ensemble(potential, init, eta=1e-2, seed=1),
        "DLE": wgflow.deep_langevin_ensemble(potential, prior, init, lambda_=0.1, prior_gradient_scale=1.0,
                                             eta=1e-2, seed=2),
        "DRLE": wgflow.deep_repulsive_langevin_ensemble(
            potential, prior, init, lambda1=1.0, lambda2=0.1, prior_gradient_scale=1.0, prior_attraction_scale=1.0,
            kernel=wgflow.Kernel.rbf(), bandwidth=wgflow.Bandwidth.median(5, 1.0), distance="mean",
            prior_samples=50, kernel_inputs=net_inputs, eta=1e-2, seed=3),
        "SVGD": wgflow.svgd(potential, prior, init, lambda_=1.0, kernel=wgflow.Kernel.imq(-0.5),
                            bandwidth=wgflow.Bandwidth.rolling_median(0.0), distance="sum",
                            optimizer=wgflow.sgd(1e-2), seed=4),
        "MFVI": wgflow.mean_field_vi(potential, prior, init, lambda_=1.0, samples=2, initial_sd=0.05,
                                     optimizer=wgflow.adam(eta=1e-2), seed=5),
    }


def test_every_preset_on_a_toy():
    prior = wgflow.GaussianPrior.isotropic(2, 1.0)
    init = prior.sample(20, seed=0)
    for name, flow in presets(wgflow.four_gaussian_mixture(), prior, init).items():
        flow.run(20)
        assert flow.name == name
        assert flow.steps_taken == 20
        assert np.all(np.isfinite(flow.particles))
        # MFVI's objective estimates its free energy, not the members' mean loss; the others the reverse
        assert (flow.mean_loss is None) == (name == "MFVI")
        assert (flow.free_energy is not None) == (name in ("DE", "MFVI"))


def test_every_preset_on_the_mlp_with_predictions():
    potential, prior, init = reference_problem()
    X = np.linspace(0, 3, 7)
    for name, flow in presets(potential, prior, init, net_inputs=np.linspace(0, 3, 5)).items():
        flow.run(5)
        pred = wgflow.predict(flow, X.reshape(-1, 1), per_member=2 if name == "MFVI" else 1, seed=1)
        members = 10 if name == "MFVI" else 5
        assert pred["members"].shape == (members, 7, 1)
        assert np.allclose(pred["mean"], pred["members"].mean(axis=0))
        assert np.allclose(pred["variance"], pred["members"].var(axis=0))
    mfvi = presets(potential, prior, init)["MFVI"]
    assert wgflow.mean_field_means(mfvi).shape == init.shape
    assert np.allclose(wgflow.mean_field_standard_deviations(mfvi), 0.05)


def test_run_callback_every_and_early_stop():
    prior = wgflow.GaussianPrior.isotropic(1, 1.0)
    flow = wgflow.deep_ensemble(wgflow.double_well(), prior.sample(10, seed=0), eta=1e-2)
    seen = []
    flow.run(10, lambda f: seen.append(f.steps_taken), every=3)
    assert seen == [3, 6, 9, 10]
    flow.run(100, lambda f: f.steps_taken < 15)
    assert flow.steps_taken == 15


def test_particles_view_and_assignment(tmp_path):
    prior = wgflow.GaussianPrior.isotropic(2, 1.0)
    init = prior.sample(4, seed=0)
    flow = wgflow.deep_ensemble(wgflow.double_well(2), init, eta=1e-2)
    view = flow.particles
    assert not view.flags.writeable and not view.flags.owndata
    with pytest.raises(ValueError):
        view[0, 0] = 1.0
    assert np.array_equal(view, init)
    flow.particles = np.zeros((4, 2), dtype=np.float32)  # converted to float64
    assert np.array_equal(flow.particles, np.zeros((4, 2)))
    flow.particles = init.T.copy().T  # a Fortran-ordered array is converted too
    assert np.array_equal(flow.particles, init)
    # the old view is still valid memory: assignment writes through the flow's own buffer
    assert np.array_equal(view, init)
    flow.step()
    copy = np.array(flow.particles)
    flow.save_checkpoint(tmp_path / "c")
    flow.step()
    flow.load_checkpoint(tmp_path / "c")
    assert flow.steps_taken == 1
    assert np.array_equal(flow.particles, copy)
    with pytest.raises(wgflow.Error, match="not finite"):
        flow.particles = np.full((4, 2), np.inf)
    assert np.array_equal(flow.particles, copy)


def test_potential_blocks():
    from conftest import reference_problem
    potential, _, init = reference_problem()
    assert len(potential.block_names()) == 4
    assert potential.dim == init.shape[1] == 1 * 8 + 8 + 8 * 1 + 1
    value, grad = potential.value_and_gradient(init[0])
    assert np.isfinite(value) and grad.shape == (potential.dim,)


def test_flow_outlives_its_python_potential_reference():
    calls = []

    def fn(theta):
        calls.append(1)
        return np.zeros(len(theta)), np.zeros_like(theta)
    flow = wgflow.deep_ensemble(wgflow.python_potential(fn, dim=1), np.ones((3, 1)))
    import gc
    gc.collect()
    flow.run(3)
    assert len(calls) == 3


def test_uci_loader(tmp_path):
    d = tmp_path / "tiny"
    d.mkdir()
    rng = np.random.default_rng(0)
    np.savetxt(d / "data.txt", rng.normal(size=(10, 3)))
    (d / "index_features.txt").write_text("0\n1\n")
    (d / "index_target.txt").write_text("2\n")
    (d / "index_train_0.txt").write_text("\n".join(map(str, range(7))) + "\n")
    (d / "index_test_0.txt").write_text("7\n8\n9\n")
    (d / "n_splits.txt").write_text("1\n")
    (d / "n_hidden.txt").write_text("50\n")
    (d / "n_epochs.txt").write_text("40\n")
    split = wgflow.load_uci(str(d), 0)
    assert split["train"]["X"].shape == (7, 2) and split["test"]["y"].shape == (3, 1)
    assert np.allclose(split["train"]["X"].mean(axis=0), 0)
    with pytest.raises(wgflow.DataError):
        wgflow.load_uci(str(d), 1)


def test_drle_random_batch_interaction():
    # interaction_batch = B: the random-batch estimate (flows/random_batch_interaction.hpp). With one batch
    # holding every particle and every prior sample it is the exact term's computation, bit for bit; with
    # small batches the particles differ from the exact run's but stay near them after a few steps.
    prior = wgflow.GaussianPrior.isotropic(2, 1.0)
    init = prior.sample(40, seed=0)

    def run(**batch):
        flow = wgflow.deep_repulsive_langevin_ensemble(wgflow.four_gaussian_mixture(), prior, init, lambda1=1.0,
                                                       lambda2=0.1, prior_samples=30, eta=1e-2, seed=3, **batch)
        flow.run(20)
        return np.array(flow.particles)

    exact = run()
    assert np.array_equal(run(interaction_batch=40, interaction_prior_batch=30), exact)
    batched = run(interaction_batch=4, interaction_prior_batch=10)
    assert not np.array_equal(batched, exact)
    assert np.abs(batched - exact).max() < 0.1
