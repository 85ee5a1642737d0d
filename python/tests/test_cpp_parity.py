"""The same flow from Python and from C++: bit-identical particles, and checkpoints that cross over."""
import numpy as np
import pytest

import wgflow
from conftest import reference_flow

STEPS = 40


@pytest.mark.parametrize("method", ["de", "dle"])
def test_particles_bit_identical_to_cpp(cpp_reference, tmp_path, method):
    expected = cpp_reference(method, tmp_path / "cpp", STEPS)
    flow = reference_flow(method)
    flow.run(STEPS)
    assert flow.steps_taken == STEPS
    assert np.array_equal(np.array(flow.particles), expected), "Python and C++ flows differ"


@pytest.mark.parametrize("method", ["de", "dle"])
def test_cpp_checkpoint_resumes_in_python(cpp_reference, tmp_path, method):
    expected = cpp_reference(method, tmp_path / "cpp", STEPS)  # also saves cpp/half at STEPS / 2
    flow = reference_flow(method)
    flow.load_checkpoint(tmp_path / "cpp" / "half")
    assert flow.steps_taken == STEPS // 2
    flow.run(STEPS - flow.steps_taken)
    assert np.array_equal(np.array(flow.particles), expected)


@pytest.mark.parametrize("method", ["de", "dle"])
def test_python_checkpoint_resumes_in_cpp(cpp_reference, tmp_path, method):
    expected = cpp_reference(method, tmp_path / "cpp", STEPS)
    flow = reference_flow(method)
    flow.run(STEPS // 2)
    flow.save_checkpoint(tmp_path / "py_half")
    resumed = cpp_reference(method, tmp_path / "resumed", STEPS, resume=tmp_path / "py_half")
    assert np.array_equal(resumed, expected)


def test_checkpoint_of_another_flow_is_refused(tmp_path):
    de = reference_flow("de")
    de.run(2)
    de.save_checkpoint(tmp_path / "de")
    dle = reference_flow("dle")
    import wgflow
    with pytest.raises(wgflow.Error, match="checkpoint"):
        dle.load_checkpoint(tmp_path / "de")


def test_rng_streams_are_the_cpp_ones():
    # wgflow.Rng lets a script draw what a C++ program draws (python/examples/regression_gaps.py draws
    # regression_1d's data): the prior's row i is Rng::stream(seed, i)'s bulk normals (fill_normal).
    prior = wgflow.GaussianPrior.isotropic(5, 4.0)
    draws = prior.sample(3, seed=9)
    for i in range(3):
        assert np.array_equal(draws[i], 2.0 * wgflow.Rng.stream(9, i).normals(5))
    assert not np.array_equal(draws[0], draws[1])
    a, b = wgflow.Rng.stream(0, 7, 1), wgflow.Rng.stream(0, 7, 1)
    u = [a.uniform(-12, 12) for _ in range(100)]
    assert u == [b.uniform(-12, 12) for _ in range(100)]
    assert min(u) >= -12 and max(u) < 12 and np.std(u) > 5
    assert wgflow.Rng.stream(0, 7, 1).uniform() != wgflow.Rng.stream(0, 8, 1).uniform()
