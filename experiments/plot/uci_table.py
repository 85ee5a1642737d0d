"""Paper §4: test RMSE and NLL (with observation noise) of every method on every UCI data set, mean ± s.e.
over splits, each divided by the published deep-ensembles value (dashed line at 1), from summary.csv."""
import numpy as np

import figure

out = figure.folder()
summary = figure.rows(out / "summary.csv")
datasets = list(dict.fromkeys(r["dataset"] for r in summary))
methods = list(dict.fromkeys(r["method"] for r in summary))
cell = {(r["dataset"], r["method"]): r for r in summary}

fig, axes = figure.plt.subplots(1, 2, figsize=(12, 3.8))
width = 0.8 / len(methods)
x = np.arange(len(datasets))
for k, m in enumerate(methods):
    rows = [cell[(d, m)] for d in datasets]
    published = np.array([float(r["published_rmse"]) for r in rows])
    rmse = np.array([float(r["rmse_mean"]) for r in rows]) / published
    rmse_se = np.array([float(r["rmse_se"]) for r in rows]) / published
    axes[0].bar(x + k * width, rmse, width, yerr=rmse_se, label=m)
    nll = np.array([float(r["nll_noise_mean"]) for r in rows])
    nll_se = np.array([float(r["nll_noise_se"]) for r in rows])
    axes[1].bar(x + k * width, nll - np.array([float(r["published_nll"]) for r in rows]), width, yerr=nll_se, label=m)
for ax in axes:
    ax.set_xticks(x + 0.4 - width / 2, datasets, rotation=20)
axes[0].axhline(1, color="k", ls="--", lw=1)
axes[0].set_ylabel("test RMSE / published DE RMSE")
axes[0].set_title("RMSE relative to Lakshminarayanan et al. (2017)")
axes[1].axhline(0, color="k", ls="--", lw=1)
axes[1].set_ylabel("test NLL - published DE NLL (nats)")
axes[1].set_title("NLL with observation noise, minus the published")
axes[0].legend(fontsize=8)
figure.save(fig, out / "uci_table.png")
