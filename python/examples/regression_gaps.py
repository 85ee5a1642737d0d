#!/usr/bin/env python3
"""The paper's regression with gaps (§3.4) from Python: a 1-50-1 tanh network trained by DE, DLE, DRLE
(function-space repulsion), SVGD and mean-field VI on sin(x / 2) + noise, with the inputs (-8, -4) and
(2, 6) held out; the Langevin and repulsive bands widen in the gaps. The settings of
experiments/regression_1d.cpp (quick mode: 2000 steps); the data are drawn by numpy, so the numbers
differ from the C++ program's in detail.

    PYTHONPATH=build/python:python python3 python/examples/regression_gaps.py [--steps 2000] [--out gaps.png]
"""
import argparse

import numpy as np

import wgflow

GAPS = [(-8, -4), (2, 6)]


def data(points, noise, seed):
    rng = np.random.default_rng(seed)
    x = []
    while len(x) < points:  # uniform on [-12, 12] outside the gaps
        t = rng.uniform(-12, 12)
        if not any(lo < t < hi for lo, hi in GAPS):
            x.append(t)
    x = np.array(x)
    return x, np.sin(0.5 * x) + noise * rng.normal(size=points)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--particles", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="regression_gaps.png")
    args = ap.parse_args()

    scale, eta, lam, lambda1 = 0.25, 5e-2, 3e-4, 0.1  # the network sees x / 4
    x, y = data(60, 0.1, args.seed)
    net = wgflow.NetworkPotential(scale * x, y, hidden=[50], activation="tanh", batch_size=60, seed=args.seed)
    rule = wgflow.Initializer.kaiming(1.0, 1.0)
    prior = wgflow.GaussianPrior.from_initializer(rule, net)
    init = rule.sample(net, args.particles, seed=args.seed)
    kernel_inputs = scale * np.linspace(-12, 12, 25)
    flows = {
        "DE": wgflow.deep_ensemble(net, init, eta=eta, seed=args.seed),
        "DLE": wgflow.deep_langevin_ensemble(net, prior, init, lambda_=lam, eta=eta, seed=args.seed + 1),
        "DRLE": wgflow.deep_repulsive_langevin_ensemble(net, prior, init, lambda1=lambda1, lambda2=lam,
                                                        kernel_inputs=kernel_inputs, eta=eta, seed=args.seed + 2),
        "SVGD": wgflow.svgd(net, prior, init, lambda_=lam, optimizer=wgflow.sgd(eta * lam)),
        "MFVI": wgflow.mean_field_vi(net, prior, init, lambda_=lam, optimizer=wgflow.adam(1e-2), seed=args.seed + 3),
    }
    grid = np.arange(-12, 12.05, 0.1)
    in_gap = np.array([any(lo < t < hi for lo, hi in GAPS) for t in grid])

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(flows), figsize=(4 * len(flows), 3.2), sharey=True)
    for ax, (name, flow) in zip(axes, flows.items()):
        flow.run(args.steps)
        pred = wgflow.predict(flow, scale * grid, per_member=10, seed=args.seed + 4)
        mean, sd = pred["mean"].ravel(), np.sqrt(pred["variance"].ravel())
        print(f"{name}: predictive sd in the gaps {sd[in_gap].mean():.3f}, on the data {sd[~in_gap].mean():.3f}")
        for lo, hi in GAPS:
            ax.axvspan(lo, hi, color="0.92")
        ax.fill_between(grid, mean - 2 * sd, mean + 2 * sd, alpha=0.3)
        ax.plot(grid, mean)
        ax.plot(x, y, "k.", ms=3)
        ax.set_title(name)
        ax.set_ylim(-2.5, 2.5)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
