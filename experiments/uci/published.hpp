#pragma once
// The deep-ensembles results of Lakshminarayanan, Pritzel & Blundell (NeurIPS 2017, Table 1) on the
// standard UCI splits, as paper.md §4 quotes them: mean ± standard error over splits. Their NLL includes
// a learned (heteroscedastic) observation noise, so it compares with our nll_noise, not nll_ensemble.
#include <optional>
#include <string_view>

namespace wgflow::experiments::uci {

struct Published {
  std::string_view name;  // the data folder's name
  std::string_view label;  // the paper's short name
  double rmse, rmse_se, nll, nll_se;
};

inline constexpr Published published_deep_ensembles[] = {
    {"bostonHousing", "boston", 3.28, 1.00, 2.41, 0.25},
    {"concrete", "concrete", 6.03, 0.58, 3.06, 0.18},
    {"energy", "energy", 2.09, 0.29, 1.38, 0.22},
    {"kin8nm", "kin8nm", 0.09, 0.00, -1.20, 0.02},
    {"naval-propulsion-plant", "naval", 0.00, 0.00, -5.63, 0.05},
    {"power-plant", "power", 4.11, 0.17, 2.79, 0.04},
    {"protein-tertiary-structure", "protein", 4.71, 0.06, 2.83, 0.02},
    {"wine-quality-red", "wine", 0.64, 0.04, 0.94, 0.12},
    {"yacht", "yacht", 1.58, 0.48, 1.18, 0.21},
};

inline std::optional<Published> published_for(std::string_view name) {
  for (const Published& p : published_deep_ensembles)
    if (p.name == name || p.label == name) return p;
  return std::nullopt;
}

}  // namespace wgflow::experiments::uci
