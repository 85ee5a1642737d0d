#pragma once
// CLI11 validators for the experiment programs' flags, checked on the text as given (on the command line
// or in a config file) before it is converted:
//
//   ex.option("--particles", n, "...")->check(count(1, 100000));
//   ex.option("--eta", eta, "...")->check(finite_positive());
//
// They exist because CLI11 2.1's own checks let through what made the programs misbehave: "-1" for an
// unsigned option converts to 2^64 - 1 (a hang of 1.8e19 steps, or std::bad_alloc), a number past 2^64
// saturates, and CLI::PositiveNumber accepts "nan" and "inf". Upper bounds on counts keep a typo from
// asking for terabytes (an allocation the kernel may grant and then kill the program for using).
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>

#include <CLI/CLI.hpp>

namespace wgflow::experiments {

namespace detail {

// The whole of `text` as a finite double, or false.
inline bool finite_number(const std::string& text, double& value) {
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0]))) return false;
  char* end = nullptr;
  errno = 0;
  value = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && errno != ERANGE && std::isfinite(value);
}

inline std::string number_text(double x) { return CLI::detail::to_string(x); }

}  // namespace detail

// A whole number in [lo, hi], written as digits only (no sign, no exponent).
inline CLI::Validator count(std::uint64_t lo, std::uint64_t hi = std::numeric_limits<std::uint64_t>::max()) {
  const std::string range = "a whole number from " + std::to_string(lo) + " to " + std::to_string(hi);
  return CLI::Validator(
      [lo, hi, range](std::string& text) -> std::string {
        bool digits = !text.empty() && text.size() <= 20;
        for (char c : text) digits = digits && c >= '0' && c <= '9';
        errno = 0;
        const unsigned long long v = digits ? std::strtoull(text.c_str(), nullptr, 10) : 0;
        if (!digits || errno == ERANGE || v < lo || v > hi) return "must be " + range + ", got '" + text + "'";
        return {};
      },
      "INT in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]", "count");
}

// A finite number in [lo, hi] (open at lo when `open_lo`: a step size, a variance, a bandwidth);
// `range` describes the set in messages and --help (by default the interval).
inline CLI::Validator finite_in(double lo, double hi, bool open_lo = false, std::string range = "") {
  if (range.empty())
    range = "in " + std::string(open_lo ? "(" : "[") + detail::number_text(lo) + ", " + detail::number_text(hi) + "]";
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double v = 0;
        if (!detail::finite_number(text, v) || v < lo || v > hi || (open_lo && v == lo))
          return "must be a finite number " + range + ", got '" + text + "'";
        return {};
      },
      "NUMBER " + range, "finite");
}

// A finite number > 0 (step sizes, variances, bandwidths, temperatures).
inline CLI::Validator finite_positive() {
  return finite_in(0, std::numeric_limits<double>::max(), /*open_lo=*/true, "> 0");
}
// A finite number >= 0 (weights of free-energy terms, noise levels).
inline CLI::Validator finite_non_negative() {
  return finite_in(0, std::numeric_limits<double>::max(), false, ">= 0");
}
// Any finite number.
inline CLI::Validator finite() {
  return finite_in(std::numeric_limits<double>::lowest(), std::numeric_limits<double>::max(), false, "(not nan or inf)");
}

}  // namespace wgflow::experiments
