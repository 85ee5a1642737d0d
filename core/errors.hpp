#pragma once
// The exception types of wgflow. Every error a user can trigger derives from wgflow::Error, so a
// caller can catch the library's failures apart from everything else.
#include <array>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace wgflow {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Operands of an op do not fit together; the message names the op and every shape involved.
struct ShapeError : Error {
  using Error::Error;
};

// The tape was used against its rules (a variable outliving a clear, mixing two tapes, ...).
struct TapeError : Error {
  using Error::Error;
};

// A data file is missing, malformed or inconsistent (ragged rows, non-finite values, indices out of
// range or overlapping); the message names the file and the line, or the index, at fault. Also data
// handed in as a matrix with a non-finite entry (core/finite.hpp: the matrix, the row and the column).
struct DataError : Error {
  using Error::Error;
};

inline std::string shape_string(const std::array<std::size_t, 2>& s) {
  return std::to_string(s[0]) + "x" + std::to_string(s[1]);
}

}  // namespace wgflow
