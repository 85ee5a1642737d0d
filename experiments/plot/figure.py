"""Shared plumbing of the figure scripts: read an experiment's CSV and meta.json, save a PNG (Agg backend).

Each figure script takes the experiment's output folder (as written by the program's --out) and writes
<folder>/<name>.png next to the data.
"""
import csv
import json
import os
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
    """Writes the figure atomically, as the programs write their files (experiments/common/atomic_file.hpp):
    to a hidden temporary name beside it, synced, then renamed; a failure (a full disk, a read-only folder)
    exits non-zero with one line naming the file and the reason, and leaves no cut PNG."""
    fig.tight_layout()
    tmp = path.with_name("." + path.name + ".tmp")
    try:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        sys.exit(f"{pathlib.Path(sys.argv[0]).stem}: error: cannot write {path}: {e.strerror or e}")
    print(f"wrote {path}")
