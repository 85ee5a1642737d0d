#pragma once
// The UCI runner's outputs: tidy CSVs (one row per split, one per data set and method), and markdown
// tables of mean ± standard error beside the published deep-ensembles numbers.
//
//   splits.csv   dataset, method, split, n_train, n_test, hidden, epochs, steps, eta, halvings, status, rmse,
//                nll_ensemble, nll_noise, noise_sd, mean_sd, train_rmse, final_loss, seconds
//   summary.csv  dataset, method, splits, failed, rmse_mean, rmse_se, nll_ensemble_mean, nll_ensemble_se,
//                nll_noise_mean, nll_noise_se, published_rmse, published_rmse_se, published_nll,
//                published_nll_se, seconds
// eta is the step a split used: the method's, or smaller after `halvings` divergences (see
// run_with_backoff); the tables mark data sets where that happened.
// Failed splits (status "diverged: ..." or "failed: ...") are listed in splits.csv with NaN metrics and
// left out of the means; summary.csv counts them.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/common/atomic_file.hpp"
#include "experiments/common/csv.hpp"
#include "experiments/common/experiment.hpp"
#include "experiments/uci/methods.hpp"
#include "experiments/uci/metrics.hpp"
#include "experiments/uci/published.hpp"

namespace wgflow::experiments::uci {

struct Job {
  std::size_t dataset, split;
  Method method;
  std::uint64_t steps;
};

struct DatasetInfo {
  std::string name;
  std::size_t hidden;
  std::size_t splits;
};

struct Summary {
  std::string markdown;
  nlohmann::json json;
};

inline std::string pm(const MeanSe& x, int digits) {
  if (x.count == 0) return "failed";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f ± %.*f", digits, x.mean, digits, x.se);
  return buf;
}

inline Summary write_results(const Experiment& ex, const std::vector<Job>& jobs, const std::vector<DatasetInfo>& infos,
                             const std::vector<Method>& methods, const Settings& s,
                             const std::vector<RunResult>& results) {
  CsvWriter per_split(ex.path("splits.csv"),
                      {"dataset", "method", "split", "n_train", "n_test", "hidden", "epochs", "steps", "eta", "halvings", "status",
                       "rmse", "nll_ensemble", "nll_noise", "noise_sd", "mean_sd", "train_rmse", "final_loss",
                       "seconds"});
  struct Cell {
    std::vector<double> rmse, nll_e, nll_n;
    std::size_t failed = 0, halved = 0;
    double seconds = 0;
  };
  std::map<std::pair<std::size_t, Method>, Cell> cells;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const Job& j = jobs[i];
    const RunResult& r = results[i];
    // CSV cells are comma-separated: keep an error message's commas out of them.
    std::string status = r.status;
    for (char& c : status)
      if (c == ',' || c == '\n' || c == '"') c = ';';
    per_split.row(infos[j.dataset].name, method_name(j.method), j.split, r.n_train, r.n_test, infos[j.dataset].hidden,
                  s.epochs, r.steps, r.eta, r.halvings, status, r.metrics.rmse, r.metrics.nll_ensemble,
                  r.metrics.nll_noise, r.metrics.noise_sd, r.metrics.mean_sd, r.train_rmse, r.final_loss, r.seconds);
    Cell& c = cells[{j.dataset, j.method}];
    c.seconds += r.seconds;
    if (r.status != "ok") {
      ++c.failed;
      continue;
    }
    if (r.halvings > 0) ++c.halved;  // a split that succeeded at a smaller step
    c.rmse.push_back(r.metrics.rmse);
    c.nll_e.push_back(r.metrics.nll_ensemble);
    c.nll_n.push_back(r.metrics.nll_noise);
  }

  per_split.close();

  CsvWriter summary(ex.path("summary.csv"),
                    {"dataset", "method", "splits", "failed", "rmse_mean", "rmse_se", "nll_ensemble_mean",
                     "nll_ensemble_se", "nll_noise_mean", "nll_noise_se", "published_rmse", "published_rmse_se",
                     "published_nll", "published_nll_se", "seconds"});
  nlohmann::json json = nlohmann::json::object();
  // Three markdown tables (RMSE, NLL with noise, NLL ensemble-only), a row per data set, a column per method.
  std::ostringstream t_rmse, t_noise, t_ens;
  auto header = [&](std::ostringstream& t, const std::string& title, bool published) {
    t << "\n### " << title << "\n\n| data set | n_splits |";
    for (Method m : methods) t << " " << method_name(m) << " |";
    if (published) t << " published DE |";
    t << "\n|---|---|";
    for (std::size_t k = 0; k < methods.size() + (published ? 1 : 0); ++k) t << "---|";
    t << "\n";
  };
  header(t_rmse, "Test RMSE (original units, mean ± s.e. over splits)", true);
  header(t_noise, "Test NLL with observation noise (training-residual variance added; nats)", true);
  header(t_ens, "Test NLL, ensemble variance only (the reference code's; nats)", false);
  const double nan = std::nan("");
  for (std::size_t d = 0; d < infos.size(); ++d) {
    const auto pub = published_for(infos[d].name);
    for (auto* t : {&t_rmse, &t_noise, &t_ens}) *t << "| " << (pub ? std::string(pub->label) : infos[d].name) << " | " << infos[d].splits << " |";
    for (Method m : methods) {
      const Cell& c = cells[{d, m}];
      const MeanSe rmse = mean_se(c.rmse), nll_e = mean_se(c.nll_e), nll_n = mean_se(c.nll_n);
      summary.row(infos[d].name, method_name(m), rmse.count, c.failed, rmse.mean, rmse.se, nll_e.mean, nll_e.se,
                  nll_n.mean, nll_n.se, pub ? pub->rmse : nan, pub ? pub->rmse_se : nan, pub ? pub->nll : nan,
                  pub ? pub->nll_se : nan, c.seconds);
      std::string failed = c.failed ? " (" + std::to_string(c.failed) + " failed)" : "";
      if (c.halved) failed += " (" + std::to_string(c.halved) + " with a halved step)";
      t_rmse << " " << pm(rmse, 3) << failed << " |";
      t_noise << " " << pm(nll_n, 2) << failed << " |";
      t_ens << " " << pm(nll_e, 2) << failed << " |";
      json[infos[d].name][method_name(m)] = {{"rmse", rmse.mean},           {"rmse_se", rmse.se},
                                             {"nll_noise", nll_n.mean},     {"nll_noise_se", nll_n.se},
                                             {"nll_ensemble", nll_e.mean},  {"nll_ensemble_se", nll_e.se},
                                             {"splits", rmse.count},        {"failed", c.failed}};
    }
    char buf[64];
    if (pub) {
      std::snprintf(buf, sizeof buf, " %.2f ± %.2f |", pub->rmse, pub->rmse_se);
      t_rmse << buf;
      std::snprintf(buf, sizeof buf, " %.2f ± %.2f |", pub->nll, pub->nll_se);
      t_noise << buf;
    } else {
      t_rmse << " |";
      t_noise << " |";
    }
    for (auto* t : {&t_rmse, &t_noise, &t_ens}) *t << "\n";
  }
  summary.close();
  Summary out{t_rmse.str() + t_noise.str() + t_ens.str(), json};
  write_file_atomically(ex.path("table.md"), [&](std::ostream& t) { t << out.markdown; });
  return out;
}

}  // namespace wgflow::experiments::uci
