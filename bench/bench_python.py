#!/usr/bin/env python3
"""The Python package's overhead, measured (a benchmark, not a test):

1. run(n) of a built-in potential (DE, N = 20 and N = 5, a 1-50-1 tanh MLP on 60 points, full batch)
   against the same flow in C++ (python/tests/cpp_reference bench): steps per second, target within 5 %;
2. a Python loop of step() for DE N = 5 against run(n) of the same flow: target within 1.5x;
3. the per-step cost of a potential written in Python (numpy, all particles per call) beside the same
   potential built into C++ (models::quadratic), for DE of N = 100 particles in J = 10.

    PYTHONPATH=build/python:python python3 bench/bench_python.py [--build build] [--steps 4000]
"""
import argparse
import os
import subprocess
import time

import numpy as np

import wgflow


def mlp_flow(members):
    i = np.arange(60)
    X, y = i / 16.0 - 2.0, (i % 7) / 4.0 - 0.75  # cpp_reference bench's data, bit for bit
    net = wgflow.NetworkPotential(X, y, hidden=[50], activation="tanh", batch_size=60, seed=0)
    flow = wgflow.deep_ensemble(net, wgflow.Initializer.kaiming(1.0, 1.0).sample(net, members, seed=0), eta=0.01)
    flow.run(10)  # warm-up, as the C++ side
    return flow


def best_of(repeats, fn):
    """The best of `repeats` timings (seconds): the least disturbed by other load on the machine."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def positive_int(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got '{text}'")
    return int(text)


def main():
    ap = argparse.ArgumentParser(description="wgflow's Python overhead")
    ap.add_argument("--build", default="build", help="the meson build folder (for python/cpp_reference)")
    ap.add_argument("--steps", type=positive_int, default=4000)
    ap.add_argument("--repeats", type=positive_int, default=5)
    args = ap.parse_args()
    steps, reps = args.steps, args.repeats
    reference = os.path.join(args.build, "python", "cpp_reference")
    if not os.access(reference, os.X_OK):
        ap.error(f"no {reference}: build it first (ninja -C {args.build} python/cpp_reference)")

    print("| workload | Python | C++ or reference | ratio |")
    print("| --- | --- | --- | --- |")
    for members in (20, 5):
        flow = mlp_flow(members)
        py_rate = steps / best_of(reps, lambda: flow.run(steps))
        cpp_rate = max(float(subprocess.run([reference, "bench", str(steps), str(members)], check=True,
                                            capture_output=True, text=True).stdout) for _ in range(reps))
        print(f"| DE N = {members}, MLP 1-50-1: run(n), steps/s | {py_rate:.0f} | {cpp_rate:.0f} (C++ program) | "
              f"{cpp_rate / py_rate:.3f}x |")

    flow = mlp_flow(5)

    def loop():
        for _ in range(steps):
            flow.step()
    loop_rate = steps / best_of(reps, loop)
    run_rate = steps / best_of(reps, lambda: flow.run(steps))
    print(f"| DE N = 5: Python loop of step() vs run(n), steps/s | {loop_rate:.0f} | {run_rate:.0f} (run) | "
          f"{run_rate / loop_rate:.3f}x |")

    def shift(theta):
        d = theta - 1.0
        return 0.5 * np.einsum("ij,ij->i", d, d), d
    J, N = 10, 100
    init = np.random.default_rng(0).normal(size=(N, J))
    builtin = wgflow.deep_ensemble(wgflow.quadratic(np.ones(J), np.eye(J)), init, eta=1e-3)
    python = wgflow.deep_ensemble(wgflow.python_potential(shift, dim=J), init, eta=1e-3)
    t_builtin = best_of(reps, lambda: builtin.run(steps)) / steps
    t_python = best_of(reps, lambda: python.run(steps)) / steps
    print(f"| DE N = {N}, J = {J}, quadratic: time per step | {1e6 * t_python:.1f} us (Python callable) | "
          f"{1e6 * t_builtin:.1f} us (built-in C++) | {t_python / t_builtin:.2f}x |")


if __name__ == "__main__":
    main()
