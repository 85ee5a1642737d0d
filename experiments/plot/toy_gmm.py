"""Paper §3.2: final particles of DE, DLE (three lambdas) and DRLE over the four-mode mixture's contours."""
import numpy as np

import figure

out = figure.folder()
m = figure.meta(out)
particles = figure.rows(out / "particles.csv")
settings = list(dict.fromkeys(p["setting"] for p in particles))

# The target: -log of an equal mixture of unit Gaussians at (+-3, +-3) (models/toy_potentials.hpp).
g = np.linspace(-7, 7, 281)
X, Y = np.meshgrid(g, g)
density = sum(np.exp(-((X - a) ** 2 + (Y - b) ** 2) / 2) for a in (-3, 3) for b in (-3, 3)) / (4 * 2 * np.pi)

fig, axes = figure.plt.subplots(1, len(settings), figsize=(3.3 * len(settings), 3.6), sharex=True, sharey=True)
for ax, setting in zip(axes, settings):
    ax.contour(X, Y, density, levels=8, cmap="Greys", linewidths=0.8)
    x = [float(p["x"]) for p in particles if p["setting"] == setting]
    y = [float(p["y"]) for p in particles if p["setting"] == setting]
    ax.scatter(x, y, s=7, color="tab:red", alpha=0.6, label="particles")
    msd = m["results"][setting]["mean_squared_distance_to_centre"]
    label = setting.replace("lambda=", "λ = ")
    expected = f" (2λ = {2 * float(setting.split('=')[1]):g})" if "lambda=" in setting else ""
    ax.set_title(f"{label}\nmean sq. dist. to centre {msd:.2f}{expected}")
    ax.set_xlabel("θ₁")
    ax.set_aspect("equal")
axes[0].set_ylabel("θ₂")
s = m["settings"]
fig.suptitle(f"Four-mode Gaussian mixture (contours: target density), N = {s['particles']}, η = {s['eta']}, "
             f"{s['steps']} steps", y=1.0)
figure.save(fig, out / "toy_gmm.png")
