#!/usr/bin/env python3
"""Saved particles read back with numpy alone, by their layout (experiments/common/particles_file.hpp).

Runs regression_1d (an MLP 1-H-1, tanh) and classification (an MLP 2-H-H-2, ReLU) for a few steps, loads
each method's particles_<method>.npy with its particles_<method>.layout.json, rebuilds every member's
weight matrices and biases by block name and shape, evaluates the network in numpy (activations and
input scaling as the layout file states, grids from meta.json's settings) and checks that the ensemble's
predictions are the program's own (predictions.csv, entropy.csv: written with 10 significant digits). A
wrong layout (blocks read from each other's offsets) is shown to fail the same comparison, and a
checkpoint's manifest is shown to carry the same layout as the particles file.

Usage: test_numpy_round_trip.py REGRESSION_1D_BINARY CLASSIFICATION_BINARY
Prints doctest's summary line, as the C++ suites do (scripts/test-summary.sh counts it); exits 1 on failure.
"""
import csv
import json
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

try:
    import numpy as np
except ImportError:
    print("test_numpy_round_trip: numpy is missing (Debian: python3-numpy; scripts/install-deps.sh build installs it)")
    print("[doctest] test cases: 1 | 0 passed | 1 failed | 0 skipped")
    sys.exit(1)

REGRESSION_1D, CLASSIFICATION = sys.argv[1], sys.argv[2]
ACTIVATIONS = {"identity": lambda a: a, "tanh": np.tanh, "relu": lambda a: np.maximum(a, 0.0)}


def run(binary, out, *args):
    command = [binary, "--threads", "1", "--out", str(out), *args]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()}"


def load_particles(out, method):
    """The particles of `method` and their layout file, checked against each other."""
    stem = "particles_" + method.replace(" ", "_")
    layout = json.loads((out / f"{stem}.layout.json").read_text())
    particles = np.load(out / f"{stem}.npy")
    assert layout["file"] == f"{stem}.npy" and layout["format"] == "npy"
    assert particles.dtype == np.float64
    assert particles.shape == (layout["rows"], layout["row_length"]), (particles.shape, layout)
    return particles, layout


def blocks_of(row, layout, part="theta"):
    """{block name: array of its shape} for one row, read by the layout's offsets."""
    return {b["name"]: row[b["offset"]:b["offset"] + b["size"]].reshape(b["shape"])
            for b in layout["blocks"] if b["part"] == part}


def mlp(params, model, inputs):
    """The forward pass the layout's "model" states: h <- act(h @ layer<l>.weight + layer<l>.bias)."""
    assert model["kind"] == "mlp"
    layers = len(model["widths"]) - 1
    h = inputs
    for layer in range(layers):
        h = h @ params[f"layer{layer}.weight"]
        if model["bias"]:
            h = h + params[f"layer{layer}.bias"]
        act = model["output_activation"] if layer == layers - 1 else model["hidden_activation"]
        h = ACTIVATIONS[act](h)
    return h


def csv_rows(path, method):
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f) if r["method"] == method]


def close(ours, theirs, what):
    # The CSVs hold 10 significant digits.
    assert np.allclose(ours, theirs, rtol=2e-9, atol=1e-12), \
        f"{what}: numpy and the program differ by up to {np.max(np.abs(ours - theirs)):.3g}"


def regression_predictions(particles, layout, grid_x):
    inputs = (layout["input_scale"] * grid_x)[:, None]
    outs = np.stack([mlp(blocks_of(row, layout), layout["model"], inputs)[:, 0] for row in particles])
    return outs.mean(axis=0), np.sqrt(((outs - outs.mean(axis=0)) ** 2).mean(axis=0))


def test_regression(tmp):
    out = tmp / "regression_1d"
    run(REGRESSION_1D, out, "--particles", "4", "--points", "30", "--hidden", "8", "--steps", "30",
        "--kernel-inputs", "5")
    meta = json.loads((out / "meta.json").read_text())
    settings = meta["settings"]
    # meta.json holds the values in force, typed.
    assert settings["hidden"] == 8 and settings["steps"] == 30 and settings["quick"] is False, settings
    assert settings["gaps"] == [-8, -4, 2, 6] and isinstance(settings["eta"], float), settings
    grid_x = -12.0 + 0.1 * np.arange(241)  # the program's grid (regression_1d.cpp)
    for method in ["DE", "DLE", "DRLE", "SVGD"]:
        particles, layout = load_particles(out, method)
        assert layout["row"] == "[theta]" and layout["flow"] == method and layout["steps"] == 30
        assert layout["model"]["widths"] == [1, 8, 1] and layout["model"]["hidden_activation"] == "tanh"
        assert particles.shape == (4, 8 + 8 + 8 + 1)
        mean, sd = regression_predictions(particles, layout, grid_x)
        rows = csv_rows(out / "predictions.csv", method)
        close(np.array([float(r["x"]) for r in rows]), grid_x, f"{method}: the grid")
        close(mean, np.array([float(r["mean"]) for r in rows]), f"{method}: the predictive mean")
        close(sd, np.array([float(r["sd"]) for r in rows]), f"{method}: the predictive sd")
    # Mean-field VI's rows are [mu | rho]: the same blocks twice; its predictions draw from the Gaussians.
    particles, layout = load_particles(out, "MFVI")
    assert layout["row"] == "[mu | rho]" and [p["name"] for p in layout["parts"]] == ["mu", "rho"]
    assert particles.shape == (4, 2 * 25) and layout["parts"][1]["offset"] == 25
    rho = blocks_of(particles[0], layout, "rho")
    assert set(rho) == {"layer0.weight", "layer0.bias", "layer1.weight", "layer1.bias"}
    sd = np.log1p(np.exp(rho["layer1.weight"]))  # sd = softplus(rho), as the layout says
    assert np.all(np.isfinite(sd)) and np.all(sd > 0)


def test_wrong_layout_fails(tmp):
    """The comparison catches a layout that is off: weights and biases read from each other's places."""
    out = tmp / "regression_1d_wrong"
    run(REGRESSION_1D, out, "--particles", "3", "--points", "20", "--hidden", "6", "--steps", "20",
        "--kernel-inputs", "4")
    particles, layout = load_particles(out, "DE")
    grid_x = -12.0 + 0.1 * np.arange(241)
    expected = np.array([float(r["mean"]) for r in csv_rows(out / "predictions.csv", "DE")])
    close(regression_predictions(particles, layout, grid_x)[0], expected, "DE: the right layout")
    wrong = json.loads(json.dumps(layout))
    w0, b0 = (next(b for b in wrong["blocks"] if b["name"] == n) for n in ("layer0.weight", "layer0.bias"))
    w0["offset"], b0["offset"] = b0["offset"], w0["offset"]  # same shapes (1 x 6): only the order is wrong
    try:
        close(regression_predictions(particles, wrong, grid_x)[0], expected, "DE: a wrong layout")
    except AssertionError:
        return
    raise AssertionError("a wrong layout gave the program's predictions")


def test_classification(tmp):
    out = tmp / "classification"
    run(CLASSIFICATION, out, "--particles", "3", "--train", "40", "--test", "20", "--hidden", "6", "--batch", "20",
        "--steps", "20", "--grid", "7", "--kernel-grid", "2")
    settings = json.loads((out / "meta.json").read_text())["settings"]
    side, extent, eps = settings["grid"], settings["extent"], settings["eps"]
    assert side == 7 and isinstance(extent, (int, float)), settings
    # The program's grid: side x side points over [-extent, extent]^2, row-major in x2 then x1.
    step = 2 * extent / (side - 1)
    ticks = -extent + step * np.arange(side)
    grid = np.stack([np.tile(ticks, side), np.repeat(ticks, side)], axis=1)
    for method in ["DE", "DLE", "DRLE", "SVGD", "DE robust"]:
        particles, layout = load_particles(out, method)
        assert layout["model"]["widths"] == [2, 6, 6, 2] and layout["model"]["hidden_activation"] == "relu"
        logits = np.stack([mlp(blocks_of(row, layout), layout["model"], grid) for row in particles])
        p = np.exp(logits - logits.max(axis=2, keepdims=True))
        p /= p.sum(axis=2, keepdims=True)
        if layout["likelihood"].startswith("robust_softmax"):
            p = (1 - eps) * p + eps / p.shape[2]  # experiments/classification/robust_softmax.hpp
        else:
            assert layout["likelihood"] == "softmax_cross_entropy", layout["likelihood"]
        rows = csv_rows(out / "entropy.csv", method)
        close(grid, np.array([[float(r["x1"]), float(r["x2"])] for r in rows]), f"{method}: the grid")
        close(p.mean(axis=0)[:, 1], np.array([float(r["p1"]) for r in rows]), f"{method}: p(class 1)")


def test_checkpoint_manifest(tmp):
    """A checkpoint's manifest names the same layout as the particles file, over the same particles."""
    out = tmp / "regression_1d_checkpoint"
    run(REGRESSION_1D, out, "--particles", "3", "--points", "20", "--hidden", "5", "--steps", "10",
        "--kernel-inputs", "4", "--checkpoint-every", "10")
    for method in ["DE", "MFVI"]:
        particles, layout = load_particles(out, method)
        manifest = json.loads((out / "checkpoints" / method / "manifest.json").read_text())
        assert manifest["version"] == 4
        for key in ["row", "row_length", "parts", "blocks"]:
            assert manifest["layout"][key] == layout[key], (method, key)
        assert np.array_equal(np.load(out / "checkpoints" / method / "particles.npy"), particles)


def main():
    tests = [test_regression, test_wrong_layout_fails, test_classification, test_checkpoint_manifest]
    failed = 0
    with tempfile.TemporaryDirectory(prefix="wgflow_numpy_") as tmp:
        for test in tests:
            try:
                test(Path(tmp))
                print(f"{test.__name__}: ok")
            except Exception:  # noqa: BLE001 - every failure is reported and counted
                failed += 1
                print(f"{test.__name__}: FAILED")
                traceback.print_exc(file=sys.stdout)
    print(f"[doctest] test cases: {len(tests)} | {len(tests) - failed} passed | {failed} failed | 0 skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
