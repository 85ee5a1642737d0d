"""The GIL is released while C++ runs: a Python potential beside other terms on TBB threads (DRLE) and
flows running in Python threads neither deadlock nor serialise on the GIL's account."""
import threading

import numpy as np
import pytest

import wgflow


def quadratic(theta):
    return 0.5 * np.sum(theta**2, axis=1), theta.copy()


def test_python_potential_beside_concurrent_terms():
    loss = wgflow.python_potential(quadratic, dim=3)
    prior = wgflow.GaussianPrior.isotropic(3, 1.0)
    init = prior.sample(30, seed=0)
    flow = wgflow.deep_repulsive_langevin_ensemble(loss, prior, init, lambda1=1.0, lambda2=0.1,
                                                   bandwidth=wgflow.Bandwidth.fixed(1.0), eta=1e-2, seed=1)
    flow.run(50)
    assert flow.terms[0] == "potential energy"  # the library's term, calling the potential once per step
    assert len(flow.terms) == 3
    assert np.all(np.isfinite(flow.particles))


def test_flows_in_python_threads():
    # One potential per thread: a data potential's minibatch is shared state of the flows stepping it.
    X = np.linspace(-1, 1, 200)
    nets = [wgflow.NetworkPotential(X, np.sin(3 * X), hidden=[32], batch_size=50, seed=0) for _ in range(3)]
    init = wgflow.Initializer.kaiming().sample(nets[0], 4, seed=0)
    results = {}

    def work(k):
        flow = wgflow.deep_ensemble(nets[k], init, eta=1e-2)
        flow.run(200)
        results[k] = np.array(flow.particles)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3
    assert np.array_equal(results[0], results[1]) and np.array_equal(results[1], results[2])


def test_one_flow_used_from_two_threads_is_refused():
    # While one thread steps a flow (the GIL released), another thread's step, predict or assignment
    # would race on its buffers: refused, and the first run finishes undisturbed.
    inside, resume = threading.Event(), threading.Event()

    def waits(theta):
        inside.set()
        resume.wait(10)  # waits without the GIL
        return quadratic(theta)

    init = np.ones((4, 2))
    flow = wgflow.deep_ensemble(wgflow.python_potential(waits, dim=2), init, eta=0.1)
    worker = threading.Thread(target=flow.run, args=(3,))
    worker.start()
    try:
        assert inside.wait(10)
        for use in (flow.step, lambda: flow.run(1), lambda: setattr(flow, "particles", init),
                    lambda: flow.predictive_samples(), lambda: flow.gradient):
            with pytest.raises(wgflow.Error, match="another thread is using this flow"):
                use()
    finally:
        resume.set()
        worker.join()
    assert flow.steps_taken == 3
    assert np.allclose(flow.particles, init * 0.9**3)
    # the same thread may nest: run's callback stepping the flow
    flow.run(2, lambda f: f.step())
    assert flow.steps_taken == 7
