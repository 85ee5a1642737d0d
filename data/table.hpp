#pragma once
// Reading numeric text tables and index lists, strictly: a file either reads as exactly what it says or
// the read throws wgflow::DataError naming the file and the line ("…/data.txt:17: expected 9 columns,
// found 8"), so a corrupt or truncated data set can never pass silently into an experiment.
//
// Format accepted (a superset of what numpy.savetxt and the UCI benchmark files contain):
// - one row per line; lines end in "\n", "\r\n" or "\r"; a final line without a terminator counts;
// - blank lines (empty, or only spaces and tabs) are skipped wherever they are; a UTF-8 byte-order mark
//   at the start of the file is skipped;
// - fields are separated by runs of spaces and tabs (mixed freely), or, when the first row contains a
//   comma, by commas with optional spaces or tabs around each field (then every row must use commas:
//   an empty field is an error);
// - every field is a whole decimal floating-point number as std::from_chars reads it (locale-free), with
//   an optional leading '+'; "nan", "inf" and values out of the range of double are rejected, since
//   no later computation could make sense of them.
// No header line and no comments: a table is numbers only.
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <unistd.h>

#include "../core/errors.hpp"
#include "../core/tensor.hpp"

namespace wgflow::data {

// A rectangular table of finite numbers, with the line each row came from, so that checks made later
// (an overflow when standardising, say) can still point at the line at fault.
struct Table {
  Tensor<double> values;       // rows x cols
  std::vector<std::size_t> lines;  // lines[r]: the 1-based source line of row r
  std::string source;              // the file name used in messages

  std::size_t rows() const { return values.shape(0); }
  std::size_t cols() const { return values.shape(1); }
  // "source:line" of row r, the prefix of a message about that row.
  std::string where(std::size_t row) const { return source + ":" + std::to_string(lines[row]); }
};

// A list of non-negative integers (row or column indices, counts), each with its source line.
struct IndexList {
  std::vector<std::size_t> values;
  std::vector<std::size_t> lines;  // lines[i]: the 1-based source line of values[i]
  std::string source;

  std::size_t size() const { return values.size(); }
  std::string where(std::size_t i) const { return source + ":" + std::to_string(lines[i]); }
};

namespace detail {

// A token as it may appear in a message: at most 40 bytes, non-printable bytes written as \xHH, so
// that a binary file gives a readable message.
inline std::string quoted(std::string_view token) {
  constexpr std::size_t max_shown = 40;
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "'";
  for (std::size_t i = 0; i < token.size() && i < max_shown; ++i) {
    const auto c = static_cast<unsigned char>(token[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  if (token.size() > max_shown) out += "...";
  return out + "'";
}

inline bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f'; }

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

// Walks a text line by line and splits each non-blank line into fields. The separator (blanks or
// commas) is fixed by the first non-blank line; see the format at the top of this file.
class FieldReader {
 public:
  FieldReader(std::string_view text, std::string source) : text_(text), source_(std::move(source)) {
    if (text_.starts_with("\xEF\xBB\xBF")) text_.remove_prefix(3);
  }

  // Fills `fields` with the next non-blank line's fields; false at the end of the text.
  bool next(std::vector<std::string_view>& fields) {
    fields.clear();
    while (pos_ < text_.size()) {
      const std::size_t end = std::min(text_.find_first_of("\r\n", pos_), text_.size());
      const std::string_view line = trim(text_.substr(pos_, end - pos_));
      pos_ = end;
      if (pos_ < text_.size()) pos_ += (text_[pos_] == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') ? 2 : 1;
      ++line_;
      if (line.empty()) continue;
      if (!separator_known_) {
        commas_ = line.find(',') != std::string_view::npos;
        separator_known_ = true;
      }
      commas_ ? split_commas(line, fields) : split_blanks(line, fields);
      return true;
    }
    return false;
  }

  std::size_t line() const { return line_; }
  const std::string& source() const { return source_; }
  // "source:line: " for a message about the current line.
  std::string here() const { return source_ + ":" + std::to_string(line_) + ": "; }

 private:
  static void split_blanks(std::string_view line, std::vector<std::string_view>& fields) {
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && is_blank(line[i])) ++i;
      std::size_t j = i;
      while (j < line.size() && !is_blank(line[j])) ++j;
      if (j > i) fields.push_back(line.substr(i, j - i));
      i = j;
    }
  }

  void split_commas(std::string_view line, std::vector<std::string_view>& fields) const {
    std::size_t i = 0;
    while (true) {
      const std::size_t comma = std::min(line.find(',', i), line.size());
      const std::string_view field = trim(line.substr(i, comma - i));
      if (field.empty())
        throw DataError(here() + "empty field " + std::to_string(fields.size() + 1) + " in a comma-separated row");
      fields.push_back(field);
      if (comma == line.size()) return;
      i = comma + 1;
    }
  }

  std::string_view text_;
  std::string source_;
  std::size_t pos_ = 0;
  std::size_t line_ = 0;
  bool separator_known_ = false;
  bool commas_ = false;
};

// Reads a whole field as a finite double; throws naming the line and the (1-based) field otherwise.
inline double parse_number(std::string_view field, std::size_t number, const FieldReader& reader) {
  std::string_view digits = field;
  // from_chars takes no '+'; accept one only before a digit or '.', so "+-1" and "++1" stay malformed.
  if (digits.size() > 1 && digits[0] == '+' && (digits[1] == '.' || (digits[1] >= '0' && digits[1] <= '9')))
    digits.remove_prefix(1);
  double value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  const std::string at = reader.here() + "field " + std::to_string(number) + ": ";
  if (end != digits.data() + digits.size() || (ec != std::errc{} && ec != std::errc::result_out_of_range))
    throw DataError(at + "malformed number " + quoted(field));
  if (ec == std::errc::result_out_of_range) throw DataError(at + quoted(field) + " is out of the range of double");
  if (!std::isfinite(value)) throw DataError(at + "non-finite value " + quoted(field));
  return value;
}

// Reads a whole field as a non-negative integer. Integral decimals such as "3.0" or "3.000e+00" (what
// numpy.savetxt writes by default) are accepted up to 2^53, where doubles stop being exact integers.
inline std::size_t parse_index(std::string_view field, const FieldReader& reader) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (end == field.data() + field.size() && ec == std::errc{}) return value;
  if (end == field.data() + field.size() && ec == std::errc::result_out_of_range)
    throw DataError(reader.here() + "index " + quoted(field) + " is too large");
  double real = 0;
  const auto [real_end, real_ec] = std::from_chars(field.data(), field.data() + field.size(), real);
  if (real_end == field.data() + field.size() && real_ec == std::errc{} && real >= 0 && real <= 0x1p53 &&
      real == std::floor(real))
    return static_cast<std::size_t>(real);
  throw DataError(reader.here() + "expected a non-negative integer, found " + quoted(field));
}

}  // namespace detail

// Parses `text` as a table; `source` names it in messages (a file name, usually). Throws DataError
// for a malformed or non-finite field, a row whose length differs from the first row's, or a text
// with no rows at all.
inline Table parse_table(std::string_view text, std::string source) {
  detail::FieldReader reader(text, std::move(source));
  std::vector<std::string_view> fields;
  std::vector<double> flat;
  Table table;
  std::size_t cols = 0;
  while (reader.next(fields)) {
    if (table.lines.empty()) cols = fields.size();
    // The first row fixes the width; naming its line too lets a reader see which of the two is at fault
    // (an extra column on line 1 would otherwise only show as every later line being short).
    if (fields.size() != cols)
      throw DataError(reader.here() + "expected " + std::to_string(cols) + " columns (as on line " +
                      std::to_string(table.lines.front()) + "), found " + std::to_string(fields.size()));
    for (std::size_t j = 0; j < fields.size(); ++j) flat.push_back(detail::parse_number(fields[j], j + 1, reader));
    table.lines.push_back(reader.line());
  }
  table.source = reader.source();
  if (table.lines.empty()) throw DataError(table.source + ": empty table (no rows of numbers)");
  table.values = Tensor<double>::from_shape({table.lines.size(), cols});
  std::copy(flat.begin(), flat.end(), table.values.begin());
  return table;
}

// Parses `text` as a list of non-negative integers, one or more per line. Throws DataError for a
// field that is not one, or for a text with none.
inline IndexList parse_indices(std::string_view text, std::string source) {
  detail::FieldReader reader(text, std::move(source));
  std::vector<std::string_view> fields;
  IndexList list;
  while (reader.next(fields)) {
    for (const auto field : fields) {
      list.values.push_back(detail::parse_index(field, reader));
      list.lines.push_back(reader.line());
    }
  }
  list.source = reader.source();
  if (list.values.empty()) throw DataError(list.source + ": empty file (expected integers)");
  return list;
}

// The bytes of a file. Throws DataError when the path does not exist, is not a regular file (so a
// directory or a FIFO is refused rather than read forever) or cannot be read.
inline std::string read_text(const std::filesystem::path& file) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(file, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    throw DataError(file.string() + ": cannot access (" + ec.message() + ")");
  if (!fs::exists(status)) throw DataError(file.string() + ": no such file");
  if (fs::is_directory(status)) throw DataError(file.string() + ": is a directory, expected a file");
  if (!fs::is_regular_file(status)) throw DataError(file.string() + ": not a regular file");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw DataError(file.string() + ": cannot open for reading");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (size < 0 || !in) throw DataError(file.string() + ": cannot read");
  // A size past the machine's memory (a sparse or wrong file) is refused by name rather than ending in a
  // bare std::bad_alloc, or in the OOM killer once the pages are touched.
  const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page_size > 0 && size / page_size >= pages / 2)
    throw DataError(file.string() + ": " + std::to_string(size) + " bytes, more than half of this machine's memory (" +
                    std::to_string(pages / (1 << 20) * page_size) + " MiB): not a data table");
  std::string text;
  try {
    text.assign(static_cast<std::size_t>(size), '\0');
  } catch (const std::bad_alloc&) {
    throw DataError(file.string() + ": " + std::to_string(size) + " bytes: too large to read into memory");
  }
  in.read(text.data(), size);
  if (in.gcount() != size) throw DataError(file.string() + ": cannot read (changed while reading?)");
  return text;
}

inline Table read_table(const std::filesystem::path& file) { return parse_table(read_text(file), file.string()); }

inline IndexList read_indices(const std::filesystem::path& file) {
  return parse_indices(read_text(file), file.string());
}

// A file holding exactly one positive integer (a count such as the UCI n_splits.txt).
inline std::size_t read_count(const std::filesystem::path& file) {
  const IndexList list = read_indices(file);
  if (list.size() != 1)
    throw DataError(list.where(1) + ": expected a single integer, found " + std::to_string(list.size()) + " values");
  if (list.values[0] == 0) throw DataError(list.where(0) + ": expected a positive integer, found 0");
  return list.values[0];
}

}  // namespace wgflow::data
