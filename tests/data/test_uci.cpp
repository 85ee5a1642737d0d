// The UCI split loader: exact reading of a synthetic benchmark, one message per kind of inconsistency
// (naming the file and the line), and the shared benchmark files themselves.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "data/uci.hpp"
#include "tests/data/data_fixture.hpp"

using wgflow::DataError;
using wgflow::Tensor;
using wgflow::data::read_indices;
using wgflow::data::uci::load;
using wgflow::data::uci::Units;
using wgtest::Synthetic;

namespace {

// A synthetic benchmark with some files replaced (std::nullopt: deleted); load(folder, k) must throw
// DataError with exactly `expected`, in which each '@' stands for the folder and a slash.
void check_message(const std::map<std::string, std::optional<std::string>>& changes, const std::string& expected,
                   std::size_t k = 0) {
  wgtest::TempFolder dir;
  Synthetic::write(dir.path());
  for (const auto& [name, text] : changes) {
    if (text)
      wgtest::write_file(dir.path() / name, *text);
    else
      wgtest::fs::remove(dir.path() / name);
  }
  std::string message;
  for (const char c : expected) message += c == '@' ? (dir.path() / "").string() : std::string(1, c);
  CHECK_THROWS_WITH_AS(load(dir.path(), k), message.c_str(), DataError);
}

// Mean and population std of column j, in long double.
std::pair<double, double> moments(const Tensor<double>& A, std::size_t j) {
  long double sum = 0, squares = 0;
  const std::size_t n = A.shape(0);
  for (std::size_t i = 0; i < n; ++i) sum += A(i, j);
  const long double mean = sum / n;
  for (std::size_t i = 0; i < n; ++i) squares += (A(i, j) - mean) * (A(i, j) - mean);
  return {static_cast<double>(mean), static_cast<double>(std::sqrt(squares / n))};
}

bool constant_column(const Tensor<double>& A, std::size_t j) {
  for (std::size_t i = 1; i < A.shape(0); ++i)
    if (A(i, j) != A(0, j)) return false;
  return true;
}

}  // namespace

TEST_CASE("uci::load reads a synthetic benchmark exactly") {
  wgtest::TempFolder dir;
  Synthetic::write(dir.path());
  const auto s = load(dir.path(), 0, Units::original);
  CHECK(s.benchmark.folder == dir.path());
  CHECK(s.benchmark.n_splits == 1);
  CHECK(s.benchmark.n_hidden == 50);
  CHECK(s.benchmark.n_epochs == 40);
  CHECK(s.features == std::vector<std::size_t>{0, 1, 2});
  CHECK(s.targets == std::vector<std::size_t>{3});
  CHECK(s.train_rows == std::vector<std::size_t>{0, 1, 2, 4, 5, 6, 8, 9, 10});
  CHECK(s.test_rows == std::vector<std::size_t>{3, 7, 11});
  REQUIRE(s.train.size() == 9);
  REQUIRE(s.test.size() == 3);
  REQUIRE(s.train.num_inputs() == 3);
  REQUIRE(s.train.num_outputs() == 1);
  for (const auto& [rows, data] : {std::pair{&s.train_rows, &s.train}, std::pair{&s.test_rows, &s.test}})
    for (std::size_t i = 0; i < rows->size(); ++i) {
      for (std::size_t j = 0; j < 3; ++j) CHECK(data->X()(i, j) == Synthetic::value((*rows)[i], j));
      CHECK(data->Y()(i, 0) == Synthetic::value((*rows)[i], 3));
    }
  // Units::original comes with the identity scaling, so metric code is the same for both units.
  CHECK(s.scaling.targets.invert(s.test.Y()) == s.test.Y());
}

TEST_CASE("uci::load standardises both splits with the training split's statistics") {
  wgtest::TempFolder dir;
  Synthetic::write(dir.path());
  const auto raw = load(dir.path(), 0, Units::original);
  const auto s = load(dir.path(), 0);
  for (std::size_t j = 0; j < 3; ++j) {
    const auto [mean, std] = moments(raw.train.X(), j);
    // Nine values of order 10 in double: the fit agrees with long double to well within 1e-14.
    CHECK(s.scaling.inputs.mean()(0, j) == doctest::Approx(mean).epsilon(1e-14));
    CHECK(s.scaling.inputs.scale()(0, j) == doctest::Approx(std).epsilon(1e-14));
    const auto [z_mean, z_std] = moments(s.train.X(), j);
    CHECK(std::abs(z_mean) < 1e-14);
    CHECK(z_std == doctest::Approx(1).epsilon(1e-14));
    for (std::size_t i = 0; i < 3; ++i)
      CHECK(s.test.X()(i, j) == (raw.test.X()(i, j) - s.scaling.inputs.mean()(0, j)) / s.scaling.inputs.scale()(0, j));
  }
  const Tensor<double> y = s.scaling.targets.invert(s.test.Y());
  for (std::size_t i = 0; i < 3; ++i) CHECK(y(i, 0) == doctest::Approx(raw.test.Y()(i, 0)).epsilon(1e-14));
}

TEST_CASE("uci::load: each kind of bad benchmark names the file and the line (or the index)") {
  const auto f = Synthetic::files();
  SUBCASE("missing, empty, ragged and malformed files") {
    check_message({{"index_test_0.txt", std::nullopt}}, "@index_test_0.txt: no such file");
    check_message({{"data.txt", ""}}, "@data.txt: empty table (no rows of numbers)");
    check_message({{"data.txt", f.at("data.txt") + "1 2 3\n"}}, "@data.txt:14: expected 4 columns (as on line 1), found 3");
    check_message({{"data.txt", "1 2 3 4\n1 2 3 nan\n"}}, "@data.txt:2: field 4: non-finite value 'nan'");
    check_message({{"n_hidden.txt", "fifty\n"}}, "@n_hidden.txt:1: expected a non-negative integer, found 'fifty'");
    check_message({{"index_train_0.txt", "0\n1\n-2\n"}},
                  "@index_train_0.txt:3: expected a non-negative integer, found '-2'");
  }
  SUBCASE("rows out of range, listed twice, or in both splits") {
    check_message({{"index_train_0.txt", "0\n1\n\n12\n"}},
                  "@index_train_0.txt:4: row 12 out of range: @data.txt has 12 rows (0..11)");
    check_message({{"index_test_0.txt", "3\n7\n11\n7\n"}}, "@index_test_0.txt:4: row 7 listed twice (also at line 2)");
    check_message({{"index_test_0.txt", "3\n7\n5\n"}},
                  "@index_test_0.txt:3: row 5 is in both the test and the training split (@index_train_0.txt:5)");
  }
  SUBCASE("columns out of range, listed twice, or both input and target") {
    check_message({{"index_features.txt", "0\n1\n4\n"}},
                  "@index_features.txt:3: column 4 out of range: @data.txt has 4 columns (0..3)");
    check_message({{"index_features.txt", "0\n1\n1\n"}},
                  "@index_features.txt:3: column 1 listed twice (also at line 2)");
    check_message({{"index_target.txt", "2\n"}},
                  "@index_target.txt:1: column 2 is both a target and a feature (@index_features.txt:3)");
  }
  SUBCASE("a split the folder does not have, and swapped index files") {
    check_message({}, "@n_splits.txt: uci::load: no split 1 (the folder has splits 0..0)", 1);
    check_message({{"index_features.txt", f.at("index_train_0.txt")}, {"index_train_0.txt", f.at("index_features.txt")}},
                  "@index_features.txt:4: column 4 out of range: @data.txt has 4 columns (0..3)");
  }
  SUBCASE("a value that overflows when standardised with the training statistics") {
    // Row i holds (i + 1) 1e-10 in column 0, except test row 11, which holds 1e300. The training rows
    // 0, 1, 2, 4, 5, 6, 8, 9, 10 (not 3, 7, 11) give 1, ..., 11 without 4, 8 (times 1e-10): mean 54 / 9 =
    // 6e-10 and population std sqrt(102 / 9) 1e-10 = 3.36650164612069265...e-10, here the shortest texts
    // of the correctly rounded doubles. Statistics over any other rows (all twelve, or the test rows)
    // would name other numbers.
    std::string data;
    for (std::size_t i = 0; i < 12; ++i)
      data += (i == 11 ? std::string("1e300") : std::to_string(i + 1) + "e-10") + " 0 0 " + std::to_string(i) + "\n";
    check_message({{"data.txt", data}},
                  "@data.txt:12: column 0: value 1e+300 overflows when standardised with the training split's mean "
                  "6e-10 and std 3.366501646120693e-10");
  }
}

TEST_CASE("uci::locate looks a name up under WGFLOW_UCI_DIR") {
  wgtest::TempFolder dir;
  wgtest::fs::create_directory(dir.path() / "tiny");
  Synthetic::write(dir.path() / "tiny");
  const char* old = std::getenv("WGFLOW_UCI_DIR");
  const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  ::setenv("WGFLOW_UCI_DIR", dir.path().c_str(), 1);
  CHECK(load("tiny", 0).train.size() == 9);
  CHECK_THROWS_WITH_AS(load("absent", 0),
                       ((dir.path() / "absent").string() + ": no such folder (looked up under WGFLOW_UCI_DIR=" +
                        dir.path().string() + ")")
                           .c_str(),
                       DataError);
  wgtest::write_file(dir.path() / "a_file", "1 2\n");
  CHECK_THROWS_WITH_AS(load("a_file", 0),
                       ((dir.path() / "a_file").string() + ": is not a folder (looked up under WGFLOW_UCI_DIR=" +
                        dir.path().string() + ")")
                           .c_str(),
                       DataError);
  CHECK_THROWS_WITH_AS(load(dir.path() / "a_file", 0),
                       ((dir.path() / "a_file").string() + ": is not a folder (a UCI benchmark is a folder holding data/)")
                           .c_str(),
                       DataError);
  ::unsetenv("WGFLOW_UCI_DIR");
  CHECK_THROWS_WITH_AS(load("wgflow-no-such-benchmark", 0),
                       "wgflow-no-such-benchmark: no such folder (and WGFLOW_UCI_DIR is not set to a folder to look "
                       "the name up in)",
                       DataError);
  if (saved) ::setenv("WGFLOW_UCI_DIR", saved->c_str(), 1);
}

namespace {

struct Expected {
  const char* name;
  std::size_t rows, features, splits, hidden, epochs;
};

// Sizes as the data README states them (rows x features); splits, hidden units and epochs as in the
// files (protein: 5 splits, 100 hidden units, 20 epochs).
constexpr Expected shared_sets[] = {{"bostonHousing", 506, 13, 20, 50, 40},
                                    {"concrete", 1030, 8, 20, 50, 40},
                                    {"energy", 768, 8, 20, 50, 40},
                                    {"kin8nm", 8192, 8, 20, 50, 40},
                                    {"naval-propulsion-plant", 11934, 16, 20, 50, 40},
                                    {"power-plant", 9568, 4, 20, 50, 40},
                                    {"protein-tertiary-structure", 45730, 9, 5, 100, 20},
                                    {"wine-quality-red", 1599, 11, 20, 50, 40},
                                    {"yacht", 308, 6, 20, 50, 40}};

}  // namespace

TEST_CASE("shared UCI data: every split is a disjoint 90/10 partition of the rows") {
  for (const auto& e : shared_sets) {
    CAPTURE(e.name);
    const auto folder = wgtest::shared_benchmark(e.name);
    if (!folder) return;
    const auto b = wgflow::data::uci::describe(*folder);
    CHECK(b.n_splits == e.splits);
    CHECK(b.n_hidden == e.hidden);
    CHECK(b.n_epochs == e.epochs);
    for (std::size_t k = 0; k < b.n_splits; ++k) {
      CAPTURE(k);
      auto train = read_indices(*folder / ("index_train_" + std::to_string(k) + ".txt")).values;
      auto test = read_indices(*folder / ("index_test_" + std::to_string(k) + ".txt")).values;
      std::sort(train.begin(), train.end());
      std::sort(test.begin(), test.end());
      std::vector<std::size_t> both, all;
      std::set_intersection(train.begin(), train.end(), test.begin(), test.end(), std::back_inserter(both));
      std::set_union(train.begin(), train.end(), test.begin(), test.end(), std::back_inserter(all));
      CHECK(both.empty());
      CHECK(all.size() == e.rows);
      CHECK(all.back() == e.rows - 1);  // e.rows distinct values, the largest e.rows - 1: exactly 0..rows-1
      CHECK(test.size() == (e.rows + 5) / 10);  // the standard splits hold out round(n / 10) rows
    }
  }
}

TEST_CASE("shared UCI data: split 0 loads with the README's sizes, standardised from the training split") {
  for (const auto& e : shared_sets) {
    CAPTURE(e.name);
    const auto folder = wgtest::shared_benchmark(e.name);
    if (!folder) return;
    const auto raw = load(*folder, 0, Units::original);
    const auto s = load(*folder, 0);
    CHECK(s.train.size() + s.test.size() == e.rows);
    CHECK(s.train.num_inputs() == e.features);
    CHECK(s.test.num_inputs() == e.features);
    CHECK(s.train.num_outputs() == 1);
    CHECK(s.test.num_outputs() == 1);
    CHECK(s.train_rows == raw.train_rows);

    for (const auto& [standardised, original, scaling] :
         {std::tuple{&s.train.X(), &raw.train.X(), &s.scaling.inputs},
          std::tuple{&s.train.Y(), &raw.train.Y(), &s.scaling.targets}}) {
      for (std::size_t j = 0; j < original->shape(1); ++j) {
        CAPTURE(j);
        if (constant_column(*original, j)) {
          // A constant column (naval has two): std 1 by convention, standardised to exactly 0.
          CHECK(scaling->scale()(0, j) == 1);
          for (std::size_t i = 0; i < standardised->shape(0); ++i) REQUIRE((*standardised)(i, j) == 0);
          continue;
        }
        const auto [mean, std] = moments(*original, j);
        // The fit against a long-double reference: double two-pass sums over n <= 41157 values are
        // accurate to ~n eps |x| / |mean| relative at worst; 1e-10 bounds that for these data.
        CHECK(scaling->mean()(0, j) == doctest::Approx(mean).epsilon(1e-10));
        CHECK(scaling->scale()(0, j) == doctest::Approx(std).epsilon(1e-10));
        // Standardised training columns: mean 0, std 1. Each z carries a rounding error of about
        // eps |x| / std, and |x| / std stays below ~1e4 in these data sets, so 1e-10 is a wide margin.
        const auto [z_mean, z_std] = moments(*standardised, j);
        CHECK(std::abs(z_mean) < 1e-10);
        CHECK(z_std == doctest::Approx(1).epsilon(1e-10));
      }
    }
    // The test split is transformed with the training statistics, not its own.
    for (std::size_t i = 0; i < s.test.size(); ++i) {
      for (std::size_t j = 0; j < e.features; ++j)
        REQUIRE(s.test.X()(i, j) ==
                (raw.test.X()(i, j) - s.scaling.inputs.mean()(0, j)) / s.scaling.inputs.scale()(0, j));
      REQUIRE(s.test.Y()(i, 0) == (raw.test.Y()(i, 0) - s.scaling.targets.mean()(0, 0)) / s.scaling.targets.scale()(0, 0));
    }
    // Predictions map back to the original units: the test targets come back to within rounding.
    const Tensor<double> y = s.scaling.targets.invert(s.test.Y());
    for (std::size_t i = 0; i < s.test.size(); ++i)
      CHECK(y(i, 0) == doctest::Approx(raw.test.Y()(i, 0)).epsilon(1e-12));
  }
}
