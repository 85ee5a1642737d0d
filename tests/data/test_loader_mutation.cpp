// Mutation testing of the UCI loader: thousands of randomly damaged benchmark folders (truncated,
// bytes flipped, garbage inserted, fields replaced, lines deleted, duplicated or swapped, files swapped,
// emptied or deleted). Every case must either load, and then satisfy the loader's invariants, or throw
// wgflow::DataError whose message starts with the path of the file at fault; never crash, hang or throw
// anything else.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/random.hpp"
#include "data/table.hpp"
#include "data/uci.hpp"
#include "tests/data/data_fixture.hpp"

namespace {

namespace fs = std::filesystem;
using Files = std::map<std::string, std::optional<std::string>>;  // nullopt: the file is absent

// Text that damage is made of: number fragments, separators, line ends, special values, binary bytes.
const std::vector<std::string> garbage = {"nan", "inf", "-", "+", "e", "e5", "e-7", "1e400", "1e300", ".", ",",
                                          ",,", "\t", " ", "\n", "\r", "\r\n", std::string(1, '\0'), "x", "-1",
                                          "99999", "3.5", "0", "7", "12", "\xff\xfe", "\xEF\xBB\xBF", "0x1f"};

// Whole values that a field can be replaced by: the special values and the out-of-range numbers that
// no insertion inside an existing field can produce (it only ever makes a longer, malformed token; and
// 2^64 takes 20 digits where three insertions into an index add at most 15).
const std::vector<std::string> replacements = {"nan", "inf", "-inf", "1e400", "-1e400", "18446744073709551616",
                                               "99999999999999999999999", "-1", "3.5", "12", "0", "1e300", "x"};

// Replaces one field (a maximal run of bytes other than blanks, commas and line ends) by a replacement.
std::string replace_field(std::string text, wgflow::Rng& rng, std::string& log) {
  const auto separator = [](char c) { return c == ' ' || c == '\t' || c == ',' || c == '\n' || c == '\r'; };
  std::vector<std::pair<std::size_t, std::size_t>> fields;  // (begin, length)
  for (std::size_t i = 0; i < text.size();) {
    if (separator(text[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && !separator(text[j])) ++j;
    fields.emplace_back(i, j - i);
    i = j;
  }
  if (fields.empty()) return text;
  const auto [begin, length] = fields[rng.below(fields.size())];
  const std::string& r = replacements[rng.below(replacements.size())];
  log += "replace field at " + std::to_string(begin) + " by " + r + ";";
  return text.replace(begin, length, r);
}

std::string random_line_edit(std::string text, wgflow::Rng& rng, std::string& log) {
  std::vector<std::size_t> starts = {0};
  for (std::size_t i = 0; i < text.size(); ++i)
    if (text[i] == '\n' && i + 1 < text.size()) starts.push_back(i + 1);
  const auto line = [&](std::size_t k) {
    const std::size_t end = k + 1 < starts.size() ? starts[k + 1] : text.size();
    return std::pair{starts[k], end - starts[k]};
  };
  const auto [begin, length] = line(rng.below(starts.size()));
  switch (rng.below(3)) {
    case 0:
      log += "delete line;";
      return text.erase(begin, length);
    case 1:
      log += "duplicate line;";
      return text.insert(begin, text.substr(begin, length));
    default: {
      const auto [other, other_length] = line(rng.below(starts.size()));
      log += "swap lines;";
      const std::string a = text.substr(begin, length), b = text.substr(other, other_length);
      if (begin < other) return text.replace(other, other_length, a).replace(begin, length, b);
      return text.replace(begin, length, b).replace(other, other_length, a);
    }
  }
}

// One random change to one or two of the files.
void mutate(Files& files, wgflow::Rng& rng, std::string& log) {
  std::vector<std::string> names;
  for (const auto& [name, text] : files) names.push_back(name);
  const std::string& name = names[rng.below(names.size())];
  log += name + ": ";
  if (!files[name]) {  // already deleted: bring back something else's contents
    const std::string& source = names[rng.below(names.size())];
    files[name] = files[source] ? *files[source] : "";
    log += "recreated from " + source + ";";
    return;
  }
  std::string& text = *files[name];
  const std::size_t pos = text.empty() ? 0 : rng.below(text.size() + 1);
  switch (rng.below(10)) {
    case 0:
      log += "truncate at " + std::to_string(pos) + ";";
      text.resize(pos);
      break;
    case 1:
      if (text.empty()) break;
      log += "flip byte " + std::to_string(pos % text.size()) + ";";
      text[pos % text.size()] = rng.below(2) ? static_cast<char>(rng.below(256))
                                             : static_cast<char>(text[pos % text.size()] ^ (1 << rng.below(8)));
      break;
    case 2:
    case 3: {
      const std::string& g = garbage[rng.below(garbage.size())];
      log += "insert garbage at " + std::to_string(pos) + ";";
      text.insert(pos, g);
      break;
    }
    case 4:
    case 5:
      text = random_line_edit(text, rng, log);
      break;
    case 6: {
      const std::string& other = names[rng.below(names.size())];
      log += "swap with " + other + ";";
      std::swap(files[name], files[other]);
      break;
    }
    case 7:
      log += "empty;";
      text.clear();
      break;
    case 8:
      text = replace_field(text, rng, log);
      break;
    default:
      log += "delete;";
      files[name] = std::nullopt;
  }
}

// What a successful load must satisfy, checked against the data file as it now is.
void check_invariants(const wgflow::data::uci::Split& s, const fs::path& folder) {
  const auto table = wgflow::data::read_table(folder / "data.txt");
  REQUIRE(s.train.size() == s.train_rows.size());
  REQUIRE(s.test.size() == s.test_rows.size());
  REQUIRE(s.train.size() > 0);
  REQUIRE(s.test.size() > 0);
  REQUIRE(s.train.num_inputs() == s.features.size());
  REQUIRE(s.test.num_inputs() == s.features.size());
  REQUIRE(s.train.num_outputs() == s.targets.size());
  REQUIRE(s.test.num_outputs() == s.targets.size());
  std::vector<int> role(table.rows(), 0);
  for (auto r : s.train_rows) REQUIRE(++role.at(r) == 1);
  for (auto r : s.test_rows) REQUIRE(++role.at(r) == 1);
  std::vector<int> column(table.cols(), 0);
  for (auto c : s.features) REQUIRE(++column.at(c) == 1);
  for (auto c : s.targets) REQUIRE(++column.at(c) == 1);
  // Each entry is the table's entry, standardised with the scaling the loader reports, and finite.
  const auto check = [&](const wgflow::Tensor<double>& A, const std::vector<std::size_t>& rows,
                         const std::vector<std::size_t>& cols, const wgflow::data::ColumnScaling& scaling) {
    for (std::size_t i = 0; i < rows.size(); ++i)
      for (std::size_t j = 0; j < cols.size(); ++j) {
        REQUIRE(std::isfinite(A(i, j)));
        REQUIRE(A(i, j) == (table.values(rows[i], cols[j]) - scaling.mean()(0, j)) / scaling.scale()(0, j));
      }
  };
  check(s.train.X(), s.train_rows, s.features, s.scaling.inputs);
  check(s.train.Y(), s.train_rows, s.targets, s.scaling.targets);
  check(s.test.X(), s.test_rows, s.features, s.scaling.inputs);
  check(s.test.Y(), s.test_rows, s.targets, s.scaling.targets);
}

struct Outcomes {
  int loaded = 0;
  int refused = 0;
  std::map<std::string, int> kinds;  // refusals by kind of message
};

// Runs `cases` random mutations of `pristine` (1 to 3 changes each) in a folder under `dir`.
Outcomes run_mutations(const Files& pristine, int cases, std::uint64_t seed, const fs::path& dir) {
  const fs::path folder = dir / "benchmark";
  fs::create_directory(folder);
  for (const auto& [name, text] : pristine) wgtest::write_file(folder / name, *text);
  const std::vector<std::string> kinds = {"no such file", "empty", "expected", "malformed", "non-finite",
                                          "out of range", "out of the range of double", "listed twice",
                                          "in both", "both a target", "no split", "non-negative integer",
                                          "too large", "overflows"};
  Outcomes out;
  wgflow::Rng rng(seed);
  for (int c = 0; c < cases; ++c) {
    Files files = pristine;
    std::string log = "case " + std::to_string(c) + ": ";
    const std::size_t changes = 1 + rng.below(3);
    for (std::size_t m = 0; m < changes; ++m) mutate(files, rng, log);
    for (const auto& [name, text] : files)
      if (text != pristine.at(name)) {
        if (text)
          wgtest::write_file(folder / name, *text);
        else
          fs::remove(folder / name);
      }
    CAPTURE(log);
    try {
      check_invariants(wgflow::data::uci::load(folder, 0), folder);
      ++out.loaded;
    } catch (const wgflow::DataError& e) {
      const std::string message = e.what();
      // The message starts with the path of a file in the folder (or the folder itself).
      CHECK_MESSAGE(message.rfind(folder.string(), 0) == 0, message);
      ++out.refused;
      for (const auto& k : kinds)
        if (message.find(k) != std::string::npos) ++out.kinds[k];
    } catch (const std::exception& e) {
      FAIL("not a wgflow::DataError: " << e.what());
    } catch (...) {
      FAIL("a non-standard exception");
    }
    for (const auto& [name, text] : files)
      if (text != pristine.at(name)) wgtest::write_file(folder / name, *pristine.at(name));
  }
  return out;
}

}  // namespace

TEST_CASE("mutation: 6000 damaged synthetic benchmarks load correctly or throw DataError") {
  wgtest::TempFolder dir;
  Files pristine;
  for (const auto& [name, text] : wgtest::Synthetic::files()) pristine[name] = text;
  const Outcomes out = run_mutations(pristine, 6000, 20240601, dir.path());
  std::string counts;
  for (const auto& [kind, count] : out.kinds) counts += " '" + kind + "': " + std::to_string(count);
  MESSAGE("synthetic: " << out.loaded << " loaded, " << out.refused << " refused; by kind:" << counts);
  // Both outcomes must be common, or the mutations exercise only one path: with these mutation rates
  // each is well above 10% (about 1 in 5 changes is harmless: a blank inserted, a line duplicated in
  // data.txt, a byte flipped inside a value).
  CHECK(out.loaded > 600);
  CHECK(out.refused > 600);
  // And the refusals cover every check the loader makes on these files. Not required: an overflow when
  // standardising (it needs a training std far below these data's ~5) and "no split" (impossible for
  // split 0: a count of 0 is refused as such).
  for (const std::string kind : {"no such file", "empty", "expected", "malformed", "non-finite", "out of range",
                                 "out of the range of double", "listed twice", "in both", "both a target",
                                 "non-negative integer", "too large"})
    CHECK_MESSAGE(out.kinds.count(kind) > 0, kind);
}

TEST_CASE("mutation: 1500 damaged copies of the yacht benchmark load correctly or throw DataError") {
  const auto source = wgtest::shared_benchmark("yacht");
  if (!source) return;
  wgtest::TempFolder dir;
  Files pristine;
  for (const char* name : {"data.txt", "index_features.txt", "index_target.txt", "index_train_0.txt",
                           "index_test_0.txt", "n_splits.txt", "n_hidden.txt", "n_epochs.txt"})
    pristine[name] = wgflow::data::read_text(*source / name);
  const Outcomes out = run_mutations(pristine, 1500, 77, dir.path());
  MESSAGE("yacht: " << out.loaded << " loaded, " << out.refused << " refused");
  CHECK(out.loaded > 150);
  CHECK(out.refused > 150);
}
