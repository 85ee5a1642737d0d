"""Paper §3.1: histograms of the final DE, DLE and DRLE particles on the double well, each with its optimum."""
import numpy as np

import figure

out = figure.folder()
m = figure.meta(out)
r = m["results"]
particles = figure.rows(out / "particles.csv")
density = figure.rows(out / "density.csv")
t = np.array([float(d["theta"]) for d in density])
q_dle = np.array([float(d["q_dle"]) for d in density])
q_drle = np.array([float(d["q_drle"]) for d in density])
shown = (t >= -3) & (t <= 3)

fig, axes = figure.plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
panels = [
    ("DE", None, f"DE: {100 * r['de_fraction_at_global_minimum']:.0f}% of particles at -2, "
                 f"{100 * (r['de_fraction_at_minima'] - r['de_fraction_at_global_minimum']):.0f}% at 1"),
    ("DLE", q_dle, f"DLE: KS to q* = {r['ks_dle']:.3f} (95% crit. {r['ks_critical_95']:.3f})"),
    ("DRLE", q_drle, f"DRLE: KS to q* = {r['ks_drle']:.3f} (95% crit. {r['ks_critical_95']:.3f})"),
]
for ax, (method, q, title) in zip(axes, panels):
    x = np.array([float(p["theta"]) for p in particles if p["method"] == method])
    ax.hist(x, bins=np.linspace(-3, 3, 61), density=True, color="tab:blue", alpha=0.6, label=f"{method} particles (N={len(x)})" + (", spikes clipped" if method == "DE" else ""))
    ax.plot(t[shown], q_dle[shown], "k--" if q is not q_dle else "k-", lw=1.5, label="DLE optimum q* ∝ exp(-l - θ²/2)")
    if method == "DRLE":
        ax.plot(t[shown], q_drle[shown], "r-", lw=1.8, label="DRLE optimum (fixed point)")
    ax.set_title(title)
    ax.set_xlabel("θ")
    ax.set_xlim(-3, 3)
    ax.legend(loc="upper right", fontsize=8)
axes[0].set_ylabel("density")
axes[0].set_ylim(0, 1.4)
s = m["settings"]
fig.suptitle(f"Double well, N = {s['particles']}, η = {s['eta']}, {s['steps']} steps", y=1.0)
figure.save(fig, out / "optimal_q.png")
