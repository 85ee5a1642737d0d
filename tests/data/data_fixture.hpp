#pragma once
// Shared by the data-loading tests: a small synthetic benchmark folder in the UCI layout, written into a
// wgtest::TempFolder (tests/support/temp_folder.hpp), and where the shared UCI data lie (if they do).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <system_error>

#include "autodiff/tape.hpp"
#include "tests/support/temp_folder.hpp"

namespace wgtest {

namespace fs = std::filesystem;

inline void write_file(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  REQUIRE_MESSAGE(out.good(), "could not write " << file);
}

// A small benchmark in the UCI layout: `rows` x (features + 1) values with known entries (row i,
// column j holds value(i, j)), the last column the target, one split: train = the rows i with
// i % 4 != 3, test = the others. Returns the files' contents by name, for tests that mutate them.
struct Synthetic {
  static constexpr std::size_t rows = 12;
  static constexpr std::size_t features = 3;
  static double value(std::size_t i, std::size_t j) {
    return std::round(1000.0 * std::sin(1.0 + 0.7 * static_cast<double>(i) + 1.9 * static_cast<double>(j))) / 100.0;
  }
  static bool in_train(std::size_t i) { return i % 4 != 3; }

  static std::map<std::string, std::string> files() {
    std::map<std::string, std::string> f;
    std::string data, train, test, cols;
    for (std::size_t i = 0; i < rows; ++i) {
      for (std::size_t j = 0; j <= features; ++j) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%s%.2f", j == 0 ? "" : (j % 2 ? " \t" : "  "), value(i, j));
        data += buf;
      }
      data += i == 5 ? "\n\n" : "\n";  // a blank line inside, as in the shared files' trailing one
      (in_train(i) ? train : test) += std::to_string(i) + "\n";
    }
    for (std::size_t j = 0; j < features; ++j) cols += std::to_string(j) + "\n";
    f["data.txt"] = data;
    f["index_features.txt"] = cols;
    f["index_target.txt"] = std::to_string(features) + "\n";
    f["index_train_0.txt"] = train;
    f["index_test_0.txt"] = test;
    f["n_splits.txt"] = "1\n";
    f["n_hidden.txt"] = "50\n";
    f["n_epochs.txt"] = "40\n";
    return f;
  }

  static void write(const fs::path& folder) {
    for (const auto& [name, text] : files()) write_file(folder / name, text);
  }
};

// Where the shared UCI data sets lie: $WGFLOW_UCI_DIR, else ../shared/data/uci beside the checkout
// (WGFLOW_SOURCE_DIR, set by tests/meson.build). Empty when no such folder exists.
inline std::optional<fs::path> uci_root() {
  std::error_code ec;
  if (const char* env = std::getenv("WGFLOW_UCI_DIR"); env != nullptr && *env != '\0') {
    if (fs::is_directory(env, ec)) return fs::path(env);
    return std::nullopt;
  }
  // The shared data sit beside the checkout: <checkout>/../shared/data/uci.
  const fs::path uci = fs::path(WGFLOW_SOURCE_DIR).parent_path() / "shared" / "data" / "uci";
  if (fs::is_directory(uci, ec)) return uci;
  return std::nullopt;
}

// The folder of one shared benchmark, or empty after a failed check saying where it was looked for.
inline std::optional<fs::path> shared_benchmark(const std::string& name) {
  const auto root = uci_root();
  if (!root || !fs::is_directory(*root / name)) {
    // The shared data are part of every checkout's environment (../shared beside the repository, or
    // WGFLOW_UCI_DIR): their absence fails the test rather than skipping it silently.
    FAIL_CHECK("the shared UCI data (" << name
               << ") were not found beside the repository; set WGFLOW_UCI_DIR to the folder holding them");
    return std::nullopt;
  }
  return *root / name;
}

}  // namespace wgtest
