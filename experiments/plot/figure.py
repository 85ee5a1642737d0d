"""Shared plumbing of the figure scripts: read an experiment's CSV and meta.json, save a PNG (Agg backend).

Each figure script takes the experiment's output folder (as written by the program's --out) and writes
<folder>/<name>.png next to the data.
"""
import csv
import json
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

plt.rcParams.update({"font.size": 10, "axes.titlesize": 10, "figure.dpi": 110})


def folder() -> pathlib.Path:
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} RESULTS_FOLDER (the experiment's --out)")
    return pathlib.Path(sys.argv[1])


def rows(path: pathlib.Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def meta(path: pathlib.Path) -> dict:
    with open(path / "meta.json") as f:
        return json.load(f)


def save(fig, path: pathlib.Path) -> None:
    fig.tight_layout()
    fig.savefig(path)
    print(f"wrote {path}")
