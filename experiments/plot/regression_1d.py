"""Paper §3.4: predictive mean ± 2 sd of each method on 1-D data with gaps."""
import numpy as np

import figure

out = figure.folder()
m = figure.meta(out)
s = m["settings"]
data = figure.rows(out / "data.csv")
pred = figure.rows(out / "predictions.csv")
methods = list(dict.fromkeys(p["method"] for p in pred))
gaps = [float(v) for v in s["gaps"]]  # meta.json holds the values in force: a list of numbers
frequency = float(s["frequency"])

cols = 3
fig, grid = figure.plt.subplots(2, cols, figsize=(13, 7.2), sharey=True, squeeze=False)
axes = grid.ravel()
xd = [float(d["x"]) for d in data]
yd = [float(d["y"]) for d in data]
for ax, method in zip(axes, methods):
    rows = [p for p in pred if p["method"] == method]
    x = np.array([float(p["x"]) for p in rows])
    mean = np.array([float(p["mean"]) for p in rows])
    sd = np.array([float(p["sd"]) for p in rows])
    for lo, hi in zip(gaps[::2], gaps[1::2]):
        ax.axvspan(lo, hi, color="grey", alpha=0.15, lw=0)
    ax.fill_between(x, mean - 2 * sd, mean + 2 * sd, color="tab:blue", alpha=0.3, label="mean ± 2 sd")
    ax.plot(x, mean, color="tab:blue", lw=1.5, label="predictive mean")
    ax.plot(x, np.sin(frequency * x), "k--", lw=0.8, label=f"sin({frequency:g} x)")
    ax.scatter(xd, yd, s=6, color="k", zorder=3, label="training data")
    r = m["results"][method]
    ax.set_title(f"{method}\nsd: gaps {r['sd_in_gaps']:.3f}, data {r['sd_on_data']:.3f}")
    ax.set_xlabel("x")
    ax.set_xlim(-12, 12)
    ax.set_ylim(-2.5, 2.5)
for ax in grid[:, 0]:
    ax.set_ylabel("y")
# The spare panel holds the legend.
handles, labels = axes[0].get_legend_handles_labels()
for ax in axes[len(methods):]:
    ax.axis("off")
    ax.legend(handles, labels + [], loc="center", fontsize=10, title="shaded: held-out gaps")
fig.suptitle(f"1-D regression with gaps (shaded): N = {s['particles']}, {s['steps']} steps", y=1.0)
figure.save(fig, out / "regression_1d.png")
