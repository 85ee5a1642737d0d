#pragma once
// Tidy CSV output: a fixed header, one observation per row; a row of the wrong width is a bug and throws.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "autodiff/errors.hpp"

namespace wgflow::experiments {

class CsvWriter {
 public:
  CsvWriter(const std::filesystem::path& file, std::vector<std::string> columns)
      : file_(file), out_(file), columns_(std::move(columns)) {
    if (!out_) throw Error("cannot write " + file.string());
    out_.precision(10);
    for (std::size_t i = 0; i < columns_.size(); ++i) out_ << (i ? "," : "") << columns_[i];
    out_ << "\n";
  }

  template <class... Cells>
  void row(const Cells&... cells) {
    if (sizeof...(cells) != columns_.size())
      throw Error(file_.string() + ": row has " + std::to_string(sizeof...(cells)) + " cells, header has " +
                  std::to_string(columns_.size()));
    std::size_t i = 0;
    ((out_ << (i++ ? "," : "") << cells), ...);
    out_ << "\n";
  }

 private:
  std::filesystem::path file_;
  std::ofstream out_;
  std::vector<std::string> columns_;
};

}  // namespace wgflow::experiments
