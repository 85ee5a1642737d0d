"""Paper §3.3: final particles on l = -|sin θ|, from the paper's wide start (modulo π) and a crowded start."""
import numpy as np

import figure

out = figure.folder()
m = figure.meta(out)
particles = figure.rows(out / "particles.csv")
methods = ["DE", "DLE", "DRLE"]
colours = {"DE": "tab:blue", "DLE": "tab:orange", "DRLE": "tab:green"}

fig, axes = figure.plt.subplots(1, 2, figsize=(12, 3.8))
t = np.linspace(0, np.pi, 400)
for ax, start, column in zip(axes, ["paper", "crowded"], ["theta_mod_pi", "theta"]):
    ax.plot(t, -np.abs(np.sin(t)), color="grey", lw=1, label="l(θ) = -|sin θ|")
    for k, method in enumerate(methods):
        x = np.array([float(p[column]) for p in particles if p["start"] == start and p["method"] == method])
        st = m["results"][start][method]
        level = 0.15 + 0.2 * k  # one row of markers per method, above the landscape
        ax.scatter(x, np.full_like(x, level), s=22, marker="|", color=colours[method],
                   label=f"{method}: sd {st['sd_mod_pi']:.3f}, {st['distinct_minima']} minima")
    ax.set_xlim(0, np.pi)
    ax.set_ylim(-1.1, 0.9)
    ax.set_yticks([])
    ax.legend(loc="lower center", fontsize=8, ncol=2)
pairs = m["results"]["paper"]["pairs_in_kernel_range_at_start"]
axes[0].set_title(f"paper start: uniform on [-1000π, 1000π], positions mod π\n({pairs} pairs within kernel range: repulsion idle)")
axes[0].set_xlabel("θ mod π")
axes[1].set_title("crowded start: all particles uniform on (0, π)\nthe repulsion keeps DRLE apart")
axes[1].set_xlabel("θ")
figure.save(fig, out / "sin_landscape.png")
