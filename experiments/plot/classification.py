"""Two moons: each method's predictive entropy over the input plane, its decision boundary and the data."""
import math

import numpy as np

import figure

out = figure.folder()
m = figure.meta(out)
s = m["settings"]
data = figure.rows(out / "data.csv")
cells = figure.rows(out / "entropy.csv")
methods = list(dict.fromkeys(c["method"] for c in cells))
side = int(s["grid"])
extent = float(s["extent"])
far = float(s["far"])

cols = 3
rows_ = math.ceil((len(methods) + 1) / cols)
fig, grid = figure.plt.subplots(rows_, cols, figsize=(4.3 * cols, 3.9 * rows_), squeeze=False)
axes = grid.ravel()
train = [d for d in data if d["split"] == "train"]
xt = np.array([[float(d["x1"]), float(d["x2"])] for d in train])
yt = np.array([int(float(d["label"])) for d in train])
x = np.linspace(-extent, extent, side)
gx, gy = np.meshgrid(x, x)  # the program's grid: row-major in x2, then x1
distance = np.sqrt((gx[..., None] - xt[:, 0]) ** 2 + (gy[..., None] - xt[:, 1]) ** 2).min(axis=-1)
image = None
for ax, method in zip(axes, methods):
    rows = [c for c in cells if c["method"] == method]
    entropy = np.array([float(c["entropy"]) for c in rows]).reshape(side, side)  # row-major in x2, then x1
    p1 = np.array([float(c["p1"]) for c in rows]).reshape(side, side)
    image = ax.imshow(entropy, origin="lower", extent=(-extent, extent, -extent, extent), cmap="magma",
                      vmin=0, vmax=math.log(2), interpolation="bilinear")
    ax.contour(x, x, p1, levels=[0.5], colors="white", linewidths=1.0)
    ax.contour(x, x, distance, levels=[far], colors="tab:cyan", linestyles="dashed", linewidths=0.8)
    for label, colour in ((0, "tab:blue"), (1, "tab:orange")):
        ax.scatter(*xt[yt == label].T, s=5, color=colour, edgecolors="k", linewidths=0.2, zorder=3)
    r = m["results"][method]
    ax.set_title(f"{method}\nacc {r['test_accuracy']:.3f}, NLL {r['test_nll']:.3f}, ECE {r['test_ece']:.3f}\n"
                 f"entropy near / far from data {r['entropy_near_data']:.2f} / {r['entropy_far_from_data']:.2f}")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
# The spare panels: the colour scale and what is drawn.
for ax in axes[len(methods):]:
    ax.axis("off")
spare = axes[len(methods)]
colours = spare.inset_axes([0.05, 0.78, 0.9, 0.07])
fig.colorbar(image, cax=colours, orientation="horizontal", label="predictive entropy (nats; log 2: cannot tell)")
spare.text(0.05, 0.55, "white: decision boundary (p = 1/2)\ndots: training points by label\n"
           f"dashed: {far:g} from the nearest training point\n(outside it: far from the data)\n"
           f"N = {s['particles']} members, {s['steps']} steps\nmoons noise {s['noise']}, training labels flipped: "
           f"{m['results']['flipped_training_labels']}", transform=spare.transAxes, va="top", fontsize=9)
fig.suptitle("Two moons, MLP 2-32-32-2: predictive entropy of the averaged class probabilities", y=1.0)
figure.save(fig, out / "classification.png")
