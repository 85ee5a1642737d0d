// Reading tables and index lists: every accepted layout reads exactly, and every bad input throws
// wgflow::DataError whose message names the file and the line.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/random.hpp"
#include "data/table.hpp"
#include "tests/data/data_fixture.hpp"

using wgflow::DataError;
using wgflow::data::parse_indices;
using wgflow::data::parse_table;
using wgflow::data::read_count;
using wgflow::data::read_indices;
using wgflow::data::read_table;
using wgflow::data::Table;

namespace {

void check_values(const Table& t, const std::vector<std::vector<double>>& expected) {
  REQUIRE(t.rows() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    REQUIRE(t.cols() == expected[i].size());
    for (std::size_t j = 0; j < expected[i].size(); ++j) CHECK(t.values(i, j) == expected[i][j]);
  }
}

}  // namespace

TEST_CASE("tables: blank lines, mixed tabs and spaces, and every line ending read the same") {
  const std::vector<std::vector<double>> expected = {{1.5, -2, 3e-3}, {4, 0.25, -6e10}};
  check_values(parse_table("1.5 -2 3e-3\n4 0.25 -6e10\n", "t"), expected);
  check_values(parse_table("\n  1.5\t-2 \t 3e-3  \n\n\t\n4\t\t0.25   -6e10", "t"), expected);  // no final newline
  check_values(parse_table("1.5 -2 3e-3\r\n4 0.25 -6e10\r\n", "t"), expected);
  check_values(parse_table("1.5 -2 3e-3\r4 0.25 -6e10\r", "t"), expected);
  check_values(parse_table("\xEF\xBB\xBF+1.5 -2 .003\n4. +0.25 -6E+10\n", "t"), expected);
  check_values(parse_table("1.5,-2,3e-3\n 4 ,\t0.25, -6e10 \n", "t"), expected);
}

TEST_CASE("tables: the line of each row is kept, counting blank lines and any line ending") {
  const Table t = parse_table("\r\n1 2\n\n\r3 4\r\n\n5 6", "f.txt");
  REQUIRE(t.rows() == 3);
  CHECK(t.lines == std::vector<std::size_t>{2, 5, 7});
  CHECK(t.where(1) == "f.txt:5");
}

TEST_CASE("tables: random tables written with %.17g read back bit for bit") {
  // 200 tables of random shape, separator and line ending: the reader must invert the writer exactly.
  wgflow::Rng rng(7);
  const char* separators[] = {" ", "\t", "  \t ", ",", " , "};
  const char* endings[] = {"\n", "\r\n", "\r"};
  for (int trial = 0; trial < 200; ++trial) {
    const std::size_t rows = 1 + rng.below(8), cols = 1 + rng.below(6);
    const char* sep = separators[rng.below(5)];
    const char* end = endings[rng.below(3)];
    std::vector<std::vector<double>> expected(rows, std::vector<double>(cols));
    std::string text;
    for (auto& row : expected) {
      for (std::size_t j = 0; j < cols; ++j) {
        row[j] = std::ldexp(rng.uniform(-1, 1), static_cast<int>(rng.below(200)) - 100);
        char buf[40];
        std::snprintf(buf, sizeof buf, "%.17g", row[j]);
        text += (j ? sep : "") + std::string(buf);
      }
      text += end;
    }
    check_values(parse_table(text, "random"), expected);
  }
}

TEST_CASE("tables: a malformed field names the file, the line, the field and the token") {
  CHECK_THROWS_WITH_AS(parse_table("1 2\n3 4\n5 x6\n", "d.txt"), "d.txt:3: field 2: malformed number 'x6'", DataError);
  CHECK_THROWS_WITH_AS(parse_table("1 2.5.1\n", "d.txt"), "d.txt:1: field 2: malformed number '2.5.1'", DataError);
  CHECK_THROWS_WITH_AS(parse_table("1 1e\n", "d.txt"), "d.txt:1: field 2: malformed number '1e'", DataError);
  CHECK_THROWS_WITH_AS(parse_table("1 0x10\n", "d.txt"), "d.txt:1: field 2: malformed number '0x10'", DataError);
  CHECK_THROWS_WITH_AS(parse_table("+-1 2\n", "d.txt"), "d.txt:1: field 1: malformed number '+-1'", DataError);
  CHECK_THROWS_WITH_AS(parse_table("a,b\n", "d.csv"), "d.csv:1: field 1: malformed number 'a'", DataError);
  // Binary bytes are shown escaped, so the message stays printable.
  CHECK_THROWS_WITH_AS(parse_table(std::string("1 2\n3 4\x01\xff\n", 10), "d.txt"),
                       "d.txt:2: field 2: malformed number '4\\x01\\xff'", DataError);
  CHECK_THROWS_WITH_AS(parse_table(std::string("1 2\n3 \0\n", 7), "d.txt"),
                       "d.txt:2: field 2: malformed number '\\x00'", DataError);
}

TEST_CASE("tables: a ragged row names the file, the line and both column counts") {
  CHECK_THROWS_WITH_AS(parse_table("1 2 3\n\n4 5 6\n7 8\n", "concrete/data.txt"),
                       "concrete/data.txt:4: expected 3 columns (as on line 1), found 2", DataError);
  CHECK_THROWS_WITH_AS(parse_table("1 2\n3 4 5\n", "d.txt"), "d.txt:2: expected 2 columns (as on line 1), found 3", DataError);
  // An extra column on the first row (after blank lines) shows as the next row being short: both lines named.
  CHECK_THROWS_WITH_AS(parse_table("\n1 2 3 9\n4 5 6\n", "d.txt"), "d.txt:3: expected 4 columns (as on line 2), found 3",
                       DataError);
  CHECK_THROWS_WITH_AS(parse_table("1,2\n3,,4\n", "d.csv"), "d.csv:2: empty field 2 in a comma-separated row",
                       DataError);
  CHECK_THROWS_WITH_AS(parse_table("1,2,\n", "d.csv"), "d.csv:1: empty field 3 in a comma-separated row", DataError);
  // The first row fixes the separator for the whole file: a row in the other style is ragged, or holds
  // a field that is no number.
  CHECK_THROWS_WITH_AS(parse_table("1,2\n3 4\n", "d.csv"), "d.csv:2: expected 2 columns (as on line 1), found 1", DataError);
  CHECK_THROWS_WITH_AS(parse_table("1 2\n3,4\n", "d.txt"), "d.txt:2: expected 2 columns (as on line 1), found 1", DataError);
  CHECK_THROWS_WITH_AS(parse_table("1,2\n3 4,5\n", "d.csv"), "d.csv:2: field 1: malformed number '3 4'", DataError);
  CHECK_THROWS_WITH_AS(parse_table("1 2\n3,4 5\n", "d.txt"), "d.txt:2: field 1: malformed number '3,4'", DataError);
}

TEST_CASE("tables: NaN, infinities and values beyond double name the line and the value") {
  CHECK_THROWS_WITH_AS(parse_table("1 2\nnan 4\n", "d.txt"), "d.txt:2: field 1: non-finite value 'nan'", DataError);
  CHECK_THROWS_WITH_AS(parse_table("1 -inf\n", "d.txt"), "d.txt:1: field 2: non-finite value '-inf'", DataError);
  CHECK_THROWS_WITH_AS(parse_table("1 2\n3 Infinity\n", "d.txt"), "d.txt:2: field 2: non-finite value 'Infinity'",
                       DataError);
  CHECK_THROWS_WITH_AS(parse_table("1 1e999\n", "d.txt"), "d.txt:1: field 2: '1e999' is out of the range of double",
                       DataError);
  CHECK_THROWS_WITH_AS(parse_table("1e-999\n", "d.txt"), "d.txt:1: field 1: '1e-999' is out of the range of double",
                       DataError);
  // The extremes of double are values, not errors.
  CHECK(parse_table("1.7976931348623157e308 4.9e-324\n", "d.txt").values(0, 1) > 0);
}

TEST_CASE("tables: empty and blank-only texts name the file") {
  CHECK_THROWS_WITH_AS(parse_table("", "e.txt"), "e.txt: empty table (no rows of numbers)", DataError);
  CHECK_THROWS_WITH_AS(parse_table(" \n\t\r\n\n", "e.txt"), "e.txt: empty table (no rows of numbers)", DataError);
  CHECK_THROWS_WITH_AS(parse_indices("\n\n", "i.txt"), "i.txt: empty file (expected integers)", DataError);
}

TEST_CASE("tables: a file larger than the machine's memory (sparse) is refused by name, not by std::bad_alloc") {
  wgtest::TempFolder dir;
  const auto huge = dir.path() / "huge.txt";
  const auto bytes = static_cast<std::uintmax_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<std::uintmax_t>(sysconf(_SC_PAGE_SIZE));
  wgtest::write_file(huge, "1 2\n");
  std::error_code ec;
  wgtest::fs::resize_file(huge, bytes, ec);  // sparse: no blocks written
  REQUIRE_MESSAGE(!ec, "could not make a sparse file of " << bytes << " bytes: " << ec.message());
  CHECK_THROWS_WITH_AS(read_table(huge),
                       doctest::Contains((huge.string() + ": " + std::to_string(bytes) + " bytes, more than half").c_str()),
                       DataError);
}

TEST_CASE("tables and indices: files that are missing, folders or empty name the path") {
  wgtest::TempFolder dir;
  const auto missing = dir.path() / "missing.txt";
  CHECK_THROWS_WITH_AS(read_table(missing), (missing.string() + ": no such file").c_str(), DataError);
  CHECK_THROWS_WITH_AS(read_indices(dir.path()), (dir.path().string() + ": is a directory, expected a file").c_str(),
                       DataError);
  wgtest::write_file(dir.path() / "empty.txt", "");
  CHECK_THROWS_WITH_AS(read_table(dir.path() / "empty.txt"),
                       ((dir.path() / "empty.txt").string() + ": empty table (no rows of numbers)").c_str(), DataError);
  wgtest::write_file(dir.path() / "bad.txt", "1 2\n3 4\n5\n");
  CHECK_THROWS_WITH_AS(read_table(dir.path() / "bad.txt"),
                       ((dir.path() / "bad.txt").string() + ":3: expected 2 columns (as on line 1), found 1").c_str(), DataError);
  wgtest::write_file(dir.path() / "good.txt", "1 2\n3 4\n");
  CHECK(read_table(dir.path() / "good.txt").values(1, 0) == 3);
}

TEST_CASE("indices: non-negative integers, one or more per line; integral decimals accepted") {
  const auto list = parse_indices("3\n\n0 7\r\n12\n4.0\n5.000000000000000000e+00\n", "i.txt");
  CHECK(list.values == std::vector<std::size_t>{3, 0, 7, 12, 4, 5});
  CHECK(list.lines == std::vector<std::size_t>{1, 3, 3, 4, 5, 6});
  CHECK(list.where(3) == "i.txt:4");
}

TEST_CASE("indices: negative, fractional, malformed and huge indices name the line") {
  CHECK_THROWS_WITH_AS(parse_indices("1\n-2\n", "i.txt"), "i.txt:2: expected a non-negative integer, found '-2'",
                       DataError);
  CHECK_THROWS_WITH_AS(parse_indices("1\n2\n2.5\n", "i.txt"), "i.txt:3: expected a non-negative integer, found '2.5'",
                       DataError);
  CHECK_THROWS_WITH_AS(parse_indices("1x\n", "i.txt"), "i.txt:1: expected a non-negative integer, found '1x'",
                       DataError);
  CHECK_THROWS_WITH_AS(parse_indices("nan\n", "i.txt"), "i.txt:1: expected a non-negative integer, found 'nan'",
                       DataError);
  CHECK_THROWS_WITH_AS(parse_indices("1\n99999999999999999999999\n", "i.txt"),
                       "i.txt:2: index '99999999999999999999999' is too large", DataError);
  CHECK_THROWS_WITH_AS(parse_indices("1e300\n", "i.txt"), "i.txt:1: expected a non-negative integer, found '1e300'",
                       DataError);
}

TEST_CASE("counts: exactly one positive integer") {
  wgtest::TempFolder dir;
  const auto file = dir.path() / "n_splits.txt";
  wgtest::write_file(file, "20\n");
  CHECK(read_count(file) == 20);
  wgtest::write_file(file, "20\n5\n");
  CHECK_THROWS_WITH_AS(read_count(file), (file.string() + ":2: expected a single integer, found 2 values").c_str(),
                       DataError);
  wgtest::write_file(file, "\n0\n");
  CHECK_THROWS_WITH_AS(read_count(file), (file.string() + ":2: expected a positive integer, found 0").c_str(),
                       DataError);
}
