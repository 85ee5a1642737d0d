#pragma once
// Tidy CSV output: a fixed header, one observation per row; a row of the wrong width is a bug and throws.
// The file appears only on close(), complete (experiments/common/atomic_file.hpp): a writer destroyed
// without close(), say by an error mid-table, leaves no file rather than a cut one.
#include <filesystem>
#include <string>
#include <vector>

#include "../../core/errors.hpp"
#include "atomic_file.hpp"

namespace wgflow::experiments {

class CsvWriter {
 public:
  CsvWriter(const std::filesystem::path& file, std::vector<std::string> columns)
      : file_(file), columns_(std::move(columns)) {
    std::ostream& out = file_.stream();
    out.precision(10);
    for (std::size_t i = 0; i < columns_.size(); ++i) out << (i ? "," : "") << columns_[i];
    out << "\n";
  }

  template <class... Cells>
  void row(const Cells&... cells) {
    if (sizeof...(cells) != columns_.size())
      throw Error(file_.path().string() + ": row has " + std::to_string(sizeof...(cells)) + " cells, header has " +
                  std::to_string(columns_.size()));
    std::ostream& out = file_.stream();
    std::size_t i = 0;
    ((out << (i++ ? "," : "") << cells), ...);
    out << "\n";
  }

  // Writes the file (atomically, checked); throws IoError naming it on failure.
  void close() { file_.commit(); }

 private:
  AtomicFile file_;
  std::vector<std::string> columns_;
};

}  // namespace wgflow::experiments
