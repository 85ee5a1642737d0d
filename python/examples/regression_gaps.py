#!/usr/bin/env python3
"""The paper's regression with gaps (§3.4) from Python: a 1-50-1 tanh network trained by DE, DLE, DRLE
(function-space repulsion), SVGD and mean-field VI on sin(x / 2) + noise, with the inputs (-8, -4) and
(2, 6) held out; the Langevin and repulsive bands widen in the gaps. The settings, data and seeds of
experiments/regression_1d.cpp (quick mode: 2000 steps): the points come from wgflow's own random
streams (wgflow.Rng), as the C++ program draws them, so both print the same numbers (`regression_1d
--quick` writes them to meta.json). With other data the figure changes: numpy's draws at seed 0 leave
one DE member stuck at a training loss of 1.35, which alone tripled DE's sd in the gaps.

    PYTHONPATH=build/python:python python3 python/examples/regression_gaps.py [--steps 2000] [--out gaps.png]
"""
import argparse
import math
from fractions import Fraction

import numpy as np

import wgflow

GAPS = [(-8, -4), (2, 6)]


def data(points, noise, seed, fused=True):
    """Point i from its own stream (seed, i, 1), as regression_1d.cpp draws it: x uniform on [-12, 12]
    outside the gaps (rejection), then y = sin(x / 2) + noise * N(0, 1) from the same stream, with libm's
    sin (numpy's may differ by an ulp). Bit for bit, since a flow amplifies an ulp (DE's sd in the gaps
    moves by 5% when y does): `fused` rounds noise * z + sin once, as the fused multiply-add that GCC
    emits for that line under -march=native on a CPU with FMA (C++ allows the contraction, and GCC makes
    it by default); -Dportable builds round twice."""
    x, y = np.empty(points), np.empty(points)
    for i in range(points):
        rng = wgflow.Rng.stream(seed, i, 1)
        t = rng.uniform(-12, 12)
        while any(lo < t < hi for lo, hi in GAPS):
            t = rng.uniform(-12, 12)
        s, z = math.sin(0.5 * t), rng.normal()
        x[i] = t
        y[i] = fma(noise, z, s) if fused else s + noise * z
    return x, y


def fma(a, b, c):
    """a * b + c rounded once (math.fma is Python 3.13's): Fraction is exact, float() rounds correctly."""
    return float(Fraction(a) * Fraction(b) + Fraction(c))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--particles", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="regression_gaps.png")
    ap.add_argument("--unfused", action="store_true",
                    help="draw y as a -Dportable (or non-FMA) build of regression_1d does (see data())")
    args = ap.parse_args()

    scale, eta, lam, lambda1 = 0.25, 5e-2, 3e-4, 0.1  # the network sees x / 4
    x, y = data(60, 0.1, args.seed, fused=not args.unfused)
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
    # regression_1d's grid, point for point (-12 + 0.1 g is fused too: at g = 140 that decides whether
    # x = 2 is in a gap).
    grid = np.array([fma(0.1, g, -12.0) if not args.unfused else -12.0 + 0.1 * g for g in range(241)])
    # As the C++ program classifies them: x recovered from the network's input (at a gap's end the
    # round trip can move x by an ulp, across the boundary).
    in_gap = np.array([any(lo < t < hi for lo, hi in GAPS) for t in scale * grid / scale])

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(flows), figsize=(4 * len(flows), 3.2), sharey=True)
    for ax, (name, flow) in zip(axes, flows.items()):
        flow.run(args.steps)
        pred = wgflow.predict(flow, scale * grid, per_member=10, seed=args.seed + 4)
        mean, sd = pred["mean"].ravel(), np.sqrt(pred["variance"].ravel())
        print(f"{name}: predictive sd in the gaps {sd[in_gap].mean():.4f}, on the data {sd[~in_gap].mean():.4f}")
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
